"""Test items of study suites (``kind: hallucination``, ``safety``...): one per expectation, one run per suite."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.fixtures import get_session
from pytest_llmtrust.suite.collect import SuiteItem

if TYPE_CHECKING:
    from pytest_llmtrust.config import Settings
    from pytest_llmtrust.session import LLMTrustSession
    from pytest_llmtrust.studies.base import StudyResult
    from pytest_llmtrust.suite.study_suite import StudyGate, StudySuite


class StudyGateItem(SuiteItem):
    """One expectation of a study suite, e.g. ``accuracy: '>= 0.6'``, marked with the study's trust position."""

    def __init__(self, *, suite: StudySuite, gate: StudyGate, **kwargs: Any) -> None:
        """Create the item and add a ``trust`` marker per (category, sub-category) the suite covers."""
        super().__init__(**kwargs)
        self.suite = suite
        self.suite_name = suite.name
        self.gate = gate
        self.line = gate.line
        for trust in suite.trust:
            self.add_marker(pytest.mark.trust(**trust))

    def _settings(self, session: LLMTrustSession) -> Settings:
        layer = dict(self.suite.settings)
        if self.gate.confidence is not None:
            layer["confidence"] = self.gate.confidence
        return self._layered_settings(session, layer)

    def _result(self, session: LLMTrustSession, settings: Settings) -> StudyResult:
        key = (
            "study",
            str(self.suite.path),
            settings.model,
            settings.judge,
            settings.params,
            tuple(sorted(settings.backend_options.items())),
        )

        def measure() -> StudyResult:
            from pytest_llmtrust.results import save_study_results

            result = session.run_study(self.suite.kind, settings, self.suite.options, base=self.suite.path.parent)
            save_study_results(self, result, self.suite.path.name.split(".")[0])
            return result

        return dataclasses.replace(self._memoized(session, key, measure), confidence=settings.confidence)

    def runtest(self) -> None:
        """Run the study (once per suite and settings) and check this expectation."""
        session = get_session(self.config)
        result = self._result(session, self._settings(session))
        examples = int(self.config.getoption("llmtrust_examples"))
        result.require(self.gate.metric, self.gate.threshold, examples=examples)
