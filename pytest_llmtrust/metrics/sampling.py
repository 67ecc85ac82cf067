"""Repeated sampling: the mean rate and pass^k over several answers per prompt.

Under stochastic decoding one answer per prompt says little, so a sampled run asks every prompt
``n`` times (see :mod:`pytest_llmtrust.metrics.rounds`) and measures two things:

- the **mean rate**: hits over all prompt x sample answers, ``k / n``, with a Wilson interval
  on an *effective* sample size (answers of one prompt are correlated, see :func:`effective_n`);
- **pass^k**: the share of prompts whose answers hit every time, in k tries. With ``m`` answers
  of a prompt, ``c`` of them hits, the unbiased estimate for that prompt is ``C(c, k) / C(m, k)``
  (tau-bench); the metric is its mean over prompts.

Both results are :class:`~pytest_llmtrust.metrics.rates.RateResult` objects, so they compare,
check, record and explain themselves like any rate. Each can also say whether more samples could
still change its verdict on a threshold (:meth:`SampledRate.settled`), which is what early
stopping asks after every round. No pytest here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_llmtrust.backends.base import prompt_text
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.metrics.rates import REPORT_LEVEL, Example, RateResult
from pytest_llmtrust.stats import z_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.base import Prompt
    from pytest_llmtrust.judges.base import Verdict
    from pytest_llmtrust.recording import MetricRecord
    from pytest_llmtrust.thresholds import Threshold

STOP_ALL = "all"
"""Every planned sample was taken."""
STOP_DECIDED = "decided"
"""Every gate was settled before the last round (early stopping)."""
STOP_BUDGET = "budget"
"""A budget ran out between rounds; the results cover the rounds completed."""


# ------------------------------------------------------------------------------------------ maths


def pass_hat_k(c: int, m: int, k: int) -> float:
    """Unbiased estimate of the chance that k fresh answers all hit, from c hits in m answers.

    ``C(c, k) / C(m, k)``: the share of k-subsets of the m answers that are all hits.

    Raises:
        ValueError: unless ``0 <= c <= m`` and ``1 <= k <= m``.
    """
    if not 0 <= c <= m or not 1 <= k <= m:
        raise ValueError(f"need 0 <= c <= m and 1 <= k <= m, got c={c}, m={m}, k={k}")
    return math.comb(c, k) / math.comb(m, k)


def pass_k_estimate(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean of :func:`pass_hat_k` over prompts given as ``(hits, answers)``; NaN without prompts."""
    if not counts:
        return math.nan
    return sum(pass_hat_k(c, m, k) for c, m in counts) / len(counts)


def pass_k_range(counts: Sequence[tuple[int, int]], k: int, planned: int) -> tuple[float, float]:
    """Lowest and highest pass^k the full run of ``planned`` answers per prompt can still give.

    A prompt with ``c`` hits in ``m`` answers ends with between ``c`` and ``c + planned - m`` hits
    (assuming its remaining answers can all be judged), so its final estimate lies between
    ``C(c, k) / C(planned, k)`` and ``C(c + planned - m, k) / C(planned, k)``. No statistics: the
    final value is certain to fall in this range.
    """
    if not counts:
        return 0.0, 1.0
    whole = math.comb(planned, k)
    low = sum(math.comb(c, k) for c, _ in counts) / whole
    high = sum(math.comb(min(c + planned - m, planned), k) for c, m in counts) / whole
    return low / len(counts), high / len(counts)


def wilson(p: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p`` observed over ``n`` (possibly fractional) trials."""
    if n <= 0 or math.isnan(p):
        return 0.0, 1.0
    z2 = z_for(confidence) ** 2
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = math.sqrt(z2) * math.sqrt(max(p * (1 - p), 0.0) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if p <= 0.0 else max(0.0, centre - half)
    high = 1.0 if p >= 1.0 else min(1.0, centre + half)
    return low, high


def effective_n(counts: Sequence[tuple[int, int]]) -> float:
    """How many independent answers the ``(hits, answers)`` per prompt are worth, between #prompts and #answers.

    The variance of the mean rate is estimated at the prompt level (the cluster-robust, or
    ratio-estimator, variance), with the rate pulled slightly inwards (Agresti-Coull, +2/+4) so that
    answers that all agree still give a finite value. ``n_eff = p(1 - p) / var``, clamped to
    [prompts, answers]: answers that cluster by prompt (some prompts always hit, others never)
    bring it down towards the number of prompts; answers spread evenly over prompts leave it at
    the number of answers. With one prompt the answers are independent draws and count in full.
    """
    used = [(c, m) for c, m in counts if m > 0]
    n = sum(m for _, m in used)
    prompts = len(used)
    if prompts <= 1:
        return float(n)
    p = (sum(c for c, _ in used) + 2.0) / (n + 4.0)
    spread = sum((c - p * m) ** 2 for c, m in used) * prompts / (prompts - 1) / (n * n)
    if spread <= 0.0:
        return float(n)
    return min(float(n), max(float(prompts), p * (1 - p) / spread))


def settled(threshold: Threshold, low: float, high: float) -> bool:
    """Whether every value in [low, high] gets the same verdict from ``threshold`` (all pass or all fail)."""
    if threshold.check_interval(low, high):
        return True
    if threshold.op in (">=", ">"):
        return not threshold.check(high)
    if threshold.op in ("<=", "<"):
        return not threshold.check(low)
    upper = threshold.upper if threshold.upper is not None else threshold.value
    return high < threshold.value or low > upper


# ------------------------------------------------------------------------------------------ plan and answers


@dataclass(frozen=True)
class SamplingPlan:
    """How many answers to take per prompt, and when sampling may stop early."""

    n: int
    """Answers planned per prompt."""
    early_stop: bool = True
    """Stop after a round once every gate is settled (see :meth:`SampledRate.settled`)."""
    min: int = 2
    """Rounds always taken before early stopping may stop (capped at ``n``)."""
    k: int | None = None
    """The k of pass^k (None: ``n``)."""

    def __post_init__(self) -> None:
        """Check the numbers, so a bad plan fails before any model is asked."""
        for name in ("n", "min"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"samples: {name} must be an integer >= 1, got {value!r}")
        k = self.k
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.n):
            raise ConfigError(f"samples: k must be an integer from 1 to n={self.n}, got {self.k!r}")

    @property
    def pass_k(self) -> int:
        """The k of pass^k."""
        return self.k or self.n

    @property
    def first_rounds(self) -> int:
        """Rounds that are always taken: all ``n`` without early stopping, else ``min`` (at most ``n``)."""
        return min(self.min, self.n) if self.early_stop else self.n


@dataclass(frozen=True)
class Gate:
    """One threshold a sampled run is checked against (early stopping waits until all are settled)."""

    metric: str
    threshold: Threshold
    count_refusals: bool
    pass_k: bool = False
    confidence: float | None = None


@dataclass
class SampledAnswers:
    """Every answer and verdict of a sampled run, per prompt and sample."""

    prompts: list[Prompt]
    plan: SamplingPlan
    judge: str
    model: str = ""
    responses: list[list[str]] = field(default_factory=list)
    """Per prompt, its answers in sample order."""
    verdicts: list[list[Verdict]] = field(default_factory=list)
    stopped: str = STOP_ALL
    """Why sampling ended: :data:`STOP_ALL`, :data:`STOP_DECIDED` or :data:`STOP_BUDGET`."""

    def __post_init__(self) -> None:
        """Start with no answers for each prompt."""
        if not self.responses:
            self.responses = [[] for _ in self.prompts]
            self.verdicts = [[] for _ in self.prompts]

    @property
    def taken(self) -> int:
        """Answers taken per prompt (completed rounds)."""
        return len(self.responses[0]) if self.responses else 0

    def add_round(self, responses: Sequence[str], verdicts: Sequence[Verdict]) -> None:
        """Add one answer and verdict per prompt, in prompt order."""
        if len(responses) != len(self.prompts) or len(verdicts) != len(self.prompts):
            raise ValueError(f"a round needs {len(self.prompts)} answers and verdicts")
        for mine, text in zip(self.responses, responses, strict=True):
            mine.append(text)
        for theirs, verdict in zip(self.verdicts, verdicts, strict=True):
            theirs.append(verdict)

    def _examples(self, count_refusals: bool) -> list[list[Example]]:
        many = self.taken > 1
        out = []
        for prompt, texts, verdicts in zip(self.prompts, self.responses, self.verdicts, strict=True):
            shown = prompt_text(prompt)
            row = []
            for i, (text, verdict) in enumerate(zip(texts, verdicts, strict=True)):
                hit = None if verdict.label is None else (verdict.label is count_refusals)
                row.append(Example(f"{shown} [sample {i + 1}]" if many else shown, text, verdict, hit))
            out.append(row)
        return out

    def rate(self, metric: str, *, count_refusals: bool, confidence: float | None = None) -> SampledRate:
        """The mean rate over every answer taken."""
        rows = self._examples(count_refusals)
        counts = [(sum(1 for e in row if e.hit), sum(1 for e in row if e.hit is not None)) for row in rows]
        flat = [e for row in rows for e in row]
        return SampledRate(
            metric,
            k=sum(c for c, _ in counts),
            n=sum(m for _, m in counts),
            model=self.model,
            judge=self.judge,
            examples=flat,
            confidence=confidence,
            unparsed=sum(1 for e in flat if e.hit is None),
            counts=counts,
            planned=self.plan.n,
            taken=self.taken,
            stopped=self.stopped,
        )

    def pass_k(self, metric: str, *, count_refusals: bool, confidence: float | None = None) -> PassKRate:
        """pass^k over prompts; k is lowered to the answers taken when sampling stopped before k."""
        rows = self._examples(count_refusals)
        k_used = max(1, min(self.plan.pass_k, self.taken))
        counts = []
        for row in rows:
            judged = [e for e in row if e.hit is not None]
            if len(judged) >= k_used:
                counts.append((sum(1 for e in judged if e.hit), len(judged)))
        return PassKRate(
            metric,
            k=sum(1 for c, m in counts if c == m),
            n=len(counts),
            model=self.model,
            judge=self.judge,
            examples=[e for row in rows for e in row],
            confidence=confidence,
            unparsed=len(rows) - len(counts),
            counts=counts,
            planned=self.plan.n,
            taken=self.taken,
            stopped=self.stopped,
            pass_k=self.plan.pass_k,
            k_used=k_used,
        )

    def result(self, gate: Gate) -> SampledRate | PassKRate:
        """The result a gate is checked on."""
        build = self.pass_k if gate.pass_k else self.rate
        return build(gate.metric, count_refusals=gate.count_refusals, confidence=gate.confidence)

    def settled(self, gates: Sequence[Gate]) -> bool:
        """Whether every gate is settled, so that more samples could not change (or are unlikely to change) any."""
        return bool(gates) and all(self.result(g).settled(g.threshold) for g in gates)


# ------------------------------------------------------------------------------------------ results


@dataclass(eq=False)
class SampledRate(RateResult):
    """The mean rate over prompt x sample answers (k hits of n judged answers).

    Its interval is Wilson on the effective number of answers (:func:`effective_n`), not on n.
    """

    counts: list[tuple[int, int]] = field(default_factory=list, repr=False)
    """Per prompt: (hits, judged answers)."""
    planned: int = 1
    """Answers planned per prompt."""
    taken: int = 1
    """Answers taken per prompt."""
    stopped: str = STOP_ALL
    pass_k: PassKRate | None = field(default=None, repr=False)
    """The pass^k of the same answers, when asked for (:func:`~pytest_llmtrust.metrics.rounds.sampled_rate`)."""

    @property
    def n_eff(self) -> float:
        """The effective number of independent answers behind the interval."""
        return effective_n(self.counts)

    def interval_at(self, level: float) -> tuple[float, float]:
        """Wilson interval at ``level`` on the effective sample size."""
        return wilson(self.value, self.n_eff, level) if self.n else (0.0, 1.0)

    def settled(self, threshold: Threshold) -> bool:
        """Whether the interval (at the gate's level, else 95%) lies wholly on one side of the threshold."""
        if self.n == 0:
            return False
        return settled(threshold, *self.interval_at(self.confidence or REPORT_LEVEL))

    def summary(self) -> str:
        """One line: value, interval, k/n and samples per prompt."""
        low, high = self.interval
        return (
            f"{self.metric} = {self.value:.3f} (95% CI {low:.3f}-{high:.3f}, k={self.k}/n={self.n}, "
            f"{self.taken} sample{'s' if self.taken != 1 else ''}/prompt"
            + (f", {self.unparsed} unparsed" if self.unparsed else "")
            + ")"
        )

    def notes(self) -> list[str]:
        """How many samples were taken and why sampling stopped, and the effective n."""
        return [_sampling_line(self.taken, self.planned, self.stopped), f"interval: Wilson on n_eff={self.n_eff:.1f}"]

    def to_record(self, threshold: Threshold | None = None, passed: bool | None = None) -> MetricRecord:
        """The report record, with the samples taken per prompt."""
        rec = super().to_record(threshold, passed)
        rec.samples = self.taken
        return rec


@dataclass(eq=False)
class PassKRate(RateResult):
    """pass^k: the mean over prompts of C(c, k) / C(m, k); k counts prompts whose every answer hit, n the prompts.

    Its interval is Wilson over prompts (the independent units). Prompts with fewer than k judged
    answers are left out and counted as ``unparsed``.
    """

    counts: list[tuple[int, int]] = field(default_factory=list, repr=False)
    planned: int = 1
    taken: int = 1
    stopped: str = STOP_ALL
    pass_k: int = 1
    """The k asked for."""
    k_used: int = 1
    """The k measured: ``pass_k``, or fewer when sampling stopped before k answers per prompt."""

    @property
    def value(self) -> float:
        """The pass^k estimate (NaN without prompts)."""
        return pass_k_estimate(self.counts, self.k_used)

    def interval_at(self, level: float) -> tuple[float, float]:
        """Wilson interval at ``level`` over the prompts."""
        return wilson(self.value, self.n, level) if self.n else (0.0, 1.0)

    def settled(self, threshold: Threshold) -> bool:
        """Whether the gate's verdict is certain whatever the remaining samples say.

        Decided on the range the full run can still reach (:func:`pass_k_range`), widened to the
        gate's interval bounds when the gate is an interval gate. Always True once every sample is in.
        """
        if self.n == 0:
            return False
        if self.taken >= self.planned:
            return True
        low, high = pass_k_range(self.counts, self.pass_k, self.planned)
        if self.confidence is not None:
            low, high = wilson(low, self.n, self.confidence)[0], wilson(high, self.n, self.confidence)[1]
        return settled(threshold, low, high)

    def summary(self) -> str:
        """One line: value, interval, prompts passing and samples per prompt."""
        low, high = self.interval
        lowered = f", k lowered from {self.pass_k}" if self.k_used != self.pass_k else ""
        return (
            f"{self.metric} = {self.value:.3f} (pass^{self.k_used}{lowered}, 95% CI {low:.3f}-{high:.3f}, "
            f"{self.k}/{self.n} prompts hit every time, {self.taken} sample{'s' if self.taken != 1 else ''}/prompt"
            + (f", {self.unparsed} prompts unjudged" if self.unparsed else "")
            + ")"
        )

    def notes(self) -> list[str]:
        """How many samples were taken and why sampling stopped."""
        return [_sampling_line(self.taken, self.planned, self.stopped)]

    def to_record(self, threshold: Threshold | None = None, passed: bool | None = None) -> MetricRecord:
        """The report record, with the samples taken per prompt."""
        rec = super().to_record(threshold, passed)
        rec.samples = self.taken
        return rec


def _sampling_line(taken: int, planned: int, stopped: str) -> str:
    why = {STOP_ALL: "all samples taken", STOP_DECIDED: "decided", STOP_BUDGET: "budget"}.get(stopped, stopped)
    return f"samples: {taken} of {planned} per prompt (stopped: {why})"
