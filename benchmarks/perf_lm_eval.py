"""The plugin vs lm-evaluation-harness (``lm_eval``): the same prompts, generated end to end by each.

lm-eval lives in its own virtual environment, so this project's torch and transformers stay as
they are. It reuses them, though (a ``.pth`` file puts this project's site-packages after its
own), so both sides run the very same torch and transformers. Install it once::

    python3.11 -m venv /tmp/lmeval-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/lmeval-venv/lib/python3.11/site-packages/llmtrust-venv.pth
    /tmp/lmeval-venv/bin/python -m pip install "lm_eval[hf]==0.4.13"
    .venv/bin/python -c "import torch, transformers; print(torch.__version__, transformers.__version__)"  # unchanged

(pip sees torch, transformers, accelerate, ... through the ``.pth`` file and installs none of
them; check with ``pip install --dry-run`` first.) Then run by hand from the repository root, on
an otherwise idle machine::

    python benchmarks/perf_lm_eval.py --lm-eval-python /tmp/lmeval-venv/bin/python             # 256 prompts, 32 tokens
    python benchmarks/perf_lm_eval.py --lm-eval-python /tmp/lmeval-venv/bin/python --quick     # smoke run, no JSON

Both sides get the prompts of ``benchmarks/perf_generate.py`` (``--prompts``, default 256, all
distinct), one user turn each under the model's chat template, greedy, ``--max-new-tokens`` new
tokens (default 32), batch size 8, float32 on CPU, the same converted SmolLM2 folder:

* **lm-eval**: ``python -m lm_eval run --model hf --model_args pretrained=FOLDER,dtype=float32
  --device cpu --batch_size 8 --apply_chat_template --include_path TASKS --tasks llmtrust_perf
  --output_path OUT --log_samples``, where ``llmtrust_perf`` is a ``generate_until`` task written
  into a temporary folder (``dataset_path: json`` on a JSONL file of the prompts,
  ``doc_to_text: "{{prompt}}"``, ``generation_kwargs: {until: [], max_gen_toks: N, do_sample:
  false}``, the ``bypass`` metric). ``--log_samples`` writes the answers, which the output check reads.
* **plugin**: ``pytest`` on a generated ``*.llmtrust.yaml`` suite with the same prompts
  (``--llmtrust-cache=off --llmtrust-batch-size 8 --llmtrust-dtype float32``).

Each is timed end to end, process start to exit, in the order lm-eval, plugin, lm-eval, plugin,
... after one untimed warm-up of each (lm-eval's: ``--limit 8``, 2 tokens, which also builds the
``datasets`` cache of the JSONL file in the temporary folder); the median of each side counts.
``ratio = t_lm_eval / t_plugin`` (the target is >= 1.5). lm-eval's run is also split at its own log
lines into start-up (to "Running generate_until requests"), generation, and finish. The answers of
lm-eval's last run are compared with the plugin backend's on the same prompts.

Settings that cannot be made identical are listed in ``DIFFERENCES`` below and in the JSON.
Writes ``docs/results/perf_lm_eval.json`` (not with ``--quick`` unless ``--out`` is given) and
prints a markdown table with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from perf_common import fill_defaults, version, write_result
from perf_generate import (
    BATCH_SIZE,
    MAX_PROMPTS,
    child_env,
    has_cache_option,
    make_prompts,
    plugin_backend_texts,
    plugin_pytest,
    shown,
    timed,
    write_suite,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "perf_lm_eval.json"
DEFAULT_LM_EVAL_PYTHON = Path("/tmp/lmeval-venv/bin/python")
TASK = "llmtrust_perf"
TARGET = 1.5
QUICK = {"prompts": 16, "max_new_tokens": 8, "repeats": 1}
FULL = {"prompts": 256, "max_new_tokens": 32, "repeats": 2}
GENERATION_START = "Running generate_until requests"
GENERATION_END = "Saving results aggregated"

DIFFERENCES = (
    "lm-eval always adds the EOS text ('<|im_end|>') to its stop strings and checks them with a "
    "per-step decoding stopping criterion; the plugin stops on the EOS token id alone (no stop strings). "
    "Both stop at that token; the output check counts the answers that agree.",
    "lm-eval passes max_length = padded prompt width + max_gen_toks to generate; the plugin passes "
    "max_new_tokens. The same number of new tokens either way.",
    "Batches: both sort longest prompt first; ties are broken by prompt text in lm-eval, by position in "
    "the plugin, so a few batches may hold other prompts (float32 greedy is batch-invariant on CPU).",
    "lm-eval builds a `datasets` dataset from the JSONL file (cached after the warm-up), indexes its "
    "task registry, seeds its RNGs, collects torch's environment report and writes results and samples "
    "(--log_samples, needed for the output check); the plugin collects a YAML suite and judges every "
    "answer with the offline refusal detector. Each side's own bookkeeping is part of its time.",
    "lm-eval scores with the `bypass` metric (no scoring); the plugin checks `refusal_rate >= 0.0`.",
)


def lm_eval_versions(python: str) -> dict[str, str]:
    """lm_eval, torch and transformers as the lm-eval interpreter sees them (and where torch comes from)."""
    probe = (
        "import json, importlib.metadata as m, torch, transformers\n"
        "print(json.dumps({'lm_eval': m.version('lm_eval'), 'torch': torch.__version__, "
        "'transformers': transformers.__version__, 'torch_path': torch.__file__}))"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"{python} cannot import lm_eval, torch and transformers; install lm-eval as this file's docstring "
            f"says:\n{done.stderr[-2000:]}"
        )
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return versions


def write_task(folder: Path, prompts: list[str], max_new_tokens: int) -> Path:
    """The lm-eval task: a generate_until task over a JSONL file of the prompts, in ``folder``/tasks."""
    data = folder / "prompts.jsonl"
    data.write_text("".join(json.dumps({"id": i, "prompt": p}) + "\n" for i, p in enumerate(prompts)), "utf-8")
    tasks = folder / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    (tasks / f"{TASK}.yaml").write_text(
        f"task: {TASK}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f"    test: {json.dumps(str(data))}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        'doc_to_text: "{{prompt}}"\n'
        'doc_to_target: ""\n'
        "generation_kwargs:\n"
        "  until: []\n"
        f"  max_gen_toks: {max_new_tokens}\n"
        "  do_sample: false\n"
        "metric_list:\n"
        "  - metric: bypass\n"
        "    aggregation: bypass\n"
        "    higher_is_better: true\n"
        "num_fewshot: 0\n",
        encoding="utf-8",
    )
    return tasks


def lm_eval_command(python: str, folder: Path, tasks: Path, out: Path, extra: list[str]) -> list[str]:
    return [
        python,
        "-m",
        "lm_eval",
        "run",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={folder},dtype=float32",
        "--device",
        "cpu",
        "--batch_size",
        str(BATCH_SIZE),
        "--apply_chat_template",
        "--include_path",
        str(tasks),
        "--tasks",
        TASK,
        "--output_path",
        str(out),
        "--log_samples",
        *extra,
    ]


def streamed(command: list[str], cwd: Path, env: dict[str, str], label: str) -> tuple[float, dict[str, float]]:
    """Run a command to its end, noting when marker lines first appear on its output (seconds from start)."""
    started = time.perf_counter()
    seen: dict[str, float] = {}
    tail: list[str] = []
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            for marker in (GENERATION_START, GENERATION_END):
                if marker in line and marker not in seen:
                    seen[marker] = time.perf_counter() - started
            tail = [*tail[-40:], line]
        code = child.wait()
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{label} failed (exit {code}):\n{''.join(tail)[-4000:]}")
    return seconds, seen


def read_samples(out: Path) -> list[str]:
    """lm-eval's answers, in prompt order, from the newest samples file under ``out``."""
    files = sorted(out.rglob(f"samples_{TASK}_*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit(f"lm-eval wrote no samples file under {out}")
    rows = [json.loads(line) for line in files[-1].read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda r: int(r["doc"]["id"]))
    return [str(r["resps"][0][0]) for r in rows]


def read_context(out: Path) -> str:
    """The text lm-eval sent for the first prompt (chat template applied)."""
    files = sorted(out.rglob(f"samples_{TASK}_*.jsonl"), key=lambda p: p.stat().st_mtime)
    rows = [json.loads(line) for line in files[-1].read_text(encoding="utf-8").splitlines() if line.strip()]
    first = min(rows, key=lambda r: int(r["doc"]["id"]))
    return str(first["arguments"]["gen_args_0"]["arg_0"])


CONTEXT_CHILD = """
import json, sys
from pytest_llmtrust.backends.registry import load_backend
print(json.dumps(load_backend(sys.argv[1]).render(sys.argv[2])))
"""


def resolve(args: argparse.Namespace) -> None:
    fill_defaults(args, QUICK, FULL, OUT)
    if args.compare is None:
        args.compare = args.prompts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--lm-eval-python",
        default=str(DEFAULT_LM_EVAL_PYTHON),
        help=f"the python that has lm_eval (default {DEFAULT_LM_EVAL_PYTHON})",
    )
    parser.add_argument("--prompts", type=int, default=None, help="number of prompts (default 256; quick 16)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="new tokens per prompt (default 32)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per side, interleaved (default 2)")
    parser.add_argument("--compare", type=int, default=None, help="prompts whose texts are compared (default: all)")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for every child (0: unset)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 16 prompts, 8 tokens, 1 repeat, no JSON")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON result (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    resolve(args)
    if min(args.prompts, args.max_new_tokens, args.repeats) < 1:
        parser.error("--prompts, --max-new-tokens and --repeats must be >= 1")
    if args.prompts > MAX_PROMPTS:
        parser.error(f"at most {MAX_PROMPTS} distinct prompts can be made")

    from pytest_llmtrust.backends.smollm2 import ensure_converted

    lm_versions = lm_eval_versions(args.lm_eval_python)
    ours = {"torch": version("torch"), "transformers": version("transformers")}
    same_stack = lm_versions["torch"].split("+")[0] == ours["torch"].split("+")[0] and (
        lm_versions["transformers"] == ours["transformers"]
    )
    if not same_stack:
        print(f"warning: lm-eval runs torch {lm_versions['torch']} / transformers {lm_versions['transformers']}, ")
        print(f"the plugin torch {ours['torch']} / transformers {ours['transformers']}: timings are not like for like")
    folder, _ = ensure_converted()
    env = child_env(args.threads)
    cache_supported = has_cache_option(env)
    cache_flag = ["--llmtrust-cache=off"] if cache_supported else []
    if not cache_supported:
        print("note: this plugin has no --llmtrust-cache yet: the plugin side runs without the flag", flush=True)
    prompts = make_prompts(args.prompts)
    command = "python benchmarks/perf_lm_eval.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    started = time.perf_counter()

    times: dict[str, list[float]] = {"lm_eval": [], "plugin": []}
    phases: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="llmtrust-perf-lmeval-") as tmp_name:
        tmp = Path(tmp_name)
        env = {**env, "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp / "datasets-cache")}
        tasks = write_task(tmp, prompts, args.max_new_tokens)
        suite = write_suite(tmp / "suite", "perf-lm-eval", prompts, args.max_new_tokens)
        plugin_cmd = plugin_pytest(suite, cache_flag)
        out = tmp / "lm-eval-out"
        lm_cmd = lm_eval_command(args.lm_eval_python, folder, tasks, out, [])
        warm = lm_eval_command(args.lm_eval_python, folder, tasks, tmp / "warm-out", ["--limit", "8"])
        timed([*warm, "--gen_kwargs", "max_gen_toks=2"], tmp, env, "lm-eval warm-up")
        timed([*plugin_cmd, "--collect-only"], suite.parent, env, "plugin warm-up")
        for repeat in range(args.repeats):
            seconds, seen = streamed(lm_cmd, tmp, env, "lm-eval")
            times["lm_eval"].append(seconds)
            start, end = seen.get(GENERATION_START, float("nan")), seen.get(GENERATION_END, float("nan"))
            phases.append({"startup_s": start, "generate_s": end - start, "finish_s": seconds - end})
            print(
                f"repeat {repeat + 1}/{args.repeats} lm-eval: {seconds:.2f}s (start-up {start:.1f}s, "
                f"generation {end - start:.1f}s, finish {seconds - end:.1f}s)",
                flush=True,
            )
            seconds, _ = timed(plugin_cmd, suite.parent, env, "plugin")
            times["plugin"].append(seconds)
            print(f"repeat {repeat + 1}/{args.repeats} plugin: {seconds:.2f}s", flush=True)

        lm_texts = read_samples(out)
        lm_context = read_context(out)
        spec = f"smollm2?dtype=float32&batch_size={BATCH_SIZE}"
        done = subprocess.run(
            [sys.executable, "-c", CONTEXT_CHILD, spec, prompts[0]], env=env, capture_output=True, text=True, check=True
        )
        plugin_context = json.loads(done.stdout.strip().splitlines()[-1])
        n_compare = min(args.compare, len(prompts))
        same = stripped = 0
        mismatches: list[dict[str, str]] = []
        if n_compare:
            plugin_texts = plugin_backend_texts(prompts[:n_compare], args.max_new_tokens, tmp, env)
            for prompt, a, b in zip(prompts, lm_texts[:n_compare], plugin_texts, strict=True):
                same += a == b
                stripped += a.strip() == b.strip()
                if a != b and len(mismatches) < 3:
                    mismatches.append({"prompt": prompt, "lm_eval": a, "plugin": b})
            print(f"outputs: {same}/{n_compare} the same ({stripped} after strip())", flush=True)
        lm_shown = shlex.join(["python", *lm_cmd[1:]]).replace(str(tmp), "TMP").replace(str(folder), "FOLDER")
        plugin_shown = shown(plugin_cmd, tmp)

    lm_s, plugin_s = statistics.median(times["lm_eval"]), statistics.median(times["plugin"])
    result: dict[str, Any] = {
        "benchmark": "perf_lm_eval",
        "command": command,
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": BATCH_SIZE,
        "repeats": args.repeats,
        "model_folder": folder.name,
        "lm_eval_s": times["lm_eval"],
        "plugin_s": times["plugin"],
        "lm_eval_phases": phases,
        "lm_eval_median_s": lm_s,
        "plugin_median_s": plugin_s,
        "ratio": lm_s / plugin_s,
        "target": f">= {TARGET}",
        "lm_eval_command": lm_shown,
        "plugin_command": plugin_shown,
        "same_prompt_text": lm_context == plugin_context,
        "outputs_compared": n_compare,
        "outputs_match": same,
        "outputs_match_stripped": stripped,
        "mismatches": mismatches,
        "differences": list(DIFFERENCES),
        "environment": {
            "python": platform.python_version(),
            "plugin_torch": ours["torch"],
            "plugin_transformers": ours["transformers"],
            "lm_eval": lm_versions["lm_eval"],
            "lm_eval_torch": lm_versions["torch"],
            "lm_eval_transformers": lm_versions["transformers"],
            "same_torch_install": lm_versions["torch_path"].startswith(str(ROOT)),
            "cpus": os.cpu_count(),
            "omp_num_threads": env.get("OMP_NUM_THREADS", "unset"),
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
        },
        "total_s": time.perf_counter() - started,
    }

    print()
    print(f"`{command}`")
    print()
    print("| benchmark | plugin | baseline | ratio | target | command |")
    print("|---|---|---|---|---|---|")
    print(
        f"| plugin vs lm-eval (hf, generate_until, --apply_chat_template): {len(prompts)} prompts, "
        f"{args.max_new_tokens} new tokens, batch {BATCH_SIZE}, greedy float32, end to end (median of "
        f"{args.repeats}) | {plugin_s:.2f} s | lm-eval {lm_s:.2f} s | {result['ratio']:.3f} (t_lm_eval / t_plugin) "
        f"| {result['target']} | `{plugin_shown}` vs `{lm_shown}` |"
    )
    print()
    pairs = zip(times["lm_eval"], times["plugin"], strict=True)
    runs = "; ".join(f"lm-eval {x:.2f} s / plugin {y:.2f} s" for x, y in pairs)
    print(f"runs: {runs}")
    print(f"same chat-templated prompt text: {result['same_prompt_text']}")
    print(f"same output: {same}/{n_compare} (lm-eval's samples vs the plugin's backend)")
    print("settings that differ:")
    for line in DIFFERENCES:
        print(f"- {line}")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
