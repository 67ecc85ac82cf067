"""The one-sided tests behind baseline regressions, against values worked out by hand."""

from __future__ import annotations

import pytest

from pytest_llmtrust.reporting.significance import fisher_worse, interval_worse, mcnemar_worse


def test_fisher_matches_the_tea_tasting_table() -> None:
    # 3/4 before, 1/4 now: P(X <= 1) for X ~ Hypergeometric(8, 4, 4) = (1 + 16) / 70
    assert fisher_worse(3, 4, 1, 4, higher_is_better=True) == pytest.approx(17 / 70)
    # the same move is no evidence of "worse" when lower is better
    assert fisher_worse(3, 4, 1, 4, higher_is_better=False) == pytest.approx(69 / 70)
    assert fisher_worse(1, 4, 3, 4, higher_is_better=False) == pytest.approx(17 / 70)


def test_fisher_is_certain_of_nothing_without_data() -> None:
    assert fisher_worse(0, 0, 0, 5, higher_is_better=True) == 1.0
    with pytest.raises(ValueError, match="k <= n"):
        fisher_worse(5, 4, 1, 4, higher_is_better=True)


def test_mcnemar_is_a_binomial_test_of_the_flips() -> None:
    assert mcnemar_worse(7, 0) == pytest.approx(1 / 128)
    assert mcnemar_worse(3, 1) == pytest.approx(5 / 16)
    assert mcnemar_worse(0, 4) == 1.0
    assert mcnemar_worse(0, 0) == 1.0


def test_interval_test_reads_standard_errors_off_the_intervals() -> None:
    # se 0.1 each (width 0.392), drop 0.2828 = 2 combined se -> p = 1 - Phi(2)
    p = interval_worse(0.6, (0.404, 0.796), 0.3172, (0.1212, 0.5132), higher_is_better=True)
    assert p == pytest.approx(0.02275, abs=5e-4)
    assert interval_worse(0.5, (0.5, 0.5), 0.4, (0.4, 0.4), higher_is_better=True) == 0.0
    assert interval_worse(0.5, (0.5, 0.5), 0.6, (0.6, 0.6), higher_is_better=True) == 1.0
