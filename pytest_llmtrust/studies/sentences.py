"""A small, dependency-free English sentence splitter (a stand-in for nltk's ``sent_tokenize``).

Rules, in order:

1. Blank lines end paragraphs, and a paragraph always ends a sentence (headings, dialogue lines).
   Inside a paragraph every run of whitespace (hard line wraps included) becomes one space.
2. A sentence ends at ``.``, ``!``, ``?`` or ``…`` (repeats such as ``?!`` or ``...`` allowed),
   plus any closing quotes or brackets, when whitespace follows and the next word starts with a
   capital letter, a digit, or an opening quote or bracket. So ``"Stop!" he cried.`` stays one
   sentence, and so does ``see?—Posted`` (no space after the mark).
3. A single ``.`` does not end a sentence after a known abbreviation (``Mr. Mrs. Dr. St. Prof.
   Capt. etc. e.g. vs.`` ...), after an initial (one capital letter other than ``I``: ``J. K.
   Rowling``), or after a dotted initialism (``U.S.``, ``a.m.``). ``No.``, ``p.``, ``pp.``,
   ``vol.``, ``fig.``, ``ch.`` and ``art.`` are abbreviations only before a number (``No. 5``),
   so ``No. They must`` is two sentences.

Like every rule-based splitter it errs on rare cases (a sentence that really ends with ``etc.``
or ``U.S.`` is joined to the next); for a leakage test that only moves block boundaries.
"""

from __future__ import annotations

import re

__all__ = ["ABBREVIATIONS", "NUMBER_ABBREVIATIONS", "split_paragraphs", "split_sentences"]

ABBREVIATIONS: frozenset[str] = frozenset(
    """
    mr mrs ms messrs mme mlle dr st jr sr prof rev revd hon gen col maj capt cpt lt sgt cmdr adm gov
    sen rep pres supt insp mt ft ave blvd rd esq etc vs viz cf al approx dept est inc ltd co corp bros
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    """.split()
)
"""Words (lower case, without the period) that a period after does not end a sentence."""

NUMBER_ABBREVIATIONS: frozenset[str] = frozenset("no nos p pp vol vols fig figs ch chap art sec".split())
"""Abbreviations only when a number follows (``No. 5``); otherwise the period ends the sentence."""

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
_SPACE = re.compile(r"\s+")
_BOUNDARY = re.compile(r"""([.!?…]+)(["'”’)\]]*) (?=["'“‘(\[]*[A-Z0-9])""")
_OPENERS = "\"'“‘(["
_INITIALISM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")


def split_paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of ``text`` (blank-line separated), each on one line with single spaces."""
    paragraphs = (_SPACE.sub(" ", block).strip() for block in _PARAGRAPH_BREAK.split(text))
    return [p for p in paragraphs if p]


def _is_abbreviation(word: str, following: str) -> bool:
    """Whether ``word`` (the token before a single period) marks an abbreviation, not a sentence end."""
    token = word.lstrip(_OPENERS)
    if not token:
        return False
    low = token.lower()
    if low in ABBREVIATIONS or _INITIALISM.fullmatch(token):
        return True
    if len(token) == 1 and token.isupper() and token != "I":
        return True
    return low in NUMBER_ABBREVIATIONS and following[:1].isdigit()


def _split_paragraph(paragraph: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        if match.group(1) == ".":
            word_start = paragraph.rfind(" ", start, match.start(1)) + 1
            word = paragraph[max(word_start, start) : match.start(1)]
            if _is_abbreviation(word, paragraph[match.end() :]):
                continue
        sentences.append(paragraph[start : match.end(2)])
        start = match.end()
    sentences.append(paragraph[start:])
    return [s for s in sentences if s]


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (see the module docstring for the rules).

    Each sentence has its inner whitespace collapsed to single spaces, so joining the result
    with single spaces gives the text's paragraphs back, one after the other.
    """
    return [s for p in split_paragraphs(text) for s in _split_paragraph(p)]
