"""AlignEZ on SmolLM2-135M-Instruct: self-generated pairs -> steering -> held-out refusal gates.

Run by hand from the repository root::

    python benchmarks/steering_smollm2.py                 # the settings grid below
    python benchmarks/steering_smollm2.py --quick         # two settings, 16 prompts per set

1. Pairs: ``generate_pairs`` on ``example_suites/steering/train_queries.txt`` (109 queries we
   wrote, objective "harmless": safety-first vs malicious), greedy, 50 + 64 new tokens, cached.
2. Steering: ``build_steering`` per method (svd, mean_diff, ccs) and number of layers.
3. Held out: the main job's harmful (64) and benign (63) prompt sets, 48 greedy new tokens,
   base vs steered on the same prompts. Reported: refusal rate on harmful, over-refusal on
   benign (refusals by the offline detector), McNemar exact p for each, and win/tie/lose of
   steered vs base from the expected-behaviour pairwise judge (refusing wins on harmful,
   answering wins on benign), and from SmolLM2 itself as an LLM pairwise judge (constrained
   choice over A / B / tie, A/B order randomised per pair with a fixed seed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_suites"


def lines(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip() and not s.startswith("#")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "steering_smollm2.json")
    args = parser.parse_args()

    from pytest_llmtrust.backends.base import GenerationParams
    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.judges.pairwise import ExpectedBehaviourJudge, ModelPairwiseJudge
    from pytest_llmtrust.judges.refusal import RefusalDetector
    from pytest_llmtrust.metrics.paired import paired_outcome, win_tie_lose
    from pytest_llmtrust.steering.build import build_steering
    from pytest_llmtrust.steering.hooks import steer
    from pytest_llmtrust.steering.selfdata import generate_pairs

    backend: Any = load_backend("smollm2?batch_size=16")
    queries = lines(EXAMPLES / "steering" / "train_queries.txt")
    started = time.perf_counter()
    cache = Path.home() / ".cache" / "pytest-llmtrust" / "alignez"
    pairs = generate_pairs(backend, queries, ["harmless"], response_tokens=64, cache_dir=cache)
    print(f"{len(pairs)} pairs from {len(queries)} queries in {time.perf_counter() - started:.0f}s (cached after)")

    harmful = lines(EXAMPLES / "prompts" / "harmful_requests.txt")
    benign = lines(EXAMPLES / "prompts" / "benign_requests.txt")
    if args.quick:
        harmful, benign = harmful[:16], benign[:16]
    params = GenerationParams(max_new_tokens=48, temperature=0.0)
    detector = RefusalDetector()

    def run(prompts: list[str]) -> tuple[list[str], list[bool | None]]:
        texts = [g.text for g in backend.generate(prompts, params)]
        return texts, [v.label for v in detector.judge(prompts, texts)]

    started = time.perf_counter()
    base = {"harmful": run(harmful), "benign": run(benign)}
    base_seconds = time.perf_counter() - started
    grid: list[dict[str, Any]] = (
        [{"method": "svd", "n_layers": 5, "scale": 1.0}, {"method": "mean_diff", "n_layers": 5, "scale": 8.0}]
        if args.quick
        else [
            *({"method": "svd", "n_layers": n, "scale": s} for n in (5, 15) for s in (1.0, 8.0, -8.0)),
            *({"method": m, "n_layers": 5, "scale": s} for m in ("mean_diff", "ccs") for s in (1.0, 8.0, -8.0)),
        ]
    )
    rows = []
    built: dict[tuple[str, int], Any] = {}
    for setting in grid:
        key = (setting["method"], setting["n_layers"])
        if key not in built:
            built[key] = build_steering(backend, pairs, method=setting["method"], n_layers=setting["n_layers"])
        vectors = built[key].with_settings(alpha_help=setting["scale"], alpha_harm=-setting["scale"])
        started = time.perf_counter()
        with steer(backend.model, vectors):
            steered = {"harmful": run(harmful), "benign": run(benign)}
        seconds = time.perf_counter() - started
        row: dict[str, Any] = {**setting, "layers": list(vectors.layers), "seconds": round(seconds, 1)}
        for name, expect in (("harmful", "refuse"), ("benign", "comply")):
            outcome = paired_outcome(base[name][1], steered[name][1])
            wtl = win_tie_lose(
                ExpectedBehaviourJudge(expect, detector).compare(
                    harmful if name == "harmful" else benign, base[name][0], steered[name][0]
                )
            )
            changed = sum(a != b for a, b in zip(base[name][0], steered[name][0], strict=True))
            llm_wtl = win_tie_lose(
                ModelPairwiseJudge(backend, seed=0).compare(
                    harmful if name == "harmful" else benign, base[name][0], steered[name][0]
                )
            )
            row[name] = {
                "refusal_base": outcome.rate_a,
                "refusal_steered": outcome.rate_b,
                "mcnemar_p": outcome.p_value,
                "win_tie_lose": [wtl.wins, wtl.ties, wtl.losses],
                "changed_outputs": changed,
                "llm_judge_win_tie_lose": [llm_wtl.wins, llm_wtl.ties, llm_wtl.losses],
                "n": outcome.n,
            }
        rows.append(row)
        h, b = row["harmful"], row["benign"]
        print(
            f"{setting['method']:9} layers={setting['n_layers']:2} scale={setting['scale']:4}: "
            f"harmful refusal {h['refusal_base']:.3f}->{h['refusal_steered']:.3f} (p={h['mcnemar_p']:.3g}, "
            f"w/t/l {h['win_tie_lose']}, changed {h['changed_outputs']}), benign over-refusal "
            f"{b['refusal_base']:.3f}->{b['refusal_steered']:.3f} (p={b['mcnemar_p']:.3g}, w/t/l {b['win_tie_lose']}), "
            f"LLM judge w/t/l harmful {h['llm_judge_win_tie_lose']} benign {b['llm_judge_win_tie_lose']}, "
            f"{seconds:.0f}s",
            flush=True,
        )
    example = built[(grid[0]["method"], grid[0]["n_layers"])]
    result = {
        "model": backend.model_id,
        "pairs": len(pairs),
        "queries": len(queries),
        "held_out": {"harmful": len(harmful), "benign": len(benign)},
        "base_seconds": round(base_seconds, 1),
        "meta_first": example.meta,
        "rows": rows,
    }
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print("wrote", args.out.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
