"""Build a steering artefact from the command line.

    python -m pytest_llmtrust.steering QUERIES OUT [--model smollm2] [--objective harmless]
        [--method svd|mean_diff|ccs] [--layers 5] [--response-tokens 64] [--cache DIR]

QUERIES is a text file (one query per line, ``#`` comments); OUT is the artefact path without
suffix (``OUT.safetensors`` and ``OUT.json`` are written). The model writes its own preference
pairs (cached under ``--cache``), then the directions are found and saved.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, build, save; print what was made."""
    parser = argparse.ArgumentParser(prog="python -m pytest_llmtrust.steering", description=__doc__.splitlines()[0])
    parser.add_argument("queries", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="smollm2", help="a local model spec (hf:... or smollm2)")
    parser.add_argument("--objective", action="append", help="helpful, harmless or humor (repeatable)")
    parser.add_argument("--method", default="svd", choices=("svd", "mean_diff", "ccs"))
    parser.add_argument("--layers", type=int, default=5, help="layers to edit (default 5)")
    parser.add_argument("--response-tokens", type=int, default=200, help="new tokens per response (paper: 200)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pytest-llmtrust" / "alignez")
    args = parser.parse_args(argv)

    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.errors import LLMTrustError
    from pytest_llmtrust.steering.build import build_steering
    from pytest_llmtrust.steering.selfdata import generate_pairs

    try:
        text = args.queries.read_text(encoding="utf-8")
        queries = [s.strip() for s in text.splitlines() if s.strip() and not s.lstrip().startswith("#")]
        backend = load_backend(args.model)
        started = time.perf_counter()
        pairs = generate_pairs(
            backend, queries, args.objective or ["harmless"], response_tokens=args.response_tokens, cache_dir=args.cache
        )
        vectors = build_steering(backend, pairs, method=args.method, n_layers=args.layers)  # type: ignore[arg-type]
        vectors.meta["name"] = args.out.name
        vectors.meta["queries_file"] = args.queries.name
        vectors.meta["response_tokens"] = args.response_tokens
        paths = vectors.save(args.out)
    except (LLMTrustError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(pairs)} pairs, layers {list(vectors.layers)}, {time.perf_counter() - started:.0f}s")
    print("wrote", *map(str, paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
