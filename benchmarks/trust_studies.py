"""The eight Trustworthy-LLM studies on the embedded SmolLM2, with the packaged data and the authors' data.

Run from the repository root (package installed)::

    python benchmarks/trust_studies.py                 # packaged data, every study
    python benchmarks/trust_studies.py --shared        # also the authors' data from ../shared/data/llm_eval
    python benchmarks/trust_studies.py --only causal typo

It prints one markdown row per run (study, data, metric values, seconds) and updates
``docs/results/trust_studies.json`` after each run (rows of other runs already there are kept).
The judge is the offline default (``refusal``) unless ``--judge`` names another (``embedding``,
or a model spec for an LLM judge).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from pytest_llmtrust.backends.registry import load_backend
from pytest_llmtrust.model import LLM
from pytest_llmtrust.studies.registry import STUDIES, run_study

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "llm_eval"
OUT = ROOT / "docs" / "results" / "trust_studies.json"

PACKAGED: dict[str, dict[str, Any]] = {
    "hallucination": {},
    "safety": {"limit": 48},
    "fairness": {},
    "miscalibration": {},
    "misuse": {"samples": 10},
    "copyright": {"blocks": 30},
    "causal": {},
    "typo": {},
}
"""Options of each study's packaged run (its defaults unless noted; a few capped to keep the run short)."""

AUTHORS: dict[str, dict[str, Any]] = {
    "safety": {"data": str(SHARED / "safety_keywords"), "limit": 48},
    "fairness": {"data": str(SHARED / "fairness_questions" / "gender_are.txt"), "limit": 100},
    "miscalibration": {"data": str(SHARED / "fairness_questions" / "gender_are.txt"), "limit": 60},
    "causal": {"data": str(SHARED / "causal.json"), "limit": 100},
    "typo": {"data": str(SHARED / "justice_test.csv"), "limit": 200},
}
"""Runs on the authors' data, capped for time (their data for hallucination, misuse and copyright is not here)."""


def _fmt(measures: dict[str, Any]) -> str:
    parts = []
    for name, m in measures.items():
        v = m["value"]
        parts.append(f"{name} {'n/a' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{v:.3f}'}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", action="store_true", help="also run on the authors' data in ../shared")
    parser.add_argument("--only", nargs="*", default=list(STUDIES), help="studies to run")
    parser.add_argument("--judge", default="refusal", help="judge spec (default: the offline judges)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    start = time.perf_counter()
    llm = LLM.wrap(load_backend("smollm2"))
    print(f"loaded {llm.model_id} in {time.perf_counter() - start:.1f} s")
    runs: list[tuple[str, str, dict[str, Any]]] = [(s, "packaged", PACKAGED[s]) for s in args.only]
    if args.shared:
        if not SHARED.is_dir():
            raise SystemExit("--shared needs ../shared/data/llm_eval next to the repository")
        runs += [(s, "authors", AUTHORS[s]) for s in args.only if s in AUTHORS]
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": []}
    rows: list[dict[str, Any]] = saved["runs"]
    for study, data, options in runs:
        t0 = time.perf_counter()
        result = run_study(study, llm, judge=args.judge, **options)
        seconds = time.perf_counter() - t0
        row = {
            "data": data,
            "options": {k: Path(v).name if k == "data" else v for k, v in options.items()},
            "seconds": round(seconds, 1),
            **result.to_json(),
        }
        rows[:] = [r for r in rows if (r["study"], r["data"]) != (study, data)] + [row]
        print(f"| {study} | {data} | {_fmt(row['measures'])} | {seconds:.0f} s |", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)  # after every run, so an interrupted run keeps its rows
        args.out.write_text(json.dumps({"model": llm.model_id, "judge": args.judge, "runs": rows}, indent=1) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
