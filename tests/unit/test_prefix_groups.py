"""Grouping token rows by a shared prefix (for constrained choice's key/value cache reuse)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_llmtrust.backends.prefix_groups import PrefixGroup, common_prefix_len, group_by_prefix

SYSTEM_A = list(range(100, 130))  # a 30-token opening, as a persona's system prompt + instruction
SYSTEM_B = list(range(200, 230))


def test_common_prefix_len() -> None:
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_len([1, 2], [1, 2, 3]) == 2
    assert common_prefix_len([], [1]) == 0
    assert common_prefix_len([5], [6]) == 0


def test_two_personas_give_two_groups_sharing_their_openings() -> None:
    rows = [[*SYSTEM_A, i, i + 1, i + 2] for i in range(10)] + [SYSTEM_B + [i] * (i + 1) for i in range(10)]
    groups = group_by_prefix(rows, min_group=4)
    assert sorted((g.prefix_len, sorted(g.indices)) for g in groups) == [
        (30, list(range(10))),
        (30, list(range(10, 20))),
    ]


def test_a_longer_opening_shared_by_too_few_rows_is_not_chosen() -> None:
    # pairs of rows share 40 tokens, all rows share 30: pairs are smaller than a batch, so the 30 wins
    rows = []
    for pair in range(6):
        context = [1000 + pair] * 10
        rows += [SYSTEM_A + context + [1], SYSTEM_A + context + [2]]
    (group,) = group_by_prefix(rows, min_group=4)
    assert group.prefix_len == 30
    assert sorted(group.indices) == list(range(12))


def test_rows_without_a_shared_opening_are_pooled_with_no_prefix() -> None:
    rows = [[*SYSTEM_A, i] for i in range(5)] + [[7, 8, 9], [9, 8, 7]]
    groups = group_by_prefix(rows, min_group=5)
    assert groups[-1] == PrefixGroup(0, groups[-1].indices)
    assert sorted(groups[-1].indices) == [5, 6]
    assert groups[0].prefix_len == 30


def test_short_openings_are_not_shared() -> None:
    rows = [[1, 2, 3, i] for i in range(20)]
    assert group_by_prefix(rows, min_group=2, min_prefix=8) == [PrefixGroup(0, tuple(range(20)))]


def test_identical_rows_keep_a_one_token_suffix() -> None:
    rows = [SYSTEM_A[:] for _ in range(6)]
    (group,) = group_by_prefix(rows, min_group=2)
    assert group.prefix_len == len(SYSTEM_A) - 1


def test_fewer_rows_than_a_group_are_one_plain_group() -> None:
    assert group_by_prefix([SYSTEM_A, [*SYSTEM_A, 1]], min_group=4) == [PrefixGroup(0, (0, 1))]
    assert group_by_prefix([], min_group=4) == []


def test_empty_rows_are_rejected() -> None:
    import pytest

    with pytest.raises(ValueError, match="at least one token"):
        group_by_prefix([[1], []], min_group=1)


rows_strategy = st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=12), min_size=0, max_size=40)


@given(rows=rows_strategy, min_group=st.integers(1, 6), min_prefix=st.integers(1, 4))
def test_groups_partition_the_rows_and_prefixes_are_shared_and_short_enough(
    rows: list[list[int]], min_group: int, min_prefix: int
) -> None:
    groups = group_by_prefix(rows, min_group=min_group, min_prefix=min_prefix)
    covered = sorted(i for g in groups for i in g.indices)
    assert covered == list(range(len(rows)))
    for g in groups:
        if g.prefix_len == 0:
            continue
        assert len(g.indices) >= min_group
        assert g.prefix_len >= min_prefix
        head = rows[g.indices[0]][: g.prefix_len]
        for i in g.indices:
            assert rows[i][: g.prefix_len] == head
            assert len(rows[i]) > g.prefix_len  # a suffix is left to score
