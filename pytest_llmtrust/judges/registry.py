"""Judge specs: ``refusal`` (the offline detector) or any model spec (an LLM judge)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_llmtrust.backends.base import Backend
    from pytest_llmtrust.judges.base import Judge

DETECTOR_NAMES = frozenset({"refusal", "refusal-detector", "offline", "default"})


def load_judge(spec: str, load_backend: Callable[[str], Backend]) -> Judge:
    """Build the judge a spec names; model specs go through ``load_backend``."""
    text = str(spec).strip()
    if text.lower() in DETECTOR_NAMES:
        from pytest_llmtrust.judges.refusal import RefusalDetector

        return RefusalDetector()
    from pytest_llmtrust.judges.model_judge import ModelJudge

    model = text[4:] if text.startswith("llm:") else text
    return ModelJudge(load_backend(model))
