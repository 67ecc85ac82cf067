"""Load times of the embedded SmolLM2 model and its generation speed in bfloat16 vs float32.

Run by hand; prints a markdown table::

    python benchmarks/hf_load_and_dtype.py                 # everything (cold conversion in a temp cache)
    python benchmarks/hf_load_and_dtype.py --skip-load     # only the dtype comparisons
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/hf_load_and_dtype.py --skip-load   # as on a CPU without bf16

Every load is timed in a fresh Python process, so "warm load" includes nothing
a previous load left in memory. Generation speed is measured on the model
itself with a fixed number of new tokens (``min_new_tokens == max_new_tokens``,
greedy), after one warm-up call, with the two dtypes interleaved. On a shared
machine wall-clock times jump; "tokens per CPU-second" (best of the repeats,
and most telling with ``--threads 1``) is the steadiest comparison.
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
# transformers imports its model-loading and Llama code lazily, on first use: time that apart
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: F401
from transformers import modeling_utils  # noqa: F401
t1b = time.perf_counter()
folder, converted = smollm2.ensure_converted()
t2 = time.perf_counter()
backend = smollm2.from_spec("", {"dtype": sys.argv[1], "device": "cpu"})
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "lazy": t1b - t1, "ensure": t2 - t1b, "load": t3 - t2, "converted": converted}))
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
        rows.append(f"| cold: GGUF conversion, fresh process | {cold['ensure']:.1f} |")
        rows.append(f"| cold: then loading the copy | {cold['load']:.2f} |")
        warm = [run_load(Path(tmp), dtype) for _ in range(3)]
        if any(w["converted"] for w in warm):
            raise SystemExit("warm load converted again: the cache was not used")
        load = statistics.median(w["ensure"] + w["load"] for w in warm)
        imports = statistics.median(w["imports"] for w in warm)
        lazy = statistics.median(w["lazy"] for w in warm)
        rows.append(f"| warm: load from the converted copy, fresh process (median of 3) | {load:.2f} |")
        rows.append(f"| before any load: import torch + transformers | {imports:.2f} |")
        rows.append(f"| before any load: transformers' lazily imported model code | {lazy:.2f} |")
    return rows


class Timer:
    """Times fixed-length greedy generation of one dtype at one batch size."""

    def __init__(self, dtype: str, batch: int, new_tokens: int) -> None:
        from pytest_llmtrust.backends import smollm2
        from pytest_llmtrust.backends.hf import _left_pad

        self.backend = smollm2.from_spec("", {"dtype": dtype, "device": "cpu"})
        rows = [self.backend.encode(p) for p in (PROMPTS * 4)[:batch]]
        self.input_ids, self.mask = _left_pad(rows, int(self.backend.tokenizer.pad_token_id))
        self.tokens = batch * new_tokens
        self.new_tokens = new_tokens
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.run(4)  # warm-up

    def run(self, n: int) -> tuple[float, float]:
        import torch

        wall, cpu = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            self.backend.model.generate(
                input_ids=self.input_ids,
                attention_mask=self.mask,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=self.backend.tokenizer.pad_token_id,
            )
        return time.perf_counter() - wall, time.process_time() - cpu

    def measure(self) -> None:
        wall, cpu = self.run(self.new_tokens)
        self.wall.append(wall)
        self.cpu.append(cpu)

    def row(self, label: str) -> str:
        best = self.tokens / min(self.wall)
        median = self.tokens / statistics.median(self.wall)
        per_cpu = self.tokens / min(self.cpu)
        return f"| {label} | {best:.1f} | {median:.1f} | {per_cpu:.1f} |"


def speed_rows(batches: list[int], new_tokens: int, repeats: int) -> list[str]:
    rows = []
    for batch in batches:
        timers = {dtype: Timer(dtype, batch, new_tokens) for dtype in ("float32", "bfloat16")}
        for _ in range(repeats):  # interleaved, so a burst of load elsewhere hits both dtypes alike
            for timer in timers.values():
                timer.measure()
        for dtype, timer in timers.items():
            rows.append(timer.row(f"{dtype}, batch {batch}"))
        ratio = min(timers["float32"].wall) / min(timers["bfloat16"].wall)
        rows.append(f"| bfloat16 / float32, batch {batch} (best wall) | {ratio:.2f}x | | |")
    return rows


INVARIANCE_PROMPTS = [
    *PROMPTS,
    "Tell me a joke about cats.",
    "What is the boiling point of water?",
    "List two fruits.",
    "Why is the sky blue?",
]


def invariance_rows(new_tokens: int) -> list[str]:
    """How many greedy answers change between running alone and running in batches of 8."""
    from pytest_llmtrust.backends import smollm2
    from pytest_llmtrust.backends.base import GenerationParams

    params = GenerationParams(max_new_tokens=new_tokens)
    rows = []
    for dtype in ("float32", "bfloat16"):
        backend = smollm2.from_spec("", {"dtype": dtype, "device": "cpu", "batch_size": "8"})
        batched = [g.text for g in backend.generate(INVARIANCE_PROMPTS, params)]
        alone = [backend.generate([p], params)[0].text for p in INVARIANCE_PROMPTS]
        changed = sum(a != b for a, b in zip(alone, batched, strict=True))
        rows.append(f"| {dtype} | {changed} of {len(INVARIANCE_PROMPTS)} |")
    return rows


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--skip-load", action="store_true", help="skip the cold/warm load timings")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--skip-speed", action="store_true", help="skip the tokens/s comparison")
    parser.add_argument("--skip-invariance", action="store_true", help="skip the alone-vs-batched check")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    from pytest_llmtrust.backends.hf import cpu_has_native_bf16, resolve_dtype

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"native bf16: {cpu_has_native_bf16()}, "
        f"auto dtype on cpu: {resolve_dtype('auto', 'cpu')}, "
        f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}\n"
    )
    if not args.skip_load:
        print("| load | seconds |\n|---|---|")
        for row in load_rows("float32"):
            print(row, flush=True)
        print()
    if not args.skip_speed:
        print(f"Greedy generation, {args.new_tokens} new tokens, {args.repeats} interleaved repeats:\n")
        print("| dtype, batch | tokens/s (best) | tokens/s (median) | tokens per CPU-second (best) |")
        print("|---|---|---|---|")
        for row in speed_rows([int(b) for b in args.batches.split(",")], args.new_tokens, args.repeats):
            print(row, flush=True)
    if not args.skip_invariance:
        print("\nGreedy answers (48 new tokens) that differ alone vs in batches of 8:\n")
        print("| dtype | answers that differ |\n|---|---|")
        for row in invariance_rows(48):
            print(row, flush=True)


if __name__ == "__main__":
    main()
