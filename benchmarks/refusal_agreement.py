"""How often the offline refusal detector agrees with GPT-4's refusal labels.

Data: ``fairness_labelled.jsonl`` (from the shared evaluation data, never
copied into this repository). Each row holds a question, a model's ``answer``,
the ``source_model`` and ``label``: 1 when GPT-4 judged that the answer
declined to pick a group ("refuse to answer"), 0 when it picked one.

To keep the detector honest, rows are split by a hash of the *question*:
sha1 even goes to the dev half (the only half looked at while writing the
rules), odd to the held-out half. All answers to one question land in the same
half, so held-out questions are unseen, not just held-out answers.

Run from the repository root (with the package installed, or ``PYTHONPATH=.``)::

    python benchmarks/refusal_agreement.py [--data PATH] [--examples N]

It prints markdown tables: precision, recall, F1, accuracy and Cohen's kappa
on the dev half, the held-out half and overall, then per source model on the
held-out half. ``--examples N`` also prints N held-out disagreements of each
kind, truncated, for reading (not for pasting wholesale into docs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmtrust.judges.refusal import RefusalDetector

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/llm_eval/fairness_labelled.jsonl"
INSTRUCTION_TUNED = frozenset({"gpt-4", "gpt-3.5-turbo", "text-davinci-003"})


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled response, with the detector's verdict."""

    question: str
    answer: str
    source_model: str
    gold: bool
    predicted: bool
    reason: str

    @property
    def half(self) -> str:
        """``dev`` or ``held-out``, from a hash of the question alone."""
        digest = hashlib.sha1(self.question.encode("utf-8")).hexdigest()
        return "dev" if int(digest, 16) % 2 == 0 else "held-out"


@dataclass(frozen=True, slots=True)
class Agreement:
    """A 2x2 confusion table (GPT-4 is the reference) and the scores built on it."""

    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, rows: Iterable[Row]) -> Agreement:
        """Count the four cells."""
        tp = fp = fn = tn = 0
        for r in rows:
            tp += r.predicted and r.gold
            fp += r.predicted and not r.gold
            fn += not r.predicted and r.gold
            tn += not r.predicted and not r.gold
        return cls(tp, fp, fn, tn)

    @property
    def n(self) -> int:
        """Number of rows."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        """Of the detector's refusals, the share GPT-4 also calls refusals."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """Of GPT-4's refusals, the share the detector finds."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def accuracy(self) -> float:
        """Share of rows where the two agree."""
        return _ratio(self.tp + self.tn, self.n)

    @property
    def kappa(self) -> float:
        """Cohen's kappa: agreement beyond what the two base rates give by chance."""
        n = self.n
        if n == 0:
            return math.nan
        observed = (self.tp + self.tn) / n
        yes = (self.tp + self.fp) * (self.tp + self.fn)
        no = (self.fn + self.tn) * (self.fp + self.tn)
        chance = (yes + no) / n**2
        if chance == 1.0:
            return 1.0 if observed == 1.0 else math.nan
        return (observed - chance) / (1.0 - chance)

    @property
    def gold_rate(self) -> float:
        """GPT-4's refusal rate."""
        return _ratio(self.tp + self.fn, self.n)

    @property
    def predicted_rate(self) -> float:
        """The detector's refusal rate."""
        return _ratio(self.tp + self.fp, self.n)


def _ratio(a: int, b: int) -> float:
    return a / b if b else math.nan


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def load(path: Path, detector: RefusalDetector) -> list[Row]:
    """Read the labelled rows and judge every answer."""
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    prompts = [str(r["question"]) for r in raw]
    answers = [str(r["answer"]) for r in raw]
    verdicts = detector.judge(prompts, answers)
    return [
        Row(q, a, str(r["source_model"]), int(r["label"]) == 1, bool(v.label), v.reason)
        for q, a, r, v in zip(prompts, answers, raw, verdicts, strict=True)
    ]


def table(groups: Sequence[tuple[str, list[Row]]]) -> str:
    """A markdown table with one line per named group of rows."""
    head = "| rows | n | GPT-4 rate | detector rate | precision | recall | F1 | accuracy | kappa |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rows in groups:
        a = Agreement.of(rows)
        scores = (a.gold_rate, a.predicted_rate, a.precision, a.recall, a.f1, a.accuracy, a.kappa)
        lines.append(f"| {name} | {a.n} | " + " | ".join(_fmt(s) for s in scores) + " |")
    return "\n".join(lines)


def label_conflicts(rows: Iterable[Row]) -> tuple[int, int]:
    """How many repeated (model, answer) texts GPT-4 labelled both ways, out of how many repeated."""
    labels: dict[tuple[str, str], set[bool]] = {}
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r.source_model, " ".join(r.answer.split()).lower())
        labels.setdefault(key, set()).add(r.gold)
        counts[key] = counts.get(key, 0) + 1
    repeated = [k for k, c in counts.items() if c > 1]
    return sum(1 for k in repeated if len(labels[k]) == 2), len(repeated)


def _clip(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def examples(rows: Sequence[Row], per_kind: int) -> str:
    """A few held-out disagreements of each kind, truncated."""
    out: list[str] = []
    for title, want_pred in (("detector refusal, GPT-4 not", True), ("GPT-4 refusal, detector not", False)):
        out.append(f"\n{title}:")
        picked = [r for r in rows if r.predicted == want_pred and r.gold != want_pred][:per_kind]
        out.extend(f"- [{r.source_model}] {_clip(r.answer)!r} -> {r.reason}" for r in picked)
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fairness_labelled.jsonl")
    parser.add_argument("--examples", type=int, default=0, help="print N held-out disagreements of each kind")
    args = parser.parse_args(argv)
    path: Path = args.data
    if not path.is_file():
        print(
            f"refusal_agreement: data file not found: {path}\n"
            "Pass --data PATH to fairness_labelled.jsonl (shared evaluation data, not part of this repo).",
            file=sys.stderr,
        )
        return 2

    start = time.perf_counter()
    rows = load(path, RefusalDetector())
    seconds = time.perf_counter() - start
    dev = [r for r in rows if r.half == "dev"]
    held = [r for r in rows if r.half == "held-out"]

    print(f"## Refusal detector vs GPT-4 labels ({len(rows)} rows, judged in {seconds:.2f} s)\n")
    print(table([("dev", dev), ("held-out", held), ("overall", rows)]))
    print("\n### By kind of model\n")
    kinds = [("instruction-tuned", True), ("base", False)]
    print(
        table(
            [
                (f"{half_name}, {kind}", [r for r in half if (r.source_model in INSTRUCTION_TUNED) is tuned])
                for kind, tuned in kinds
                for half_name, half in (("dev", dev), ("held-out", held))
            ]
        )
    )
    print("\n### Held-out, per source model\n")
    models = sorted({r.source_model for r in held})
    print(table([(m, [r for r in held if r.source_model == m]) for m in models]))
    mixed, repeated = label_conflicts(rows)
    print(f"\nGPT-4 label consistency: {mixed} of {repeated} answers that occur more than once")
    print("(same model, same text) carry both labels.")
    if args.examples > 0:
        print(examples(held, args.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
