"""What happens to a test's metric records when its call ends.

They become JUnit properties, failure sections and report data, and are compared with the baseline,
which can fail the test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.reporting.baseline import Baseline, Regression, regressions

if TYPE_CHECKING:
    from pytest_llmtrust.recording import MetricRecord

RECORD_DATA = pytest.StashKey[list[dict[str, Any]]]()
REGRESSION_DATA = pytest.StashKey[list[Regression]]()
BASELINE = pytest.StashKey["Baseline | None"]()


class BaselineRegression(AssertionError):
    """A metric got significantly worse than in the baseline (an AssertionError: report-only tests xfail)."""


def finish(item: pytest.Item, records: list[MetricRecord]) -> None:
    """Turn the records of a finished call into properties, failure sections, report data and regressions."""
    for rec in records:
        item.user_properties.extend(rec.properties())
    examples = int(item.config.getoption("llmtrust_examples"))
    failed = ["\n".join(rec.explain(examples)) for rec in records if rec.passed is False and rec.explain]
    if failed:
        item.add_report_section("call", "llmtrust", "\n\n".join(failed))
    data = [rec.to_dict() for rec in records]
    item.stash[RECORD_DATA] = data
    baseline = item.config.stash.get(BASELINE, None)
    found = regressions(baseline, item.nodeid, data) if baseline is not None else []
    item.stash[REGRESSION_DATA] = found
    if found and baseline is not None:
        item.add_report_section("call", "llmtrust baseline", "\n".join(_lines(found, baseline)))


def _lines(found: list[Regression], baseline: Baseline) -> list[str]:
    lines = [f"worse than the baseline {baseline.path.name}:"]
    for reg in found:
        lines += reg.describe(baseline.alpha)
    return lines


def raise_regressions(item: pytest.Item) -> None:
    """Fail a test that otherwise passed when one of its metrics regressed against the baseline."""
    found = item.stash.get(REGRESSION_DATA, [])
    baseline = item.config.stash.get(BASELINE, None)
    if found and baseline is not None:
        raise BaselineRegression("\n".join(_lines(found, baseline)))


def report_data(item: pytest.Item) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records and regressions of an item's call, as plain data for its report."""
    return item.stash.get(RECORD_DATA, []), [r.to_dict() for r in item.stash.get(REGRESSION_DATA, [])]
