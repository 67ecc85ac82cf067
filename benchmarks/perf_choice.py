"""Persona-bias constrained choice: the plugin's ``choice_logprobs`` vs a minimal forward loop, bf16 and fp32.

Run by hand from the repository root (needs the BBQ data beside the project, in ``../shared``)::

    python benchmarks/perf_choice.py                        # 200 Age items x 4 personas, 2 repeats, bf16 + fp32
    python benchmarks/perf_choice.py --dtypes bfloat16      # one dtype only
    python benchmarks/perf_choice.py --threads 1            # one torch thread: steady on a busy machine
    python benchmarks/perf_choice.py --quick                # a smoke run: 16 items x 2 personas, 1 repeat, no JSON

The prompts are the first ``--items`` BBQ Age questions (ambiguous and disambiguated, in file order)
under the first ``--personas`` of ``default, elder, man, woman, kid, boy, girl``, built by the
plugin's ``build_messages`` (template 0, its default layout). Both sides get the same message lists
and the same embedded SmolLM2 (the converted float32 copy, loaded in the dtype of the row) and are
timed from message lists to scores, tokenization included:

* **raw**: chat template, tokenize, sort by length, left-pad into batches of ``--batch``
  (default: the plugin's ``choice_batch_size``, 16), one forward pass per batch with position ids
  that skip the padding, logits at the last position only, log-softmax over the tokens
  ``A``, ``B``, ``C``. Its own model object, loaded with ``AutoModelForCausalLM.from_pretrained``.
* **plugin**: ``load_backend("smollm2?dtype=...&choice_batch_size=...").choice_logprobs(prompts,
  ["A", "B", "C"])``, which also reuses the key/value cache of an opening many prompts share
  (the persona's system prompt and the instruction) and scores each label as ``A`` or `` A``.

After one untimed warm-up batch per side, the sides run in the order raw, plugin, raw, plugin, ...;
the median of each counts. ``ratio = t_raw / t_plugin`` (1.0: as fast as the raw loop; the target
is >= 0.9). "same letter" is how often the two pick the same answer (argmax). Writes
``docs/results/perf_choice.json`` (not with ``--quick`` unless ``--out`` is given) and prints a
markdown table with the command.

On a busy machine use ``--threads 1``: torch's threads wait for each other by spinning, and with
other work on the cores single runs then vary by 2-5x (seen on 2 shared cores); one thread is steady.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_common import fill_defaults, version, write_result

if TYPE_CHECKING:
    from collections.abc import Sequence

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "bbq" / "Age.jsonl"
OUT = ROOT / "docs" / "results" / "perf_choice.json"
LABELS = ("A", "B", "C")
QUICK = {"items": 16, "personas": 2, "repeats": 1}
FULL = {"items": 200, "personas": 4, "repeats": 2}


def raw_choice(model: Any, tokenizer: Any, prompts: Sequence[Any], batch: int) -> list[list[float]]:
    """The minimal loop: per prompt, log-probabilities over the label tokens at the next position."""
    import torch

    label_ids = [tokenizer(label, add_special_tokens=False)["input_ids"][0] for label in LABELS]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [
        tokenizer(
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True), add_special_tokens=False
        )["input_ids"]
        for p in prompts
    ]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out: list[list[float]] = [[] for _ in rows]
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            width = max(len(rows[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, i in enumerate(chunk):
                ids[r, width - len(rows[i]) :] = torch.tensor(rows[i])
                mask[r, width - len(rows[i]) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits
            scores = torch.log_softmax(logits[:, -1, label_ids].float(), dim=-1)
            for i, row in zip(chunk, scores.tolist(), strict=True):
                out[i] = row
    return out


def picks(rows: list[list[float]]) -> list[int]:
    return [max(range(len(row)), key=row.__getitem__) for row in rows]


def run_dtype(dtype: str, prompts: list[Any], batch: int, repeats: int) -> dict[str, Any]:
    """Load both sides in ``dtype``, warm them up, time them interleaved; free them again."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pytest_llmtrust.backends.hf import TORCH_DTYPES, dtype_kwargs
    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.backends.smollm2 import ensure_converted

    folder, _ = ensure_converted()
    backend: Any = load_backend(f"smollm2?dtype={dtype}&choice_batch_size={batch}")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model: Any = AutoModelForCausalLM.from_pretrained(folder, **dtype_kwargs(TORCH_DTYPES[dtype]))
    model.eval()
    warm = prompts[:batch]
    raw_choice(model, tokenizer, warm, batch)
    backend.choice_logprobs(warm, list(LABELS))

    times: dict[str, list[float]] = {"raw": [], "plugin": []}
    cpu: dict[str, list[float]] = {"raw": [], "plugin": []}
    scores: dict[str, list[list[float]]] = {}
    for repeat in range(repeats):
        for side in ("raw", "plugin"):
            started, cpu_started = time.perf_counter(), time.process_time()
            if side == "raw":
                scores[side] = raw_choice(model, tokenizer, prompts, batch)
            else:
                scores[side] = backend.choice_logprobs(prompts, list(LABELS))
            times[side].append(time.perf_counter() - started)
            cpu[side].append(time.process_time() - cpu_started)
            print(f"{dtype} repeat {repeat + 1}/{repeats} {side}: {times[side][-1]:.2f}s", flush=True)
    same = sum(a == b for a, b in zip(picks(scores["raw"]), picks(scores["plugin"]), strict=True))
    tokens = sum(len(backend.encode(p)) for p in prompts)
    del backend, model
    gc.collect()
    raw_s, plugin_s = statistics.median(times["raw"]), statistics.median(times["plugin"])
    return {
        "dtype": dtype,
        "prompt_tokens": tokens,
        "raw_s": times["raw"],
        "plugin_s": times["plugin"],
        "raw_cpu_s": cpu["raw"],
        "plugin_cpu_s": cpu["plugin"],
        "raw_median_s": raw_s,
        "plugin_median_s": plugin_s,
        "ratio": raw_s / plugin_s,
        "cpu_ratio": statistics.median(cpu["raw"]) / statistics.median(cpu["plugin"]),
        "same_letter": same,
    }


def resolve(args: argparse.Namespace) -> None:
    """Fill the settings left out: the quick ones under ``--quick``, the full ones otherwise."""
    fill_defaults(args, QUICK, FULL, OUT)


def main() -> int:
    from pytest_llmtrust.backends.hf import DEFAULT_CHOICE_BATCH_SIZE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="BBQ Age.jsonl (default ../shared/data/bbq)")
    parser.add_argument("--items", type=int, default=None, help="first N BBQ items (default 200; quick 16)")
    parser.add_argument("--personas", type=int, default=None, help="first N personas, default first (default 4)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per side, interleaved (default 2)")
    parser.add_argument("--dtypes", default="bfloat16,float32", help="comma-separated (default bfloat16,float32)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--batch", type=int, default=DEFAULT_CHOICE_BATCH_SIZE, help="prompts per forward batch")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 16 items x 2 personas, 1 repeat")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON result (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    resolve(args)
    if min(args.items, args.personas, args.repeats, args.batch, args.threads or 1) < 1:
        parser.error("--items, --personas, --repeats, --batch and --threads must be >= 1")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if not args.data.is_file():
        print(
            f"no BBQ data at {args.data}: the BBQ files belong in ../shared/data/bbq (or pass --data)", file=sys.stderr
        )
        return 2

    import torch

    from pytest_llmtrust.backends.hf import cpu_has_native_bf16, resolve_dtype
    from pytest_llmtrust.persona.bbq import load_bbq
    from pytest_llmtrust.persona.personas import personas_for
    from pytest_llmtrust.persona.prompts import build_messages

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dtypes = [resolve_dtype(d, "cpu") for d in dtypes]
    items = load_bbq(args.data, limit=args.items)
    personas = personas_for("Age", include_default=True)[: args.personas]
    prompts = [build_messages(item, persona, 0) for persona in personas for item in items]
    command = "python benchmarks/perf_choice.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    print(f"{len(items)} items x {len(personas)} personas ({', '.join(personas)}) = {len(prompts)} prompts")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()}")

    rows = [run_dtype(dtype, prompts, args.batch, args.repeats) for dtype in dtypes]
    result: dict[str, Any] = {
        "benchmark": "perf_choice",
        "command": command,
        "data": args.data.name,
        "items": len(items),
        "ambig": sum(item.condition == "ambig" for item in items),
        "personas": list(personas),
        "prompts": len(prompts),
        "batch": args.batch,
        "repeats": args.repeats,
        "rows": rows,
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": version("transformers"),
            "threads": torch.get_num_threads(),
            "native_bf16": cpu_has_native_bf16(),
            "cpus": os.cpu_count(),
        },
    }
    print()
    print(f"`{command}`")
    print()
    print(
        f"{len(prompts)} prompts ({len(items)} BBQ Age items x {len(personas)} personas), batch {args.batch}, "
        f"median of {args.repeats} interleaved run(s)"
    )
    print()
    print(
        "| dtype | raw median s | plugin median s | raw prompts/s | plugin prompts/s "
        "| t_raw/t_plugin | CPU-s ratio | same letter |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        n = len(prompts)
        print(
            f"| {row['dtype']} | {row['raw_median_s']:.2f} | {row['plugin_median_s']:.2f} | "
            f"{n / row['raw_median_s']:.1f} | {n / row['plugin_median_s']:.1f} | {row['ratio']:.3f} | "
            f"{row['cpu_ratio']:.3f} | {row['same_letter']}/{n} |"
        )
    print()
    print("target: t_raw/t_plugin >= 0.9 (CPU-s ratio: the same ratio from process CPU seconds)")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
