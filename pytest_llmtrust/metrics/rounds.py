"""Sampling in rounds: every prompt once per round, one batch per round, early stopping between rounds.

Seeds. Round ``i`` decodes with its own seed, :func:`sample_seed` of the run's seed (0 when none
is set) and ``i``: round 0 uses the seed itself, so ``samples: 1`` gives the same answers as a
plain seeded run, and later rounds use seeds derived by hashing. A per-round seed, rather than
repeating a prompt within one batch, is what makes the samples differ on every backend: the
Hugging Face backend reseeds torch before every batch (the same batch with the same seed is the
same answers), and OpenAI-compatible servers answer a repeated request with the same seed alike.
The generation cache keys each answer by its seed (and its sample index within a call, 0 here),
so N samples of a prompt are N reproducible, separately cached answers.

Budgets. A :class:`~pytest_llmtrust.errors.BudgetExceeded` raised while a round is generated or
judged ends sampling: with at least one round done the results cover the rounds done
(``stopped: budget``); in the first round it propagates.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Literal

from pytest_llmtrust.errors import BudgetExceeded, ConfigError
from pytest_llmtrust.metrics.rates import _as_llm, _judge
from pytest_llmtrust.metrics.sampling import STOP_BUDGET, STOP_DECIDED, Gate, SampledAnswers, SamplingPlan
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pytest_llmtrust.backends.base import Backend, GenerationParams, Prompt
    from pytest_llmtrust.judges.base import Judge
    from pytest_llmtrust.metrics.sampling import SampledRate
    from pytest_llmtrust.model import LLM

DEFAULT_SEED = 0
"""The seed of a sampled run when none is set."""


def sample_seed(seed: int | None, index: int) -> int:
    """The seed of sample ``index``: ``seed`` (0 when None) for sample 0, then a 31-bit hash of both."""
    base = DEFAULT_SEED if seed is None else seed
    if index == 0:
        return base
    digest = hashlib.sha256(f"pytest-llmtrust/sample/{base}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def round_params(params: GenerationParams, index: int) -> GenerationParams:
    """The decoding parameters of round ``index`` (greedy decoding is left as it is)."""
    if params.greedy:
        return params
    return params.replace(seed=sample_seed(params.seed, index))


def check_decoding(params: GenerationParams, plan: SamplingPlan) -> None:
    """Refuse several samples under greedy decoding, where every sample would be the same answer.

    Raises:
        ConfigError: ``plan.n > 1`` and the temperature is 0.
    """
    if plan.n > 1 and params.greedy:
        raise ConfigError(
            f"{plan.n} samples per prompt need sampled decoding, but the temperature is 0 (greedy: every sample "
            "would be the same answer); set generation: {temperature: 0.7, seed: 0}"
        )


def run_rounds(
    llm: LLM,
    prompts: Sequence[Prompt],
    judge: Judge,
    plan: SamplingPlan,
    *,
    params: GenerationParams | None = None,
    gates: Sequence[Gate] = (),
    on_round: Callable[[SampledAnswers], None] | None = None,
) -> SampledAnswers:
    """Sample and judge every prompt round by round until the plan is done, the gates are settled, or a budget ends.

    Args:
        llm: the model.
        prompts: the prompts; each round sends all of them as one batch.
        judge: labels each answer.
        plan: how many rounds, and whether to stop early.
        params: decoding parameters (default: the handle's); each round gets its own seed.
        gates: the thresholds that decide early stopping; none means every round is taken.
        on_round: called after each completed round (progress, tests).

    Raises:
        ConfigError: several samples under greedy decoding.
        BudgetExceeded: a budget ran out during the first round.
    """
    gen = params or llm.params
    check_decoding(gen, plan)
    answers = SampledAnswers(list(prompts), plan, judge.name)
    for index in range(plan.n):
        try:
            texts = [g.text for g in llm.generate(answers.prompts, round_params(gen, index))]
            verdicts = judge.judge(answers.prompts, texts)
        except BudgetExceeded:
            if index == 0:
                raise
            answers.stopped = STOP_BUDGET
            break
        answers.add_round(texts, verdicts)
        if index == 0:
            answers.model = llm.model_id
        if on_round is not None:
            on_round(answers)
        done = index + 1
        if plan.early_stop and plan.first_rounds <= done < plan.n and answers.settled(gates):
            answers.stopped = STOP_DECIDED
            break
    return answers


def sampled_rate(
    llm: LLM | Backend,
    prompts: Sequence[Prompt],
    *,
    samples: int,
    judge: Judge | None = None,
    expect: Literal["refuse", "comply"] = "refuse",
    threshold: Threshold | str | None = None,
    pass_k_threshold: Threshold | str | None = None,
    k: int | None = None,
    early_stop: bool = True,
    min_samples: int = 2,
    params: GenerationParams | None = None,
    confidence: float | None = None,
) -> SampledRate:
    """Sample every prompt up to ``samples`` times and measure the mean rate and pass^k.

    ``expect="refuse"`` measures ``refusal_rate`` and ``refusal_pass_k``; ``"comply"`` measures
    ``compliance_rate`` and ``compliance_pass_k``. Decoding must sample (temperature > 0); with no
    seed, seed 0 is used, so the answers are reproducible and cached.

    Example::

        result = sampled_rate(llm.with_params(temperature=0.8), prompts, samples=10, threshold=">= 0.9")
        assert result >= 0.9            # the mean rate over every answer
        assert result.pass_k >= 0.8     # the share of prompts refused in all 10 samples

    Args:
        llm: the model (an ``LLM`` handle or a backend).
        prompts: the prompts.
        samples: answers per prompt (the most taken).
        judge: labels each answer (default: the offline refusal detector).
        expect: which behaviour counts as a hit.
        threshold: the mean rate's threshold, for early stopping (checking it is up to you).
        pass_k_threshold: pass^k's threshold, for early stopping.
        k: the k of pass^k (default: ``samples``).
        early_stop: stop once every threshold given is settled (with none given, all samples are taken).
        min_samples: rounds always taken before stopping early.
        params: decoding parameters (default: the handle's).
        confidence: gate level of both results (default: the handle's); None gates on the point value.

    Returns:
        The mean rate, a :class:`~pytest_llmtrust.metrics.rates.RateResult`, with ``pass_k`` attached.
        Both carry the samples taken per prompt and why sampling stopped.

    Raises:
        ConfigError: bad arguments, or several samples under greedy decoding.
        BudgetExceeded: a budget ran out before the first round was done.
    """
    if isinstance(prompts, str) or not prompts:
        raise ConfigError("sampled_rate needs a non-empty list of prompts")
    if expect not in ("refuse", "comply"):
        raise ConfigError(f"sampled_rate expect must be 'refuse' or 'comply', got {expect!r}")
    plan = SamplingPlan(samples, early_stop=early_stop, min=min_samples, k=k)
    handle, gen = _as_llm(llm, params)
    level = handle.confidence if confidence is None else confidence
    refusals = expect == "refuse"
    base = "refusal" if refusals else "compliance"
    gates = [
        Gate(f"{base}{suffix}", Threshold.parse(th).for_rate(), refusals, pass_k=suffix == "_pass_k", confidence=level)
        for suffix, th in (("_rate", threshold), ("_pass_k", pass_k_threshold))
        if th is not None
    ]
    answers = run_rounds(handle, prompts, _judge(judge), plan, params=gen, gates=gates)
    rate = answers.rate(f"{base}_rate", count_refusals=refusals, confidence=level)
    rate.pass_k = answers.pass_k(f"{base}_pass_k", count_refusals=refusals, confidence=level)
    rate.note()
    rate.pass_k.note()
    return rate
