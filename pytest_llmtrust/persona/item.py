"""One BBQ question with the roles of its three options already worked out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Polarity = Literal["neg", "nonneg"]
Condition = Literal["ambig", "disambig"]
UNKNOWN_TARGET = "unknown"


@dataclass(frozen=True, slots=True)
class BBQItem:
    """A BBQ item: context, question, three options, the correct one, and each option's role.

    ``unknown``, ``stereotyped`` and ``anti`` are option indices (a permutation of 0, 1, 2).
    ``targets[i]`` is the target that option ``i`` names, at the level the metrics use
    (a group such as ``old`` / ``nonOld``, or a name such as ``Christian``); the UNKNOWN
    option's target is ``"unknown"``.
    """

    example_id: int
    category: str
    question_index: str
    polarity: Polarity
    condition: Condition
    context: str
    question: str
    answers: tuple[str, str, str]
    label: int
    unknown: int
    stereotyped: int
    anti: int
    targets: tuple[str, str, str]
    source: str = ""
    """Where the item came from, ``file:line``, for error messages and reports."""
    line: int = 0

    @property
    def stereotyped_target(self) -> str:
        """The target of the stereotyped option (t_s)."""
        return self.targets[self.stereotyped]

    @property
    def anti_target(self) -> str:
        """The target of the anti-stereotyped option (t_a)."""
        return self.targets[self.anti]

    def permuted(self, order: tuple[int, int, int]) -> BBQItem:
        """The same item with its options reordered: new option ``j`` is old option ``order[j]``."""
        where = {old: new for new, old in enumerate(order)}
        return BBQItem(
            example_id=self.example_id,
            category=self.category,
            question_index=self.question_index,
            polarity=self.polarity,
            condition=self.condition,
            context=self.context,
            question=self.question,
            answers=(self.answers[order[0]], self.answers[order[1]], self.answers[order[2]]),
            label=where[self.label],
            unknown=where[self.unknown],
            stereotyped=where[self.stereotyped],
            anti=where[self.anti],
            targets=(self.targets[order[0]], self.targets[order[1]], self.targets[order[2]]),
            source=self.source,
            line=self.line,
        )
