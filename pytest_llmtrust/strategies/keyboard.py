"""Realistic typos as plain functions: a QWERTY neighbour map and four single-letter edits.

A typo changes one letter *inside* a word, never its first letter: people rarely mistype the
first letter of a word (in the survey authors' GPT-4 typos, well under 1% of changed words had a
new first letter), and keeping it keeps the word recognisable. A word is a run of at least two
letters, so ``haven't`` offers ``haven`` only. Edits:

- ``substitute``: the letter becomes a key next to it on a QWERTY keyboard (case kept);
- ``transpose``: the letter swaps with the next letter of the word (only where they differ);
- ``delete``: the letter is dropped;
- ``duplicate``: the letter is typed twice.

Every edit changes the word and is one Damerau-Levenshtein edit. Hypothesis strategies over
these functions live in :mod:`pytest_llmtrust.strategies.text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

Kind = Literal["substitute", "transpose", "delete", "duplicate"]
KINDS: tuple[Kind, ...] = ("substitute", "transpose", "delete", "duplicate")
"""The edits."""

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
WORD = re.compile(r"[^\W\d_]{2,}")
"""A word that can take a typo: two or more letters."""


def _neighbours() -> dict[str, str]:
    """Keys touching each letter on a staggered QWERTY layout (row i+1 sits half a key right of row i)."""
    out: dict[str, str] = {}
    for r, row in enumerate(_ROWS):
        for i, key in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r > 0:  # the row above: the key up-left and up-right of this one
                near += [_ROWS[r - 1][j] for j in (i, i + 1) if j < len(_ROWS[r - 1])]
            if r < len(_ROWS) - 1:  # the row below: down-left and down-right
                near += [_ROWS[r + 1][j] for j in (i - 1, i) if 0 <= j < len(_ROWS[r + 1])]
            out[key] = "".join(sorted(near))
    return out


QWERTY: Mapping[str, str] = MappingProxyType(_neighbours())
"""Lower-case letter -> the letters on the keys around it (e.g. ``g`` -> ``bfhtvy``)."""


@dataclass(frozen=True, slots=True)
class Typo:
    """One edit at letter ``position`` (>= 1) of the word starting at text offset ``start``."""

    start: int
    word: str
    position: int
    kind: Kind
    char: str = ""
    """The replacement letter of a ``substitute`` edit (empty for the others)."""

    def apply(self) -> str:
        """The mistyped word."""
        w, i = self.word, self.position
        if self.kind == "substitute":
            return w[:i] + self.char + w[i + 1 :]
        if self.kind == "transpose":
            return w[:i] + w[i + 1] + w[i] + w[i + 2 :]
        if self.kind == "delete":
            return w[:i] + w[i + 1 :]
        return w[:i] + w[i] + w[i:]


def words(text: str) -> list[tuple[int, str]]:
    """``(offset, word)`` of every word of ``text`` that can take a typo."""
    return [(m.start(), m.group(0)) for m in WORD.finditer(text)]


def kinds_at(word: str, position: int) -> tuple[Kind, ...]:
    """The edits that change ``word`` at ``position`` (1 <= position < len(word))."""
    out: list[Kind] = []
    if word[position].lower() in QWERTY:
        out.append("substitute")
    if position + 1 < len(word) and word[position] != word[position + 1]:
        out.append("transpose")
    return (*out, "delete", "duplicate")


def substitutes(letter: str) -> str:
    """The neighbouring keys of ``letter`` in its case ('' when it is not a QWERTY letter)."""
    near = QWERTY.get(letter.lower(), "")
    return near.upper() if letter.isupper() else near


def apply_typos(text: str, typos: Iterable[Typo]) -> str:
    """``text`` with each typo applied; at most one typo a word (a later one on the same word wins)."""
    by_start = {t.start: t for t in typos}
    for start in sorted(by_start, reverse=True):
        typo = by_start[start]
        if text[start : start + len(typo.word)] != typo.word:
            raise ValueError(f"typo for {typo.word!r} does not match the text at offset {start}")
        text = text[:start] + typo.apply() + text[start + len(typo.word) :]
    return text
