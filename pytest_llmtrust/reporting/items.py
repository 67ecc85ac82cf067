"""One entry per test for the results document, built from test reports (so it works on the xdist controller).

The plugin hangs plain data on each report: ``llmtrust_meta`` (suite, kind, taxonomy position,
report-only) and, on the call report, ``llmtrust_records`` (every metric record with its cases)
and ``llmtrust_regressions``. Reports keep such attributes when xdist sends them to the controller.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pytest_llmtrust import markers
from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    import pytest

META = "llmtrust_meta"
RECORDS = "llmtrust_records"
REGRESSIONS = "llmtrust_regressions"
MESSAGE_LIMIT = 4000
EXAMPLES = 5


def item_meta(item: pytest.Item) -> dict[str, Any]:
    """What the report needs to know about an item besides its outcome."""
    suite = getattr(item, "suite", None)
    try:
        trust = markers.item_trust(item)
    except ConfigError:
        trust = []
    return {
        "name": item.name,
        "file": item.location[0],
        "suite": getattr(item, "suite_name", None) or None,
        "kind": str(getattr(suite, "kind", None) or "python"),
        "trust": [{"category": t["category"], "subcategory": t.get("subcategory")} for t in trust],
        "report_only": markers.is_report_only(item),
    }


def _examples(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The worst few cases of a record: the ones against the wanted behaviour first, then unparsed ones."""
    from pytest_llmtrust.reporting.baseline import higher_is_better

    upward = higher_is_better(record.get("threshold")) is not False
    bad, unparsed = [], []
    for case in record.get("cases") or []:
        good = case.get("good") if "good" in case else case.get("hit")
        if good is not None and "good" not in case and not upward:
            good = not good
        if good is None:
            unparsed.append(case)
        elif not good:
            bad.append(case)
    return [
        {
            "prompt": str(c.get("prompt", "")),
            "response": str(c.get("response", "")),
            "verdict": str(c.get("verdict", "")),
            "hit": c.get("hit", c.get("good")),
        }
        for c in (bad + unparsed)[:EXAMPLES]
    ]


def metric_entry(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the results document shows it: its numbers and worst examples (not every case)."""
    entry = {k: v for k, v in record.items() if k != "cases"}
    entry.setdefault("samples", None)
    entry["examples"] = _examples(record)
    return entry


def _outcome(report: pytest.TestReport, before: str | None) -> str | None:
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            return "xpassed" if xfail else "passed"
        if report.failed:
            return "failed"
        return "xfailed" if xfail else "skipped"
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    return before


class ResultsCollector:
    """Gathers one entry per test from its reports, in the order they finish."""

    def __init__(self) -> None:
        """Start with no entries."""
        self.started = time.monotonic()
        self.entries: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, list[dict[str, Any]]] = {}
        """Each test's full records (with every case), for baselines."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold a setup, call or teardown report into its test's entry."""
        meta = getattr(report, META, None) or {}
        entry = self.entries.setdefault(
            report.nodeid,
            {"nodeid": report.nodeid, **meta, "outcome": None, "seconds": 0.0, "message": None, "metrics": []},
        )
        for key, value in meta.items():
            entry.setdefault(key, value)
        entry["seconds"] = round(float(entry["seconds"]) + float(report.duration or 0.0), 3)
        outcome = _outcome(report, entry["outcome"])
        if outcome == "error" and entry["outcome"] in ("failed", "error"):
            outcome = entry["outcome"]
        entry["outcome"] = outcome
        if (report.failed or hasattr(report, "wasxfail")) and report.longrepr is not None and not entry["message"]:
            entry["message"] = report.longreprtext[-MESSAGE_LIMIT:]
        if report.when == "call":
            records = list(getattr(report, RECORDS, None) or [])
            self.cases[report.nodeid] = records
            entry["metrics"] = [metric_entry(r) for r in records]
            entry["regressions"] = list(getattr(report, REGRESSIONS, None) or [])

    def items(self) -> list[dict[str, Any]]:
        """The entries, with defaults for tests that never got a call report."""
        out = []
        for entry in self.entries.values():
            entry.setdefault("regressions", [])
            entry.setdefault("name", entry["nodeid"].rsplit("::", 1)[-1])
            entry.setdefault("file", entry["nodeid"].split("::", 1)[0])
            for key, default in (("suite", None), ("kind", "python"), ("trust", []), ("report_only", False)):
                entry.setdefault(key, default)
            entry["outcome"] = entry["outcome"] or "skipped"
            out.append(entry)
        return out

    def baseline_metrics(self) -> list[tuple[str, dict[str, Any]]]:
        """``(nodeid, record)`` for every metric measured, with its cases."""
        return [(nodeid, rec) for nodeid, records in self.cases.items() for rec in records]
