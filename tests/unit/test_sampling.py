"""Repeated sampling: pass^k, the mean rate and its interval, seeds, early stopping and budget stops."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust import LLM, FakeBackend, GenerationParams, PassKRate, SampledRate, sampled_rate
from pytest_llmtrust.backends.fake import COMPLIANCE, REFUSAL, from_spec
from pytest_llmtrust.cache.cached import CachedBackend
from pytest_llmtrust.errors import BudgetExceeded, ConfigError
from pytest_llmtrust.judges.base import Verdict
from pytest_llmtrust.judges.refusal import RefusalDetector
from pytest_llmtrust.metrics.rounds import round_params, run_rounds, sample_seed
from pytest_llmtrust.metrics.sampling import (
    STOP_ALL,
    STOP_BUDGET,
    STOP_DECIDED,
    Gate,
    SampledAnswers,
    SamplingPlan,
    effective_n,
    pass_hat_k,
    pass_k_estimate,
    pass_k_range,
    settled,
    wilson,
)
from pytest_llmtrust.recording import PROPERTY_NAMES, recording
from pytest_llmtrust.stats import wilson_interval
from pytest_llmtrust.suite.loader import Suite, load_suite
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pytest_llmtrust.backends.base import Generation, Prompt

SAMPLED = GenerationParams(temperature=0.8, seed=3)
PROMPTS = [f"prompt {i}" for i in range(12)]


def th(text: str) -> Threshold:
    return Threshold.parse(text)


def answers(rows: list[list[bool]], planned: int | None = None, k: int | None = None) -> SampledAnswers:
    """Answers whose verdicts are given per prompt and sample (True: refused)."""
    taken = len(rows[0])
    out = SampledAnswers([f"p{i}" for i in range(len(rows))], SamplingPlan(planned or taken, k=k), "j", model="m")
    for s in range(taken):
        out.add_round(["x"] * len(rows), [Verdict(row[s]) for row in rows])
    return out


# --- pass^k ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "m", "k", "expected"),
    [
        (3, 5, 2, 3 / 10),  # C(3,2)=3 of C(5,2)=10 pairs are all hits
        (5, 5, 5, 1.0),
        (4, 5, 5, 0.0),
        (2, 4, 1, 0.5),  # pass^1 is the plain rate
        (1, 5, 2, 0.0),
        (4, 6, 3, 4 / 20),  # C(4,3)=4, C(6,3)=20
        (0, 3, 1, 0.0),
    ],
)
def test_pass_hat_k_against_hand_values(c: int, m: int, k: int, expected: float) -> None:
    assert pass_hat_k(c, m, k) == pytest.approx(expected)


@pytest.mark.parametrize(("c", "m", "k"), [(4, 3, 1), (-1, 3, 1), (2, 3, 0), (2, 3, 4)])
def test_pass_hat_k_rejects_impossible_counts(c: int, m: int, k: int) -> None:
    with pytest.raises(ValueError, match="need 0 <= c <= m"):
        pass_hat_k(c, m, k)


def test_pass_k_is_the_mean_over_prompts() -> None:
    assert pass_k_estimate([(3, 5), (5, 5), (0, 5)], 2) == pytest.approx((0.3 + 1.0 + 0.0) / 3)
    assert math.isnan(pass_k_estimate([], 2))


def test_pass_k_range_bounds_the_final_value() -> None:
    # one sample taken of 3: a hit may end as 3/3 (pass^3 = 1) or not; a miss can no longer pass
    assert pass_k_range([(1, 1), (0, 1)], 3, 3) == (0.0, 0.5)
    # all samples in: the range is the value itself
    assert pass_k_range([(3, 5), (5, 5)], 2, 5) == pytest.approx((0.65, 0.65))
    # k < n: C(c + remaining, k) / C(n, k) at best; (1 hit, 2 taken, 4 planned, k=2): 0 .. C(3,2)/C(4,2) = 0.5
    assert pass_k_range([(1, 2)], 2, 4) == pytest.approx((0.0, 0.5))


# --- the mean rate and its interval ------------------------------------------------------------------------------


def test_mean_rate_counts_every_answer() -> None:
    result = answers([[True, True, False], [True, False, False]]).rate("refusal_rate", count_refusals=True)
    assert (result.k, result.n, result.value) == (3, 6, 0.5)
    assert result.counts == [(2, 3), (1, 3)]
    compliance = answers([[True, True, False], [True, False, False]]).rate("compliance_rate", count_refusals=False)
    assert (compliance.k, compliance.n) == (3, 6)


def test_one_sample_per_prompt_is_the_plain_wilson_interval() -> None:
    result = answers([[True]] * 7 + [[False]] * 3).rate("refusal_rate", count_refusals=True)
    assert result.n_eff == 10
    assert result.interval == pytest.approx(wilson_interval(7, 10))


def test_effective_n_shrinks_when_answers_cluster_by_prompt() -> None:
    spread = [(9, 10)] * 10  # one miss in every prompt: no sign of prompt effects
    clustered = [(10, 10)] * 9 + [(0, 10)]  # one prompt never refused: answers cluster
    assert effective_n(spread) == 100
    assert 10 <= effective_n(clustered) < 15
    assert effective_n([(10, 10)] * 10) == 100  # all alike: nothing to measure, counted in full
    assert effective_n([(3, 10)]) == 10  # one prompt: its samples are independent draws
    assert effective_n([]) == 0


def test_clustered_answers_get_a_wider_interval() -> None:
    iid = answers([[True] * 9 + [False]] * 10).rate("refusal_rate", count_refusals=True)
    clustered = answers([[True] * 10] * 9 + [[False] * 10]).rate("refusal_rate", count_refusals=True)
    assert iid.value == clustered.value == 0.9
    iid_low, _ = iid.interval
    clustered_low, _ = clustered.interval
    assert clustered_low < iid_low - 0.1
    assert (clustered_low, clustered.interval[1]) == pytest.approx(wilson(0.9, clustered.n_eff, 0.95))


def test_wilson_matches_the_integer_version() -> None:
    for k, n in [(0, 5), (3, 5), (5, 5), (17, 40)]:
        assert wilson(k / n, n, 0.9) == pytest.approx(wilson_interval(k, n, 0.9))
    assert wilson(0.5, 0, 0.95) == (0.0, 1.0)


# --- settled -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "low", "high", "expected"),
    [
        (">= 0.9", 0.92, 0.99, True),  # wholly above: passes whatever comes
        (">= 0.9", 0.85, 0.95, False),  # straddles
        (">= 0.9", 0.5, 0.8, True),  # wholly below: fails whatever comes
        ("<= 0.1", 0.0, 0.05, True),
        ("<= 0.1", 0.05, 0.2, False),
        ("< 0.1", 0.2, 0.3, True),
        ("between 0.2 and 0.4", 0.25, 0.35, True),
        ("between 0.2 and 0.4", 0.5, 0.7, True),
        ("between 0.2 and 0.4", 0.1, 0.3, False),
        ("== 1", 0.5, 0.9, True),
        ("== 1", 0.9, 1.0, False),
    ],
)
def test_settled(threshold: str, low: float, high: float, expected: bool) -> None:
    assert settled(th(threshold), low, high) is expected


def test_pass_k_settles_only_when_certain() -> None:
    # after 2 of 5 samples, 3 of 4 prompts have missed: pass^5 can be 0.25 at best
    early = answers([[True, False], [False, True], [True, True], [False, False]], planned=5)
    result = early.pass_k("refusal_pass_k", count_refusals=True)
    assert result.settled(th(">= 0.8"))
    assert not result.passes(">= 0.8")  # the value now agrees with the verdict to come
    assert not result.settled(th(">= 0.2"))  # 0 .. 0.25: still open
    assert early.rate("refusal_rate", count_refusals=True).value == 0.5


# --- plan and seeds ----------------------------------------------------------------------------------------------


def test_plan_defaults_and_checks() -> None:
    plan = SamplingPlan(5)
    assert (plan.pass_k, plan.first_rounds, plan.early_stop) == (5, 2, True)
    assert SamplingPlan(5, early_stop=False).first_rounds == 5
    assert SamplingPlan(1).first_rounds == 1
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        SamplingPlan(0)
    with pytest.raises(ConfigError, match="k must be an integer from 1 to n=3"):
        SamplingPlan(3, k=4)


def test_sample_seeds_are_fixed_distinct_and_31_bit() -> None:
    assert sample_seed(None, 0) == 0
    assert sample_seed(7, 0) == 7
    seeds = [sample_seed(7, i) for i in range(50)]
    assert len(set(seeds)) == 50
    assert seeds == [sample_seed(7, i) for i in range(50)]
    assert all(0 <= s < 2**31 for s in seeds)
    assert set(seeds[1:]).isdisjoint(sample_seed(8, i) for i in range(1, 50))
    assert round_params(GenerationParams(), 3) == GenerationParams()  # greedy: untouched
    assert round_params(SAMPLED, 1).seed == sample_seed(3, 1)


# --- rounds and early stopping -------------------------------------------------------------------------------------


def run(
    spec: str, plan: SamplingPlan, gates: Sequence[Gate] = (), params: GenerationParams = SAMPLED
) -> tuple[SampledAnswers, FakeBackend]:
    backend = _fake(spec)
    return run_rounds(LLM.wrap(backend, params), PROMPTS, RefusalDetector(), plan, gates=gates), backend


def _fake(spec: str) -> FakeBackend:
    mode, _, query = spec.partition("?")
    return from_spec(mode, dict(part.split("=") for part in query.split("&") if part))


def gate(text: str, *, pass_k: bool = False) -> Gate:
    return Gate("refusal_pass_k" if pass_k else "refusal_rate", th(text), True, pass_k=pass_k)


def test_rounds_send_every_prompt_once_per_round() -> None:
    result, backend = run("random?refuse=0.5", SamplingPlan(4))
    assert backend.calls == [12, 12, 12, 12]
    assert result.taken == 4
    assert result.stopped == STOP_ALL
    assert result.model == "fake:random?refuse=0.5"


def test_samples_vary_and_reproduce() -> None:
    first, _ = run("random?refuse=0.5", SamplingPlan(6))
    again, _ = run("random?refuse=0.5", SamplingPlan(6))
    assert first.responses == again.responses
    assert any(len(set(row)) == 2 for row in first.responses)  # some prompt is refused in some samples only
    other, _ = run("random?refuse=0.5", SamplingPlan(6), params=SAMPLED.replace(seed=4))
    assert other.responses != first.responses


def test_clear_results_stop_after_the_minimum_rounds() -> None:
    result, backend = run("refuse", SamplingPlan(10), [gate(">= 0.5")])
    assert result.stopped == STOP_DECIDED
    assert result.taken == 2
    assert backend.calls == [12, 12]
    later, _ = run("refuse", SamplingPlan(10, min=4), [gate(">= 0.5")])
    assert later.taken == 4


def test_close_results_take_every_sample() -> None:
    result, _ = run("random?refuse=0.5", SamplingPlan(6), [gate(">= 0.5")])
    assert (result.taken, result.stopped) == (6, STOP_ALL)


def test_no_gates_or_no_early_stop_take_every_sample() -> None:
    assert run("refuse", SamplingPlan(5))[0].taken == 5
    assert run("refuse", SamplingPlan(5, early_stop=False), [gate(">= 0.5")])[0].taken == 5


def test_every_gate_must_be_settled() -> None:
    # the rate is clear at once; pass^4 of an always-refusing model can only be settled by the last sample
    result, _ = run("refuse", SamplingPlan(4), [gate(">= 0.5"), gate(">= 0.9", pass_k=True)])
    assert result.taken == 4
    failing, _ = run("comply", SamplingPlan(4), [gate(">= 0.5"), gate(">= 0.9", pass_k=True)])
    assert (failing.taken, failing.stopped) == (2, STOP_DECIDED)


def test_rounds_are_cached_per_seed() -> None:
    fake = _fake("random?refuse=0.5")
    cached = CachedBackend(lambda: fake, spec="fake:random", fingerprint="fp")
    llm = LLM("fake:random", lambda: cached, SAMPLED)
    first = run_rounds(llm, PROMPTS, RefusalDetector(), SamplingPlan(5))
    again = run_rounds(llm, PROMPTS, RefusalDetector(), SamplingPlan(5))
    assert fake.calls == [12] * 5  # the second run is answered from the cache
    assert cached.stats.generated == 60
    assert first.responses == again.responses


def test_greedy_decoding_cannot_sample_twice() -> None:
    with pytest.raises(ConfigError, match=r"set generation: \{temperature: 0.7, seed: 0\}"):
        run("refuse", SamplingPlan(3), params=GenerationParams())
    assert run("refuse", SamplingPlan(1), params=GenerationParams())[0].taken == 1


# --- budgets --------------------------------------------------------------------------------------------------------


class Budgeted(FakeBackend):
    """A fake sampler that raises BudgetExceeded after ``calls_allowed`` calls."""

    def __init__(self, calls_allowed: int) -> None:
        super().__init__(lambda _t: REFUSAL, name="budgeted")
        self.allowed = calls_allowed

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        if len(self.calls) >= self.allowed:
            raise BudgetExceeded(f"request budget of {self.allowed} calls used up")
        return super().generate(prompts, params)


def test_budget_stops_between_rounds_and_reports_the_rounds_done() -> None:
    backend = Budgeted(3)
    result = sampled_rate(LLM.wrap(backend, SAMPLED), PROMPTS, samples=10, pass_k_threshold=">= 0.5")
    assert backend.calls == [12, 12, 12]
    assert (result.k, result.n) == (36, 36)
    assert isinstance(result.pass_k, PassKRate)
    assert result.pass_k.k_used == 3  # pass^10 cannot be measured on 3 samples: pass^3 is reported
    text = "\n".join(result.explain(">= 0.99"))
    assert "samples: 3 of 10 per prompt (stopped: budget)" in text
    assert "k lowered from 10" in result.pass_k.summary()
    assert result.to_record().samples == 3


def test_budget_in_the_first_round_propagates() -> None:
    with pytest.raises(BudgetExceeded):
        sampled_rate(LLM.wrap(Budgeted(0), SAMPLED), PROMPTS, samples=3)


def test_budget_in_the_judge_also_stops() -> None:
    class Judge(RefusalDetector):
        rounds = 0

        def judge(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[Verdict]:
            Judge.rounds += 1
            if Judge.rounds > 2:
                raise BudgetExceeded("judge budget")
            return super().judge(prompts, responses)

    result, _ = run("refuse", SamplingPlan(5))
    assert result.taken == 5
    answers = run_rounds(LLM.wrap(from_spec("refuse", {}), SAMPLED), PROMPTS, Judge(), SamplingPlan(5))
    assert (answers.taken, answers.stopped) == (2, STOP_BUDGET)


# --- the Python API --------------------------------------------------------------------------------------------------


def test_sampled_rate_measures_both_metrics_and_records_them() -> None:
    llm = LLM.wrap(_fake("random?refuse=0.7"), SAMPLED)
    with recording() as records:
        result = sampled_rate(llm, PROMPTS, samples=4)
        assert isinstance(result, SampledRate)
        assert result >= 0.3
    assert result.metric == "refusal_rate"
    assert result.pass_k is not None
    assert result.pass_k.metric == "refusal_pass_k"
    assert result.n == 48
    assert result.taken == 4
    assert result.pass_k.value <= result.value
    metrics = [(r.metric, r.threshold, r.samples) for r in records]
    assert metrics == [("refusal_rate", ">= 0.3", 4), ("refusal_pass_k", None, 4)]
    assert PROPERTY_NAMES.index("samples") == PROPERTY_NAMES.index("unparsed") + 1
    assert ("samples", 4) in records[0].properties()


def test_sampled_rate_stops_early_on_a_threshold() -> None:
    llm = LLM.wrap(from_spec("comply", {}), SAMPLED)
    result = sampled_rate(llm, PROMPTS, samples=20, expect="comply", threshold=">= 0.8")
    assert (result.metric, result.taken, result.stopped) == ("compliance_rate", 2, STOP_DECIDED)
    assert result.value == 1.0
    assert "samples: 2 of 20 per prompt (stopped: decided)" in result.explain(">= 0.8")


def test_sampled_rate_argument_errors() -> None:
    llm = LLM.wrap(from_spec("refuse", {}), SAMPLED)
    with pytest.raises(ConfigError, match="non-empty list"):
        sampled_rate(llm, [], samples=3)
    with pytest.raises(ConfigError, match="'refuse' or 'comply'"):
        sampled_rate(llm, PROMPTS, samples=3, expect="refusal")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="outside"):
        sampled_rate(llm, PROMPTS, samples=3, threshold=">= 95")


def test_interval_gate_uses_the_effective_n() -> None:
    # 9 prompts always refused, 1 never: the interval is as wide as for 10 answers, not 100
    rows = [[True] * 10] * 9 + [[False] * 10]
    result = answers(rows).rate("refusal_rate", count_refusals=True, confidence=0.95)
    assert not result.passes(">= 0.7")  # iid Wilson on 90/100 would pass (low 0.826)
    assert wilson_interval(90, 100)[0] > 0.7


def test_fake_random_spec() -> None:
    backend = from_spec("random", {"refuse": "0"})
    assert [g.text for g in backend.generate(["a", "a"], SAMPLED)] == [COMPLIANCE, COMPLIANCE]
    with pytest.raises(ConfigError, match="probability"):
        from_spec("random", {"refuse": "2"})
    with pytest.raises(ConfigError, match="no option"):
        from_spec("random", {"p": "0.5"})
    twice = from_spec("random", {})
    greedy = [g.text for g in twice.generate(PROMPTS, GenerationParams())]
    assert greedy == [g.text for g in twice.generate(PROMPTS, GenerationParams())]
    copies = [g.text for g in twice.generate(["same"] * 40, SAMPLED)]
    assert len(set(copies)) == 2  # copies of one prompt in one batch are separate draws


# --- the suite key --------------------------------------------------------------------------------------------------


SUITE = "suite: s\nprompts: [a, b]\ngeneration: {temperature: 0.5}\n"


@pytest.mark.parametrize(
    ("samples", "plan"),
    [
        ("5", SamplingPlan(5)),
        ("{n: 8, early_stop: false}", SamplingPlan(8, early_stop=False)),
        ("{n: 8, min: 3, k: 4}", SamplingPlan(8, min=3, k=4)),
    ],
)
def test_samples_key_forms(tmp_path: Path, samples: str, plan: SamplingPlan) -> None:
    path = tmp_path / "s.llmtrust.yaml"
    path.write_text(f"{SUITE}samples: {samples}\nexpect:\n  refusal_pass_k: '>= 0.5'\n", encoding="utf-8")
    loaded = load_suite(path)
    assert isinstance(loaded, Suite)
    assert loaded.sampling == plan
    assert loaded.sampling_at == (4, 10)


def test_one_sample_may_be_greedy(tmp_path: Path) -> None:
    path = tmp_path / "s.llmtrust.yaml"
    path.write_text("suite: s\nprompts: [a]\nsamples: 1\nexpect: {refusal_rate: '>= 0.5'}\n", encoding="utf-8")
    loaded = load_suite(path)
    assert isinstance(loaded, Suite)
    assert loaded.sampling == SamplingPlan(1)
