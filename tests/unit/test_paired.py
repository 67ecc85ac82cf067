"""Paired A/B statistics: McNemar's exact test, the sign test and win/tie/lose counts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.metrics.paired import binomial_two_sided, paired_outcome, win_tie_lose


def test_binomial_two_sided_matches_hand_computed_values() -> None:
    assert binomial_two_sided(0, 0) == 1.0
    assert binomial_two_sided(0, 5) == pytest.approx(2 / 32)  # P(X<=0) + P(X>=5)
    assert binomial_two_sided(1, 10) == pytest.approx(2 * (1 + 10) / 1024)
    assert binomial_two_sided(5, 10) == 1.0
    with pytest.raises(ConfigError):
        binomial_two_sided(3, 2)


def test_paired_outcome_counts_only_discordant_prompts_for_the_test() -> None:
    base = [False, False, False, True, False, None, False, False]
    steered = [True, True, True, True, False, True, True, True]
    out = paired_outcome(base, steered)
    assert (out.both, out.a_only, out.b_only, out.neither, out.n) == (1, 0, 5, 1, 7)
    assert out.rate_a == pytest.approx(1 / 7)
    assert out.rate_b == pytest.approx(6 / 7)
    assert out.difference == pytest.approx(5 / 7)
    assert out.p_value == pytest.approx(2 / 32)
    assert "McNemar exact p=0.0625" in out.summary(outcome="refused")
    with pytest.raises(ConfigError, match="equal lengths"):
        paired_outcome([True], [])


def test_win_tie_lose_and_net() -> None:
    wtl = win_tie_lose(["win", "win", "tie", "lose", None, "win"])
    assert (wtl.wins, wtl.ties, wtl.losses, wtl.n) == (3, 1, 1, 5)
    assert wtl.net == pytest.approx(0.4)
    assert wtl.p_value == pytest.approx(binomial_two_sided(3, 4))
    assert "net +40.0%" in wtl.summary()
    assert math.isnan(win_tie_lose([]).net)
    with pytest.raises(ConfigError, match="'win', 'tie' or 'lose'"):
        win_tie_lose(["draw"])


@given(st.integers(0, 60), st.integers(0, 60))
def test_the_p_value_is_symmetric_and_a_probability(k: int, extra: int) -> None:
    n = k + extra
    p = binomial_two_sided(k, n)
    assert 0.0 < p <= 1.0
    assert p == pytest.approx(binomial_two_sided(n - k, n))
