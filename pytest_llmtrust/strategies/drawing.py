"""Reproducible examples from a strategy, for studies that perturb their items with a seed.

``SearchStrategy.example()`` is for the console: it is not seeded and warns. :func:`draw` runs
the strategy through Hypothesis' own engine instead (an inner ``@given`` test under
``@seed``), with no example database and only the generate phase, collects a pool of
examples and picks ``n`` of them with ``random.Random(seed)``. The same seed, strategy and
Hypothesis version give the same examples.

Hypothesis tries the simplest example first and favours small ones early on; drawing from a
pool (at least 10, or twice ``n``) keeps a study's single draw from always being the simplest.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

T = TypeVar("T")
MIN_POOL = 10


def pool(strategy: SearchStrategy[T], seed: int, size: int) -> list[T]:
    """Up to ``size`` examples in Hypothesis' generation order (fewer when the strategy runs out)."""
    found: list[T] = []

    @hypothesis_seed(seed)
    @settings(
        database=None,
        max_examples=size,
        phases=[Phase.generate],
        derandomize=False,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(strategy)
    def collect(example: T) -> None:
        found.append(example)

    collect()
    return found


def draw(strategy: SearchStrategy[T], seed: int, n: int = 1) -> list[T]:
    """``n`` examples of ``strategy``, the same ones for the same ``seed``.

    Picks ``n`` distinct draws from a pool of ``max(10, 2 * n)`` (with repeats only when the
    strategy has fewer examples than ``n``).

    Raises:
        ConfigError: ``n`` is below 1.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"draw(): n must be a positive integer, got {n!r}")
    found = pool(strategy, seed, max(MIN_POOL, 2 * n))
    rng = random.Random(seed)
    if len(found) >= n:
        return rng.sample(found, n)
    return [rng.choice(found) for _ in range(n)]


def derive_seed(seed: int, *keys: object) -> int:
    """A seed for one item (e.g. one scenario) from the run's seed and the item's keys, stable across runs."""
    text = "\x1f".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
