"""Where a steering artefact's two files live (no torch needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os


def artefact_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(<path>.safetensors, <path>.json)`` pair for an artefact path (a suffix of either is dropped)."""
    base = Path(path)
    if base.suffix in (".safetensors", ".json"):
        base = base.with_suffix("")
    return base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json")
