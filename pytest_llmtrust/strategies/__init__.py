"""Hypothesis strategies for property-based tests of LLM behaviour.

::

    from hypothesis import HealthCheck, given, settings
    from pytest_llmtrust.strategies import typos, casing, whitespace, paraphrases, perturbations, persona_targets

    @settings(max_examples=10, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # llm's model is session-wide
    @given(prompt=perturbations("Is the sky blue? Answer yes or no."))
    def test_answer_is_stable(llm, prompt): ...

Each text strategy takes the prompt and returns a ``SearchStrategy[str]`` that shrinks
towards the least perturbed version. :func:`draw` gives reproducible examples for a seed
(what the typo study uses). This subpackage is the only part of pytest-llmtrust that
imports Hypothesis.
"""

from __future__ import annotations

from pytest_llmtrust.strategies.drawing import derive_seed, draw
from pytest_llmtrust.strategies.keyboard import QWERTY, Typo, apply_typos
from pytest_llmtrust.strategies.personas import domain_targets, persona_targets
from pytest_llmtrust.strategies.text import (
    DEFAULT_TEMPLATES,
    casing,
    paraphrases,
    perturbations,
    typo_budget,
    typos,
    whitespace,
)

__all__ = [
    "DEFAULT_TEMPLATES",
    "QWERTY",
    "Typo",
    "apply_typos",
    "casing",
    "derive_seed",
    "domain_targets",
    "draw",
    "paraphrases",
    "persona_targets",
    "perturbations",
    "typo_budget",
    "typos",
    "whitespace",
]
