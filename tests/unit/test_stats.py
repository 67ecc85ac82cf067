"""The Wilson score interval, checked against the closed form computed here."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmtrust.stats import wilson_interval, z_for

Z95 = 1.959963984540054


def reference(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson interval from the textbook formula, independent of the package."""
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_zero_of_ten() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-4)
    assert high == pytest.approx(reference(0, 10)[1], rel=1e-12)


def test_five_of_ten() -> None:
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4)
    assert high == pytest.approx(0.7634, abs=1e-4)
    ref_low, ref_high = reference(5, 10)
    assert low == pytest.approx(ref_low, rel=1e-12)
    assert high == pytest.approx(ref_high, rel=1e-12)


def test_ten_of_ten() -> None:
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4)
    assert low == pytest.approx(reference(10, 10)[0], rel=1e-12)
    assert high == 1.0


@pytest.mark.parametrize(("k", "n"), [(1, 1), (1, 3), (19, 20), (37, 100), (999, 1000), (1, 10_000)])
def test_matches_closed_form(k: int, n: int) -> None:
    ref_low, ref_high = reference(k, n)
    low, high = wilson_interval(k, n)
    if k > 0:
        assert low == pytest.approx(ref_low, rel=1e-12)
    if k < n:
        assert high == pytest.approx(ref_high, rel=1e-12)


def test_nineteen_of_twenty_lower_bound_below_point_nine() -> None:
    low, high = wilson_interval(19, 20)
    assert low == pytest.approx(0.7639, abs=1e-4)
    assert high == pytest.approx(0.9911, abs=1e-4)


def test_other_confidence_levels() -> None:
    z90 = 1.6448536269514722
    low, high = wilson_interval(5, 10, confidence=0.90)
    ref_low, ref_high = reference(5, 10, z90)
    assert low == pytest.approx(ref_low, rel=1e-12)
    assert high == pytest.approx(ref_high, rel=1e-12)
    low99, high99 = wilson_interval(5, 10, confidence=0.99)
    assert low99 < low
    assert high99 > high


def test_z_for_known_values() -> None:
    assert z_for(0.95) == pytest.approx(Z95, rel=1e-12)
    assert z_for(0.90) == pytest.approx(1.6448536269514722, rel=1e-12)
    assert z_for(0.99) == pytest.approx(2.5758293035489004, rel=1e-12)


def test_n_zero_knows_nothing() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 0, confidence=0.5) == (0.0, 1.0)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, -1), (1, 0), (-1, -1)])
def test_invalid_counts_raise(k: int, n: int) -> None:
    with pytest.raises(ValueError, match="need 0 <= k <= n"):
        wilson_interval(k, n)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5, 95.0])
def test_invalid_confidence_raises(confidence: float) -> None:
    with pytest.raises(ValueError, match=r"confidence must be within \(0, 1\)"):
        wilson_interval(5, 10, confidence=confidence)
    with pytest.raises(ValueError, match="confidence must be within"):
        z_for(confidence)


@st.composite
def counts(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=100_000))
    k = draw(st.integers(min_value=0, max_value=n))
    return k, n


@given(kn=counts(), confidence=st.floats(min_value=0.01, max_value=0.999))
def test_interval_contains_point_estimate(kn: tuple[int, int], confidence: float) -> None:
    k, n = kn
    low, high = wilson_interval(k, n, confidence)
    assert 0.0 <= low <= k / n <= high <= 1.0


@given(kn=counts())
def test_extremes_pin_the_bound(kn: tuple[int, int]) -> None:
    k, n = kn
    low, high = wilson_interval(k, n)
    assert (low == 0.0) == (k == 0)
    assert (high == 1.0) == (k == n)


@given(
    k=st.integers(min_value=0, max_value=50),
    extra=st.integers(min_value=0, max_value=50),
    factor=st.integers(min_value=2, max_value=20),
)
def test_interval_narrows_as_n_grows(k: int, extra: int, factor: int) -> None:
    n = k + extra
    if n == 0:
        return
    low, high = wilson_interval(k, n)
    big_low, big_high = wilson_interval(k * factor, n * factor)
    assert big_high - big_low < high - low
