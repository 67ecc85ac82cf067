"""The Hypothesis strategies: typos, casing, whitespace, paraphrases, persona pairs, and seeded drawing."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.persona.personas import personas_for
from pytest_llmtrust.strategies import (
    DEFAULT_TEMPLATES,
    QWERTY,
    Typo,
    apply_typos,
    casing,
    derive_seed,
    domain_targets,
    draw,
    paraphrases,
    persona_targets,
    perturbations,
    typo_budget,
    typos,
    whitespace,
)
from pytest_llmtrust.strategies.keyboard import kinds_at, substitutes, words
from pytest_llmtrust.strategies.text import typo_count_range

SENTENCE = "I used to walk my sister to school, but I don't anymore because she is old enough."
FAST = settings(max_examples=40, deadline=None, database=None)

# Sentences of plain words (letters, some capitalised) with punctuation and digits between them.
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=9)
GLUE = st.sampled_from([" ", ", ", " - ", "'", " 42 ", ". "])
SENTENCES = st.lists(st.tuples(WORDS, GLUE), min_size=1, max_size=12).map(lambda ps: "".join(w + g for w, g in ps))


def osa_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance (Levenshtein plus adjacent transpositions)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def changed_words(original: str, typoed: str) -> list[tuple[str, str]]:
    """(original, mistyped) for each word that changed; the texts must split into the same number of words."""
    a, b = re.split(r"([^\w]+)", original), re.split(r"([^\w]+)", typoed)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


# ----------------------------------------------------------------------------------------------- keyboard


def test_qwerty_neighbours_are_symmetric_and_local() -> None:
    assert set(QWERTY) == set("abcdefghijklmnopqrstuvwxyz")
    assert QWERTY["g"] == "bfhtvy"
    assert QWERTY["a"] == "qswz"
    assert QWERTY["p"] == "lo"
    for key, near in QWERTY.items():
        assert key not in near
        for other in near:
            assert key in QWERTY[other], (key, other)


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        (Typo(0, "word", 1, "substitute", "i"), "wird"),
        (Typo(0, "word", 1, "transpose"), "wrod"),
        (Typo(0, "word", 1, "delete"), "wrd"),
        (Typo(0, "word", 3, "duplicate"), "wordd"),
    ],
)
def test_each_typo_kind(typo: Typo, expected: str) -> None:
    assert typo.apply() == expected


def test_kinds_skip_edits_that_change_nothing() -> None:
    assert kinds_at("hello", 2) == ("substitute", "delete", "duplicate")  # l-l: no transposition
    assert kinds_at("hello", 4) == ("substitute", "delete", "duplicate")  # last letter: nothing to swap with
    assert kinds_at("café", 3) == ("delete", "duplicate")  # not a QWERTY key
    assert substitutes("G") == "BFHTVY"


def test_words_are_runs_of_two_letters_or_more() -> None:
    assert [w for _, w in words("I haven't 2 cats, ok?")] == ["haven", "cats", "ok"]


def test_apply_typos_checks_the_text() -> None:
    assert apply_typos("the cat sat", [Typo(4, "cat", 1, "delete"), Typo(8, "sat", 2, "duplicate")]) == "the ct satt"
    with pytest.raises(ValueError, match="does not match"):
        apply_typos("the cat sat", [Typo(0, "cat", 1, "delete")])


# ----------------------------------------------------------------------------------------------- typos


@FAST
@given(data=st.data(), text=SENTENCES, k=st.integers(0, 6))
def test_typos_change_exactly_count_words_by_one_edit_each(data: st.DataObject, text: str, k: int) -> None:
    typoed = data.draw(typos(text, count=k))
    expected = min(k, len(words(text)))
    changed = changed_words(text, typoed)
    assert len(changed) == expected
    assert osa_distance(text, typoed) <= expected
    assert len(typoed.split()) == len(text.split())
    for before, after in changed:
        assert osa_distance(before, after) == 1
        assert after[0] == before[0]  # the first letter is never touched
    assert re.sub(r"[^\W\d_]", "", typoed) == re.sub(r"[^\W\d_]", "", text)  # only letters change


@FAST
@given(data=st.data(), text=SENTENCES, rate=st.floats(0.01, 1.0))
def test_rate_gives_one_to_rate_times_words_typos(data: st.DataObject, text: str, rate: float) -> None:
    n = len(words(text))
    typoed = data.draw(typos(text, rate=rate))
    assert (1 if n else 0) <= len(changed_words(text, typoed)) <= max(1, int(rate * n + 0.5)) * (n > 0)


def test_typos_shrink_to_the_minimal_typo_set() -> None:
    # Any typo at all: shrinks to a single typo.
    minimal = find(typos(SENTENCE, count=(1, 5)), lambda t: t != SENTENCE, settings=settings(database=None, derandomize=True))
    assert len(changed_words(SENTENCE, minimal)) == 1
    # A typo in 'sister' is needed: shrinks to that one typo alone.
    minimal = find(
        typos(SENTENCE, count=(1, 6)), lambda t: "sister" not in t, settings=settings(database=None, derandomize=True)
    )
    assert [before for before, _ in changed_words(SENTENCE, minimal)] == ["sister"]


def test_typo_budget_and_count_range() -> None:
    assert typo_budget(SENTENCE, 0.25) == 4  # 15 words of two letters or more: round(3.75) = 4
    assert typo_budget(SENTENCE, 0.1) == 2  # round(1.5) = 2: halves go up
    assert typo_budget("I a", 0.25) == 0
    assert typo_budget("cat", 0.01) == 1
    assert typo_count_range(SENTENCE) == range(1, 3)  # the default rate, 0.1
    assert typo_count_range(SENTENCE, count=(2, 99)) == range(2, 16)
    assert typo_count_range("no", count=3) == range(1, 2)


def test_a_text_without_words_comes_back_unchanged() -> None:
    assert draw(typos("I 2 ?", count=3), seed=1, n=3) == ["I 2 ?"] * 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 0.1, "count": 2}, "not both"),
        ({"rate": 0.0}, "rate must be"),
        ({"rate": 1.5}, "rate must be"),
        ({"count": -1}, "0 <= low <= high"),
        ({"count": (3, 1)}, "0 <= low <= high"),
        ({"count": (1, 2, 3)}, "pair of ints"),
        ({"count": 1.5}, "pair of ints"),
    ],
)
def test_bad_typo_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        typos(SENTENCE, **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- casing, whitespace


@FAST
@given(data=st.data(), text=SENTENCES)
def test_casing_changes_only_case(data: st.DataObject, text: str) -> None:
    cased = data.draw(casing(text))
    assert cased.lower() == text.lower()
    assert [m.span() for m in re.finditer(r"\s+", cased)] == [m.span() for m in re.finditer(r"\s+", text)]


def test_casing_styles_and_shrinking() -> None:
    seen = set(draw(casing("hello world"), seed=3, n=40))
    assert "hello world" in seen  # the original (every word kept) is the simplest example
    assert {"HELLO", "Hello"} & {w for text in seen for w in text.split()}
    assert len(seen) > 5
    minimal = find(casing(SENTENCE), lambda t: t != SENTENCE, settings=settings(database=None))
    assert sum(a != b for a, b in zip(minimal.split(), SENTENCE.split(), strict=True)) == 1


@FAST
@given(data=st.data(), text=SENTENCES)
def test_whitespace_keeps_the_words(data: st.DataObject, text: str) -> None:
    spaced = data.draw(whitespace(text))
    assert spaced.split() == text.split()
    assert set(re.sub(r"\S", "", spaced)) <= {" ", "\t", "\n"}


def test_whitespace_shrinks_to_single_spaces() -> None:
    text = "Is  the sky\nblue?"
    assert find(whitespace(text), lambda t: True, settings=settings(database=None)) == "Is the sky blue?"
    one_newline = find(whitespace(text), lambda t: "\n" in t, settings=settings(database=None))
    assert one_newline.count("\n") == 1
    assert " ".join(one_newline.split()) == "Is the sky blue?"
    assert len(one_newline) <= len("Is the sky blue?") + 1


# ----------------------------------------------------------------------------------------------- paraphrases, all


def test_paraphrases_wrap_the_text_literally() -> None:
    text = "What is {x} in 'f(x) = {x}'?"
    got = set(draw(paraphrases(text), seed=5, n=len(DEFAULT_TEMPLATES) * 3))
    assert got <= {t.replace("{text}", text) for t in DEFAULT_TEMPLATES}
    assert text in got
    assert len(got) >= 4
    assert draw(paraphrases("hi", ["Q: {text}"]), seed=0, n=2) == ["Q: hi", "Q: hi"]


@pytest.mark.parametrize(
    ("templates", "match"), [([], "at least one"), ("{text}", "not one string"), (["Q:"], "{text}")]
)
def test_bad_templates(templates: object, match: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(match)):
        paraphrases("hi", templates)  # type: ignore[arg-type]


@FAST
@given(data=st.data())
def test_perturbations_are_one_of_the_four(data: st.DataObject) -> None:
    got = data.draw(perturbations(SENTENCE))
    spaced, cased, wrapped = got.split() == SENTENCE.split(), got.lower() == SENTENCE.lower(), SENTENCE in got
    mistyped = (
        re.sub(r"[^\W\d_]", "", got) == re.sub(r"[^\W\d_]", "", SENTENCE)
        and 1 <= len(changed_words(SENTENCE, got)) <= 2
    )
    assert spaced or cased or wrapped or mistyped


# ----------------------------------------------------------------------------------------------- personas


def test_persona_targets_of_one_domain() -> None:
    pairs = set(draw(persona_targets("Age"), seed=1, n=40))
    assert pairs == {(p, t) for p in personas_for("Age") for t in ("old", "nonOld")}
    assert domain_targets("SES") == ("lowSES", "highSES")
    assert domain_targets("Religion") == personas_for("Religion")
    assert ("default", "old") in set(draw(persona_targets("Age", include_default=True), seed=1, n=60))


def test_persona_targets_of_any_domain() -> None:
    pairs = draw(persona_targets(), seed=2, n=60)
    domains = {d for p, t in pairs for d in ("Age", "SES", "Religion") if (p, t) in set(_all_pairs(d))}
    assert len(domains) >= 2
    assert all(p not in ("Orthodox", "Alaskan") for p, _ in pairs)


def _all_pairs(domain: str) -> list[tuple[str, str]]:
    return [(p, t) for p in personas_for(domain) for t in domain_targets(domain)]


def test_unknown_domain() -> None:
    with pytest.raises(ConfigError, match="did you mean 'Religion'"):
        persona_targets("Relgion")


# ----------------------------------------------------------------------------------------------- draw


def test_draw_is_reproducible_and_seed_dependent() -> None:
    strategy = typos(SENTENCE, count=3)
    first = draw(strategy, seed=8888, n=5)
    assert first == draw(strategy, seed=8888, n=5)
    assert first != draw(strategy, seed=8889, n=5)
    assert len(set(first)) == 5


def test_draw_is_reproducible_across_processes() -> None:
    code = (
        "from pytest_llmtrust.strategies import draw, typos, perturbations\n"
        f"print(draw(typos({SENTENCE!r}, count=3), seed=7, n=3), draw(perturbations('a b c'), seed=7, n=4))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout
        for hash_seed in ("1", "2")
    }  # fmt: skip
    here = f"{draw(typos(SENTENCE, count=3), seed=7, n=3)} {draw(perturbations('a b c'), seed=7, n=4)}\n"
    assert outputs == {here}


def test_draw_repeats_only_when_the_strategy_runs_out() -> None:
    assert sorted(draw(st.sampled_from("ab"), seed=0, n=4)) in (["a", "a", "b", "b"], ["a", "a", "a", "b"],
                                                                ["a", "b", "b", "b"], ["a"] * 4, ["b"] * 4)  # fmt: skip
    with pytest.raises(ConfigError, match="positive integer"):
        draw(st.just(1), seed=0, n=0)


@settings(max_examples=3, deadline=None, database=None, suppress_health_check=[HealthCheck.nested_given])
@given(x=st.integers(0, 3))
def test_draw_works_inside_a_given_test_that_allows_nesting(x: int) -> None:
    assert draw(st.just(x), seed=x, n=2) == [x, x]


def test_derive_seed_is_stable() -> None:
    assert derive_seed(8888, "a b") == derive_seed(8888, "a b") == 12608317441705947057
    assert derive_seed(8888, "a b") != derive_seed(8889, "a b")
