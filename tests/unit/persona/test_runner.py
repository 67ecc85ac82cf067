"""persona_bias(): prompts per persona, answers by generation or choice, scores as score_personas gives them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import Generation, GenerationParams, to_messages
from pytest_llmtrust.backends.fake import FakeBackend
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.persona.bbq import load_bbq
from pytest_llmtrust.persona.bbq_score import score_personas
from pytest_llmtrust.persona.runner import persona_bias

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.base import Prompt

SAMPLE = Path(__file__).resolve().parents[3] / "example_suites" / "bbq_sample" / "Age.jsonl"


class PersonaScript:
    """Answers (A) under the 'elder' persona and (C) otherwise; records every prompt."""

    model_id = "test:persona-script"

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        self.prompts += list(prompts)
        out = []
        for p in prompts:
            system = to_messages(p)[0]["content"]
            out.append(Generation(p, "(A)" if "elder" in system else "(C)"))
        return out


def test_generate_mode_scores_like_score_personas() -> None:
    items = load_bbq(SAMPLE)
    backend = PersonaScript()
    report = persona_bias(backend, dataset=SAMPLE, personas=["elder", "kid"], mode="generate", parser="strict")
    assert report.personas == ("default", "elder", "kid")
    assert report.mode == "generate:strict"
    assert len(backend.prompts) == 3 * len(items)  # one batch: default once, then each persona
    expected = score_personas(items, {"default": [2] * 48, "elder": [0] * 48, "kid": [2] * 48})
    for scope in ("ambig", "disambig", "all"):
        assert report.result(scope) == expected[scope]
    assert report.pb == expected["ambig"].pb
    assert report.tb_for("kid", "old") == expected["ambig"].tb_for("kid", "old")
    assert report.unparsed == 0


def test_persona_bias_is_zero_when_personas_change_nothing() -> None:
    backend = FakeBackend(lambda _text: "B", name="always-b")
    report = persona_bias(backend, dataset=SAMPLE, personas=["elder", "kid"], templates=(0, 1), mode="generate")
    assert report.pb == 0.0
    assert report.average().pb.std == 0.0
    assert len(report.by_template) == 2


def test_unparseable_answers_are_counted() -> None:
    backend = FakeBackend(lambda _text: "no idea", name="mumble")
    report = persona_bias(backend, dataset=SAMPLE, personas=["elder"], mode="generate", parser="strict", limit=10)
    assert report.n_items == 10
    assert report.unparsed == 20


def test_choice_mode_needs_a_backend_that_scores_options() -> None:
    with pytest.raises(ConfigError, match="use mode='generate'"):
        persona_bias(FakeBackend(lambda t: t), dataset=SAMPLE, personas=["elder"], mode="choice")


def test_an_empty_dataset_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no items"):
        persona_bias(FakeBackend(lambda t: t), dataset=[], personas=["elder"], mode="generate")


@pytest.mark.realmodel
def test_smollm2_constrained_choice_on_our_sample() -> None:
    from tests.backends.test_hf import need_smollm2

    need_smollm2()
    from pytest_llmtrust.backends.registry import load_backend

    report = persona_bias(load_backend("smollm2"), dataset=SAMPLE, personas=["elder", "kid"], mode="choice")
    assert report.mode == "choice"
    assert report.n_items == 48
    assert report.unparsed == 0
    for scope in ("ambig", "disambig", "all"):
        result = report.result(scope)
        assert 0.0 <= result.accuracy <= 1.0
        assert all(-2.0 <= v <= 2.0 for by_t in result.tb_by_persona_target.values() for v in by_t.values())
    assert report.shape() in ("ideal", "balanced", "skewed", "skewed-heavy")
