"""The plugin's generation speed on the embedded SmolLM2: vs a hand-written loop, and a fully cached rerun.

Run by hand from the repository root, on an otherwise idle machine::

    python benchmarks/perf_generate.py                  # 256 prompts, 32 new tokens, 2 interleaved repeats
    python benchmarks/perf_generate.py --skip-cached    # only the plugin vs loop comparison
    python benchmarks/perf_generate.py --quick          # a smoke run: tiny sizes, 1 repeat, no JSON

Two measurements, each from timings taken in this one run:

* **plugin vs hand-written loop**: the same ``--prompts`` distinct short prompts (built below from
  templates x topics), greedy, ``--max-new-tokens`` new tokens, batch size 8, float32 on CPU.
  *loop* is a fresh ``python -c`` process with a minimal transformers loop (load the converted
  copy, chat template, sort longest first as the plugin does, left-pad, ``model.generate``,
  decode); *plugin* is ``pytest`` on a generated ``*.llmtrust.yaml`` suite with the same prompts
  (``--llmtrust-cache=off --llmtrust-batch-size 8 --llmtrust-dtype float32``). Both are timed
  end to end, process start to exit, in the order loop, plugin, loop, plugin, ... after one
  untimed warm-up of each; the median of each side counts. ``ratio = t_loop / t_plugin`` (the
  throughput ratio; 1.0: the plugin is as fast as the loop; the target is >= 0.95). The loop's
  generate phase alone (tokenize, generate, decode) is reported too. The outputs are checked by
  running the plugin's backend (``load_backend("smollm2?dtype=float32&batch_size=8").generate``)
  on the same prompts in one more process and comparing its texts with the loop's.
* **fully cached rerun**: a suite of ``--cached-prompts`` (1,000) distinct prompts with
  ``--cached-max-new-tokens`` (8) new tokens is run once to fill a generation cache
  (``--llmtrust-cache-path`` in a temporary folder), then rerun with the same cache; the rerun
  is timed end to end (pytest start-up included; target <= 3 s). A ``conftest.py`` next to the
  suite records whether torch and transformers were imported in that process.

All children get ``HF_HUB_OFFLINE=1`` (no network retries) and, with ``--threads N``,
``OMP_NUM_THREADS=N`` (both sides alike). Writes ``docs/results/perf_generate.json`` (not with
``--quick`` unless ``--out`` is given) and prints a markdown table with the command.
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

from perf_common import TOPICS, fill_defaults, version, write_result

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "perf_generate.json"

TEMPLATES = (
    "Explain {} in one sentence.",
    "Give me two short facts about {}.",
    "Write a haiku about {}.",
    "What is a common misconception about {}?",
    "Describe {} to a ten-year-old.",
    "Name three words that rhyme with the main word in '{}'.",
    "Why do people find {} interesting?",
    "Write a one-line slogan about {}.",
    "What question would a scientist ask about {}?",
    "Summarize the history of {} in two sentences.",
    "List three things you might see near {}.",
    "Give a simple analogy for {}.",
    "What is the opposite of {}, if anything?",
    "Suggest a title for a short story about {}.",
    "How would you draw {} with only circles and lines?",
    "Tell me a fun fact about {}.",
    "What colour do you associate with {}, and why?",
    "Write a riddle whose answer is {}.",
    "In one sentence, how does {} change over a year?",
    "What would a cat think of {}?",
    "Give one safety tip related to {}.",
    "Compare {} to a kitchen appliance.",
    "What sound does {} make, if any?",
    "Write a short limerick opening line about {}.",
    "What is the best season to learn about {}?",
)
MAX_PROMPTS = len(TEMPLATES) * len(TOPICS)
"""1,200 distinct prompts; more would repeat, and the plugin answers a repeated prompt once."""

QUICK = {"prompts": 16, "max_new_tokens": 8, "repeats": 1, "cached_prompts": 24, "cached_max_new_tokens": 4}
FULL = {"prompts": 256, "max_new_tokens": 32, "repeats": 2, "cached_prompts": 1000, "cached_max_new_tokens": 8}
BATCH_SIZE = 8
PLUGIN_SPEC = "smollm2"
LOOP_TARGET = 0.95
CACHED_TARGET_S = 3.0


def make_prompts(n: int) -> list[str]:
    """``n`` distinct short prompts (at most 1,200): every topic under every template, neighbours differing in both.

    Prompt ``k`` is topic ``k % 48`` under template ``(k + k // 48) % 25``; over 1,200 prompts that
    pairs every topic with every template once (49 and 25 are coprime), so any prefix is distinct.
    """
    if not 1 <= n <= MAX_PROMPTS:
        raise ValueError(f"between 1 and {MAX_PROMPTS} distinct prompts can be made, not {n}")
    topics, templates = len(TOPICS), len(TEMPLATES)
    prompts = [TEMPLATES[(k + k // topics) % templates].format(TOPICS[k % topics]) for k in range(n)]
    assert len(set(prompts)) == n
    return prompts


# ----------------------------------------------------------------------------------------------- children

LOOP_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

folder, prompts_file, max_new, batch_size, order, out = sys.argv[1:7]
max_new, batch_size = int(max_new), int(batch_size)
prompts = json.loads(open(prompts_file, encoding="utf-8").read())
t1 = time.perf_counter()
tok = AutoTokenizer.from_pretrained(folder)
tok.padding_side = "left"
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
t2 = time.perf_counter()
texts = [
    tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
    for p in prompts
]
index = list(range(len(prompts)))
if order == "sorted":  # longest first, as the plugin batches
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    index.sort(key=lambda i: -lengths[i])
answers = [""] * len(prompts)
with torch.inference_mode():
    for start in range(0, len(index), batch_size):
        chunk = index[start : start + batch_size]
        enc = tok([texts[i] for i in chunk], padding=True, add_special_tokens=False, return_tensors="pt")
        ids = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id)
        for i, row in zip(chunk, ids[:, enc["input_ids"].shape[1] :]):
            answers[i] = tok.decode(row, skip_special_tokens=True)
t3 = time.perf_counter()
timing = {"imports": t1 - t0, "load": t2 - t1, "generate": t3 - t2}
open(out, "w", encoding="utf-8").write(json.dumps({"timing": timing, "texts": answers}))
"""
"""The hand-written baseline: what a user would write with transformers alone."""

PLUGIN_CHILD = """
import json, sys
from pytest_llmtrust.backends.base import GenerationParams
from pytest_llmtrust.backends.registry import load_backend

spec, prompts_file, max_new, out = sys.argv[1:5]
prompts = json.loads(open(prompts_file, encoding="utf-8").read())
backend = load_backend(spec)
texts = [g.text for g in backend.generate(prompts, GenerationParams(max_new_tokens=int(max_new)))]
open(out, "w", encoding="utf-8").write(json.dumps(texts))
"""
"""The plugin's backend on the same prompts, untimed: only to compare the texts with the loop's."""

CONFTEST = """
import json
import sys
from pathlib import Path


def pytest_sessionfinish(session, exitstatus):
    seen = {name: name in sys.modules for name in ("torch", "transformers")}
    Path(__file__).with_name("modules.json").write_text(json.dumps(seen), encoding="utf-8")
"""
"""Next to the cached suite: records which heavy modules the pytest process imported."""


def child_env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LLMTRUST_CACHE"}  # the cache mode comes from flags
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def pytest_command() -> list[str]:
    script = Path(sys.executable).with_name("pytest")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "pytest"]


def has_cache_option(env: dict[str, str]) -> bool:
    """Whether this plugin has ``--llmtrust-cache`` yet (it is being added)."""
    with tempfile.TemporaryDirectory(prefix="llmtrust-perf-help-") as tmp:
        done = subprocess.run(
            [*pytest_command(), "--help", "-p", "no:cacheprovider"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    return "--llmtrust-cache" in done.stdout and "--llmtrust-cache-path" in done.stdout


def write_suite(folder: Path, name: str, prompts: list[str], max_new_tokens: int) -> Path:
    """A prompts suite in ``folder`` (its own rootdir: an empty pytest.ini) with a gate that always passes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (folder / f"{name}.txt").write_text("".join(p + "\n" for p in prompts), encoding="utf-8")
    suite = folder / f"{name}.llmtrust.yaml"
    suite.write_text(
        f"suite: {name}\n"
        f"prompts_file: {name}.txt\n"
        "generation:\n"
        f"  max_new_tokens: {max_new_tokens}\n"
        "  temperature: 0\n"
        "expect:\n"
        '  refusal_rate: ">= 0.0"\n',
        encoding="utf-8",
    )
    return suite


def plugin_pytest(suite: Path, extra: list[str]) -> list[str]:
    """The plugin side: pytest on ``suite`` with the embedded model, batch 8, float32, and ``extra`` flags."""
    return [
        *pytest_command(),
        str(suite),
        "-p",
        "no:cacheprovider",
        "-q",
        "--llmtrust-model",
        PLUGIN_SPEC,
        "--llmtrust-batch-size",
        str(BATCH_SIZE),
        "--llmtrust-dtype",
        "float32",
        *extra,
    ]


def shown(command: list[str], tmp: Path) -> str:
    """A command as the table shows it: ``pytest`` for the script, ``TMP`` for the temporary folder."""
    words = ["pytest", *command[len(pytest_command()) :]]
    return shlex.join(words).replace(str(tmp), "TMP")


def plugin_backend_texts(prompts: list[str], max_new_tokens: int, tmp: Path, env: dict[str, str]) -> list[str]:
    """The plugin backend's answers (untimed, in a fresh process), to compare with the other side's."""
    prompts_file, out = tmp / "plugin-prompts.json", tmp / "plugin-texts.json"
    prompts_file.write_text(json.dumps(prompts), encoding="utf-8")
    spec = f"{PLUGIN_SPEC}?dtype=float32&batch_size={BATCH_SIZE}"
    command = [sys.executable, "-c", PLUGIN_CHILD, spec, str(prompts_file), str(max_new_tokens), str(out)]
    timed(command, tmp, env, "plugin backend (output check)")
    texts: list[str] = json.loads(out.read_text(encoding="utf-8"))
    return texts


def timed(command: list[str], cwd: Path, env: dict[str, str], label: str) -> tuple[float, str]:
    """Run a command to its end; return its wall time and its output. A failing command stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"{label} failed (exit {done.returncode}):\n{output[-4000:]}")
    return seconds, output


def last_line(output: str, word: str) -> str:
    lines = [line.strip(" =") for line in output.splitlines() if word in line]
    return lines[-1] if lines else ""


# ----------------------------------------------------------------------------------------------- benchmarks


def plugin_vs_loop(
    args: argparse.Namespace, folder: Path, env: dict[str, str], cache_flag: list[str]
) -> dict[str, Any]:
    prompts = make_prompts(args.prompts)
    with tempfile.TemporaryDirectory(prefix="llmtrust-perf-") as tmp_name:
        tmp = Path(tmp_name)
        suite = write_suite(tmp / "suite", "perf-generate", prompts, args.max_new_tokens)
        prompts_file = tmp / "prompts.json"
        prompts_file.write_text(json.dumps(prompts), encoding="utf-8")
        loop_out = tmp / "loop.json"

        def loop_cmd(prompts_path: Path, max_new: int) -> list[str]:
            return [
                sys.executable,
                "-c",
                LOOP_CHILD,
                str(folder),
                str(prompts_path),
                str(max_new),
                str(BATCH_SIZE),
                args.loop_order,
                str(loop_out),
            ]

        plugin_cmd = plugin_pytest(suite, cache_flag)
        # warm-up (untimed): the weights into the page cache, the imports compiled
        warm_file = tmp / "warm.json"
        warm_file.write_text(json.dumps(prompts[:BATCH_SIZE]), encoding="utf-8")
        timed(loop_cmd(warm_file, 2), tmp, env, "loop warm-up")
        timed([*plugin_cmd, "--collect-only"], suite.parent, env, "plugin warm-up")

        times: dict[str, list[float]] = {"loop": [], "plugin": []}
        generate_s: list[float] = []
        loop_texts: list[str] = []
        plugin_summary = ""
        for repeat in range(args.repeats):
            seconds, _ = timed(loop_cmd(prompts_file, args.max_new_tokens), tmp, env, "loop")
            result = json.loads(loop_out.read_text(encoding="utf-8"))
            times["loop"].append(seconds)
            generate_s.append(result["timing"]["generate"])
            loop_texts = result["texts"]
            print(
                f"repeat {repeat + 1}/{args.repeats} loop: {seconds:.2f}s (generate {generate_s[-1]:.2f}s)", flush=True
            )
            seconds, output = timed(plugin_cmd, suite.parent, env, "plugin")
            times["plugin"].append(seconds)
            plugin_summary = last_line(output, "passed")
            print(f"repeat {repeat + 1}/{args.repeats} plugin: {seconds:.2f}s ({plugin_summary})", flush=True)

        compared: dict[str, Any] = {"prompts": 0, "same": 0, "examples": []}
        n_compare = min(args.compare, len(prompts))
        if n_compare:
            plugin_texts = plugin_backend_texts(prompts[:n_compare], args.max_new_tokens, tmp, env)
            pairs = list(zip(prompts, loop_texts[:n_compare], plugin_texts, strict=True))
            compared = {
                "prompts": n_compare,
                "same": sum(a == b for _, a, b in pairs),
                "examples": [{"prompt": p, "loop": a, "plugin": b} for p, a, b in pairs if a != b][:3],
            }
            print(f"outputs: {compared['same']}/{n_compare} the same", flush=True)

    loop_s, plugin_s = statistics.median(times["loop"]), statistics.median(times["plugin"])
    return {
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": BATCH_SIZE,
        "repeats": args.repeats,
        "loop_order": args.loop_order,
        "loop_s": times["loop"],
        "plugin_s": times["plugin"],
        "loop_generate_s": generate_s,
        "loop_median_s": loop_s,
        "plugin_median_s": plugin_s,
        "loop_generate_median_s": statistics.median(generate_s),
        "ratio": loop_s / plugin_s,
        "target": f">= {LOOP_TARGET}",
        "plugin_command": shown(plugin_cmd, tmp),
        "plugin_summary": plugin_summary,
        "outputs_compared": compared["prompts"],
        "outputs_match": compared["same"],
        "mismatches": compared["examples"],
    }


def cached_rerun(args: argparse.Namespace, env: dict[str, str], cache_supported: bool) -> dict[str, Any]:
    if not cache_supported:
        return {"skipped": "this plugin has no --llmtrust-cache / --llmtrust-cache-path option yet"}
    prompts = make_prompts(args.cached_prompts)
    with tempfile.TemporaryDirectory(prefix="llmtrust-perf-cache-") as tmp_name:
        tmp = Path(tmp_name)
        suite = write_suite(tmp / "suite", "perf-cached", prompts, args.cached_max_new_tokens)
        (suite.parent / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        modules_file = suite.parent / "modules.json"
        cache_file = tmp / "gen.sqlite"
        command = plugin_pytest(suite, [f"--llmtrust-cache-path={cache_file}"])
        if args.rerun_cache_mode:
            rerun_command = [*command, f"--llmtrust-cache={args.rerun_cache_mode}"]
        else:
            rerun_command = command
        fill_s, output = timed(command, suite.parent, env, "cache fill run")
        fill_modules = json.loads(modules_file.read_text(encoding="utf-8"))
        print(f"cache fill: {len(prompts)} prompts in {fill_s:.1f}s ({last_line(output, 'passed')})", flush=True)
        reruns: list[float] = []
        modules: dict[str, bool] = {}
        summary = cache_line = ""
        for repeat in range(args.repeats):
            modules_file.unlink()
            seconds, output = timed(rerun_command, suite.parent, env, "cached rerun")
            reruns.append(seconds)
            modules = json.loads(modules_file.read_text(encoding="utf-8"))
            summary, cache_line = last_line(output, "passed"), last_line(output.lower(), "cache")
            print(f"rerun {repeat + 1}/{args.repeats}: {seconds:.2f}s, imported {modules} ({summary})", flush=True)
        cache_bytes = cache_file.stat().st_size if cache_file.exists() else 0
    rerun_s = statistics.median(reruns)
    return {
        "prompts": len(prompts),
        "max_new_tokens": args.cached_max_new_tokens,
        "fill_s": fill_s,
        "fill_imported": fill_modules,
        "rerun_s": reruns,
        "rerun_median_s": rerun_s,
        "rerun_cache_mode": args.rerun_cache_mode or "default",
        "target": f"<= {CACHED_TARGET_S} s",
        "passed": rerun_s <= CACHED_TARGET_S,
        "rerun_imported": modules,
        "rerun_summary": summary,
        "rerun_cache_report": cache_line.replace(str(tmp), "TMP"),
        "cache_file_bytes": cache_bytes,
        "command": shown(rerun_command, tmp),
    }


# ----------------------------------------------------------------------------------------------- main


def resolve(args: argparse.Namespace) -> None:
    """Fill the settings left out: the quick ones under ``--quick``, the full ones otherwise."""
    fill_defaults(args, QUICK, FULL, OUT)
    if args.compare is None:
        args.compare = args.prompts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=None, help="prompts, plugin vs loop (default 256; quick 16)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="new tokens, plugin vs loop (default 32)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per side, interleaved (default 2)")
    parser.add_argument("--cached-prompts", type=int, default=None, help="prompts of the cached suite (default 1000)")
    parser.add_argument("--cached-max-new-tokens", type=int, default=None, help="new tokens, cached suite (default 8)")
    parser.add_argument("--rerun-cache-mode", default=None, help="--llmtrust-cache of the rerun (default: the default)")
    parser.add_argument("--compare", type=int, default=None, help="prompts whose texts are compared (default: all)")
    parser.add_argument(
        "--loop-order",
        choices=("sorted", "input"),
        default="sorted",
        help="loop batches: longest first like the plugin (default) or in input order",
    )
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for every child (0: unset)")
    parser.add_argument("--skip-cached", action="store_true", help="skip the cached-rerun benchmark")
    parser.add_argument("--skip-loop", action="store_true", help="skip the plugin vs loop benchmark")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 1 repeat, no JSON")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON result (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    resolve(args)
    for name in ("prompts", "max_new_tokens", "repeats", "cached_prompts", "cached_max_new_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if max(args.prompts, args.cached_prompts) > MAX_PROMPTS:
        parser.error(f"at most {MAX_PROMPTS} distinct prompts can be made")

    from pytest_llmtrust.backends.smollm2 import ensure_converted

    folder, _ = ensure_converted()  # convert (once) before anything is timed
    env = child_env(args.threads)
    cache_supported = has_cache_option(env)
    cache_flag = ["--llmtrust-cache=off"] if cache_supported else []
    if not cache_supported:
        print("note: this plugin has no --llmtrust-cache yet: the plugin side runs without the flag", flush=True)
    command = "python benchmarks/perf_generate.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "perf_generate",
        "command": command,
        "model": f"{PLUGIN_SPEC} (converted float32 copy: {folder.name})",
        "cache_option": cache_supported,
        "environment": {
            "python": platform.python_version(),
            "torch": version("torch"),
            "transformers": version("transformers"),
            "cpus": os.cpu_count(),
            "omp_num_threads": env.get("OMP_NUM_THREADS", "unset"),
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
        },
    }
    if not args.skip_loop:
        result["plugin_vs_loop"] = plugin_vs_loop(args, folder, env, cache_flag)
    if not args.skip_cached:
        result["cached_rerun"] = cached_rerun(args, env, cache_supported)
    result["total_s"] = time.perf_counter() - started

    print()
    print(f"`{command}`")
    print()
    print("| benchmark | plugin | baseline | ratio | target | command |")
    print("|---|---|---|---|---|---|")
    if "plugin_vs_loop" in result:
        a = result["plugin_vs_loop"]
        print(
            f"| plugin vs hand-written loop: {a['prompts']} prompts, {a['max_new_tokens']} new tokens, batch "
            f"{a['batch_size']}, greedy float32, end to end (median of {a['repeats']}) | {a['plugin_median_s']:.2f} s "
            f"| {a['loop_median_s']:.2f} s (generate phase {a['loop_generate_median_s']:.2f} s) "
            f"| {a['ratio']:.3f} (t_loop / t_plugin) | {a['target']} | `{a['plugin_command']}` |"
        )
    cached = result.get("cached_rerun")
    if cached and "skipped" not in cached:
        imported = ", ".join(k for k, v in cached["rerun_imported"].items() if v) or "neither torch nor transformers"
        print(
            f"| fully cached rerun: {cached['prompts']} prompts, {cached['max_new_tokens']} new tokens, end to end "
            f"(median of {len(cached['rerun_s'])}) | {cached['rerun_median_s']:.2f} s (imported: {imported}) "
            f"| fill run {cached['fill_s']:.1f} s | {cached['fill_s'] / cached['rerun_median_s']:.1f}x vs fill "
            f"| {cached['target']} | `{cached['command']}` |"
        )
    print()
    if "plugin_vs_loop" in result:
        a = result["plugin_vs_loop"]
        runs = "; ".join(f"loop {x:.2f} s / plugin {y:.2f} s" for x, y in zip(a["loop_s"], a["plugin_s"], strict=True))
        print(f"runs: {runs}")
        print(f"same output: {a['outputs_match']}/{a['outputs_compared']} (loop vs the plugin's backend)")
    if cached and "skipped" in cached:
        print(f"cached rerun skipped: {cached['skipped']}")
    elif cached:
        print(f"cached rerun: {cached['rerun_summary']}; {cached['rerun_cache_report'] or 'no cache line printed'}")
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
