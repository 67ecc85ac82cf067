"""A/B runs: the same prompts on two models (e.g. base and steered), compared pairwise.

``ab_compare(llm, steered_llm, prompts, expect="refuse")`` generates with both models (one
batch each), labels every response with the refusal judge, and reports:

* each model's refusal rate, their difference and McNemar's exact test on the prompts where
  exactly one model refused;
* win/tie/lose of B against A from a pairwise judge (by default the expected-behaviour judge:
  for ``expect="refuse"`` a refusal beats an answer, for ``expect="comply"`` the reverse),
  with Net = (wins − losses)/n and the exact sign test.

Every number is recorded for the JUnit report (``refusal_rate[a]``, ``refusal_rate[b]``,
``refusal_rate_diff``, ``mcnemar_p``, ``wins``, ``ties``, ``losses``, ``net``, ``sign_p``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pytest_llmtrust.errors import ConfigError, did_you_mean
from pytest_llmtrust.metrics.paired import PairedOutcome, WinTieLose, paired_outcome, win_tie_lose
from pytest_llmtrust.metrics.rates import ExpectationFailed
from pytest_llmtrust.model import LLM
from pytest_llmtrust.recording import MetricRecord, record
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.base import Backend, Prompt
    from pytest_llmtrust.judges.base import Judge
    from pytest_llmtrust.judges.pairwise import Outcome

Expect = Literal["refuse", "comply"]


class PairwiseJudge(Protocol):
    """Anything with ``name`` and ``compare(prompts, a, b)`` (see :mod:`pytest_llmtrust.judges.pairwise`)."""

    @property
    def name(self) -> str:
        """Identity for reports."""
        ...

    def compare(self, prompts: Sequence[Prompt], a: Sequence[str], b: Sequence[str]) -> list[Outcome | None]:
        """B against A per prompt."""
        ...


@dataclass(frozen=True)
class ABResult:
    """What :func:`ab_compare` measured."""

    model_a: str
    model_b: str
    judge: str
    pairwise: str
    prompts: list[Prompt]
    responses_a: list[str]
    responses_b: list[str]
    refusals: PairedOutcome
    wtl: WinTieLose

    def summary(self) -> str:
        """Two lines: refusal rates with McNemar, and win/tie/lose with the sign test."""
        return (
            f"{self.refusals.summary(self.model_a, self.model_b, 'refusal rate')}\n"
            f"{self.model_b} vs {self.model_a}: {self.wtl.summary()} [{self.pairwise}]"
        )

    def records(self) -> list[MetricRecord]:
        """Every number as an ungated record."""
        n = self.refusals.n
        values: list[tuple[str, float, str]] = [
            (f"refusal_rate[{self.model_a}]", self.refusals.rate_a, self.model_a),
            (f"refusal_rate[{self.model_b}]", self.refusals.rate_b, self.model_b),
            ("refusal_rate_diff", self.refusals.difference, self.model_b),
            ("mcnemar_p", self.refusals.p_value, self.model_b),
            ("wins", float(self.wtl.wins), self.model_b),
            ("ties", float(self.wtl.ties), self.model_b),
            ("losses", float(self.wtl.losses), self.model_b),
            ("net", self.wtl.net, self.model_b),
            ("sign_p", self.wtl.p_value, self.model_b),
        ]
        return [MetricRecord(metric=m, value=v, model=model, judge=self.judge, n=n) for m, v, model in values]

    def require(self, **expect: str) -> None:
        """Check thresholds on ``refusal_rate_diff``, ``net``, ``mcnemar_p``, ``sign_p`` or the rates.

        Keys are the record names without brackets: ``rate_a``, ``rate_b``, ``refusal_rate_diff``,
        ``mcnemar_p``, ``net``, ``sign_p``; e.g. ``result.require(net="> 0", mcnemar_p="< 0.05")``.
        """
        __tracebackhide__ = True
        values = {
            "rate_a": self.refusals.rate_a,
            "rate_b": self.refusals.rate_b,
            "refusal_rate_diff": self.refusals.difference,
            "mcnemar_p": self.refusals.p_value,
            "net": self.wtl.net,
            "sign_p": self.wtl.p_value,
        }
        failures = []
        for key, text in expect.items():
            if key not in values:
                raise ConfigError(
                    f"unknown A/B metric {key!r}{did_you_mean(key, values)}; metrics: {', '.join(values)}"
                )
            threshold = Threshold.parse(text)
            passed = threshold.check(values[key])
            record(
                MetricRecord(
                    metric=key,
                    value=values[key],
                    model=self.model_b,
                    judge=self.judge,
                    n=self.refusals.n,
                    threshold=str(threshold),
                    passed=passed,
                )
            )
            if not passed:
                failures.append(f"{key} = {values[key]:.3f}, expected {threshold}")
        if failures:
            raise ExpectationFailed("\n".join([*failures, self.summary()]))


def suite_prompts(path: str | Path) -> tuple[list[Prompt], Expect]:
    """A prompts suite's prompts, and the behaviour its first expectation asks for.

    ``refusal_rate`` asks for refusals, ``compliance_rate`` for answers.
    """
    from pytest_llmtrust.suite.loader import Suite, load_suite

    suite = load_suite(Path(path))
    if not isinstance(suite, Suite):
        raise ConfigError(f"{path}: an A/B run takes a prompts suite, not a {suite.kind} suite")
    first = suite.expectations[0].metric
    return [p.prompt for p in suite.prompts], "refuse" if first == "refusal_rate" else "comply"


def ab_compare(
    a: LLM | Backend,
    b: LLM | Backend,
    prompts: Sequence[Prompt] | str | Path,
    *,
    expect: Expect | None = None,
    judge: Judge | None = None,
    pairwise: PairwiseJudge | None = None,
) -> ABResult:
    """Ask ``a`` and ``b`` the same prompts and compare them pairwise (see the module docstring).

    ``prompts`` may be a ``*.llmtrust.yaml`` prompts suite: its prompts are used, and ``expect``
    defaults to what its first expectation asks (refusals for ``refusal_rate``). Otherwise
    ``expect`` defaults to ``"refuse"``.
    """
    from pytest_llmtrust.judges.pairwise import ExpectedBehaviourJudge
    from pytest_llmtrust.judges.refusal import RefusalDetector

    if isinstance(prompts, (str, Path)):
        batch, suite_expect = suite_prompts(prompts)
        expect = expect or suite_expect
    else:
        batch = list(prompts)
    expect = expect or "refuse"
    ha = a if isinstance(a, LLM) else LLM.wrap(a)
    hb = b if isinstance(b, LLM) else LLM.wrap(b)
    ra = [g.text for g in ha.generate(batch)]
    rb = [g.text for g in hb.generate(batch)]
    refusal = judge or RefusalDetector()
    refusals = paired_outcome([v.label for v in refusal.judge(batch, ra)], [v.label for v in refusal.judge(batch, rb)])
    comparer = pairwise or ExpectedBehaviourJudge(expect, refusal)
    result = ABResult(
        model_a=ha.model_id,
        model_b=hb.model_id,
        judge=refusal.name,
        pairwise=comparer.name,
        prompts=batch,
        responses_a=ra,
        responses_b=rb,
        refusals=refusals,
        wtl=win_tie_lose(comparer.compare(batch, ra, rb)),
    )
    for rec in result.records():
        record(rec)
    return result
