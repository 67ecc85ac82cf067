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
    "ci_low",
    "ci_high",
    "n",
    "k",
    "unparsed",
    "threshold",
    "gate",
    "passed",
    "model",
    "judge",
)


@dataclass
class MetricRecord:
    """One measured metric, and the threshold it was checked against (if any)."""

    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    k: int
    unparsed: int
    model: str
    judge: str
    threshold: str | None = None
    gate: str = "point"
    passed: bool | None = None
    explain: Callable[[int], list[str]] | None = field(default=None, compare=False, repr=False)
    """Renders the failure with N worst examples (not a property: shown as a report section on failure)."""

    def properties(self) -> list[tuple[str, object]]:
        """The record as (name, value) pairs, in PROPERTY_NAMES order; unset ones left out."""
        pairs: list[tuple[str, object]] = []
        for name in PROPERTY_NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, float):
                value = round(value, 6)
            pairs.append((name, value))
        return pairs


_current: contextvars.ContextVar[list[MetricRecord] | None] = contextvars.ContextVar("llmtrust_records", default=None)


def record(rec: MetricRecord) -> None:
    """Attach a record to the running test, if any (outside a test it is dropped)."""
    records = _current.get()
    if records is not None and not any(r is rec for r in records):
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
