"""Judge specs: which judge answers which question.

=========================================  ===========================================================
spec                                       judge
=========================================  ===========================================================
``refusal`` (``refusal-detector``,         offline: the refusal detector for ``refusal``,
``offline``, ``default``)                  ``task_refused`` and ``moral_refusal``; ``refusal-proxy``
                                           (harmful = not refused) for ``harmful``;
                                           ``yes-no-consistency`` for ``consistent``
``embedding``, ``minilm``,                 :class:`~pytest_llmtrust.judges.embedding.EmbeddingJudge`
``embedding:<folder or hub id>``           on all-MiniLM-L6-v2 (or the named embedder)
``llm:<model spec>`` or any model spec     :class:`~pytest_llmtrust.judges.model_judge.ModelJudge`
                                           asking the question's prompt file
=========================================  ===========================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmtrust.judges.questions import check_question

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_llmtrust.backends.base import Backend
    from pytest_llmtrust.judges.base import Judge

__all__ = ["DETECTOR_NAMES", "EMBEDDING_NAMES", "judge_model_spec", "load_judge"]

DETECTOR_NAMES = frozenset({"refusal", "refusal-detector", "offline", "default"})
"""Specs of the offline judges."""
EMBEDDING_NAMES = frozenset({"embedding", "minilm"})
"""Specs of the embedding judge on the packaged all-MiniLM-L6-v2 (``embedding:<spec>`` names another)."""


def _embedder(text: str) -> str | None:
    """The embedder an embedding-judge spec names, or None when ``text`` is not one."""
    if text.lower() in EMBEDDING_NAMES:
        return "minilm"
    head, sep, rest = text.partition(":")
    if sep and head.lower() == "embedding":
        return rest.strip() or "minilm"
    return None


def judge_model_spec(spec: str) -> str | None:
    """The model spec an LLM-judge spec names (``llm:`` stripped), or None for the offline and embedding judges.

    Suite loaders use it to check a judge spec without loading anything.
    """
    text = str(spec).strip()
    if text.lower() in DETECTOR_NAMES or _embedder(text) is not None:
        return None
    return text[4:] if text.startswith("llm:") else text


def _offline(question: str) -> Judge:
    from pytest_llmtrust.judges.offline import AskedAs, RefusalProxyJudge, YesNoConsistencyJudge
    from pytest_llmtrust.judges.refusal import RefusalDetector

    if question == "harmful":
        return RefusalProxyJudge()
    if question == "consistent":
        return YesNoConsistencyJudge()
    detector = RefusalDetector()
    return detector if question == "refusal" else AskedAs(detector, question)


def load_judge(spec: str, load_backend: Callable[[str], Backend], question: str = "refusal") -> Judge:
    """Build the judge ``spec`` names for ``question``; model specs go through ``load_backend``.

    Raises:
        ConfigError: unknown question (the message lists them), or a bad spec.
    """
    check_question(question)
    text = str(spec).strip()
    if text.lower() in DETECTOR_NAMES:
        return _offline(question)
    embedder = _embedder(text)
    if embedder is not None:
        from pytest_llmtrust.judges.embedding import EmbeddingJudge

        return EmbeddingJudge(question, embedder=embedder)
    from pytest_llmtrust.judges.model_judge import ModelJudge

    model = judge_model_spec(text)
    assert model is not None  # not offline, not embedding
    return ModelJudge(load_backend(model), question=question)
