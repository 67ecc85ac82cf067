"""The files written when a run ends: the JUnit layout, the JSON results, the HTML report and a baseline."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmtrust import options
from pytest_llmtrust.reporting.gate import BASELINE

if TYPE_CHECKING:
    import pytest

    from pytest_llmtrust.reporting.items import ResultsCollector
    from pytest_llmtrust.session import LLMTrustSession


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _junit(config: pytest.Config) -> str | None:
    """Move our properties to the suites when pytest wrote an ``xunit2`` file; a line saying so."""
    from pytest_llmtrust.reporting.junit import move_to_suites

    xmlpath = getattr(config.option, "xmlpath", None)
    family = str(config.getini("junit_family") or "xunit2")
    if not xmlpath or family != "xunit2" or not Path(xmlpath).is_file():
        return None
    moved = move_to_suites(Path(xmlpath))
    if not moved:
        return None
    return (
        f"junit xml (xunit2): {moved} llmtrust properties moved to the testsuite "
        "(junit_family=xunit1 keeps them on each testcase)"
    )


def write_outputs(config: pytest.Config, collector: ResultsCollector, session: LLMTrustSession) -> list[str]:
    """Write every requested file; return one terminal line per file written."""
    lines = []
    note = _junit(config)
    if note:
        lines.append(note)
    items = collector.items()
    if not items:
        return lines
    save = config.getoption("llmtrust_save_baseline")
    if save:
        from pytest_llmtrust.reporting.baseline import write_baseline

        path = Path(save).expanduser().resolve()
        count = write_baseline(path, collector.baseline_metrics())
        lines.append(f"llmtrust baseline: {count} metrics saved to {_shown(path)}")
    measured = any(item["metrics"] or item["kind"] != "python" for item in items)
    json_path = options.report_path(config, "llmtrust_json", "results.json", by_default=measured)
    html_path = options.report_path(config, "llmtrust_html", "report.html", by_default=measured)
    if json_path is None and html_path is None:
        return lines
    from pytest_llmtrust.reporting.document import build_document, write_json

    baseline = config.stash.get(BASELINE, None)
    cache = None
    if session.cached:
        from pytest_llmtrust.report import cache_line

        where = "memory" if session.store() is None or session.cache_path is None else session.cache_path.name
        cache = cache_line(session.cache_stats(), session.cache_mode.value, where)
    document = build_document(
        items,
        models=[{"spec": m.spec, "model_id": m.model_id, "seconds": round(m.seconds, 3)} for m in session.loads],
        cache=cache,
        baseline=None if baseline is None else {"path": baseline.path.name, "alpha": baseline.alpha},
        seconds=time.monotonic() - collector.started,
    )
    if json_path is not None:
        write_json(document, json_path)
        lines.append(f"llmtrust results: {_shown(json_path)}")
    if html_path is not None:
        from pytest_llmtrust.reporting.html import write_html

        write_html(document, html_path)
        lines.append(f"llmtrust report: {_shown(html_path)}")
    return lines
