"""Rates judged over a batch of responses: refusal rate and compliance rate.

``result = refusal_rate(llm, prompts, judge=judge)`` generates all completions
in one batch, judges them, and returns a :class:`RateResult`: ``k`` of ``n``
with a Wilson 95% interval. Compare it like a number (``assert result >= 0.95``)
or check a threshold string (``result.require(">= 0.95")``); a failure shows
the value, interval, n, model, judge and the worst examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_llmtrust.backends.base import Backend, GenerationParams, Prompt, prompt_text
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.model import LLM
from pytest_llmtrust.recording import MetricRecord, record
from pytest_llmtrust.stats import wilson_interval
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.judges.base import Judge, Verdict

REPORT_LEVEL = 0.95
"""Level of the interval that is always reported."""


@dataclass(frozen=True, slots=True)
class Example:
    """One judged response."""

    prompt: str
    response: str
    verdict: Verdict
    hit: bool | None
    """Whether this response counts towards k (None: the verdict was unparsed)."""


class ExpectationFailed(AssertionError):
    """A metric missed its threshold; ``str()`` is the full, readable report."""


@dataclass(eq=False)
class RateResult:
    """k successes out of n judged responses, with its interval and examples."""

    metric: str
    k: int
    n: int
    model: str
    judge: str
    examples: list[Example] = field(repr=False)
    confidence: float | None = None
    """Gate level: None gates on the point value, else on the interval at this level."""
    unparsed: int = 0
    _records: list[MetricRecord] = field(default_factory=list, init=False, repr=False)

    @property
    def value(self) -> float:
        """The point estimate k/n (NaN when nothing was judged)."""
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson interval at the reported level (95%)."""
        return self.interval_at(REPORT_LEVEL)

    def interval_at(self, level: float) -> tuple[float, float]:
        """The interval at ``level`` (Wilson on k of n; subclasses may widen it)."""
        return wilson_interval(self.k, self.n, level)

    def passes(self, threshold: Threshold | str) -> bool:
        """Whether the result meets ``threshold`` under this result's gate."""
        th = Threshold.parse(threshold).for_rate()
        if self.n == 0:
            return False
        if self.confidence is None:
            return th.check(self.value)
        return th.check_interval(*self.interval_at(self.confidence))

    def check(self, threshold: Threshold | str) -> bool:
        """Like :meth:`passes`, and records the outcome for the report."""
        th = Threshold.parse(threshold)
        ok = self.passes(th)
        self.note(th, ok)
        return ok

    def note(self, threshold: Threshold | None = None, passed: bool | None = None) -> MetricRecord:
        """Record this result (once per threshold checked) for the report, and return the record."""
        details = None
        if threshold is not None and passed is False:
            th = threshold

            def details(examples: int) -> list[str]:
                return self.explain(th, examples=examples)

        if threshold is not None:
            same = next((r for r in self._records if r.threshold == str(threshold)), None)
            if same is not None:
                same.passed, same.explain = passed, details
                record(same)
                return same
        blank = next((r for r in self._records if r.threshold is None), None)
        if blank is not None and threshold is not None:
            blank.threshold, blank.passed, blank.explain = str(threshold), passed, details
            return blank
        rec = self.to_record(threshold, passed)
        rec.explain = details
        self._records.append(rec)
        record(rec)
        return rec

    def require(self, threshold: Threshold | str, *, examples: int = 3) -> None:
        """Raise ExpectationFailed (an AssertionError) with a full report unless the threshold is met."""
        __tracebackhide__ = True
        th = Threshold.parse(threshold)
        if not self.check(th):
            raise ExpectationFailed("\n".join(self.explain(th, examples=examples)))

    def _compare(self, op: str, other: object) -> bool:
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            raise TypeError(f"compare a {self.metric} result with a number, e.g. result >= 0.95 (got {other!r})")
        return self.check(f"{op} {float(other)!r}")

    def __ge__(self, other: object) -> bool:
        return self._compare(">=", other)

    def __gt__(self, other: object) -> bool:
        return self._compare(">", other)

    def __le__(self, other: object) -> bool:
        return self._compare("<=", other)

    def __lt__(self, other: object) -> bool:
        return self._compare("<", other)

    def gate_name(self) -> str:
        """``point`` or ``interval@LEVEL``."""
        return "point" if self.confidence is None else f"interval@{self.confidence:g}"

    def to_record(self, threshold: Threshold | None = None, passed: bool | None = None) -> MetricRecord:
        """This result as a report record."""
        low, high = self.interval
        return MetricRecord(
            metric=self.metric,
            value=self.value,
            ci_low=low,
            ci_high=high,
            n=self.n,
            k=self.k,
            unparsed=self.unparsed,
            model=self.model,
            judge=self.judge,
            threshold=None if threshold is None else str(threshold),
            gate=self.gate_name(),
            passed=passed,
            cases=[
                {"prompt": e.prompt, "response": e.response, "verdict": _verdict_text(self.metric, e), "hit": e.hit}
                for e in self.examples
            ],
        )

    def summary(self) -> str:
        """One line: value, interval, k/n."""
        low, high = self.interval
        return (
            f"{self.metric} = {self.value:.3f} (95% CI {low:.3f}-{high:.3f}, k={self.k}/n={self.n}"
            + (f", {self.unparsed} unparsed" if self.unparsed else "")
            + ")"
        )

    def worst(self, threshold: Threshold, limit: int) -> list[Example]:
        """The examples that pulled the result the wrong way for this threshold."""
        upward = threshold.op in (">=", ">") or (threshold.op == "between" and self.value < threshold.value)
        wanted = False if upward else True
        picked = [e for e in self.examples if e.hit is wanted]
        if len(picked) < limit:
            picked += [e for e in self.examples if e.hit is None]
        return picked[:limit]

    def explain(self, threshold: Threshold | str, *, examples: int = 3) -> list[str]:
        """A readable failure report."""
        th = Threshold.parse(threshold)
        verdict = "meets" if self.passes(th) else "does not meet"
        gate = "point estimate" if self.confidence is None else f"{self.confidence:g} interval bound"
        lines = [
            f"{self.summary()} {verdict} {th} [gate: {gate}]",
            f"model: {self.model}   judge: {self.judge}",
            *self.notes(),
        ]
        if self.n == 0:
            lines.append("no response could be judged (n=0)")
        worst = self.worst(th, examples)
        if worst:
            lines.append(f"worst examples ({len(worst)} shown):")
            for e in worst:
                lines += [
                    f"  - prompt:   {_excerpt(e.prompt, 120)}",
                    f"    response: {_excerpt(e.response, 200)}",
                    f"    verdict:  {_verdict_text(self.metric, e)}",
                ]
        return lines

    def notes(self) -> list[str]:
        """Extra lines for the failure report, after the model and judge (none here)."""
        return []

    def __repr__(self) -> str:
        return f"<{self.summary()} model={self.model!r} judge={self.judge!r}>"


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _verdict_text(metric: str, example: Example) -> str:
    if example.verdict.label is None:
        state = "unparsed judge reply"
    else:
        state = "refused" if example.verdict.label else "complied"
    return f"{state} ({example.verdict.reason})" if example.verdict.reason else state


def _as_llm(llm: LLM | Backend, params: GenerationParams | None) -> tuple[LLM, GenerationParams]:
    handle = llm if isinstance(llm, LLM) else LLM.wrap(llm)
    return handle, params or handle.params


def _judge(judge: Judge | None) -> Judge:
    if judge is not None:
        return judge
    from pytest_llmtrust.judges.refusal import RefusalDetector

    return RefusalDetector()


def judged_rate(
    metric: str,
    prompts: Sequence[Prompt],
    responses: Sequence[str],
    verdicts: Sequence[Verdict],
    *,
    count_refusals: bool,
    model: str,
    judge: str,
    confidence: float | None = None,
) -> RateResult:
    """Build a RateResult from verdicts; ``count_refusals`` picks what counts towards k."""
    examples: list[Example] = []
    for prompt, response, verdict in zip(prompts, responses, verdicts, strict=True):
        hit = None if verdict.label is None else (verdict.label is count_refusals)
        examples.append(Example(prompt_text(prompt), response, verdict, hit))
    k = sum(1 for e in examples if e.hit)
    unparsed = sum(1 for e in examples if e.hit is None)
    n = len(examples) - unparsed
    return RateResult(metric, k, n, model, judge, examples, confidence=confidence, unparsed=unparsed)


def _rate(
    metric: str,
    count_refusals: bool,
    llm: LLM | Backend,
    prompts: Sequence[Prompt],
    judge: Judge | None,
    params: GenerationParams | None,
    confidence: float | None,
) -> RateResult:
    if isinstance(prompts, str) or not prompts:
        raise ConfigError(f"{metric} needs a non-empty list of prompts")
    handle, gen = _as_llm(llm, params)
    if confidence is None:
        confidence = handle.confidence
    the_judge = _judge(judge)
    responses = [g.text for g in handle.generate(list(prompts), gen)]
    verdicts = the_judge.judge(list(prompts), responses)
    result = judged_rate(
        metric,
        prompts,
        responses,
        verdicts,
        count_refusals=count_refusals,
        model=handle.model_id,
        judge=the_judge.name,
        confidence=confidence,
    )
    result.note()
    return result


def refusal_rate(
    llm: LLM | Backend,
    prompts: Sequence[Prompt],
    *,
    judge: Judge | None = None,
    params: GenerationParams | None = None,
    confidence: float | None = None,
) -> RateResult:
    """Share of prompts the model refuses, as judged by ``judge`` (default: the offline detector)."""
    return _rate("refusal_rate", True, llm, prompts, judge, params, confidence)


def compliance_rate(
    llm: LLM | Backend,
    prompts: Sequence[Prompt],
    *,
    judge: Judge | None = None,
    params: GenerationParams | None = None,
    confidence: float | None = None,
) -> RateResult:
    """Share of prompts the model answers without refusing."""
    return _rate("compliance_rate", False, llm, prompts, judge, params, confidence)
