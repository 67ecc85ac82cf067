"""Find token prefixes that many prompts share, so their key/value cache is computed once.

Persona-bias prompts repeat a long opening (system prompt, chat-template tokens, the task
instruction) before the part that changes (context, question, options). :func:`group_by_prefix`
finds such openings in plain token lists, knowing nothing of prompts or personas:

1. Sort the rows lexicographically; rows with a common prefix become neighbours.
2. For a cut-off ``T``, split the sorted rows wherever two neighbours share fewer than ``T``
   tokens. Each run shares the smallest neighbour overlap inside it.
3. Pick the ``T`` that saves the most tokens, counting only runs of at least ``min_group``
   rows (a shared prefix pays off only when its cache serves whole batches).

Every prefix stops at least one token short of each of its rows, so every row keeps a
non-empty suffix whose last position gives the next-token logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_MIN_PREFIX = 8
"""Shorter shared openings are not worth a separate cache."""


@dataclass(frozen=True)
class PrefixGroup:
    """Rows (by index into the caller's list) that share their first ``prefix_len`` tokens."""

    prefix_len: int
    indices: tuple[int, ...]


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _runs(overlaps: Sequence[int], cutoff: int) -> list[tuple[int, int, int]]:
    """Runs ``(start, stop, shared)`` of sorted rows whose neighbour overlaps are all >= ``cutoff``."""
    runs: list[tuple[int, int, int]] = []
    start, shared = 0, -1
    for k, overlap in enumerate(overlaps):
        if overlap >= cutoff:
            shared = overlap if shared < 0 else min(shared, overlap)
            continue
        runs.append((start, k + 1, max(shared, 0)))
        start, shared = k + 1, -1
    runs.append((start, len(overlaps) + 1, max(shared, 0)))
    return runs


def _saving(runs: Sequence[tuple[int, int, int]], min_group: int) -> int:
    return sum((stop - start - 1) * shared for start, stop, shared in runs if stop - start >= min_group)


def group_by_prefix(
    rows: Sequence[Sequence[int]], *, min_group: int, min_prefix: int = DEFAULT_MIN_PREFIX
) -> list[PrefixGroup]:
    """Partition row indices into groups that share a token prefix (see the module docstring).

    Args:
        rows: token ids per prompt; every row must be non-empty.
        min_group: the fewest rows a shared prefix must serve.
        min_prefix: the shortest prefix worth sharing.

    Returns:
        Groups covering every index exactly once, in sorted-row order. Rows that share no
        useful prefix are pooled into one group with ``prefix_len == 0``, listed last.
    """
    if any(len(r) == 0 for r in rows):
        raise ValueError("every row needs at least one token")
    order = sorted(range(len(rows)), key=lambda i: tuple(rows[i]))
    if len(order) < max(min_group, 2):
        return [PrefixGroup(0, tuple(order))] if order else []
    overlaps = []
    for a, b in pairwise(order):
        # keep one token of each row out of the prefix, so each row has a suffix to score
        limit = min(len(rows[a]), len(rows[b])) - 1
        overlaps.append(min(common_prefix_len(rows[a], rows[b]), limit))
    cutoffs = sorted({o for o in overlaps if o >= min_prefix})
    best: list[tuple[int, int, int]] = []
    best_saving = 0
    for cutoff in cutoffs:
        runs = _runs(overlaps, cutoff)
        saving = _saving(runs, min_group)
        if saving > best_saving:
            best, best_saving = runs, saving
    groups: list[PrefixGroup] = []
    pooled: list[int] = []
    for start, stop, shared in best or [(0, len(order), 0)]:
        members = order[start:stop]
        if stop - start >= min_group and shared >= min_prefix:
            groups.append(PrefixGroup(shared, tuple(members)))
        else:
            pooled.extend(members)
    if pooled:
        groups.append(PrefixGroup(0, tuple(pooled)))
    return groups
