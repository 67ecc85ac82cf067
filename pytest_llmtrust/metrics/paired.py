"""Paired comparisons of two models on the same prompts: McNemar's exact test and win/tie/lose.

A/B runs ask the base and the steered model the same prompts, so their outcomes are paired.
For a yes/no outcome (refused or not), only the *discordant* prompts carry information:
``b`` where only A said yes and ``c`` where only B did. McNemar's exact test is the two-sided
binomial test of ``b`` against ``Binomial(b + c, 1/2)``; the sign test on pairwise wins and
losses (ties dropped) is the same computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips (1.0 when ``n == 0``)."""
    if n < 0 or not 0 <= k <= n:
        raise ConfigError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 1.0
    tail = min(k, n - k)
    p = 2.0 * sum(math.comb(n, i) for i in range(tail + 1)) / 2.0**n
    return min(1.0, p)


@dataclass(frozen=True, slots=True)
class PairedOutcome:
    """Yes/no outcomes of models A and B on the same ``n`` prompts (``None`` outcomes dropped)."""

    both: int
    a_only: int
    b_only: int
    neither: int

    @property
    def n(self) -> int:
        """Prompts with an outcome from both models."""
        return self.both + self.a_only + self.b_only + self.neither

    @property
    def rate_a(self) -> float:
        """A's yes-rate."""
        return (self.both + self.a_only) / self.n if self.n else math.nan

    @property
    def rate_b(self) -> float:
        """B's yes-rate."""
        return (self.both + self.b_only) / self.n if self.n else math.nan

    @property
    def difference(self) -> float:
        """``rate_b - rate_a``."""
        return self.rate_b - self.rate_a

    @property
    def p_value(self) -> float:
        """McNemar's exact test (two-sided) on the discordant prompts."""
        return binomial_two_sided(self.a_only, self.a_only + self.b_only)

    def summary(self, a: str = "base", b: str = "steered", outcome: str = "yes") -> str:
        """One line: both rates, the difference, the discordant counts and the p-value."""
        return (
            f"{outcome}: {a} {self.rate_a:.3f} vs {b} {self.rate_b:.3f} ({self.difference:+.3f}, n={self.n}; "
            f"only {a} {self.a_only}, only {b} {self.b_only}; McNemar exact p={self.p_value:.3g})"
        )


def paired_outcome(a: Sequence[bool | None], b: Sequence[bool | None]) -> PairedOutcome:
    """Count the four cells; prompts where either outcome is ``None`` (unjudged) are left out."""
    if len(a) != len(b):
        raise ConfigError(f"paired outcomes need equal lengths, got {len(a)} and {len(b)}")
    cells = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for x, y in zip(a, b, strict=True):
        if x is not None and y is not None:
            cells[(bool(x), bool(y))] += 1
    return PairedOutcome(cells[(True, True)], cells[(True, False)], cells[(False, True)], cells[(False, False)])


@dataclass(frozen=True, slots=True)
class WinTieLose:
    """Pairwise judge verdicts of B against A: wins, ties and losses of B."""

    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        """Judged pairs."""
        return self.wins + self.ties + self.losses

    @property
    def net(self) -> float:
        """``(wins - losses) / n``: the paper's Net = Win% − Lose%, as a fraction."""
        return (self.wins - self.losses) / self.n if self.n else math.nan

    @property
    def p_value(self) -> float:
        """Exact sign test (two-sided) on wins against losses, ties dropped."""
        return binomial_two_sided(self.wins, self.wins + self.losses)

    def summary(self) -> str:
        """One line with the counts, percentages, Net and the sign test."""
        if not self.n:
            return "win/tie/lose: no judged pairs"
        pct = [100.0 * x / self.n for x in (self.wins, self.ties, self.losses)]
        return (
            f"win/tie/lose {self.wins}/{self.ties}/{self.losses} ({pct[0]:.1f}%/{pct[1]:.1f}%/{pct[2]:.1f}%), "
            f"net {100.0 * self.net:+.1f}%, sign test p={self.p_value:.3g}"
        )


def win_tie_lose(verdicts: Sequence[str | None]) -> WinTieLose:
    """Count ``"win"``/``"tie"``/``"lose"`` verdicts (of B against A); ``None`` (unjudged) is left out."""
    counts = {"win": 0, "tie": 0, "lose": 0}
    for v in verdicts:
        if v is None:
            continue
        if v not in counts:
            raise ConfigError(f"a pairwise verdict is 'win', 'tie' or 'lose', got {v!r}")
        counts[v] += 1
    return WinTieLose(counts["win"], counts["tie"], counts["lose"])
