"""Test items of ``kind: persona_bias`` suites: one per expectation, all sharing one measurement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.fixtures import get_session
from pytest_llmtrust.suite.collect import SuiteItem

if TYPE_CHECKING:
    from pytest_llmtrust.config import Settings
    from pytest_llmtrust.persona.runner import PersonaBiasReport
    from pytest_llmtrust.prefetch import Request
    from pytest_llmtrust.session import LLMTrustSession
    from pytest_llmtrust.suite.persona_suite import PersonaGate, PersonaSuite


class PersonaGateItem(SuiteItem):
    """One expectation of a persona-bias suite, e.g. ``pb: '< 0.10'`` or ``tb_for[kid->old]``."""

    def __init__(self, *, suite: PersonaSuite, gate: PersonaGate, **kwargs: Any) -> None:
        """Create the item, marked with the suite's trust position and a bias marker of its personas."""
        super().__init__(**kwargs)
        self.suite = suite
        self.suite_name = suite.name
        self.gate = gate
        self.line = gate.line
        self.add_marker(pytest.mark.trust(**suite.trust))
        personas = tuple(suite.run["personas"])
        self.add_marker(pytest.mark.bias(persona=personas[0] if len(personas) == 1 else personas))

    def llmtrust_requests(self, session: LLMTrustSession) -> list[Request]:
        """The suite's questions under its personas, for collect-then-batch."""
        from pytest_llmtrust.persona.bbq import load_bbq
        from pytest_llmtrust.persona.parse import LETTERS
        from pytest_llmtrust.persona.runner import ANSWER_PARAMS, persona_prompts
        from pytest_llmtrust.prefetch import Request

        settings = self._planned_settings(session, dict(self.suite.settings))
        if settings is None:
            return []
        run = self.suite.run
        items = load_bbq(self.suite.dataset, categories=self.suite.categories, limit=run["limit"])
        prompts = persona_prompts(items, run["personas"], run["templates"])
        if run["mode"] == "choice":
            return [Request(session.llm(settings), prompts, labels=LETTERS)]
        return [Request(session.llm(settings), prompts, params=ANSWER_PARAMS)]

    def _report(self, session: LLMTrustSession, settings: Settings) -> PersonaBiasReport:
        from pytest_llmtrust.persona.bbq import load_bbq
        from pytest_llmtrust.persona.runner import persona_bias
        from pytest_llmtrust.results import save_persona_results

        def measure() -> PersonaBiasReport:
            items = load_bbq(self.suite.dataset, categories=self.suite.categories, limit=self.suite.run["limit"])
            run = {k: v for k, v in self.suite.run.items() if k != "limit"}
            report = persona_bias(session.llm(settings), dataset=items, **run)
            save_persona_results(self, report, self.suite.path.name.split(".")[0])
            return report

        key = ("persona_bias", str(self.suite.path), settings.model, tuple(sorted(settings.backend_options.items())))
        return self._memoized(session, key, measure)

    def runtest(self) -> None:
        """Measure (once per suite and model) and check this expectation."""
        session = get_session(self.config)
        report = self._report(session, self._layered_settings(session, dict(self.suite.settings)))
        report.require_gates([self.gate.gate])
