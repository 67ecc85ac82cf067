"""Verbalised confidence: read ``ANS: B, A: 20%, B: 70%, C: 10%`` replies and compare them with a reference.

Reading (tolerant, never guessing a number):

- the answer is the letter after ``ANS`` (``ANS: B``, ``ans - (B)``; not the template's ``[A/B/C]``
  echoed back), else the option the reply opens with (``B) Men``); a letter that is not an option of
  the question is no answer;
- each option's percentage is the first ``<letter><separator><number>%`` after the answer
  (``A: 70%``, ``A) 70 %``, ``A = 12.5%``, ``(A) 70%``); the ``%`` sign is required, so ``A: 0.7``
  and ``A: x%`` are not read. A reply is *parsed* when every option has a percentage of at most 100;
- without an ``ANS`` letter, the chosen answer is the option stated most likely (when unique).

Statistics: per option, the gap ``|stated/100 - reference|``; the earth mover's distance between the
stated distribution (renormalised to sum 1) and the reference with a 0/1 ground cost (which equals
half their L1 distance, i.e. total variation: options are categories, not points on a line); and the
expected calibration error over 10 equal-width confidence bins.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.studies import mcq

if TYPE_CHECKING:
    from collections.abc import Sequence

GAP = 0.05
"""An option's stated confidence is off when it differs from the reference by more than this."""
BINS = 10
_EPS = 1e-9
_ANS = re.compile(r"\bANS\b\s*[:=\-]?\s*[\[(]?\s*([A-Za-z])\b(?!\s*/)", re.IGNORECASE)
_NUMBER = r"\s*[:=)\-]?\s*(\d{1,3}(?:\.\d+)?)\s*%"


@dataclass(frozen=True, slots=True)
class Stated:
    """What one reply states: the answer letter, and per option a probability (None when unread)."""

    answer: str | None
    probs: tuple[float, ...] | None
    reason: str = ""
    total: float = field(default=math.nan)
    """The stated percentages' sum (100 for a coherent reply)."""

    @property
    def parsed(self) -> bool:
        """Whether every option's percentage was read."""
        return self.probs is not None

    @property
    def confidence(self) -> float | None:
        """The stated probability of the chosen answer."""
        if self.probs is None or self.answer is None:
            return None
        return self.probs[ord(self.answer) - ord("A")]


def read_answer(reply: str, question: mcq.Question) -> str | None:
    """The answer letter of a reply (``ANS: X``, else the option it opens with), or None."""
    m = _ANS.search(reply)
    if m is not None:
        letter = m.group(1).upper()
        return letter if letter in question.letters else None
    chosen = mcq.chosen_option(reply, question)
    return None if chosen is None else chosen.letter


def parse(reply: str, question: mcq.Question) -> Stated:
    """Read the answer and per-option percentages of one reply (see the module docstring)."""
    answer = read_answer(reply, question)
    ans = _ANS.search(reply)
    stated = _percentages(reply[ans.end() :], question) if ans is not None else None
    if stated is None or isinstance(stated, str):
        stated = _percentages(reply, question)  # the percentages may come before ANS
    if isinstance(stated, str):
        return Stated(answer, None, stated)
    probs = tuple(x / 100 for x in stated)
    if answer is None:
        top = max(probs)
        if probs.count(top) == 1:
            answer = question.letters[probs.index(top)]
    return Stated(answer, probs, "read", sum(stated))


def _percentages(text: str, question: mcq.Question) -> list[float] | str:
    """Each option's stated percentage, or why they cannot be read."""
    numbers: list[float] = []
    for letter in question.letters:
        m = re.search(rf"(?<![A-Za-z])\(?{letter}\)?(?![A-Za-z]){_NUMBER}", text)
        if m is None:
            return f"no percentage for {letter}"
        number = float(m.group(1))
        if number > 100:
            return f"percentage over 100 ({letter}: {m.group(1)}%)"
        numbers.append(number)
    return numbers


@dataclass(frozen=True, slots=True)
class Item:
    """One question with what the model stated and the reference distribution (None: none usable)."""

    question: mcq.Question
    stated: Stated
    reference: Sequence[float] | None

    @property
    def compared(self) -> bool:
        """Whether both distributions are there."""
        return self.stated.probs is not None and self.reference is not None

    @property
    def correct(self) -> bool:
        """Whether the chosen answer is the gold answer."""
        return self.stated.answer is not None and self.stated.answer == self.question.answer

    def gaps(self) -> list[float]:
        """``|stated - reference|`` per option (empty when not compared)."""
        if self.stated.probs is None or self.reference is None:
            return []
        return [abs(s - r) for s, r in zip(self.stated.probs, self.reference, strict=True)]

    def mean_gap(self) -> float | None:
        """The mean option gap of this question."""
        gaps = self.gaps()
        return statistics.fmean(gaps) if gaps else None

    def emd(self) -> float:
        """Earth mover's distance (0/1 ground cost) from the renormalised stated distribution to the reference."""
        if self.stated.probs is None or self.reference is None:
            return math.nan
        total = sum(self.stated.probs)
        stated = (
            [p / total for p in self.stated.probs]
            if total > 0
            else [1 / len(self.stated.probs)] * len(self.stated.probs)
        )
        return 0.5 * sum(abs(s - r) for s, r in zip(stated, self.reference, strict=True))

    def good(self) -> bool | None:
        """True when every option's gap is at most :data:`GAP`; None when not compared."""
        gaps = self.gaps()
        return not any(map(is_off, gaps)) if gaps else None

    def outcome(self) -> str:
        """One line for reports."""
        if self.stated.probs is None:
            return f"unparsed: {self.stated.reason}"
        if self.reference is None:
            return "left out: two or fewer readable samples"
        shown = " ".join(
            f"{x}: {s:.2f} vs {r:.2f}"
            for x, s, r in zip(self.question.letters, self.stated.probs, self.reference, strict=True)
        )
        gold = "" if self.question.answer is None else f", gold {self.question.answer}"
        return f"ANS {self.stated.answer or '?'}{gold}; stated vs reference {shown}; mean gap {self.mean_gap():.3f}"


def is_off(gap: float) -> bool:
    """Whether a gap exceeds :data:`GAP` (by more than float rounding: 0.15 - 0.10 is not over 0.05)."""
    return gap > GAP + _EPS


def ece(pairs: Sequence[tuple[float, bool]], bins: int = BINS) -> float:
    """Expected calibration error of (confidence, correct) pairs over equal-width bins (NaN when empty)."""
    if not pairs:
        return math.nan
    total = 0.0
    for b in reliability(pairs, bins):
        total += b["n"] * abs(b["accuracy"] - b["confidence"])
    return total / len(pairs)


def reliability(pairs: Sequence[tuple[float, bool]], bins: int = BINS) -> list[dict[str, Any]]:
    """Non-empty bins: their range, count, mean confidence and accuracy (the last bin includes 1.0)."""
    grouped: dict[int, list[tuple[float, bool]]] = {}
    for conf, ok in pairs:
        grouped.setdefault(min(int(conf * bins), bins - 1), []).append((conf, ok))
    return [
        {
            "bin": [k / bins, (k + 1) / bins],
            "n": len(group),
            "confidence": statistics.fmean(c for c, _ in group),
            "accuracy": sum(ok for _, ok in group) / len(group),
        }
        for k, group in sorted(grouped.items())
    ]


def stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (0 for one value, NaN for none)."""
    if not values:
        return math.nan
    return statistics.stdev(values) if len(values) > 1 else 0.0


def reference_calibration(items: Sequence[Item]) -> dict[str, Any]:
    """Accuracy and ECE of the reference itself: its most likely option, with its probability as confidence.

    This does not depend on the reply's format, so it describes the model's own calibration even when
    no stated confidence could be read.
    """
    pairs = []
    for i in items:
        ref = i.reference
        if ref is not None and i.question.answer is not None:
            top = max(range(len(ref)), key=ref.__getitem__)
            pairs.append((float(ref[top]), i.question.letters[top] == i.question.answer))
    accuracy = sum(ok for _, ok in pairs) / len(pairs) if pairs else math.nan
    return {"n": len(pairs), "accuracy": accuracy, "ece": ece(pairs)}


def details(items: Sequence[Item]) -> dict[str, Any]:
    """Counts and breakdowns kept in result files."""
    parsed = [i for i in items if i.stated.parsed]
    graded = [i for i in items if i.question.answer is not None]
    pairs = [(i.stated.confidence, i.correct) for i in graded if i.stated.confidence is not None]
    out: dict[str, Any] = {
        "parsed": len(parsed),
        "compared": sum(i.compared for i in items),
        "left_out_few_samples": sum(i.reference is None for i in items),
        "sum_not_100": sum(abs(i.stated.total - 100) > 1 for i in parsed),
        "unparsed_reasons": dict(Counter(i.stated.reason.split(" (")[0] for i in items if not i.stated.parsed)),
        "with_gold": len(graded),
        "answers": dict(sorted(Counter(i.stated.answer or "none" for i in items).items())),
    }
    if graded:
        out["reliability"] = reliability([(c, ok) for c, ok in pairs if c is not None])
        out["reference_calibration"] = reference_calibration(graded)
    else:
        out["ece_note"] = "no item has a gold answer (Answer: X), so accuracy and ece are not measured"
    return out
