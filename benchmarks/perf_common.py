"""What the perf_* benchmarks share: the topics of their prompts, package versions, writing results."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

ROOT = Path(__file__).resolve().parents[1]

TOPICS = (
    "rain", "volcanoes", "bicycles", "coffee", "the moon", "honeybees", "glaciers", "chess",
    "bread", "lighthouses", "owls", "tides", "maps", "violins", "deserts", "compost",
    "kites", "gravity", "sourdough", "penguins", "trains", "clouds", "fossils", "lanterns",
    "rivers", "tea", "magnets", "whales", "bridges", "mushrooms", "thunder", "sailing",
    "gardens", "comets", "pottery", "libraries", "wolves", "snowflakes", "markets", "clocks",
    "forests", "origami", "eclipses", "pianos", "caves", "rainbows", "beetles", "windmills",
    "islands", "candles", "soap", "telescopes", "lemons", "canyons", "octopuses", "umbrellas",
    "salt", "birdsong", "harbours", "wool", "sunflowers", "mirrors", "ants", "the alphabet",
)  # fmt: skip
"""Everyday topics the benchmarks' prompts are written about (our own text)."""


def version(package: str) -> str:
    """The installed version of ``package``, or ``missing``."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def write_result(result: dict[str, Any], out: Path | None) -> None:
    """Write the JSON result to ``out``; a quick run (``out`` None) writes nothing and says so."""
    if out is None:
        print("quick run: no JSON written (pass --out to keep one)")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("wrote", out.relative_to(ROOT) if out.is_relative_to(ROOT) else out)


def fill_defaults(args: argparse.Namespace, quick: dict[str, Any], full: dict[str, Any], out: Path) -> None:
    """Fill the settings left out: the quick ones under ``--quick``, the full ones otherwise.

    A full run writes its JSON to ``out`` unless ``--out`` says otherwise; a quick one writes none.
    """
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.out is None and not args.quick:
        args.out = out
