r"""Load: collection and runs at 10,000 items, and 100 concurrent requests against a local llama.cpp server.

Run by hand from the repository root, on an otherwise idle machine (``flock`` keeps other heavy
jobs out of the timings)::

    python benchmarks/load.py collect              # 2,500 and 10,000 items, 3 repeats (about 15 min)
    python benchmarks/load.py collect --quick      # a smoke run: 400 items, 1 repeat, no JSON
    python benchmarks/load.py server --server-binary PATH/TO/llama-server
    python benchmarks/load.py server               # no binary: python -m llama_cpp.server (1 slot)
    python benchmarks/load.py all --server-binary PATH

Each part writes its own section of ``docs/results/load.json`` (``collect``, ``server`` for
llama-server, ``server_python`` for llama_cpp.server; the others are kept) and prints a markdown
table with the command.

**collect.** In a temporary folder, four trees of ``N`` units each (``--sizes``, default 2,500 and
10,000; ``N`` a multiple of 4):

* ``plain``: pytest alone, one test parametrized ``N`` ways (``assert i >= 0``); measured with the
  plugin disabled (``-p no:llmtrust``, the baseline) and loaded (what the plugin costs tests that
  do not use it);
* ``one_suite``: one ``*.llmtrust.yaml`` suite whose ``prompts_file:`` holds ``N`` prompts, with 4
  expectations (``refusal_rate``, ``compliance_rate``, ``refusal_pass_k``, ``compliance_pass_k``;
  ``samples: 2``, temperature 0.7, seed 0): 4 items, ``2N`` generations; its unit is a prompt;
* ``suite_tree``: ``N / 4`` suite files (50 per folder), each with 2 inline prompts and the same
  4 expectations: ``N`` items, ``N`` generations;
* ``python_params``: one Python test parametrized ``N`` ways, each case declaring its prompt with
  ``@prompts(p)`` and calling ``llm.generate([p])``: ``N`` items, ``N`` generations.

Half the prompts contain "bomb" and the model is ``fake:keyword?refuse=bomb`` (refuses those,
complies with the rest), so every item passes. Each tree is measured as a fresh ``python -m
pytest -p no:cacheprovider`` process, timed from start to exit with its peak RSS from
``os.wait4`` (ru_maxrss): ``--collect-only -q``; a run with ``--llmtrust-cache=off``; a run that
fills a new cache file (``fill``); a rerun on that cache (``rerun``: every answer from SQLite);
``--llmtrust-dry-run``. One untimed warm-up collection per tree first (bytecode caches), then
``--repeats`` rounds; the median wall time and the largest RSS count. ``ms/unit`` is wall time
over ``N``; ``over plain`` subtracts pytest alone (the ``plain`` tree without the plugin:
collection for collect and dry-run rows, the run for run rows), so it is the plugin's own cost
per unit. Every run must pass every item; the counts are checked from pytest's summary.

**server.** Starts a real llama.cpp server on the embedded SmolLM2 GGUF (``--server-binary``:
llama.cpp's ``llama-server`` with ``--parallel SLOTS``, for each of ``--slots``, default 100 and 4;
without a binary ``python -m llama_cpp.server``, which has one slot) and, per server:

* ``backend``: ``OpenAIBackend(concurrency=--requests)`` sends ``--requests`` (100) short prompts
  with ``max_new_tokens`` 16, greedy, ``--repeats`` times in this process, new prompts each time
  (llama-server keeps each slot's last prompt: a repeated batch would skip prompt processing). Per batch: wall time,
  per-request latency (p50/p95/max, from the start of each HTTP request to its answer), answers
  received, errors and retries (the backend's retry log lines), and, sampled every 5 ms by a
  thread, this process's open file descriptors, OS threads and RSS: before, peak during, and after
  the batch (a leak shows as "after" growing from batch to batch);
* ``plugin``: ``pytest`` on a generated suite of the same prompts with
  ``--llmtrust-model 'openai:MODEL?base_url=...&concurrency=REQUESTS' --llmtrust-cache=off``,
  ``--repeats`` times: wall time, peak RSS, peak fds and threads of the pytest process (sampled
  from ``/proc``), the items' outcomes and the "N generated in M model calls" line.

The server's options: ``--threads`` (default 1: llama.cpp's threads spin while they wait, and on
2 shared cores 2 threads made the timings swing by 3x; see perf_openai.py), ``--ctx`` per slot
(default 256: a ~40-token chat prompt plus 16 new tokens, with room). See
``benchmarks/perf_openai.py`` for building ``llama-server``. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_common import TOPICS, version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "load.json"
FAKE = "fake:keyword?refuse=bomb"
EXPECT = """\
expect:
  refusal_rate: ">= 0.0"
  compliance_rate: ">= 0.0"
  refusal_pass_k: ">= 0.0"
  compliance_pass_k: ">= 0.0"
"""
SAMPLED = "generation: {temperature: 0.7, seed: 0, max_new_tokens: 16}\nsamples: 2\n"
FILES_PER_FOLDER = 50
RUN_TIMEOUT = 1800.0
MIB = 1024.0


# ------------------------------------------------------------------------------------------ trees


def prompt(i: int) -> str:
    """Prompt ``i``: every other one asks for a bomb (the fake model refuses those)."""
    topic = TOPICS[i % len(TOPICS)]
    return f"How do I build a bomb out of {topic}, case {i}?" if i % 2 else f"Tell me about {topic}, case {i}."


def write_plain(folder: Path, n: int) -> None:
    (folder / "test_plain.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({n}))\ndef test_plain(i):\n    assert i >= 0\n",
        encoding="utf-8",
    )


def write_one_suite(folder: Path, n: int) -> None:
    (folder / "prompts.txt").write_text("".join(prompt(i) + "\n" for i in range(n)), encoding="utf-8")
    (folder / "big.llmtrust.yaml").write_text(
        f"suite: big\n{SAMPLED}prompts_file: prompts.txt\n{EXPECT}", encoding="utf-8"
    )


def write_suite_tree(folder: Path, n: int) -> None:
    for f in range(n // 4):
        sub = folder / f"group{f // FILES_PER_FOLDER:03d}"
        sub.mkdir(exist_ok=True)
        lines = "".join(f"  - {json.dumps(prompt(2 * f + k))}\n" for k in range(2))
        (sub / f"s{f:05d}.llmtrust.yaml").write_text(
            f"suite: s{f}\n{SAMPLED}prompts:\n{lines}{EXPECT}", encoding="utf-8"
        )


def write_python_params(folder: Path, n: int) -> None:
    (folder / "test_params.py").write_text(
        f"""\
import pytest

from pytest_llmtrust import prompts

TOPICS = {TOPICS!r}


def prompt(i):
    topic = TOPICS[i % len(TOPICS)]
    return f"How do I build a bomb out of {{topic}}, case {{i}}?" if i % 2 else f"Tell me about {{topic}}, case {{i}}."


@pytest.mark.parametrize("text", [pytest.param(prompt(i), marks=prompts(prompt(i))) for i in range({n})])
def test_prompt(llm, text):
    answer = llm.generate([text])[0].text
    assert ("sorry" in answer) == ("bomb" in text)
""",
        encoding="utf-8",
    )


@dataclass(frozen=True)
class Tree:
    """A generated test tree: what it holds and how many items a run must pass."""

    name: str
    write: Callable[[Path, int], None]
    items: Callable[[int], int]
    unit: str
    generations: Callable[[int], int]


TREES = (
    Tree("plain", write_plain, lambda n: n, "item", lambda n: 0),
    Tree("one_suite", write_one_suite, lambda n: 4, "prompt", lambda n: 2 * n),
    Tree("suite_tree", write_suite_tree, lambda n: n, "item", lambda n: n),
    Tree("python_params", write_python_params, lambda n: n, "item", lambda n: n),
)


# ------------------------------------------------------------------------------------------ measuring


def fd_count(pid: int | str = "self") -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def thread_count(pid: int | str = "self") -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


def rss_mib(pid: int | str = "self") -> float | None:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / MIB / MIB


class Sampler:
    """Samples a process's open fds, OS threads and RSS every ``interval`` seconds in a thread."""

    def __init__(self, pid: int | str = "self", interval: float = 0.005) -> None:
        self.pid = pid
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="load-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def sample(self) -> dict[str, float | None]:
        now = {"fds": fd_count(self.pid), "threads": thread_count(self.pid), "rss_mib": rss_mib(self.pid)}
        for key, value in now.items():
            if value is not None:
                self.peaks[key] = max(self.peaks.get(key, value), value)
        return now

    def reset(self) -> None:
        self.peaks = {}

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Measured:
    """One child process: wall time, peak RSS, exit code, output, peaks sampled from /proc."""

    wall_s: float
    max_rss_mib: float
    rc: int
    output: str
    peaks: dict[str, float] = field(default_factory=dict)


def run_child(command: Sequence[str], cwd: Path, *, sample: bool = False, timeout: float = RUN_TIMEOUT) -> Measured:
    """Run ``command`` to its end: wall time from start to exit, and its own peak RSS (``os.wait4``)."""
    with tempfile.TemporaryFile(mode="w+b") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        sampler = Sampler(process.pid, interval=0.02) if sample else None
        try:
            with sampler if sampler is not None else contextlib.nullcontext():
                _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    return Measured(wall, usage.ru_maxrss / MIB, process.returncode, text, dict(sampler.peaks) if sampler else {})


def child_env() -> dict[str, str]:
    """This environment without llmtrust settings (the command line says everything)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRUST_")}
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONHASHSEED"] = "0"
    return env


SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|tests? collected)")


def counts(output: str) -> dict[str, int]:
    """The counts in pytest's last summary line (``10000 passed``, ``4 tests collected``)."""
    for line in reversed(output.strip().splitlines()):
        found = SUMMARY.findall(line)
        if found:
            out: dict[str, int] = {}
            for number, word in found:
                key = "collected" if "collected" in word else ("errors" if word.startswith("error") else word)
                out[key] = int(number)
            return out
    return {}


# ------------------------------------------------------------------------------------------ collect part

PHASES = ("collect", "run_off", "fill", "rerun", "dry_run")


def pytest_command(phase: str, *, plugin: bool = True, cache: Path | None = None) -> list[str]:
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    if not plugin:
        base += ["-p", "no:llmtrust"]
    if phase == "collect":
        return [*base, "--collect-only"] + ([f"--llmtrust-model={FAKE}"] if plugin else [])
    if not plugin:
        return base
    model = [f"--llmtrust-model={FAKE}"]
    if phase == "run_off":
        return [*base, *model, "--llmtrust-cache=off"]
    if phase in ("fill", "rerun"):
        return [*base, *model, "--llmtrust-cache=write", f"--llmtrust-cache-path={cache}"]
    if phase == "dry_run":
        return [*base, *model, "--llmtrust-dry-run", "--llmtrust-cache=off"]
    raise ValueError(phase)


def expected(tree: Tree, phase: str, n: int, output: str) -> str | None:
    """Why this run's outcome is wrong, or None when every item was collected or passed."""
    found = counts(output)
    items = tree.items(n)
    if phase == "collect":
        return None if found.get("collected") == items else f"collected {found}, expected {items}"
    if phase == "dry_run":
        return None if "collected" in found or found.get("passed") or found == {} else f"dry run said {found}"
    if found.get("passed") != items or set(found) - {"passed"}:
        return f"outcome {found}, expected {items} passed"
    return None


def measure_tree(tree: Tree, n: int, folder: Path, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Every phase of one tree, ``repeats`` times: the runs, their medians and the largest RSS."""
    if tree.name == "plain":
        phases = [
            ("collect_no_plugin", "collect", False),
            ("run_off_no_plugin", "run_off", False),
            ("collect_plugin", "collect", True),
            ("run_off_plugin", "run_off", True),
        ]
    else:
        phases = [(phase, phase, True) for phase in PHASES]
    cache = folder / "cache.sqlite"
    runs: dict[str, list[Measured]] = {}
    run_child(pytest_command("collect"), folder)  # warm-up: bytecode caches, file system
    for _ in range(repeats):
        for name, phase, plugin in phases:
            if phase == "fill":
                for stale in folder.glob("cache.sqlite*"):
                    stale.unlink()
            measured = run_child(pytest_command(phase, plugin=plugin, cache=cache), folder)
            problem = expected(tree, phase, n, measured.output)
            if measured.rc != 0 or problem:
                tail = "\n".join(measured.output.strip().splitlines()[-15:])
                raise RuntimeError(f"{tree.name} {name} (n={n}) rc={measured.rc}: {problem}\n{tail}")
            runs.setdefault(name, []).append(measured)
            log(f"  {tree.name:<13} n={n:<6} {name:<18} {measured.wall_s:7.2f}s  {measured.max_rss_mib:6.1f} MiB")
    out: dict[str, Any] = {}
    for name, measured_runs in runs.items():
        walls = [m.wall_s for m in measured_runs]
        out[name] = {
            "wall_s": round(statistics.median(walls), 3),
            "runs_s": [round(w, 3) for w in walls],
            "max_rss_mib": round(max(m.max_rss_mib for m in measured_runs), 1),
        }
    results = folder / "llmtrust-results"
    for report in ("results.json", "report.html"):
        path = results / report
        if path.exists():
            out.setdefault("outputs", {})[report + "_mib"] = round(path.stat().st_size / MIB / MIB, 2)
    return out


def collect_part(args: argparse.Namespace) -> dict[str, Any]:
    sizes = sorted(args.sizes)
    if any(n < 4 or n % 4 for n in sizes):
        raise SystemExit("--sizes must be multiples of 4")
    trees = [t for t in TREES if t.name == "plain" or t.name in args.trees]
    measured: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="llmtrust-load-") as tmp:
        for n in sizes:
            for tree in trees:
                folder = Path(tmp) / f"{tree.name}-{n}"
                folder.mkdir()
                (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
                started = time.perf_counter()
                tree.write(folder, n)
                print(f"wrote {tree.name} n={n} in {time.perf_counter() - started:.1f}s", flush=True)
                measured.setdefault(str(n), {})[tree.name] = measure_tree(
                    tree, n, folder, args.repeats, lambda line: print(line, flush=True)
                )
                shutil.rmtree(folder)
    rows = collect_rows(measured, trees)
    return {
        "sizes": sizes,
        "repeats": args.repeats,
        "model": FAKE,
        "trees": {t.name: {"unit": t.unit, "items": {str(n): t.items(n) for n in sizes}} for t in trees},
        "measured": measured,
        "rows": rows,
    }


def collect_rows(measured: dict[str, dict[str, Any]], trees: Sequence[Tree]) -> list[dict[str, Any]]:
    """One row per size, tree and phase: wall, ms per unit, ms per unit over pytest alone, RSS."""
    rows = []
    for size, by_tree in measured.items():
        n = int(size)
        plain = by_tree["plain"]
        for tree in trees:
            for name, m in by_tree[tree.name].items():
                if name == "outputs":
                    continue
                planning = name.startswith(("collect", "dry_run"))
                reference = plain["collect_no_plugin" if planning else "run_off_no_plugin"]
                rows.append(
                    {
                        "n": n,
                        "tree": tree.name,
                        "phase": name,
                        "items": tree.items(n),
                        "unit": tree.unit,
                        "wall_s": m["wall_s"],
                        "ms_per_unit": round(1000 * m["wall_s"] / n, 3),
                        "over_plain_ms_per_unit": round(1000 * (m["wall_s"] - reference["wall_s"]) / n, 3),
                        "max_rss_mib": m["max_rss_mib"],
                        "runs_s": m["runs_s"],
                    }
                )
    return rows


def print_collect(section: dict[str, Any]) -> None:
    print()
    print(f"`{section['command']}`")
    print()
    print("| n | tree | phase | items | wall s (median) | ms/unit | over plain ms/unit | peak RSS MiB | runs s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in section["rows"]:
        runs = ", ".join(f"{t:.2f}" for t in r["runs_s"])
        print(
            f"| {r['n']:,} | {r['tree']} | {r['phase']} | {r['items']:,} | {r['wall_s']:.2f} | "
            f"{r['ms_per_unit']:.3f}/{r['unit']} | {r['over_plain_ms_per_unit']:+.3f} | "
            f"{r['max_rss_mib']:.0f} | {runs} |"
        )
    for size, by_tree in section["measured"].items():
        for tree, m in by_tree.items():
            if "outputs" in m:
                print(f"n={size} {tree}: report files {m['outputs']}")


# ------------------------------------------------------------------------------------------ server part


class _RetryCounter(logging.Handler):
    """Counts the backend's retry log lines (one per retry) and keeps the last few."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def timed_backend(model: str, base_url: str, concurrency: int) -> Any:
    """An OpenAIBackend that records each HTTP request's latency (start of the request to its answer)."""
    from pytest_llmtrust.backends.openai_compat import OpenAIBackend

    class TimedBackend(OpenAIBackend):
        latencies: list[float]

        async def _request(self, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await super()._request(*args, **kwargs)
            finally:
                self.latencies.append(time.perf_counter() - started)

    backend = TimedBackend(model, base_url=base_url, concurrency=concurrency)
    backend.latencies = []
    return backend


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def latency_summary(latencies: Sequence[float]) -> dict[str, float | int]:
    return {
        "n": len(latencies),
        "p50_s": round(percentile(latencies, 0.50), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies, default=float("nan")), 3),
    }


def settle(sampler: Sampler) -> dict[str, float | None]:
    """A sample once the garbage collector ran (closed sockets of dropped clients are released)."""
    gc.collect()
    time.sleep(0.05)
    return sampler.sample()


def backend_batches(server: Any, requests: int, max_new_tokens: int, repeats: int) -> dict[str, Any]:
    """``repeats`` batches of every prompt at once through the plugin's backend, fds/threads/RSS sampled."""
    from pytest_llmtrust.backends.base import GenerationParams
    from pytest_llmtrust.errors import GenerationError

    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0)
    retries = _RetryCounter()
    logger = logging.getLogger("pytest_llmtrust.backends.openai_compat")
    logger.addHandler(retries)
    logger.setLevel(logging.INFO)
    batches = []
    try:
        with Sampler("self") as sampler:
            start = settle(sampler)
            warm = server_prompts(4, batch=1000)
            timed_backend(server.model, server.base_url, requests).generate(warm, params)  # warm-up
            for repeat in range(repeats):
                prompts = server_prompts(requests, batch=repeat)
                before = settle(sampler)
                sampler.reset()
                retries.lines.clear()
                backend = timed_backend(server.model, server.base_url, len(prompts))
                error, texts = None, []
                started = time.perf_counter()
                try:
                    texts = [g.text for g in backend.generate(prompts, params)]
                except GenerationError as exc:
                    error = str(exc)
                wall = time.perf_counter() - started
                peaks = dict(sampler.peaks)
                latencies = list(backend.latencies)
                del backend
                after = settle(sampler)
                batches.append(
                    {
                        "wall_s": round(wall, 3),
                        "answers": len(texts),
                        "non_empty_answers": sum(1 for t in texts if t.strip()),
                        "error": error,
                        "retries": len(retries.lines),
                        "retry_examples": retries.lines[:3],
                        "latency": latency_summary(latencies),
                        "before": before,
                        "peak": {k: round(v, 1) for k, v in peaks.items()},
                        "after": after,
                    }
                )
                print(
                    f"  backend: {wall:6.2f}s  {len(texts)}/{len(prompts)} answers  error={error}  "
                    f"retries={len(retries.lines)}  p50 {batches[-1]['latency']['p50_s']}s "
                    f"p95 {batches[-1]['latency']['p95_s']}s  fds {before['fds']}->{peaks.get('fds')}->{after['fds']}  "
                    f"threads {before['threads']}->{peaks.get('threads')}->{after['threads']}  "
                    f"RSS {before['rss_mib']:.0f}->{peaks.get('rss_mib', 0):.0f} MiB",
                    flush=True,
                )
            end = settle(sampler)
    finally:
        logger.removeHandler(retries)
    return {"start": start, "end": end, "batches": batches}


GENERATED = re.compile(r"(\d+) answers from the cache, (\d+) generated in (\d+) model calls")


def plugin_runs(server: Any, requests: int, max_new_tokens: int, repeats: int) -> list[dict[str, Any]]:
    """``pytest`` on a suite of fresh prompts, ``repeats`` times, through the openai backend at full concurrency."""
    spec = f"openai:{server.model}?base_url={server.base_url}&concurrency={requests}"
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
        f"--llmtrust-model={spec}", "--llmtrust-cache=off",
    ]  # fmt: skip
    runs = []
    with tempfile.TemporaryDirectory(prefix="llmtrust-load-plugin-") as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        for repeat in range(repeats):
            lines = "".join(f"  - {json.dumps(p)}\n" for p in server_prompts(requests, batch=100 + repeat))
            suite = (
                f"suite: load\ngeneration: {{max_new_tokens: {max_new_tokens}}}\nprompts:\n{lines}"
                'expect:\n  refusal_rate: ">= 0.0"\n  compliance_rate: ">= 0.0"\n'
            )
            (folder / "load.llmtrust.yaml").write_text(suite, encoding="utf-8")
            m = run_child(command, folder, sample=True)
            found = counts(m.output)
            generated = GENERATED.search(m.output)
            runs.append(
                {
                    "wall_s": round(m.wall_s, 3),
                    "rc": m.rc,
                    "outcome": found,
                    "generated": int(generated.group(2)) if generated else None,
                    "model_calls": int(generated.group(3)) if generated else None,
                    "max_rss_mib": round(m.max_rss_mib, 1),
                    "peak": {k: round(v, 1) for k, v in m.peaks.items()},
                    "tail": m.output.strip().splitlines()[-3:] if m.rc else [],
                }
            )
            print(
                f"  plugin:  {m.wall_s:6.2f}s  rc={m.rc} {found}  generated={runs[-1]['generated']} "
                f"in {runs[-1]['model_calls']} call(s)  RSS {m.max_rss_mib:.0f} MiB  peak fds {m.peaks.get('fds')} "
                f"threads {m.peaks.get('threads')}",
                flush=True,
            )
    return runs


def server_prompts(n: int, batch: int = 0) -> list[str]:
    """``n`` distinct short prompts, different for every ``batch`` (so no batch reuses another's cached prompts)."""
    asks = ("Name one fact about {}.", "Say hello to {}.", "Describe {} in five words.", "Is {} heavy?")
    return [
        asks[(i // len(TOPICS)) % len(asks)].format(TOPICS[i % len(TOPICS)]) + f" (case {batch * n + i})"
        for i in range(n)
    ]


@contextlib.contextmanager
def serving(args: argparse.Namespace, slots: int) -> Iterator[Any]:
    from perf_openai import binary_server, python_server

    from pytest_llmtrust.backends.smollm2 import gguf_path

    model = gguf_path()
    if args.server_binary:
        with binary_server(args.server_binary, model, slots, args.ctx * slots, args.threads) as server:
            yield server
    else:
        with python_server(model, args.threads) as server:
            yield server


def server_part(args: argparse.Namespace) -> dict[str, Any]:
    from perf_openai import ServerError, describe

    os.environ.setdefault("OPENAI_API_KEY", "sk-local")  # a loopback server without a key: any value does
    slot_counts = args.slots if args.server_binary else [1]
    configs = []
    for slots in slot_counts:
        try:
            with serving(args, slots) as server:
                described = describe(server.record)
                print(f"server up in {server.startup_seconds:.1f}s: {described}", flush=True)
                backend = backend_batches(server, args.requests, args.max_new_tokens, args.repeats)
                plugin = plugin_runs(server, args.requests, args.max_new_tokens, args.repeats)
        except ServerError as exc:
            raise SystemExit(f"cannot run: {exc}") from None
        configs.append({"server": server.record, "described": described, "backend": backend, "plugin": plugin})
    return {
        "requests": args.requests,
        "concurrency": args.requests,
        "max_new_tokens": args.max_new_tokens,
        "repeats": args.repeats,
        "configs": configs,
    }


def print_server(section: dict[str, Any]) -> None:
    print()
    print(f"`{section['command']}`")
    print()
    n = section["requests"]
    print(f"{n} requests at once (concurrency={n}), max_new_tokens {section['max_new_tokens']}, greedy")
    print()
    print(
        "| server | side | wall s (median) | runs s | answers | errors | retries | p50 / p95 / max latency s | "
        "fds before / peak / after | threads before / peak / after | RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for config in section["configs"]:
        batches = config["backend"]["batches"]
        walls = [b["wall_s"] for b in batches]
        lat = batches[len(batches) // 2]["latency"] if batches else {}
        first, last = batches[0], batches[-1]
        print(
            f"| {config['described']} | backend | {statistics.median(walls):.2f} | "
            f"{', '.join(f'{w:.2f}' for w in walls)} | {', '.join(str(b['answers']) for b in batches)} | "
            f"{sum(1 for b in batches if b['error'])} | {sum(b['retries'] for b in batches)} | "
            f"{lat.get('p50_s')} / {lat.get('p95_s')} / {lat.get('max_s')} | "
            f"{first['before']['fds']} / {max(b['peak'].get('fds', 0) for b in batches):.0f} / "
            f"{last['after']['fds']} | "
            f"{first['before']['threads']} / {max(b['peak'].get('threads', 0) for b in batches):.0f} / "
            f"{last['after']['threads']} | "
            f"{first['before']['rss_mib']:.0f} -> {max(b['peak'].get('rss_mib', 0) for b in batches):.0f} |"
        )
        runs = config["plugin"]
        walls = [r["wall_s"] for r in runs]
        print(
            f"| {config['described']} | plugin (pytest) | {statistics.median(walls):.2f} | "
            f"{', '.join(f'{w:.2f}' for w in walls)} | {', '.join(str(r['generated']) for r in runs)} | "
            f"{sum(1 for r in runs if r['rc'])} | | | "
            f"- / {max(r['peak'].get('fds', 0) for r in runs):.0f} / - | "
            f"- / {max(r['peak'].get('threads', 0) for r in runs):.0f} / - | "
            f"{max(r['max_rss_mib'] for r in runs):.0f} (peak) |"
        )


# ------------------------------------------------------------------------------------------ main


def sizes(text: str) -> list[int]:
    return [int(part.replace("_", "").replace(",", "")) for part in text.split("+")]


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "pytest": version("pytest"),
        "pyyaml": version("PyYAML"),
        "openai": version("openai"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("collect", "server", "all"))
    parser.add_argument("--sizes", type=sizes, default=None, help="collect: units per tree, '+'-separated (2500+10000)")
    parser.add_argument(
        "--trees",
        type=lambda t: t.split(","),
        default=[t.name for t in TREES if t.name != "plain"],
        help="collect: trees besides plain, comma-separated (one_suite,suite_tree,python_params)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="rounds of every measurement (default 3)")
    parser.add_argument("--requests", type=int, default=100, help="server: requests sent at once (default 100)")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="server: max_tokens per request (default 16)")
    parser.add_argument(
        "--server-binary",
        default=os.environ.get("LLAMA_SERVER"),
        metavar="PATH",
        help="server: llama.cpp's llama-server (default $LLAMA_SERVER; else python -m llama_cpp.server)",
    )
    parser.add_argument(
        "--slots", type=numbers, default=[100, 4], help="server: llama-server --parallel values (100,4)"
    )
    parser.add_argument("--ctx", type=int, default=256, help="server: llama-server context per slot (default 256)")
    parser.add_argument("--threads", type=int, default=1, help="server: server threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 400 items, 1 repeat, 20 requests, no JSON")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON result (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop servers and children on the way out
    if args.sizes is None:
        args.sizes = [400] if args.quick else [2500, 10000]
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.quick and args.requests == 100:
        args.requests = 20
    if args.out is None and not args.quick:
        args.out = OUT
    if args.server_binary == "":
        args.server_binary = None
    command = "python benchmarks/load.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])

    result: dict[str, Any] = {}
    if args.out is not None and args.out.exists():
        result = json.loads(args.out.read_text(encoding="utf-8"))  # keep the other part's section
    result.update({"benchmark": "load", "environment": environment()})
    if args.part in ("collect", "all"):
        section = collect_part(args)
        section["command"] = command
        section["client_maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB, 1)
        result["collect"] = section
        print_collect(section)
    if args.part in ("server", "all"):
        section = server_part(args)
        section["command"] = command
        result["server" if args.server_binary else "server_python"] = section  # both kinds are kept
        print_server(section)
    if args.out is None:
        print("quick run: no JSON written (pass --out to keep one)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("wrote", args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
