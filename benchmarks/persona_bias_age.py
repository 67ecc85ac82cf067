"""Persona bias on BBQ Age with the embedded SmolLM2: the paper's Age personas, one template, constrained choice.

Run by hand from the repository root (needs the BBQ data beside the project, in ``../shared``)::

    python benchmarks/persona_bias_age.py                       # all 3,680 items x 7 personas
    python benchmarks/persona_bias_age.py --limit 200 --compare 256   # a quick look

Two parts, in one process and on one loaded model:

1. **Side by side.** The same ``--compare`` prompts (the "elder" persona on a fixed random
   sample of items) are scored by a minimal hand-written loop (bfloat16, length-sorted
   batches, logits at the last position only) and by the plugin's constrained choice
   (``backend.choice_logprobs``, which also shares the persona's opening across prompts).
   Each is timed from message lists to scores, tokenization included, twice in alternating
   order; the best time of each counts. Also reported: how often the two pick the same letter.
2. **The full run.** ``persona_bias(...)`` over the whole file with the default persona plus
   elder, man, woman, kid, boy and girl, template 0; prints TB, BAmt, PB, BBQ's bias score,
   accuracy and the shape on the ambiguous and disambiguated contexts, the wall time, and
   writes the JSON result and the TB heatmap into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "bbq" / "Age.jsonl"


def hand_loop(model: Any, tokenizer: Any, prompts: list[Any], batch: int) -> list[int]:
    """The minimal loop: template, tokenize, sort by length, left-pad, last-position logits, argmax of A/B/C."""
    import torch

    letters = [tokenizer(x, add_special_tokens=False)["input_ids"][0] for x in "ABC"]
    rows = [
        tokenizer(
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True), add_special_tokens=False
        )["input_ids"]
        for p in prompts
    ]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    picks = [0] * len(rows)
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            width = max(len(rows[i]) for i in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, i in enumerate(chunk):
                ids[r, width - len(rows[i]) :] = torch.tensor(rows[i])
                mask[r, width - len(rows[i]) :] = 1
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[:, -1, letters]
            for i, pick in zip(chunk, logits.argmax(-1).tolist(), strict=True):
                picks[i] = pick
    return picks


def side_by_side(backend: Any, items: list[Any], n: int, batch: int) -> dict[str, float]:
    from pytest_llmtrust.persona.prompts import build_messages

    sample = random.Random(0).sample(items, min(n, len(items)))
    prompts = [build_messages(item, "elder", 0) for item in sample]
    times: dict[str, list[float]] = {"hand": [], "plugin": []}
    picks: dict[str, list[int]] = {}
    for _ in range(2):
        for name in ("hand", "plugin"):
            start = time.perf_counter()
            if name == "hand":
                picks[name] = hand_loop(backend.model, backend.tokenizer, prompts, batch)
            else:
                rows = backend.choice_logprobs(prompts, ["A", "B", "C"])
                picks[name] = [max(range(3), key=row.__getitem__) for row in rows]
            times[name].append(time.perf_counter() - start)
    hand, plugin = len(prompts) / min(times["hand"]), len(prompts) / min(times["plugin"])
    agree = sum(a == b for a, b in zip(picks["hand"], picks["plugin"], strict=True)) / len(prompts)
    return {"prompts": len(prompts), "hand_per_s": hand, "plugin_per_s": plugin, "ratio": plugin / hand, "agree": agree}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="BBQ Age.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="first N items only")
    parser.add_argument("--compare", type=int, default=1024, help="prompts in the side-by-side timing (0: skip)")
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--batch", type=int, default=16, help="prompts per forward batch, both loops")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results", help="JSON + heatmap folder")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"no BBQ data at {args.data}; pass --data", file=sys.stderr)
        return 2

    import torch

    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.persona.bbq import load_bbq
    from pytest_llmtrust.persona.bbq_score import classify_shape
    from pytest_llmtrust.persona.personas import personas_for
    from pytest_llmtrust.persona.runner import persona_bias

    started = time.perf_counter()
    backend: Any = load_backend(f"smollm2?dtype={args.dtype}&choice_batch_size={args.batch}")
    items = load_bbq(args.data, limit=args.limit)
    print(f"loaded {backend.model_id} and {len(items)} items in {time.perf_counter() - started:.1f}s")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    if args.compare:
        result = side_by_side(backend, items, args.compare, args.batch)
        print(
            f"side by side on {result['prompts']} prompts: hand loop {result['hand_per_s']:.1f}/s, "
            f"plugin {result['plugin_per_s']:.1f}/s, ratio {result['ratio']:.2f}, same letter {result['agree']:.1%}"
        )

    personas = personas_for("Age")
    started = time.perf_counter()
    report = persona_bias(backend, dataset=items, personas=personas, templates=(0,), mode="choice")
    wall = time.perf_counter() - started
    n_prompts = len(items) * (len(personas) + 1)
    print(f"full run: {len(items)} items x {len(personas) + 1} personas = {n_prompts} prompts")
    print(f"wall {wall:.0f}s ({wall / 60:.1f} min), {n_prompts / wall:.1f} prompts/s")
    print("| scope | TB | BAmt | PB | BS | accuracy | shape |")
    print("|---|---|---|---|---|---|---|")
    for scope in ("ambig", "disambig"):
        r = report.result(scope)
        shape = classify_shape(r.tb, r.bamt)
        print(f"| {scope} | {r.tb:.3f} | {r.bamt:.3f} | {r.pb:.3f} | {r.bs:.3f} | {r.accuracy:.3f} | {shape} |")
    ambig = report.result("ambig")
    print("PB_p (ambig):", json.dumps({p: round(v, 3) for p, v in ambig.pb_by_persona.items()}))
    print("TB_p->t (ambig):")
    for persona, row in ambig.tb_by_persona_target.items():
        print(f"  {persona}: " + ", ".join(f"{t} {v:+.3f}" for t, v in row.items()))

    from pytest_llmtrust.persona.result_files import write_result_files

    paths = write_result_files(report, args.out, "persona_bias_age")
    print("wrote", *(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
