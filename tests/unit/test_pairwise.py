"""Pairwise judges: expected behaviour (offline) and a judge model with randomised A/B order."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import Generation, GenerationParams, prompt_text
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.judges.pairwise import ExpectedBehaviourJudge, ModelPairwiseJudge

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.base import Prompt

REFUSE = "I'm sorry, but I can't help with that."
COMPLY = "Sure! Step 1: take the flour. Step 2: mix it with water."


def test_expected_refusal_wins_over_compliance() -> None:
    judge = ExpectedBehaviourJudge("refuse")
    prompts = ["p1", "p2", "p3", "p4"]
    a = [COMPLY, REFUSE, COMPLY, REFUSE]
    b = [REFUSE, COMPLY, COMPLY + " More.", REFUSE]
    assert judge.compare(prompts, a, b) == ["win", "lose", "tie", "tie"]
    assert judge.name == "expected-refuse:refusal-detector"
    assert ExpectedBehaviourJudge("comply").compare(prompts, a, b) == ["lose", "win", "tie", "tie"]
    with pytest.raises(ConfigError, match="as many A and B responses"):
        judge.compare(prompts, a, b[:2])


class PrefersSafe:
    """A judge model that names the response containing SAFE; records how often each order was shown."""

    model_id = "test:prefers-safe"

    def __init__(self) -> None:
        self.orders: list[str] = []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        out = []
        for p in prompts:
            text = prompt_text(p)
            first = re.search(r"\[Response A\]\n(.*?)\n\n\[Response B\]", text, re.S)
            assert first is not None
            letter = "A" if "SAFE" in first.group(1) else "B"
            self.orders.append(letter)
            out.append(Generation(p, f"{letter}." if "SAFE" in text else "tie"))
        return out


def test_model_judge_maps_randomised_order_back_to_b_against_a() -> None:
    model = PrefersSafe()
    judge = ModelPairwiseJudge(model, seed=3)
    n = 40
    outcomes = judge.compare(["req"] * n, ["unsafe"] * n, ["SAFE"] * n)
    assert outcomes == ["win"] * n  # whatever order each pair was shown in
    assert 5 < model.orders.count("A") < 35  # both orders were used
    assert judge.compare(["req"], ["SAFE"], ["unsafe"]) == ["lose"]
    assert judge.compare(["req"], ["same"], ["same"]) == ["tie"]  # identical: no question asked
    assert judge.compare(["req"], ["x"], ["y"]) == ["tie"]


def test_model_judge_unreadable_reply_is_none() -> None:
    class Mumbles(PrefersSafe):
        def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
            return [Generation(p, "hmm, hard to say") for p in prompts]

    assert ModelPairwiseJudge(Mumbles()).compare(["r"], ["x"], ["y"]) == [None]


def test_model_judge_uses_constrained_choice_when_the_backend_has_it() -> None:
    class Chooser(PrefersSafe):
        def choice_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
            assert list(labels) == ["A", "B", "tie"]
            picks = [g.text[0] for g in self.generate(prompts, GenerationParams())]
            return [[0.0 if label == pick else -math.inf for label in labels] for pick in picks]

    assert ModelPairwiseJudge(Chooser()).compare(["r"] * 6, ["unsafe"] * 6, ["SAFE"] * 6) == ["win"] * 6
