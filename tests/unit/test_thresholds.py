"""The threshold language: parsing, rejection messages, point and interval checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.thresholds import Threshold


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        (">= 0.95", ">=", 0.95),
        ("> 0.5", ">", 0.5),
        ("<= 0.1", "<=", 0.1),
        ("< 0.1", "<", 0.1),
        ("== 1", "==", 1.0),
        ("=> 0.9", ">=", 0.9),
        ("=< 0.2", "<=", 0.2),
        (">=0.95", ">=", 0.95),
        ("  >=   0.95  ", ">=", 0.95),
        ("\t< .5\n", "<", 0.5),
        (">= 1e-2", ">=", 0.01),
        (">= -0.5", ">=", -0.5),
        (">= +3", ">=", 3.0),
        (">= 1.", ">=", 1.0),
    ],
)
def test_parse_comparison_forms(text: str, op: str, value: float) -> None:
    t = Threshold.parse(text)
    assert t.op == op
    assert t.value == pytest.approx(value)
    assert t.upper is None


@pytest.mark.parametrize(
    ("text", "value"),
    [(">= 95%", 0.95), ("< 10%", 0.10), ("== 100%", 1.0), ("> 0.5%", 0.005)],
)
def test_parse_percentages(text: str, value: float) -> None:
    assert Threshold.parse(text).value == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "between 0.2 and 0.4",
        "BETWEEN 0.2 AND 0.4",
        "  between   0.2   and   0.4  ",
        "Between 20% and 40%",
        "between .2 and 40%",
    ],
)
def test_parse_between(text: str) -> None:
    t = Threshold.parse(text)
    assert t.op == "between"
    assert t.value == pytest.approx(0.2)
    assert t.upper == pytest.approx(0.4)


def test_parse_between_equal_bounds() -> None:
    t = Threshold.parse("between 0.5 and 0.5")
    assert (t.value, t.upper) == (0.5, 0.5)
    assert t.check(0.5)
    assert not t.check(0.5000001)


def test_between_is_inclusive() -> None:
    t = Threshold.parse("between 0.2 and 0.4")
    assert t.check(0.2)
    assert t.check(0.3)
    assert t.check(0.4)
    assert not t.check(0.19999)
    assert not t.check(0.40001)


def test_parse_passes_a_threshold_through() -> None:
    t = Threshold.parse(">= 0.5")
    assert Threshold.parse(t) is t


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (">= 0.5", [0.5, 0.6, 1.0], [0.49, 0.0]),
        ("> 0.5", [0.51, 1.0], [0.5, 0.0]),
        ("<= 0.1", [0.1, 0.0], [0.11, 1.0]),
        ("< 0.1", [0.09, 0.0], [0.1, 1.0]),
        ("== 1", [1.0], [0.999, 0.0]),
    ],
)
def test_check_point(text: str, inside: list[float], outside: list[float]) -> None:
    t = Threshold.parse(text)
    for v in inside:
        assert t.check(v), (text, v)
    for v in outside:
        assert not t.check(v), (text, v)


def test_bare_number_suggests_greater_equal() -> None:
    with pytest.raises(ConfigError, match=r"write '>= 0\.95'\?") as info:
        Threshold.parse("0.95")
    assert "'0.95'" in str(info.value)


def test_bare_number_with_whitespace_suggestion_is_stripped() -> None:
    with pytest.raises(ConfigError, match=r"write '>= 95%'\?"):
        Threshold.parse("  95%  ")


@pytest.mark.parametrize("text", ["at least 0.9", "> ", ">= abc", "", "0.9 <=", "between 0.2 or 0.4", ">>= 1"])
def test_garbage_lists_the_forms(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        Threshold.parse(text)
    message = str(info.value)
    assert f"cannot read threshold {text!r}" in message
    for form in ("'>= 0.95'", "'< 0.1'", "'== 1'", "'between 0.2 and 0.4'"):
        assert form in message
    assert "write '>=" not in message


@pytest.mark.parametrize("value", [0.95, 1, None, True, False, [">= 0.9"], b">= 0.9"])
def test_non_string_rejected(value: object) -> None:
    with pytest.raises(ConfigError, match="threshold must be a string") as info:
        Threshold.parse(value)
    assert repr(value) in str(info.value)
    assert "'between 0.2 and 0.4'" in str(info.value)


def test_between_lower_above_upper_rejected() -> None:
    with pytest.raises(ConfigError, match=r"lower bound 0\.6 is above the upper bound 0\.4"):
        Threshold.parse("between 0.6 and 0.4")


def test_between_percent_lower_above_upper_rejected() -> None:
    with pytest.raises(ConfigError, match="is above the upper bound"):
        Threshold.parse("between 60% and 40%")


def test_check_interval_lower_bound_for_greater() -> None:
    ge = Threshold.parse(">= 0.9")
    assert ge.check_interval(0.9, 1.0)
    assert not ge.check_interval(0.89, 1.0)
    gt = Threshold.parse("> 0.9")
    assert gt.check_interval(0.91, 0.95)
    assert not gt.check_interval(0.9, 1.0)


def test_check_interval_upper_bound_for_less() -> None:
    le = Threshold.parse("<= 0.1")
    assert le.check_interval(0.0, 0.1)
    assert not le.check_interval(0.0, 0.11)
    lt = Threshold.parse("< 0.1")
    assert lt.check_interval(0.0, 0.09)
    assert not lt.check_interval(0.0, 0.1)


def test_check_interval_between_needs_both_bounds() -> None:
    t = Threshold.parse("between 0.2 and 0.4")
    assert t.check_interval(0.2, 0.4)
    assert t.check_interval(0.25, 0.35)
    assert not t.check_interval(0.19, 0.3)
    assert not t.check_interval(0.3, 0.41)
    assert not t.check_interval(0.1, 0.5)


def test_check_interval_equal_needs_degenerate_interval() -> None:
    t = Threshold.parse("== 1")
    assert t.check_interval(1.0, 1.0)
    assert not t.check_interval(0.9, 1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (">= 0.95", ">= 0.95"),
        ("=> 0.95", ">= 0.95"),
        ("=< 0.1", "<= 0.1"),
        ("  <   .1 ", "< 0.1"),
        (">= 95%", ">= 0.95"),
        ("== 1", "== 1"),
        ("between 20% and 40%", "between 0.2 and 0.4"),
    ],
)
def test_str_canonical_form(text: str, expected: str) -> None:
    assert str(Threshold.parse(text)) == expected


@pytest.mark.parametrize(
    "text",
    [">= 0.95", "> 0.5", "<= 0.1", "< 0.1", "== 1", "between 0.2 and 0.4", "=> 0.9", ">= 95%", ">= 1e-5"],
)
def test_str_round_trip(text: str) -> None:
    t = Threshold.parse(text)
    assert Threshold.parse(str(t)) == t


# Values with at most 6 significant digits: str() formats with ``:g``.
_six_digits = st.integers(min_value=0, max_value=999_999).map(lambda i: i / 1_000_000)


@given(op=st.sampled_from([">=", ">", "<=", "<", "=="]), value=_six_digits)
def test_str_round_trip_property(op: str, value: float) -> None:
    t = Threshold.parse(f"{op} {value!r}")
    assert Threshold.parse(str(t)) == t


@given(a=_six_digits, b=_six_digits)
def test_between_round_trip_property(a: float, b: float) -> None:
    low, high = sorted((a, b))
    t = Threshold.parse(f"between {low!r} and {high!r}")
    assert Threshold.parse(str(t)) == t


_unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(a=_unit, b=_unit, x=_unit)
def test_between_check_matches_inequality(a: float, b: float, x: float) -> None:
    low, high = sorted((a, b))
    t = Threshold(op="between", value=low, upper=high)
    assert t.check(x) == (low <= x <= high)


@given(a=_unit, b=_unit, x=_unit)
def test_between_parsed_check_matches_inequality(a: float, b: float, x: float) -> None:
    low, high = sorted((a, b))
    t = Threshold.parse(f"between {low!r} and {high!r}")
    assert t.check(x) == (low <= x <= high)


@given(
    op=st.sampled_from([">=", ">", "<=", "<"]),
    bound=_unit,
    points=st.lists(_unit, min_size=3, max_size=3),
)
def test_interval_pass_implies_point_pass(op: str, bound: float, points: list[float]) -> None:
    low, v, high = sorted(points)
    t = Threshold.parse(f"{op} {bound!r}")
    if t.check_interval(low, high):
        assert t.check(v)


@given(a=_unit, b=_unit, points=st.lists(_unit, min_size=3, max_size=3))
def test_between_interval_pass_implies_point_pass(a: float, b: float, points: list[float]) -> None:
    low, v, high = sorted(points)
    t = Threshold(op="between", value=min(a, b), upper=max(a, b))
    if t.check_interval(low, high):
        assert t.check(v)


@pytest.mark.parametrize("text", [">= 0.1234567", ">= 99.99999%"])
def test_str_round_trip_keeps_precision(text: str) -> None:
    t = Threshold.parse(text)
    assert Threshold.parse(str(t)) == t
