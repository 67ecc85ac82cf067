"""The faithful and strict answer parsers."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.persona.parse import (
    NO_ANSWER,
    PARSERS,
    get_parser,
    parse_faithful,
    parse_strict,
    to_code,
)

ANSWERS = ("The grandfather", "The grandson", "Can't be determined")


# --- faithful ------------------------------------------------------------------------------------


def test_faithful_text_hit_is_case_insensitive() -> None:
    assert parse_faithful("i think THE GRANDSON.", ANSWERS) == 1


def test_faithful_text_precedence_is_ans0_first() -> None:
    # both texts appear; ans0 wins whatever the order in the reply
    assert parse_faithful("The grandson, not the grandfather", ANSWERS) == 0
    # a text hit beats a letter
    assert parse_faithful("(C) the grandson", ANSWERS) == 1


def test_faithful_letter_fallback_order_is_a_then_b_then_c() -> None:
    assert parse_faithful("(B)", ANSWERS) == 1
    assert parse_faithful("C)", ANSWERS) == 2
    assert parse_faithful("C or B", ANSWERS) == 1  # B is tried before C
    assert parse_faithful("(C) or (A)", ANSWERS) == 0


def test_faithful_loose_capital_letter_quirk() -> None:
    """Faithful to the authors: any capital A anywhere reads as option A."""
    assert parse_faithful("According to the context, (B).", ANSWERS) == 0
    assert parse_faithful("Answer: (C)", ANSWERS) == 0
    assert parse_faithful("Cannot say", ANSWERS) == 2
    # letters are case-sensitive
    assert parse_faithful("b", ANSWERS) is None


def test_faithful_none() -> None:
    assert parse_faithful("", ANSWERS) is None
    assert parse_faithful("i don't know", ANSWERS) is None


# --- strict --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("B", 1),
        ("(B)", 1),
        ("B)", 1),
        ("B.", 1),
        ("C:", 2),
        ("[A]", 0),
        (" B\n", 1),
        ("Answer: (C)", 2),
        ("answer - C", 2),
        ("The answer is B.", 1),
        ("The correct answer is: **(C)**.", 2),
        ("Answer: Option B", 1),
        ("**A**", 0),
        ("`A`", 0),
        ("## B\nBecause the context says so.", 1),
        ("(A): The grandfather", 0),
        ("B - the grandson", 1),
        ("The grandson", 1),
        ("the   GRANDSON, clearly.", 1),
        ("Can't be determined", 2),
        ("B. The grandfather", 1),  # a leading letter decides
    ],
)
def test_strict_accepts(response: str, expected: int) -> None:
    assert parse_strict(response, ANSWERS) == expected


@pytest.mark.parametrize(
    "response",
    [
        "According to the context, it is unclear.",  # no letter, no option text
        "The grandfather or the grandson",  # two options
        "Either (A) the grandfather or the grandson",  # not leading, and two options
        "A grandfather",  # "A" is an article here, and "The grandfather" is not quoted
        "b",  # lower case letters are not accepted
        "Answers vary",
        "D",
        "",
    ],
)
def test_strict_rejects(response: str) -> None:
    assert parse_strict(response, ANSWERS) is None


def test_strict_matches_whole_words_and_prefers_the_longer_option() -> None:
    assert parse_strict("the woman", ("man", "woman", "Unknown")) == 1
    assert parse_strict("Not known yet", ("Not known", "Not known yet", "The man")) == 1
    assert parse_strict("Not known", ("Not known", "Not known yet", "The man")) == 0


# --- registry ------------------------------------------------------------------------------------


def test_registry() -> None:
    assert set(PARSERS) == {"faithful", "strict"}
    assert get_parser("strict") is parse_strict
    assert get_parser("faithful") is parse_faithful
    with pytest.raises(ConfigError, match="did you mean 'strict'"):
        get_parser("strikt")


def test_code_nine() -> None:
    assert NO_ANSWER == 9
    assert to_code(None) == 9
    assert to_code(2) == 2


def test_answers_must_be_three() -> None:
    with pytest.raises(ValueError, match="three option texts"):
        parse_strict("A", ("x", "y"))
    with pytest.raises(ValueError, match="three option texts"):
        parse_faithful("A", "abc")


# --- properties ----------------------------------------------------------------------------------

# Option texts without a, b, c (either case) or parentheses: then no option text can occur,
# even case-insensitively, inside the replies "(A)", "(B)" or "(C)", so the faithful parser's
# text step cannot fire and its letter step decides.
SAFE_CHARS = "".join(ch for ch in string.ascii_letters + string.digits + " '-.,?" if ch not in "aAbBcC")
option_text = st.text(alphabet=SAFE_CHARS, min_size=1, max_size=30)
any_text = st.text(max_size=40)


@given(answers=st.tuples(option_text, option_text, option_text), index=st.integers(0, 2))
def test_property_letter_replies_parse_to_their_index(answers: tuple[str, str, str], index: int) -> None:
    letter = "ABC"[index]
    assert parse_faithful(f"({letter})", answers) == index
    assert parse_strict(f"({letter})", answers) == index


@given(answers=st.tuples(any_text, any_text, any_text), index=st.integers(0, 2))
def test_property_strict_bare_letter_ignores_the_option_texts(answers: tuple[str, str, str], index: int) -> None:
    letter = "ABC"[index]
    for reply in (letter, f"{letter})", f"**{letter}**", f"Answer: ({letter})", f" {letter}.\n"):
        assert parse_strict(reply, answers) == index


words = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12)


@given(names=st.lists(words, min_size=3, max_size=3, unique=True), index=st.integers(0, 2))
def test_property_strict_reads_an_exact_option_text(names: list[str], index: int) -> None:
    answers = tuple(f"The {name}" for name in names)
    assert parse_strict(answers[index], answers) == index
    assert parse_strict(f"I would say {answers[index].upper()}.", answers) == index


@given(reply=st.text(max_size=80), answers=st.tuples(any_text, any_text, any_text))
def test_property_parsers_return_an_index_or_none(reply: str, answers: tuple[str, str, str]) -> None:
    for parser in PARSERS.values():
        assert parser(reply, answers) in (0, 1, 2, None)
