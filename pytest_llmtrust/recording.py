"""Metric records, and where they go while a test runs.

Metrics never import pytest: they hand each record to :func:`record`, and the
plugin, which opens a recording around every test call, turns the records into
JUnit ``<property>`` entries afterwards.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PROPERTY_NAMES: tuple[str, ...] = (
    "metric",
    "value",
    "scope",
    "mode",
    "ci_low",
    "ci_high",
    "n",
    "k",
    "unparsed",
    "samples",
    "threshold",
    "gate",
    "passed",
    "model",
    "judge",
)


@dataclass
class MetricRecord:
    """One measured metric, and the threshold it was checked against (if any).

    Rates fill ``ci_low``/``ci_high``/``k``; other metrics (persona bias scores) leave them
    out and say which ``scope`` of the data and which answer ``mode`` produced them.
    """

    metric: str
    value: float | str
    model: str
    judge: str = ""
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    k: int | None = None
    unparsed: int | None = None
    samples: int | None = None
    """Answers taken per prompt under repeated sampling (None: one answer each, no sampling)."""
    scope: str | None = None
    mode: str | None = None
    threshold: str | None = None
    gate: str = "point"
    passed: bool | None = None
    explain: Callable[[int], list[str]] | None = field(default=None, compare=False, repr=False)
    """Renders the failure with N worst examples (not a property: shown as a report section on failure)."""
    cases: list[dict[str, object]] | None = field(default=None, compare=False, repr=False)
    """Every judged case behind the metric (``prompt``, ``response``, ``verdict``, and ``hit``: counts towards k,
    or ``good``: shows the wanted behaviour). Not a property: it goes to the results file and baselines."""

    def properties(self) -> list[tuple[str, object]]:
        """The record as (name, value) pairs, in PROPERTY_NAMES order; unset ones left out."""
        pairs: list[tuple[str, object]] = []
        for name in PROPERTY_NAMES:
            value = getattr(self, name)
            if value is None or (name == "judge" and value == ""):
                continue
            if isinstance(value, float):
                value = round(value, 6)
            pairs.append((name, value))
        return pairs


    def to_dict(self) -> dict[str, object]:
        """The record as plain JSON data: every property (unset ones as None) and its cases."""
        data: dict[str, object] = {name: getattr(self, name) for name in PROPERTY_NAMES}
        data["cases"] = list(self.cases or [])
        return data


_current: contextvars.ContextVar[list[MetricRecord] | None] = contextvars.ContextVar("llmtrust_records", default=None)


def _same_measurement(a: MetricRecord, b: MetricRecord) -> bool:
    return (a.metric, a.value, a.model, a.scope, a.mode) == (b.metric, b.value, b.model, b.scope, b.mode)


def record(rec: MetricRecord) -> None:
    """Attach a record to the running test, if any (outside a test it is dropped).

    A gated record (one with a threshold) takes the place of an ungated record of the same
    measurement, so a metric that was recorded when measured and then checked appears once.
    """
    records = _current.get()
    if records is None or any(r is rec for r in records):
        return
    if rec.threshold is not None:
        for i, old in enumerate(records):
            if old.threshold is None and _same_measurement(old, rec):
                records[i] = rec
                return
    records.append(rec)


@contextmanager
def recording() -> Iterator[list[MetricRecord]]:
    """Collect the records made inside the block."""
    records: list[MetricRecord] = []
    token = _current.set(records)
    try:
        yield records
    finally:
        _current.reset(token)


def group_properties(pairs: list[tuple[str, object]]) -> list[dict[str, object]]:
    """Split a flat property list back into one dict per metric record."""
    groups: list[dict[str, object]] = []
    for name, value in pairs:
        if name == "metric":
            groups.append({})
        if groups and name in PROPERTY_NAMES:
            groups[-1][name] = value
    return groups
