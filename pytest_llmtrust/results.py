"""Result files of a test run (persona-bias and study JSON, heatmaps), named after the suite or test that made them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pytest_llmtrust.options import results_dir

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from pytest_llmtrust.persona.runner import PersonaBiasReport
    from pytest_llmtrust.studies.base import StudyResult

RESULT_PROPERTIES = ("llmtrust_result_json", "llmtrust_heatmap")
"""JUnit property names of the written files' paths."""


def file_stem(name: str, limit: int = 120) -> str:
    """A file-name-safe stem for a test id or suite name: ``tests/test_x.py::test_y[a]`` -> ``test_x.test_y-a``."""
    name = name.rsplit("/", 1)[-1].replace(".py::", ".").replace("::", ".")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "result"
    return stem[:limit]


def save_persona_results(item: pytest.Item, report: PersonaBiasReport, stem: str) -> tuple[Path, Path] | None:
    """Write the report's JSON and TB heatmap into the results folder; note their paths on the item.

    Returns the two paths, or None when result files are switched off (``--llmtrust-results=off``).
    """
    folder = results_dir(item.config)
    if folder is None:
        return None
    paths = report.write_results(folder, file_stem(stem))
    for name, path in zip(RESULT_PROPERTIES, paths, strict=True):
        shown = path.relative_to(item.config.rootpath) if path.is_relative_to(item.config.rootpath) else path
        item.user_properties.append((name, shown.as_posix()))
    return paths


def save_study_results(item: pytest.Item, result: StudyResult, stem: str) -> Path | None:
    """Write a study's measures and judged cases as JSON into the results folder; note the path on the item."""
    import json

    from pytest_llmtrust.atomic import atomic_write

    folder = results_dir(item.config)
    if folder is None:
        return None
    data = result.to_json()
    data["cases"] = [
        {"prompt": c.prompt, "response": c.response, "outcome": c.outcome, "good": c.good, "score": c.score}
        for c in result.cases
    ]
    path = folder / f"{file_stem(stem)}.json"
    atomic_write(path, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    shown = path.relative_to(item.config.rootpath) if path.is_relative_to(item.config.rootpath) else path
    item.user_properties.append((RESULT_PROPERTIES[0], shown.as_posix()))
    return path
