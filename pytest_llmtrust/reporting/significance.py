"""One-sided tests of "did this metric get worse?" between a baseline run and this run.

- Paired (the same prompts, one answer each): the exact McNemar test on the prompts whose
  verdict flipped, i.e. a binomial test of ``worse`` flips among ``worse + better`` at 1/2.
- Unpaired rates (k of n): Fisher's exact test on the 2×2 table.
- Other metrics with a reported interval: a normal test whose standard errors are read off
  the two 95% intervals.

Every function returns the one-sided p-value of "this run is worse than the baseline".
"""

from __future__ import annotations

import math
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)


def _binom_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2)."""
    if k <= 0:
        return 1.0
    return min(1.0, sum(math.comb(n, i) for i in range(k, n + 1)) / 2.0**n)


def mcnemar_worse(worse: int, better: int) -> float:
    """Exact one-sided McNemar p-value: ``worse`` prompts flipped the wrong way, ``better`` the right way."""
    if worse < 0 or better < 0:
        raise ValueError(f"flip counts must be >= 0, got {worse} and {better}")
    return _binom_tail(worse, worse + better)


def _hypergeom_pmf(x: int, good: int, total: int, draws: int) -> float:
    return math.comb(good, x) * math.comb(total - good, draws - x) / math.comb(total, draws)


def fisher_worse(k_base: int, n_base: int, k_now: int, n_now: int, *, higher_is_better: bool) -> float:
    """One-sided Fisher exact p-value that this run's rate is worse than the baseline's.

    With ``higher_is_better`` the alternative is "rate now < rate before", else "rate now > rate before".
    """
    for k, n in ((k_base, n_base), (k_now, n_now)):
        if n < 0 or not 0 <= k <= n:
            raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n_base == 0 or n_now == 0:
        return 1.0
    total, hits = n_base + n_now, k_base + k_now
    low, high = max(0, hits - n_base), min(hits, n_now)
    # X = hits in this run; "worse" is a small X when higher is better, a large X otherwise.
    xs = range(low, k_now + 1) if higher_is_better else range(k_now, high + 1)
    return min(1.0, sum(_hypergeom_pmf(x, hits, total, n_now) for x in xs))


def interval_worse(
    base: float, base_ci: tuple[float, float], now: float, now_ci: tuple[float, float], *, higher_is_better: bool
) -> float:
    """One-sided normal p-value from two values and their 95% intervals (standard error = width / 3.92)."""
    se = math.hypot((base_ci[1] - base_ci[0]) / (2 * Z95), (now_ci[1] - now_ci[0]) / (2 * Z95))
    drop = (base - now) if higher_is_better else (now - base)
    if se == 0.0:
        return 0.0 if drop > 0 else 1.0
    return 1.0 - NormalDist().cdf(drop / se)
