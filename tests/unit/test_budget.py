"""Budgets: caps and their messages, the token estimate, and what CachedBackend charges."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import Generation, GenerationParams, Prompt
from pytest_llmtrust.backends.fake import ChoosingBackend, FakeBackend
from pytest_llmtrust.budget import (
    Budget,
    Caps,
    active,
    charging,
    estimate_tokens,
    planned_tokens,
    prompt_tokens,
    spent_tokens,
)
from pytest_llmtrust.cache.cached import CachedBackend
from pytest_llmtrust.cache.mode import CacheMode
from pytest_llmtrust.cache.store import Store
from pytest_llmtrust.errors import BudgetExceeded

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

GREEDY = GenerationParams(max_new_tokens=10)
SAMPLED = GenerationParams(max_new_tokens=10, temperature=0.7)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def session_caps(**caps: float) -> Caps:
    return Caps("session", sources={k: f"--llmtrust-max-{k}" for k in caps}, **caps)  # type: ignore[arg-type]


def echo_backend(budget: Budget | None, store: Store | None = None) -> tuple[CachedBackend, FakeBackend]:
    fake = FakeBackend(lambda text: text, name="echo")
    mode = CacheMode.WRITE if store is not None else CacheMode.OFF
    return CachedBackend(lambda: fake, spec="fake:echo", fingerprint="fp", store=store, mode=mode, budget=budget), fake


# ------------------------------------------------------------------------------------------- estimates


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)])
def test_the_estimate_is_a_quarter_of_the_characters_rounded_up(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_a_chat_prompt_counts_the_text_of_all_its_messages() -> None:
    chat: Prompt = [{"role": "system", "content": "abcd"}, {"role": "user", "content": "efgh"}]
    assert prompt_tokens(chat) == 2
    assert planned_tokens(["abcd", chat], 10) == 1 + 10 + 2 + 10


def test_real_counts_win_over_the_estimate() -> None:
    assert spent_tokens(Generation(prompt="abcd" * 3, text="abcdefgh")) == 3 + 2
    assert spent_tokens(Generation(prompt="abcd", text="xy", prompt_tokens=7, completion_tokens=5)) == 12
    assert Generation(prompt="a", text="b", prompt_tokens=1) == Generation(prompt="a", text="b")  # counts not compared


# ------------------------------------------------------------------------------------------- caps


def test_a_request_cap_names_the_cap_the_usage_and_where_to_raise_it() -> None:
    budget = Budget(session_caps(requests=5))
    budget.check(4)
    budget.charge(4, 0)
    budget.check(1)
    with pytest.raises(BudgetExceeded) as info:
        budget.check(3)
    message = str(info.value)
    assert "session budget of 5 requests (--llmtrust-max-requests) would be exceeded: 4 used" in message
    assert "this call needs 3 more; raise --llmtrust-max-requests" in message


def test_a_token_cap_refuses_the_worst_case_of_a_call() -> None:
    budget = Budget(Caps("suite 's'", tokens=100, sources={"tokens": "budget.tokens in s.llmtrust.yaml:3"}))
    budget.charge(1, 60)
    budget.check(1, 40)
    with pytest.raises(BudgetExceeded, match=r"suite 's' budget of 100 tokens \(budget.tokens in s.llmtrust.yaml:3\)"):
        budget.check(1, 41)


def test_wall_time_runs_from_the_first_admitted_call() -> None:
    clock = Clock()
    budget = Budget(session_caps(seconds=30), clock=clock)
    clock.now += 1000  # nothing spent yet: the clock has not started
    budget.check()
    budget.check(requests=1)
    clock.now += 31
    with pytest.raises(BudgetExceeded, match=r"session budget of 30 s \(--llmtrust-max-seconds\) is spent: 31.0 s"):
        budget.check()


def test_caps_describe_themselves_and_a_budget_its_usage() -> None:
    caps = session_caps(requests=1000, seconds=2.5)
    assert caps.any
    assert not Caps("session").any
    budget = Budget(caps)
    budget.charge(3, 1234)
    assert budget.usage() == (
        "session budget: 3 requests, 1,234 tokens, 0.0 s used; caps: requests <= 1,000 (--llmtrust-max-requests), "
        "seconds <= 2.5 (--llmtrust-max-seconds)"
    )


def test_charging_scopes_nest_and_never_count_a_budget_twice() -> None:
    session, suite = Budget(Caps("session")), Budget(Caps("suite"))
    with charging(suite, None):
        with charging(suite):
            assert active(session) == [session, suite]
        assert active(None) == [suite]
    assert active(session) == [session]


# ------------------------------------------------------------------------------------------- CachedBackend


def test_a_call_over_the_cap_is_refused_before_the_model_is_asked() -> None:
    budget = Budget(session_caps(requests=3))
    backend, fake = echo_backend(budget)
    backend.generate(["a", "b"], GREEDY)
    with pytest.raises(BudgetExceeded, match="2 used, this call needs 2 more"):
        backend.generate(["c", "d"], GREEDY)
    assert fake.calls == [2]
    assert backend.generate(["a", "b", "c"], GREEDY)[2].text == "c"
    assert budget.requests == 3


def test_answers_from_the_cache_or_this_run_are_free(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    first = Budget(session_caps(requests=2))
    backend, _ = echo_backend(first, store)
    backend.generate(["a", "b", "a"], GREEDY)  # "a" twice: one request
    backend.generate(["b", "a"], GREEDY)
    assert first.requests == 2
    rerun = Budget(session_caps(requests=1))
    again, fake = echo_backend(rerun, store)
    assert [g.cached for g in again.generate(["a", "b"], GREEDY)] == [True, True]
    assert (rerun.requests, rerun.tokens, fake.calls) == (0, 0, [])


def test_suite_scopes_charge_their_budget_and_the_session_budget() -> None:
    session, suite = Budget(Caps("session")), Budget(Caps("suite 's'", requests=1))
    backend, _ = echo_backend(session)
    with charging(suite):
        backend.generate(["abcd"], GREEDY)
        with pytest.raises(BudgetExceeded, match="suite 's' budget of 1 request "):
            backend.generate(["other"], GREEDY)
    backend.generate(["other"], GREEDY)  # outside the suite only the session pays
    assert (session.requests, suite.requests) == (2, 1)
    assert suite.tokens == 1 + 1  # "abcd" is one token, its echo one more


def test_unseeded_samples_and_choice_scorings_are_requests() -> None:
    budget = Budget(Caps("session"))
    backend, _ = echo_backend(budget)
    backend.generate(["x", "x"], SAMPLED)
    assert budget.requests == 2
    chooser = ChoosingBackend(["old"])
    scored = CachedBackend(lambda: chooser, spec="fake:choose", fingerprint="c", mode=CacheMode.OFF, budget=budget)
    scored.choice_logprobs(["(A): old\n(B): young", "(A): x\n(B): old"], ["A", "B"])
    assert budget.requests == 4


class Counted(FakeBackend):
    """A fake that reports token counts, like a server's usage."""

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        return [Generation(p, "ok", prompt_tokens=50, completion_tokens=7) for p in prompts]


def test_the_backends_own_counts_are_charged() -> None:
    budget = Budget(Caps("session"))
    model = Counted(lambda text: text)
    backend = CachedBackend(lambda: model, spec="fake:x", fingerprint="fp", mode=CacheMode.OFF, budget=budget)
    backend.generate(["a", "b"], GREEDY)
    assert budget.tokens == 2 * 57


def test_time_is_checked_between_chunks() -> None:
    clock = Clock()
    budget = Budget(session_caps(seconds=10), clock=clock)

    def slow(text: str) -> str:
        clock.now += 6
        return text

    fake = FakeBackend(slow)
    fake.batch_size = 4  # type: ignore[attr-defined]  # chunks of 32 prompts
    backend = CachedBackend(lambda: fake, spec="fake:slow", fingerprint="fp", mode=CacheMode.OFF, budget=budget)
    with pytest.raises(BudgetExceeded, match="is spent"):
        backend.generate([f"p{i}" for i in range(40)], GREEDY)
    assert fake.calls == [32]  # the second chunk was never sent
