"""The terminal summary of measured metrics, built from test reports (so it works under xdist)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_llmtrust.recording import group_properties

if TYPE_CHECKING:
    import pytest

    from pytest_llmtrust.cache.cached import CacheStats
    from pytest_llmtrust.session import ModelLoad


@dataclass(frozen=True)
class Row:
    """One metric of one test."""

    nodeid: str
    outcome: str
    props: dict[str, object]


def rows_from(report: pytest.TestReport) -> list[Row]:
    """The metric rows carried by a test report's user properties.

    Detail metrics (per persona or persona→target, named ``metric[...]``) stay in the JUnit
    properties and the result files; the summary shows them only when they were gated.
    """
    if report.when != "call":
        return []
    groups = group_properties(list(report.user_properties))
    return [
        Row(report.nodeid, report.outcome, g) for g in groups if "[" not in str(g.get("metric", "")) or "threshold" in g
    ]


def _num(value: object, fmt: str = ".3f") -> str:
    try:
        return format(float(str(value)), fmt)
    except ValueError:
        return str(value)


def _cells(row: Row) -> list[str]:
    p = row.props
    verdict = {"True": "PASS", "False": "FAIL"}.get(str(p.get("passed")), "-")
    ci = f"{_num(p['ci_low'])}-{_num(p['ci_high'])}" if "ci_low" in p and "ci_high" in p else "-"
    counts = f"{p['k']}/{p.get('n', '')}" if "k" in p else (f"n={p['n']}" if "n" in p else "-")
    return [
        row.nodeid,
        str(p.get("metric", "")),
        _num(p.get("value", "")),
        ci,
        counts,
        str(p.get("threshold", "-")),
        verdict,
        str(p.get("model", "")),
        str(p.get("judge", "")),
    ]


HEADER = ["test", "metric", "value", "95% CI", "k/n", "threshold", "result", "model", "judge"]


def table(rows: list[Row]) -> list[str]:
    """Rows as aligned text lines, header first."""
    cells = [HEADER] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    return ["  ".join(c[i].ljust(widths[i]) for i in range(len(HEADER))).rstrip() for c in cells]


def cache_line(stats: CacheStats, mode: str, where: str) -> str:
    """One line on what the generation cache did."""
    line = (
        f"generation cache ({mode}, {where}): {stats.hits} answers from the cache, "
        f"{stats.generated} generated in {stats.model_calls} model calls"
    )
    return line + (f", {stats.uncached} unseeded samples (never cached)" if stats.uncached else "")


def write_summary(
    tr: pytest.TerminalReporter, rows: list[Row], loads: list[ModelLoad], cache: str | None = None
) -> None:
    """Print the llmtrust summary section: metric rows, the cache line and the model loads."""
    if not rows and not loads and cache is None:
        return
    tr.write_sep("-", "llmtrust summary")
    if rows:
        for line in table(rows):
            tr.write_line(line)
    if cache is not None:
        tr.write_line(cache)
    for load in loads:
        tr.write_line(f"loaded {load.model_id} ({load.spec}) in {load.seconds:.1f}s")
    if cache is not None and not loads:
        tr.write_line("no model was loaded")
