"""The study kinds, looked up lazily (a study's module is imported only when it is used)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from pytest_llmtrust.judges.base import Judge
    from pytest_llmtrust.model import LLM
    from pytest_llmtrust.studies.base import StudyResult, StudySpec

STUDIES: dict[str, str] = {
    "hallucination": "pytest_llmtrust.studies.hallucination",
    "safety": "pytest_llmtrust.studies.safety",
    "fairness": "pytest_llmtrust.studies.fairness",
    "miscalibration": "pytest_llmtrust.studies.miscalibration",
    "misuse": "pytest_llmtrust.studies.misuse",
    "copyright": "pytest_llmtrust.studies.copyright",
    "causal": "pytest_llmtrust.studies.causal",
    "typo": "pytest_llmtrust.studies.typo",
}
"""Suite kind -> module holding its ``SPEC``."""


def get_study(name: str) -> StudySpec:
    """The spec of study ``name``, or ConfigError with the known names."""
    key = str(name).strip().lower()
    if key not in STUDIES:
        raise ConfigError(f"unknown study {name!r}{did_you_mean(key, STUDIES)}; studies: {', '.join(STUDIES)}")
    spec: StudySpec = importlib.import_module(STUDIES[key]).SPEC
    return spec


def run_study(
    name: str,
    llm: LLM,
    *,
    judge: str | Judge = "refusal",
    base: str | Path | None = None,
    confidence: float | None = None,
    **options: Any,
) -> StudyResult:
    """Run study ``name`` on ``llm`` and return its result (also recorded for the test's report).

    ``judge`` is a judge spec (``refusal`` the offline detector, ``embedding`` the MiniLM
    judge, or a model spec for an LLM judge) or a ready Judge; ``options`` are the study's
    own options (``data``, ``limit``, ``seed`` and its others), checked by its schema.
    """
    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.judges.base import Judge as JudgeProtocol
    from pytest_llmtrust.judges.registry import load_judge
    from pytest_llmtrust.model import LLM as Handle
    from pytest_llmtrust.studies.base import StudyContext

    spec = get_study(name)
    parsed = spec.parse_options(options)

    def judge_for(question: str) -> Judge:
        if isinstance(judge, JudgeProtocol):
            return judge
        return load_judge(str(judge), load_backend, question=question)

    def load_model(model: str) -> LLM:
        return Handle(model, lambda: load_backend(model), llm.params)

    ctx = StudyContext(
        llm=llm,
        judge=judge_for,
        load_model=load_model,
        base=None if base is None else Path(base),
        confidence=llm.confidence if confidence is None else confidence,
    )
    result = spec.run(ctx, parsed)
    result.note()
    return result
