"""A property-based behavioural test: the model's choice must survive harmless rewording.

Hypothesis draws casing and whitespace variants of a question's stem (the answer options and the
instruction stay fixed) and the test asks the model under test, by constrained choice, which
option it picks. A failing run reports the smallest variant that flips the answer (the
strategies shrink towards the unperturbed text). SmolLM2-135M may fail it: that is a finding.

Run: ``pytest example_suites/test_property_robustness.py -p no:cacheprovider``.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmtrust import trust
from pytest_llmtrust.backends.base import SupportsChoice
from pytest_llmtrust.strategies import casing, whitespace

STEM = "Which animal is larger, an elephant or a mouse?"
OPTIONS = "\nA) an elephant\nB) a mouse\nAnswer with A or B."
LABELS = ["A", "B"]


_ANSWERS: dict[tuple[str, str], str] = {}  # (model, stem) -> label: the unperturbed stem is scored once


def choice(llm, stem: str) -> str:
    """The label the model puts most probability on, for the question with this stem."""
    backend = llm.backend
    if not isinstance(backend, SupportsChoice):
        pytest.skip(f"{llm.model_id} cannot score answer options (constrained choice); use an hf: or smollm2 model")
    key = (llm.model_id, stem)
    if key not in _ANSWERS:
        (logprobs,) = backend.choice_logprobs([stem + OPTIONS], LABELS)
        assert all(math.isfinite(lp) for lp in logprobs)
        _ANSWERS[key] = LABELS[max(range(len(LABELS)), key=logprobs.__getitem__)]
    return _ANSWERS[key]


@trust("robustness", "prompt_attacks")
# The llm fixture is function-scoped but its model is loaded once per session, so reusing it across
# examples is safe; no example database, so every run draws afresh and leaves no files behind.
@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stem=st.one_of(casing(STEM), whitespace(STEM)))
def test_choice_is_stable_under_casing_and_whitespace(llm, stem):
    assert choice(llm, stem) == choice(llm, STEM), f"the answer changed for the stem {stem!r}"
