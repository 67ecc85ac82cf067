"""Fuzz every user-facing input of the plugin with Hypothesis; count accepted, located rejections and bugs.

Run from the repository root (heavy: on a shared machine take the lock so timed work is not disturbed)::

    flock /tmp/llmtrust-heavy.lock python benchmarks/fuzz.py                   # 2500 examples x 4 targets
    python benchmarks/fuzz.py --examples 200 --quick                           # a smoke run, no JSON
    python benchmarks/fuzz.py --targets thresholds markers --seed 1            # some targets, reproducibly

Targets (generators in ``tests/fuzz/strategies.py``, oracle in ``tests/fuzz/oracle.py``):

* ``suite_files``: mutated valid suites of every kind (prompts, persona_bias, the eight studies) and raw
  noise, through ``load_suite``: a suite, or a ``SuiteError`` naming the file and a line within it;
* ``thresholds``: threshold strings (the grammar, mutated) and non-strings, through ``Threshold.parse``:
  a finite threshold that reads back as itself, or a ``ConfigError``;
* ``markers``: argument tuples of ``trust``, ``bias``, ``prompts``, ``llmtrust`` and ``report_only``,
  through the checks pytest runs on a marked test: accepted (with values of the documented types), or a
  ``ConfigError``;
* ``bbq_rows``: BBQ JSONL files (valid rows, mutated rows, broken lines, non-UTF-8) through ``load_bbq``:
  items, or a ``SuiteError`` naming the file and line (a ``ConfigError`` only for bad arguments).

Any other outcome is a bug (a traceback would reach the user); the run lists the first ones and exits 1.
Examples are counted as the test function runs them (Hypothesis' ``max_examples`` is an upper bound it may
not reach when it runs out of distinct inputs). Writes ``docs/results/fuzz.json`` unless ``--quick``.
"""

from __future__ import annotations

import argparse
import platform
import random
import shlex
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, Phase, given, seed, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the generators and the oracle live in the test tree

from perf_common import version, write_result  # noqa: E402

from tests.fuzz import oracle, strategies  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

    from hypothesis.strategies import SearchStrategy

OUT = ROOT / "docs" / "results" / "fuzz.json"
SHOWN_BUGS = 10


def targets(folder: Path) -> dict[str, tuple[SearchStrategy[Any], Callable[[Any], str], Callable[[Any], str]]]:
    """Target name -> (generator, check, label of an input for the mix table)."""
    return {
        "suite_files": (
            strategies.suite_files,
            lambda case: oracle.check_suite(folder, case),
            lambda case: case.how.split("+")[0],
        ),
        "thresholds": (strategies.threshold_inputs, oracle.check_threshold, lambda v: type(v).__name__),
        "markers": (
            strategies.marker_sets,
            oracle.check_markers,
            lambda calls: "+".join(sorted({c.name for c in calls})) if len(calls) == 1 else "several",
        ),
        "bbq_rows": (
            strategies.bbq_files(),
            lambda case: oracle.check_bbq(folder, case),
            lambda case: case.how.split("+")[-1],
        ),
    }


def run_target(
    name: str,
    strategy: SearchStrategy[Any],
    check: Callable[[Any], str],
    label: Callable[[Any], str],
    examples: int,
    run_seed: int,
) -> dict[str, Any]:
    """Run one target for ``examples`` examples; count outcomes as they happen."""
    counts: Counter[str] = Counter()
    mix: Counter[str] = Counter()
    bugs: dict[str, str] = {}  # the first input of each kind of bug (its first line)

    @seed(run_seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def fuzz(value: Any) -> None:
        counts["examples"] += 1
        mix[label(value)] += 1
        try:
            counts[check(value)] += 1
        except oracle.Bug as exc:
            counts["bugs"] += 1
            kind = str(exc).splitlines()[0][:120]
            if kind not in bugs and len(bugs) < SHOWN_BUGS:
                bugs[kind] = str(exc)

    start = time.perf_counter()
    fuzz()
    seconds = time.perf_counter() - start
    return {
        "examples": counts["examples"],
        "accepted": counts["accepted"],
        "rejected_with_location": counts["rejected"],
        "bugs": counts["bugs"],
        "seconds": round(seconds, 2),
        "mix": dict(mix.most_common()),
        "bug_examples": list(bugs.values()),
    }


def table(result: dict[str, Any]) -> str:
    """The per-target counts as a markdown table."""
    rows = [
        "| target | examples | accepted | rejected with location | bugs | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in [*result["targets"].items(), ("**total**", result["total"])]:
        rows.append(
            f"| {name} | {r['examples']} | {r['accepted']} | {r['rejected_with_location']} | {r['bugs']} | "
            f"{r['seconds']:.1f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2500, help="examples per target (default 2500)")
    parser.add_argument("--targets", nargs="*", default=None, help="targets to run (default: all four)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: a random one, recorded)")
    parser.add_argument("--quick", action="store_true", help="write no JSON (unless --out is given)")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON result (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    run_seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    out = args.out if args.out is not None or args.quick else OUT
    result: dict[str, Any] = {
        "command": "python benchmarks/fuzz.py " + shlex.join(sys.argv[1:]),
        "seed": run_seed,
        "examples_per_target": args.examples,
        "python": platform.python_version(),
        "hypothesis": version("hypothesis"),
        "pyyaml": version("pyyaml"),
        "pydantic": version("pydantic"),
        "machine": f"{platform.machine()}, {platform.system()}",
        "targets": {},
    }
    with tempfile.TemporaryDirectory(prefix="llmtrust-fuzz-") as tmp:
        chosen = targets(Path(tmp))
        for name in args.targets or list(chosen):
            if name not in chosen:
                parser.error(f"unknown target {name!r}; targets: {', '.join(chosen)}")
            print(f"fuzzing {name}: {args.examples} examples (seed {run_seed})...", flush=True)
            result["targets"][name] = run_target(name, *chosen[name], args.examples, run_seed)
    result["total"] = {
        key: sum(r[key] for r in result["targets"].values())
        for key in ("examples", "accepted", "rejected_with_location", "bugs", "seconds")
    }
    result["total"]["seconds"] = round(result["total"]["seconds"], 2)
    print()
    print(table(result))
    for name, r in result["targets"].items():
        for text in r["bug_examples"]:
            print(f"\nBUG in {name}: {text}")
    write_result(result, out)
    return 1 if result["total"]["bugs"] else 0


if __name__ == "__main__":
    sys.exit(main())
