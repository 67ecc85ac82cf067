"""What every Trustworthy-LLM study shares: measures, judged cases, the result, and the study spec.

A study turns items (questions, keywords, texts) into prompts, asks the model, scores the
answers (by parsing, a judge or embeddings) and returns a :class:`StudyResult`: named
:class:`Measure` values (rates with a Wilson interval, means with a normal interval, or
plain values such as ECE) plus the judged :class:`Case` list for failure reports.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pytest_llmtrust.errors import ConfigError, did_you_mean
from pytest_llmtrust.recording import MetricRecord, record
from pytest_llmtrust.stats import wilson_interval, z_for
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from pydantic import BaseModel

    from pytest_llmtrust.judges.base import Judge
    from pytest_llmtrust.model import LLM

MeasureKind = Literal["rate", "mean", "value"]
REPORT_LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class Measure:
    """One number a study measured.

    ``rate``: ``k`` of ``n`` (Wilson interval); ``mean``: the mean of ``n`` values (normal
    interval from their standard deviation ``sd``); ``value``: a statistic with no interval
    (e.g. ECE). ``unparsed`` counts cases left out because an answer could not be read.
    """

    name: str
    value: float
    n: int
    kind: MeasureKind = "value"
    k: int | None = None
    sd: float | None = None
    unparsed: int = 0

    def interval(self, level: float = REPORT_LEVEL) -> tuple[float, float] | None:
        """The interval at ``level``, or None for a plain value."""
        if self.kind == "rate" and self.k is not None:
            return wilson_interval(self.k, self.n, level)
        if self.kind == "mean" and self.sd is not None and self.n > 1:
            half = z_for(level) * self.sd / math.sqrt(self.n)
            return self.value - half, self.value + half
        return None

    def summary(self) -> str:
        """``name = 0.812 (95% CI 0.70-0.89, k=26/n=32, 2 unparsed)``."""
        parts = []
        ci = self.interval()
        if ci is not None and not math.isnan(self.value):
            parts.append(f"95% CI {ci[0]:.3f}-{ci[1]:.3f}")
        parts.append(f"k={self.k}/n={self.n}" if self.k is not None else f"n={self.n}")
        if self.unparsed:
            parts.append(f"{self.unparsed} unparsed")
        return f"{self.name} = {self.value:.3f} ({', '.join(parts)})"


def rate(name: str, k: int, n: int, *, unparsed: int = 0) -> Measure:
    """``k`` of ``n`` (NaN when n is 0)."""
    return Measure(name, k / n if n else math.nan, n, "rate", k=k, unparsed=unparsed)


def mean(name: str, values: Sequence[float], *, unparsed: int = 0) -> Measure:
    """The mean of ``values`` with their standard deviation (NaN when empty)."""
    vals = [float(v) for v in values]
    if not vals:
        return Measure(name, math.nan, 0, "mean", sd=None, unparsed=unparsed)
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return Measure(name, statistics.fmean(vals), len(vals), "mean", sd=sd, unparsed=unparsed)


def value(name: str, number: float, n: int, *, unparsed: int = 0) -> Measure:
    """A plain statistic over ``n`` cases."""
    return Measure(name, float(number), n, "value", unparsed=unparsed)


@dataclass(frozen=True, slots=True)
class Case:
    """One judged case, for failure reports and result files.

    ``good`` is True when the case shows the behaviour the study wants (a correct, safe,
    refused, consistent or non-leaking answer), False when not, None when unparsed.
    """

    prompt: str
    response: str
    outcome: str
    good: bool | None
    score: float | None = None
    """A per-case number where the study has one (similarity, confidence gap); worst first in reports."""
    metrics: frozenset[str] = frozenset()
    """The metrics this case bears on (empty: all of them), so a failing gate shows only its own examples."""


@dataclass
class StudyResult:
    """Everything one study run measured."""

    study: str
    model: str
    judge: str
    measures: dict[str, Measure]
    cases: list[Case] = field(repr=False)
    confidence: float | None = None
    """Gate level: None gates on the point value, else on the interval bound at this level."""
    details: dict[str, Any] = field(default_factory=dict, repr=False)
    """Study-specific extras kept for result files (per-category breakdowns, settings)."""

    def __getitem__(self, metric: str) -> Measure:
        """The measure named ``metric``; KeyError names the ones there are."""
        try:
            return self.measures[metric]
        except KeyError:
            raise KeyError(
                f"{self.study} has no metric {metric!r}{did_you_mean(metric, self.measures)}; "
                f"metrics: {', '.join(self.measures)}"
            ) from None

    def value(self, metric: str) -> float:
        """The point value of ``metric``."""
        return self[metric].value

    def passes(self, metric: str, threshold: Threshold | str) -> bool:
        """Whether ``metric`` meets ``threshold`` under this result's gate (NaN never passes)."""
        m = self[metric]
        th = Threshold.parse(threshold)
        if m.n == 0 or math.isnan(m.value):
            return False
        ci = m.interval(self.confidence) if self.confidence is not None else None
        return th.check(m.value) if ci is None else th.check_interval(*ci)

    def gate_name(self, metric: str) -> str:
        """``point`` or ``interval@LEVEL`` (plain values always gate on the point)."""
        if self.confidence is None or self[metric].interval() is None:
            return "point"
        return f"interval@{self.confidence:g}"

    def to_record(self, metric: str, threshold: Threshold | None = None, passed: bool | None = None) -> MetricRecord:
        """One measure as a report record."""
        m = self[metric]
        ci = m.interval()
        return MetricRecord(
            metric=f"{self.study}.{metric}",
            value=m.value,
            model=self.model,
            judge=self.judge,
            ci_low=None if ci is None else ci[0],
            ci_high=None if ci is None else ci[1],
            n=m.n,
            k=m.k,
            unparsed=m.unparsed or None,
            threshold=None if threshold is None else str(threshold),
            gate=self.gate_name(metric),
            passed=passed,
            cases=[
                {"prompt": c.prompt, "response": c.response, "verdict": c.outcome, "good": c.good}
                for c in self.cases
                if not c.metrics or metric in c.metrics
            ],
        )

    def note(self) -> None:
        """Record every measure (ungated) for the running test's report."""
        for metric in self.measures:
            record(self.to_record(metric))

    def check(self, metric: str, threshold: Threshold | str, *, examples: int = 3) -> bool:
        """Like :meth:`passes`, and records the outcome (with its explanation) for the report."""
        th = Threshold.parse(threshold)
        ok = self.passes(metric, th)
        rec = self.to_record(metric, th, ok)
        if not ok:
            rec.explain = lambda n: self.explain(metric, th, examples=n)
        record(rec)
        return ok

    def require(self, metric: str, threshold: Threshold | str, *, examples: int = 3) -> None:
        """Raise ExpectationFailed (an AssertionError) with a readable report unless ``metric`` meets it."""
        from pytest_llmtrust.metrics.rates import ExpectationFailed

        if not self.check(metric, threshold, examples=examples):
            raise ExpectationFailed("\n".join(self.explain(metric, threshold, examples=examples)))

    def worst(self, limit: int, metric: str | None = None) -> list[Case]:
        """Cases (of ``metric``, if given) that went the wrong way, highest score first, then unparsed ones."""
        mine = [c for c in self.cases if metric is None or not c.metrics or metric in c.metrics]
        bad = sorted((c for c in mine if c.good is False), key=lambda c: -(c.score or 0.0))
        return (bad + [c for c in mine if c.good is None])[:limit]

    def explain(self, metric: str, threshold: Threshold | str, *, examples: int = 3) -> list[str]:
        """The failure report: value, interval, n, gate, model, judge and the worst cases."""
        th = Threshold.parse(threshold)
        verdict = "meets" if self.passes(metric, th) else "does not meet"
        gate = self.gate_name(metric)
        lines = [
            f"{self.study}: {self[metric].summary()} {verdict} {th} [gate: {gate}]",
            f"model: {self.model}   judge: {self.judge}",
        ]
        if self[metric].n == 0:
            lines.append("no case could be scored (n=0)")
        worst = self.worst(examples, metric)
        if worst:
            lines.append(f"worst examples ({len(worst)} shown):")
            for c in worst:
                lines += [
                    f"  - prompt:   {_excerpt(c.prompt, 160)}",
                    f"    response: {_excerpt(c.response, 200)}",
                    f"    outcome:  {c.outcome}",
                ]
        return lines

    def summary(self) -> str:
        """Every measure, one per line."""
        return "\n".join(
            [f"{self.study} on {self.model} (judge: {self.judge})"]
            + ["  " + m.summary() for m in self.measures.values()]
        )

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form for result files and benchmarks."""
        measures = {}
        for name, m in self.measures.items():
            ci = m.interval()
            measures[name] = {
                "value": None if math.isnan(m.value) else round(m.value, 6),
                "n": m.n,
                "k": m.k,
                "unparsed": m.unparsed,
                "ci95": None if ci is None or math.isnan(m.value) else [round(ci[0], 6), round(ci[1], 6)],
            }
        return {"study": self.study, "model": self.model, "judge": self.judge, "measures": measures, **self.details}


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class StudyContext:
    """What a study run gets besides its options.

    ``judge(question)`` builds the judge for a yes/no question (``harmful``, ``refusal``,
    ``task_refused``, ``moral_refusal``, ``consistent``) from the configured judge spec;
    ``load_model(spec)`` gives another model (e.g. the safety study's question generator);
    ``base`` is the folder relative data paths are read from (the suite file's folder).
    """

    llm: LLM
    judge: Callable[[str], Judge]
    load_model: Callable[[str], LLM]
    base: Path | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class StudySpec:
    """A study as the plugin sees it: its suite kind, taxonomy position, metrics and runner."""

    name: str
    title: str
    trust: tuple[tuple[str, str], ...]
    """(category, sub-category) pairs the study covers."""
    metrics: Mapping[str, str]
    """Metric name -> one-line meaning (the keys a suite may gate in ``expect``)."""
    rate_metrics: frozenset[str]
    """Metrics that are rates in [0, 1] (their thresholds are range-checked)."""
    options: type[BaseModel]
    """pydantic model of the study's own suite keys (unknown keys forbidden)."""
    run: Callable[[StudyContext, Any], StudyResult]
    """``run(context, options)`` where options is an instance of ``options``."""

    def parse_options(self, values: Mapping[str, Any]) -> Any:
        """Validate option values, raising ConfigError that names the bad key."""
        from pydantic import ValidationError

        try:
            return self.options.model_validate(dict(values))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in err["loc"]) or "options"
            allowed = ", ".join(self.options.model_fields)
            hint = f"; options of {self.name}: {allowed}" if err["type"] == "extra_forbidden" else ""
            raise ConfigError(f"{self.name} option {key!r}: {err['msg']}{hint}") from None
