"""Baselines: every metric of a run saved with n, interval and per-prompt verdicts; later runs compare to it.

A metric is keyed by its test id and name (not the model: comparing a new model with the
last release's baseline is the point). It regresses when it moved the wrong way (the way its
threshold says is worse) and a one-sided test finds the move significant at ``alpha``; see
:mod:`pytest_llmtrust.reporting.significance` for the tests.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.reporting import significance
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

FORMAT = "pytest-llmtrust/baseline"
VERSION = 1
KEPT = ("metric", "value", "ci_low", "ci_high", "n", "k", "unparsed", "scope", "mode", "threshold", "gate", "model")


def metric_key(nodeid: str, record: Mapping[str, Any]) -> str:
    """``nodeid::metric``, with ``@scope`` when the record has one."""
    scope = f"@{record['scope']}" if record.get("scope") else ""
    return f"{nodeid}::{record['metric']}{scope}"


def higher_is_better(threshold: object) -> bool | None:
    """True for ``>=``/``>`` thresholds, False for ``<=``/``<``, None when the threshold gives no direction."""
    if not isinstance(threshold, str):
        return None
    try:
        op = Threshold.parse(threshold).op
    except ConfigError:
        return None
    return True if op in (">=", ">") else False if op in ("<=", "<") else None


def good_by_prompt(record: Mapping[str, Any], upward: bool) -> dict[str, float]:
    """Share of each prompt's answers that showed the wanted behaviour (unparsed answers left out)."""
    tally: dict[str, list[int]] = {}
    for case in record.get("cases") or []:
        good = case.get("good") if "good" in case else case.get("hit")
        if good is None:
            continue
        if "good" not in case and not upward:
            good = not good
        counts = tally.setdefault(str(case.get("prompt", "")), [0, 0])
        counts[0] += int(bool(good))
        counts[1] += 1
    return {prompt: k / n for prompt, (k, n) in tally.items()}


def entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a baseline keeps of a record: its numbers and each prompt's share of good answers."""
    data = {name: record.get(name) for name in KEPT}
    upward = higher_is_better(record.get("threshold"))
    data["good"] = good_by_prompt(record, upward is not False)
    data["good_means_hit"] = upward is not False
    return data


def write_baseline(path: Path, metrics: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
    """Write ``(nodeid, record)`` pairs as a baseline file; returns the number of metrics saved."""
    from pytest_llmtrust.atomic import atomic_write

    saved = {metric_key(nodeid, rec): entry(rec) for nodeid, rec in metrics if _number(rec.get("value")) is not None}
    doc = {"format": FORMAT, "version": VERSION, "created": datetime.now(timezone.utc).isoformat(), "metrics": saved}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return len(saved)


@dataclass(frozen=True)
class Baseline:
    """A loaded baseline file."""

    path: Path
    metrics: dict[str, dict[str, Any]]
    alpha: float = 0.05


def load_baseline(path: Path, alpha: float = 0.05) -> Baseline:
    """Read a baseline file; ConfigError naming the file and the fix when it is missing or not one."""
    fix = "write one with --llmtrust-save-baseline PATH on the run to compare against"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"baseline file {path} does not exist; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ConfigError(f"baseline file {path} cannot be read{where}: {exc}; {fix}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("metrics"), dict):
        raise ConfigError(f"{path} is not a pytest-llmtrust baseline (format {FORMAT!r}); {fix}")
    if doc.get("version") != VERSION:
        raise ConfigError(f"baseline {path} has version {doc.get('version')!r}; this plugin reads {VERSION}; {fix}")
    return Baseline(path, doc["metrics"], alpha)


@dataclass(frozen=True)
class Regression:
    """A metric that got significantly worse than its baseline."""

    key: str
    metric: str
    baseline: float
    current: float
    p_value: float
    test: str
    flipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON data for the results file."""
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "current": self.current,
            "p_value": self.p_value,
            "test": self.test,
            "flipped": self.flipped[:50],
            "flipped_count": len(self.flipped),
        }

    def describe(self, alpha: float, shown: int = 5) -> list[str]:
        """Readable lines: the move, the test, and the prompts that flipped."""
        lines = [
            f"{self.metric}: {self.baseline:.3f} in the baseline, {self.current:.3f} now "
            f"({self.test}, one-sided p = {self.p_value:.3g} < alpha {alpha:g})"
        ]
        if self.flipped:
            lines.append(f"  {len(self.flipped)} prompt(s) flipped to a worse verdict:")
            lines += [f"    - {_excerpt(p)}" for p in self.flipped[:shown]]
            if len(self.flipped) > shown:
                lines.append(f"    … and {len(self.flipped) - shown} more (all in the JSON results file)")
        return lines


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
        return None
    return float(value)


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _flips(before: Mapping[str, float], after: Mapping[str, float]) -> tuple[list[str], int]:
    """Prompts whose share of good answers fell, and the number whose share rose."""
    common = [p for p in after if p in before]
    worse = [p for p in common if after[p] < before[p]]
    better = sum(1 for p in common if after[p] > before[p])
    return worse, better


def compare(base: Mapping[str, Any], now: Mapping[str, Any]) -> tuple[float, str, list[str]] | None:
    """``(p, test name, flipped prompts)`` for a metric that moved the wrong way; None when it cannot be tested.

    The direction comes from this run's threshold, else the baseline's; a metric without one is not tested.
    """
    upward = higher_is_better(now.get("threshold"))
    if upward is None:
        upward = higher_is_better(base.get("threshold"))
    before, after = _number(base.get("value")), _number(now.get("value"))
    if upward is None or before is None or after is None or (after >= before if upward else after <= before):
        return None
    was = base.get("good") or {}
    if base.get("good_means_hit", True) != upward:
        was = {p: 1.0 - g for p, g in was.items()}
    current = good_by_prompt(now, upward)
    worse, better = _flips(was, current)
    single = all(g in (0.0, 1.0) for g in (*was.values(), *current.values()))
    if was and current and single and set(was) == set(current):
        return significance.mcnemar_worse(len(worse), better), "exact McNemar test on flipped prompts", worse
    k0, n0, k1, n1 = (base.get("k"), base.get("n"), now.get("k"), now.get("n"))
    if all(isinstance(v, int) for v in (k0, n0, k1, n1)):
        p = significance.fisher_worse(k0, n0, k1, n1, higher_is_better=upward)  # type: ignore[arg-type]
        return p, "Fisher exact test", worse
    intervals = [base.get("ci_low"), base.get("ci_high"), now.get("ci_low"), now.get("ci_high")]
    if all(_number(v) is not None for v in intervals):
        lo0, hi0, lo1, hi1 = (float(v) for v in intervals)  # type: ignore[arg-type]
        p = significance.interval_worse(before, (lo0, hi0), after, (lo1, hi1), higher_is_better=upward)
        return p, "normal test on the 95% intervals", worse
    return None


def regressions(baseline: Baseline, nodeid: str, records: Iterable[Mapping[str, Any]]) -> list[Regression]:
    """The records of one test that regressed against ``baseline``."""
    found = []
    for rec in records:
        key = metric_key(nodeid, rec)
        base = baseline.metrics.get(key)
        if base is None:
            continue
        outcome = compare(base, rec)
        if outcome is None or outcome[0] >= baseline.alpha:
            continue
        p, test, flipped = outcome
        found.append(Regression(key, str(rec["metric"]), float(base["value"]), float(rec["value"]), p, test, flipped))
    return found
