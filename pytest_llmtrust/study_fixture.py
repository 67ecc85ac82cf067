"""The ``trust_study`` fixture: run one of the eight Trustworthy-LLM studies inside a test.

    @trust("reliability", "hallucination")
    def test_grounded_answers(trust_study):
        trust_study("hallucination", limit=40).require("accuracy", ">= 0.6")

The model and judge come from the test's settings (``--llmtrust-model``, ``@pytest.mark.llmtrust``,
``llmtrust_config``...); relative ``data`` paths are read next to the test file.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.fixtures import as_test_failure, get_session

if TYPE_CHECKING:
    from pytest_llmtrust.config import Settings
    from pytest_llmtrust.model import LLM
    from pytest_llmtrust.studies.base import StudyResult


class StudyRun:
    """Callable bound to one test: ``trust_study(study, llm=None, *, judge=None, **options)``."""

    def __init__(self, request: pytest.FixtureRequest, settings: Settings) -> None:
        """Bind to the requesting test and its resolved settings."""
        self.request = request
        self.settings = settings
        self.calls = 0

    def __call__(self, study: str, llm: LLM | None = None, *, judge: str | None = None, **options: Any) -> StudyResult:
        """Run ``study`` with ``options`` (see ``docs/studies/``) and return its result (recorded for the report)."""
        __tracebackhide__ = True
        from pytest_llmtrust.results import save_study_results
        from pytest_llmtrust.studies.registry import get_study, run_study

        base = self.request.path.parent
        with as_test_failure():
            spec = get_study(study)
            if llm is not None:
                result = run_study(spec.name, llm, judge=judge or self.settings.judge, base=base, **options)
            else:
                settings = self.settings if judge is None else dataclasses.replace(self.settings, judge=judge)
                session = get_session(self.request.config)
                result = session.run_study(spec.name, settings, spec.parse_options(options), base=base)
                result.note()
        self.calls += 1
        stem = self.request.node.nodeid + (f"-{self.calls}" if self.calls > 1 else "")
        save_study_results(self.request.node, result, stem)
        return result


@pytest.fixture
def trust_study(request: pytest.FixtureRequest, llmtrust_settings: Settings) -> StudyRun:
    """Run a Trustworthy-LLM study on the test's model: ``trust_study("causal", limit=30)``."""
    return StudyRun(request, llmtrust_settings)
