"""Load times of the embedded SmolLM2 model and its generation speed in bfloat16 vs float32.

Run by hand; prints a markdown table::

    python benchmarks/hf_load_and_dtype.py                 # everything (cold conversion in a temp cache)
    python benchmarks/hf_load_and_dtype.py --skip-load     # only the dtype comparison
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/hf_load_and_dtype.py --skip-load   # as on a CPU without bf16

Every load is timed in a fresh Python process, so "warm load" includes nothing
a previous load left in memory. Generation speed is measured on the model
itself with a fixed number of new tokens (``min_new_tokens == max_new_tokens``,
greedy), after one warm-up call, and reported as the median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Name three primary colours.",
    "Explain gravity in one sentence.",
    "Give me a synonym for 'happy'.",
    "How many legs does a spider have?",
    "Translate 'good morning' into Spanish.",
    "What is 12 times 12?",
]

LOAD_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import torch, transformers  # noqa: F401
from pytest_llmtrust.backends import smollm2
t1 = time.perf_counter()
folder, converted = smollm2.ensure_converted()
t2 = time.perf_counter()
backend = smollm2.from_spec("", {"dtype": sys.argv[1], "device": "cpu"})
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "ensure": t2 - t1, "load": t3 - t2, "converted": converted}))
"""


def run_load(cache: Path, dtype: str) -> dict[str, float]:
    env = {**os.environ, "LLMTRUST_CACHE_DIR": str(cache), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_CHILD, dtype], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load_rows(dtype: str) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="llmtrust-bench-") as tmp:
        cold = run_load(Path(tmp), dtype)
        rows.append(
            f"| cold load (GGUF conversion + load), fresh process | {cold['ensure'] + cold['load']:.1f} s "
            f"(conversion {cold['ensure']:.1f} s) |"
        )
        warm = [run_load(Path(tmp), dtype) for _ in range(3)]
        if any(w["converted"] for w in warm):
            raise SystemExit("warm load converted again: the cache was not used")
        load = statistics.median(w["ensure"] + w["load"] for w in warm)
        imports = statistics.median(w["imports"] for w in warm)
        rows.append(f"| warm load from the converted copy, fresh process (median of 3) | {load:.2f} s |")
        rows.append(f"| import torch + transformers (not part of the load) | {imports:.1f} s |")
    return rows


def tokens_per_second(dtype: str, batch: int, new_tokens: int, repeats: int) -> float:
    import torch

    from pytest_llmtrust.backends import smollm2
    from pytest_llmtrust.backends.hf import _left_pad

    backend = smollm2.from_spec("", {"dtype": dtype, "device": "cpu"})
    rows = [backend.encode(p) for p in (PROMPTS * 4)[:batch]]
    input_ids, mask = _left_pad(rows, int(backend.tokenizer.pad_token_id))

    def once(n: int) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            backend.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=backend.tokenizer.pad_token_id,
            )
        return time.perf_counter() - start

    once(4)  # warm-up
    seconds = statistics.median(once(new_tokens) for _ in range(repeats))
    return batch * new_tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-load", action="store_true", help="skip the cold/warm load timings")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    args = parser.parse_args()

    import torch

    from pytest_llmtrust.backends.hf import cpu_has_native_bf16, resolve_dtype

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()}, "
        f"auto dtype on cpu: {resolve_dtype('auto', 'cpu')}, "
        f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}\n"
    )
    print("| measurement | value |")
    print("|---|---|")
    if not args.skip_load:
        for row in load_rows("float32"):
            print(row, flush=True)
    speeds: dict[tuple[str, int], float] = {}
    for batch in (int(b) for b in args.batches.split(",")):
        for dtype in ("float32", "bfloat16"):
            speeds[dtype, batch] = tokens_per_second(dtype, batch, args.new_tokens, args.repeats)
            print(f"| generation, {dtype}, batch {batch} | {speeds[dtype, batch]:.1f} tokens/s |", flush=True)
        ratio = speeds["bfloat16", batch] / speeds["float32", batch]
        print(f"| bfloat16 / float32 speed, batch {batch} | {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
