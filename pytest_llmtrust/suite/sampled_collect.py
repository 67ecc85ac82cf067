"""The sampled side of a ``prompts`` suite item: its rounds, shared by the suite's expectations, and its results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.errors import SuiteError
from pytest_llmtrust.metrics.rounds import round_params, run_rounds
from pytest_llmtrust.metrics.sampling import Gate, SampledAnswers
from pytest_llmtrust.suite.sampling import check_greedy
from pytest_llmtrust.suite.schema import PASS_K_METRICS

if TYPE_CHECKING:
    from pytest_llmtrust.config import Settings
    from pytest_llmtrust.metrics.rates import RateResult
    from pytest_llmtrust.model import LLM
    from pytest_llmtrust.prefetch import Request
    from pytest_llmtrust.session import LLMTrustSession
    from pytest_llmtrust.suite.collect import ExpectationItem
    from pytest_llmtrust.suite.loader import Expectation, Suite


def sampled_requests(suite: Suite, llm: LLM) -> list[Request]:
    """The rounds that are always taken (all of them without early stopping), one request per round."""
    from pytest_llmtrust.prefetch import Request

    plan = suite.sampling
    if plan is None or (plan.n > 1 and llm.params.greedy):
        return []  # the item reports the greedy problem when it runs
    prompts = [p.prompt for p in suite.prompts]
    return [Request(llm, prompts, round_params(llm.params, i)) for i in range(plan.first_rounds)]


def _gate(suite: Suite, expectation: Expectation, confidence: float | None) -> Gate:
    metric = expectation.metric
    return Gate(
        metric,
        expectation.threshold,
        suite.metrics[metric],
        pass_k=metric in PASS_K_METRICS,
        confidence=confidence,
    )


def sampled_result(item: ExpectationItem, session: LLMTrustSession, settings: Settings) -> RateResult:
    """This item's result from the suite's sampled rounds (taken once per suite and settings)."""
    suite = item.suite
    plan = suite.sampling
    if plan is None:  # pragma: no cover - only called for sampled suites
        raise ValueError(f"{suite.name} does not sample")
    key = (
        "sampled-suite",
        str(suite.path),
        settings.model,
        settings.judge,
        settings.steer,
        settings.params,
        tuple(sorted(settings.backend_options.items())),
    )

    def level(expectation: Expectation) -> float | None:
        layer: dict[str, Any] = dict(suite.settings)
        if expectation.confidence is not None:
            layer["confidence"] = expectation.confidence
        return item._layered_settings(session, layer).confidence

    def sample() -> SampledAnswers:
        check_greedy(suite.path, suite.sampling_at, settings.params, plan)
        gates = [_gate(suite, e, level(e)) for e in suite.expectations]
        llm = item._llm(session, settings)
        return run_rounds(llm, [p.prompt for p in suite.prompts], session.judge(settings), plan, gates=gates)

    try:
        answers = item._memoized(session, key, sample)
    except SuiteError as exc:
        pytest.fail(exc.display(Path.cwd()), pytrace=False)
    return answers.result(_gate(suite, item.expectation, settings.confidence))
