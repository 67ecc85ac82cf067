"""The results document (JSON): every test with its outcome, metrics, intervals, examples and regressions."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

FORMAT = "pytest-llmtrust/results"
VERSION = 1
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def build_document(
    items: list[dict[str, Any]],
    *,
    models: list[dict[str, Any]],
    cache: str | None,
    baseline: dict[str, Any] | None,
    seconds: float,
) -> dict[str, Any]:
    """The results document of a run (see docs/reports.md for the format)."""
    counts = Counter(str(item["outcome"]) for item in items)
    summary: dict[str, Any] = {"items": len(items)}
    summary.update({"errors" if o == "error" else o: counts.get(o, 0) for o in OUTCOMES})
    summary["report_only"] = sum(1 for item in items if item.get("report_only"))
    summary["regressions"] = sum(len(item.get("regressions") or []) for item in items)
    summary["seconds"] = round(seconds, 3)
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "summary": summary,
        "models": models,
        "cache": cache,
        "baseline": baseline,
        "items": items,
    }


def _plain(value: object) -> object:
    """JSON for values json cannot write as they are (NaN becomes null)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def write_json(document: dict[str, Any], path: Path) -> None:
    """Write the document atomically (a crash never leaves half a file)."""
    from pytest_llmtrust.atomic import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_plain(document), indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write(path, (text + "\n").encode("utf-8"))
