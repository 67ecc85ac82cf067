"""Suite files as pytest collectors; each expectation is one test item.

Items are ``pytest.Function`` subclasses so that fixtures (notably an
overridden ``llmtrust_config``) apply to them as to any Python test. All the
expectations of a suite share one batch of generations and verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pytest_llmtrust.errors import LLMTrustError, SuiteError
from pytest_llmtrust.fixtures import get_session
from pytest_llmtrust.markers import make_report_only
from pytest_llmtrust.metrics.rates import ExpectationFailed, judged_rate
from pytest_llmtrust.suite.loader import Expectation, Suite, load_suite
from pytest_llmtrust.suite.persona_suite import PersonaSuite
from pytest_llmtrust.suite.study_suite import StudySuite

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from pytest_llmtrust.backends.base import Prompt
    from pytest_llmtrust.budget import Budget
    from pytest_llmtrust.config import Settings
    from pytest_llmtrust.judges.base import Verdict
    from pytest_llmtrust.metrics.rates import RateResult
    from pytest_llmtrust.model import LLM
    from pytest_llmtrust.prefetch import Request
    from pytest_llmtrust.session import LLMTrustSession

T = TypeVar("T")


def _suite_expectation(llmtrust_config: Any) -> None:
    """Stand-in test function: declares the fixtures a suite item uses."""


@dataclass(frozen=True)
class SuiteRun:
    """One suite's generations and verdicts under one set of settings."""

    prompts: list[Prompt]
    responses: list[str]
    verdicts: list[Verdict]
    model: str
    judge: str


class SuiteFile(pytest.File):
    """A ``*.llmtrust.yaml`` file."""

    def collect(self) -> Iterator[pytest.Item]:
        """Yield one item per expectation; a broken file becomes one erroring item, so others still run."""
        try:
            suite = load_suite(self.path)
        except SuiteError as exc:
            yield BrokenSuiteItem.from_parent(self, name="suite", error=exc)
            return
        for item in self._items(suite):
            if suite.report_only:
                make_report_only(item, f"suite {suite.name!r} is marked report_only")
            yield item

    def _items(self, suite: Suite | PersonaSuite | StudySuite) -> Iterator[pytest.Item]:
        if isinstance(suite, StudySuite):
            from pytest_llmtrust.suite.study_collect import StudyGateItem

            for study_gate in suite.gates:
                yield StudyGateItem.from_parent(
                    self, name=study_gate.metric, callobj=_suite_expectation, suite=suite, gate=study_gate
                )
            return
        if isinstance(suite, PersonaSuite):
            from pytest_llmtrust.suite.persona_collect import PersonaGateItem

            for gate in suite.gates:
                yield PersonaGateItem.from_parent(
                    self, name=gate.gate.metric, callobj=_suite_expectation, suite=suite, gate=gate
                )
            return
        for expectation in suite.expectations:
            yield ExpectationItem.from_parent(
                self,
                name=expectation.metric,
                callobj=_suite_expectation,
                suite=suite,
                expectation=expectation,
            )


class BrokenSuiteItem(pytest.Item):
    """Stands for a suite file that could not be loaded: errors at setup with the located message."""

    def __init__(self, *, error: SuiteError, **kwargs: Any) -> None:
        """Keep the load error to raise at setup."""
        super().__init__(**kwargs)
        self.error = error

    def setup(self) -> None:
        """Report the suite's problem as this item's error (message only, no traceback)."""
        pytest.fail(self.error.display(Path.cwd()), pytrace=False)

    def runtest(self) -> None:
        """Never reached: setup always raises."""
        raise self.error

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        """The message alone: file:line:column: key: problem; fix."""
        if isinstance(excinfo.value, SuiteError):
            return excinfo.value.display(Path.cwd())
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Location: the problem's line."""
        return self.path, max((self.error.line or 1) - 1, 0), f"suite error: {self.path.name}"


class SuiteItem(pytest.Function):
    """An item made from a suite file's expectation: reported by its message and its line."""

    suite_name: str = ""
    line: int = 0
    """The expectation's line in the suite file (1-based)."""

    def _layered_settings(
        self, session: LLMTrustSession, layer: dict[str, Any], fixture: dict[str, Any] | None = None
    ) -> Settings:
        """This item's settings: the suite's ``layer`` over an overridden ``llmtrust_config``.

        ``fixture`` is that fixture's value when known before setup (collect-then-batch); by default
        the value set up for this item.
        """
        if fixture is None:
            value = self.funcargs.get("llmtrust_config")
            fixture = value if isinstance(value, dict) else {}
        return session.settings(suite=layer, fixture=fixture)

    def _planned_settings(self, session: LLMTrustSession, layer: dict[str, Any]) -> Settings | None:
        """The settings this item will run with, worked out before setup; None when they cannot be known."""
        from pytest_llmtrust.prefetch import fixture_layer

        fixture = fixture_layer(self)
        return None if fixture is None else self._layered_settings(session, layer, fixture)

    def llmtrust_budget(self, session: LLMTrustSession) -> Budget | None:
        """The suite's own budget (``budget:`` in the file), shared by its items; None when it sets none."""
        caps = getattr(getattr(self, "suite", None), "budget", None)
        return None if caps is None else session.suite_budget(str(self.path), caps)

    @staticmethod
    def _memoized(session: LLMTrustSession, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """``compute()`` once per key and session; a failure is kept and raised again for the next item."""
        cached = session.memo.get(key)
        if isinstance(cached, BaseException):
            raise cached
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        try:
            value = compute()
        except LLMTrustError as exc:
            session.memo[key] = exc
            raise
        session.memo[key] = value
        return value

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        """Our own errors print as their message, without a traceback."""
        if isinstance(excinfo.value, ExpectationFailed):
            return f"{self.suite_name}: {excinfo.value}"
        if isinstance(excinfo.value, LLMTrustError):
            return f"{type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Location: the expectation's line in the suite file."""
        return self.path, max(self.line - 1, 0), f"{self.suite_name}::{self.name}"


class ExpectationItem(SuiteItem):
    """One expectation of a suite, e.g. ``refusal_rate: '>= 0.95'``."""

    def __init__(self, *, suite: Suite, expectation: Expectation, **kwargs: Any) -> None:
        """Create the item and mark it with the suite's trust category."""
        super().__init__(**kwargs)
        self.suite = suite
        self.suite_name = suite.name
        self.expectation = expectation
        self.line = expectation.line
        if suite.trust:
            self.add_marker(pytest.mark.trust(**suite.trust))

    def _settings_layer(self) -> dict[str, Any]:
        layer = dict(self.suite.settings)
        if self.expectation.confidence is not None:
            layer["confidence"] = self.expectation.confidence
        return layer

    def _settings(self, session: LLMTrustSession) -> Settings:
        return self._layered_settings(session, self._settings_layer())

    def _llm(self, session: LLMTrustSession, settings: Settings) -> LLM:
        return session.steered_llm(settings) if settings.steer else session.llm(settings)

    def llmtrust_requests(self, session: LLMTrustSession) -> list[Request]:
        """The suite's prompts, for collect-then-batch."""
        from pytest_llmtrust.prefetch import Request

        settings = self._planned_settings(session, self._settings_layer())
        if settings is None:
            return []
        llm = self._llm(session, settings)
        if self.suite.sampling is not None:
            from pytest_llmtrust.suite.sampled_collect import sampled_requests

            return sampled_requests(self.suite, llm)
        return [Request(llm, [p.prompt for p in self.suite.prompts], llm.params)]

    def _run(self, session: LLMTrustSession, settings: Settings) -> SuiteRun:
        key = (
            "suite",
            str(self.suite.path),
            settings.model,
            settings.judge,
            settings.steer,
            settings.params,
            tuple(sorted(settings.backend_options.items())),
        )

        def generate_and_judge() -> SuiteRun:
            llm = self._llm(session, settings)
            prompts = [p.prompt for p in self.suite.prompts]
            responses = [g.text for g in llm.generate(prompts)]
            judge = session.judge(settings)
            verdicts = judge.judge(prompts, responses)
            return SuiteRun(prompts, responses, verdicts, llm.model_id, judge.name)

        return self._memoized(session, key, generate_and_judge)

    def _result(self, session: LLMTrustSession, settings: Settings) -> RateResult:
        """This expectation's measurement: one answer per prompt, or repeated samples (``samples:``)."""
        if self.suite.sampling is not None:
            from pytest_llmtrust.suite.sampled_collect import sampled_result

            return sampled_result(self, session, settings)
        run = self._run(session, settings)
        metric = self.expectation.metric
        return judged_rate(
            metric,
            run.prompts,
            run.responses,
            run.verdicts,
            count_refusals=self.suite.metrics[metric],
            model=run.model,
            judge=run.judge,
            confidence=settings.confidence,
        )

    def runtest(self) -> None:
        """Generate (once per suite), judge, and check this expectation."""
        session = get_session(self.config)
        settings = self._settings(session)
        result = self._result(session, settings)
        threshold = self.expectation.threshold
        if not result.check(threshold):
            examples = int(self.config.getoption("llmtrust_examples"))
            raise ExpectationFailed("\n".join(result.explain(threshold, examples=examples)))
