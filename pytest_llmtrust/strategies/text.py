"""Hypothesis strategies that perturb a prompt: typos, casing, whitespace and paraphrase templates.

Each takes the text and returns a ``SearchStrategy[str]`` of perturbed versions. Each shrinks
towards the least perturbed version, so a failing property test reports the smallest change
that breaks the model: :func:`typos` towards fewer typos, :func:`casing`
towards the original casing, :func:`whitespace` towards single spaces, :func:`paraphrases`
towards the first template (``"{text}"``, the prompt as it is).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.strategies.keyboard import Typo, apply_typos, kinds_at, substitutes, words

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hypothesis.strategies import DrawFn, SearchStrategy

DEFAULT_RATE = 0.1
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "{text}",
    "Question: {text}",
    "Please answer the following. {text}",
    "{text} Answer briefly.",
    "I have a question for you. {text}",
    "{text}\n\nThink about it before you answer.",
    "Here is something I would like to know: {text}",
)
"""Our paraphrase wrappers; ``{text}`` is replaced by the prompt (the first one leaves it as it is)."""

CASE_STYLES = ("keep", "lower", "upper", "title", "random")
_SPACES = (" ", "\t", "\n")
_TOKENS = re.compile(r"\S+|\s+")


def typo_count_range(text: str, rate: float | None = None, count: int | tuple[int, int] | None = None) -> range:
    """How many typos :func:`typos` may put into ``text``, checked and clipped to its typo-able words.

    ``count=k``: exactly ``k``; ``count=(lo, hi)``: ``lo`` to ``hi``; ``rate=r`` (the default, 0.1):
    1 to ``max(1, round(r * words))`` (halves rounded up). Counts above the number of words are clipped to it.

    Raises:
        ConfigError: both ``rate`` and ``count`` are given, or one is out of range.
    """
    n = len(words(text))
    if rate is not None and count is not None:
        raise ConfigError("typos(): give rate or count, not both")
    if count is None:
        r = DEFAULT_RATE if rate is None else rate
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0.0 < r <= 1.0:
            raise ConfigError(f"typos(): rate must be a fraction of the words in (0, 1], got {r!r}")
        lo, hi = 1, max(1, _half_up(r * n))
    elif isinstance(count, tuple):
        if len(count) != 2 or not all(isinstance(c, int) and not isinstance(c, bool) for c in count):
            raise ConfigError(f"typos(): count must be an int or a (low, high) pair of ints, got {count!r}")
        lo, hi = count
    elif isinstance(count, int) and not isinstance(count, bool):
        lo = hi = count
    else:
        raise ConfigError(f"typos(): count must be an int or a (low, high) pair of ints, got {count!r}")
    if not 0 <= lo <= hi:
        raise ConfigError(f"typos(): need 0 <= low <= high typos, got {lo}..{hi}")
    return range(min(lo, n), min(hi, n) + 1)


@st.composite
def _typo_set(draw: DrawFn, text: str, counts: range) -> str:
    spots = words(text)
    chosen = draw(
        st.lists(st.integers(0, len(spots) - 1), min_size=counts.start, max_size=counts.stop - 1, unique=True)
    )
    typos = []
    for index in chosen:
        start, word = spots[index]
        position = draw(st.integers(1, len(word) - 1))
        kind = draw(st.sampled_from(kinds_at(word, position)))
        char = draw(st.sampled_from(substitutes(word[position]))) if kind == "substitute" else ""
        typos.append(Typo(start, word, position, kind, char))
    return apply_typos(text, typos)


def typos(text: str, *, rate: float | None = None, count: int | tuple[int, int] | None = None) -> SearchStrategy[str]:
    """``text`` with realistic typos (see :mod:`~pytest_llmtrust.strategies.keyboard`), one a word at most.

    Only letters after the first of a word change; spaces, digits and punctuation never do, so
    the word count is kept. A text with no word of two letters comes back unchanged.

    Args:
        text: the prompt to mistype.
        rate: mistype 1 to ``max(1, round(rate * words))`` words (default 0.1 when no count is given).
        count: exactly this many typos, or a ``(low, high)`` range; clipped to the number of words.

    Shrinks towards fewer typos in earlier words (a failing example ends with the smallest typo set).
    """
    counts = typo_count_range(text, rate, count)
    if counts.stop - 1 == 0:
        return st.just(text)
    return _typo_set(text, counts)


def _style(word: str, style: str, flips: Sequence[bool]) -> str:
    if style == "lower":
        return word.lower()
    if style == "upper":
        return word.upper()
    if style == "title":
        return word[:1].upper() + word[1:].lower()
    if style == "random":
        return "".join(c.upper() if up else c.lower() for c, up in zip(word, flips, strict=False))
    return word


@st.composite
def _cased(draw: DrawFn, text: str) -> str:
    out = []
    for token in _TOKENS.findall(text):
        if token.isspace():
            out.append(token)
            continue
        style = draw(st.sampled_from(CASE_STYLES))
        flips = draw(st.lists(st.booleans(), min_size=len(token), max_size=len(token))) if style == "random" else []
        out.append(_style(token, style, flips))
    return "".join(out)


def casing(text: str) -> SearchStrategy[str]:
    """``text`` with each word kept, lower-cased, upper-cased, title-cased or randomly cased.

    Whitespace is kept as it is. Shrinks towards the original casing (the text itself).
    """
    return _cased(text)


_SEPARATOR = st.one_of(st.just(" "), st.lists(st.sampled_from(_SPACES), min_size=1, max_size=3).map("".join))
_EDGE = st.lists(st.sampled_from(_SPACES), max_size=2).map("".join)


@st.composite
def _spaced(draw: DrawFn, text: str) -> str:
    parts = text.split()
    lead = draw(_EDGE)
    body = "".join(part + (draw(_SEPARATOR) if i < len(parts) - 1 else "") for i, part in enumerate(parts))
    return lead + body + draw(_EDGE)


def whitespace(text: str) -> SearchStrategy[str]:
    """``text`` with the whitespace between words redrawn (spaces, tabs, newlines) and some added around it.

    The words themselves, and so ``text.split()``, are kept. Shrinks towards single spaces and no
    leading or trailing whitespace (``" ".join(text.split())``).
    """
    return _spaced(text)


def check_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """Validate paraphrase templates: a non-empty list of strings that each contain ``{text}``.

    Raises:
        ConfigError: a template is not a string or lacks ``{text}``, or there is none.
    """
    if isinstance(templates, str):
        raise ConfigError("paraphrases(): templates must be a list of strings, not one string")
    checked = tuple(templates)
    if not checked:
        raise ConfigError("paraphrases(): at least one template is needed")
    for template in checked:
        if not isinstance(template, str) or "{text}" not in template:
            raise ConfigError(f"paraphrases(): template {template!r} must be a string containing '{{text}}'")
    return checked


def paraphrases(text: str, templates: Sequence[str] = DEFAULT_TEMPLATES) -> SearchStrategy[str]:
    """``text`` wrapped in one of ``templates`` (``{text}`` replaced; other braces are literal).

    Shrinks towards the first template.
    """
    return st.sampled_from(check_templates(templates)).map(lambda t: t.replace("{text}", text))


def perturbations(text: str) -> SearchStrategy[str]:
    """One of :func:`typos` (default rate), :func:`casing`, :func:`whitespace` or :func:`paraphrases` of ``text``."""
    return st.one_of(typos(text), casing(text), whitespace(text), paraphrases(text))


def typo_budget(text: str, rate: float) -> int:
    """The typo count for ``rate`` of the words of ``text``: ``max(1, round(rate * words))``, 0 when it has none."""
    n = len(words(text))
    return 0 if n == 0 else max(1, _half_up(rate * n))


def _half_up(x: float) -> int:
    """``x`` rounded half up (``round`` rounds halves to even)."""
    return math.floor(x + 0.5)
