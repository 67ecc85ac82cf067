"""AlignEZ direction finding on synthetic activations: planted directions, filters, variance, layer choice."""

from __future__ import annotations

import math

import pytest
import torch

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.steering.directions import (
    Directions,
    ccs_direction,
    filter_for_query,
    filter_pairs,
    find_directions,
    layer_scores,
    mean_difference,
    select_layers,
    select_layers_without_query,
    svd_directions,
)


def unit(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    return u / u.norm()


def planted(
    k: int = 512, d: int = 16, seed: int = 0, strength: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """help = base + c_i·u, harm = base − c_i·u, plus noise; c_i varies across pairs (CCS needs that)."""
    torch.manual_seed(seed)
    u = unit(d, seed + 100)
    base = 0.3 * torch.randn(k, d)
    c = strength * torch.empty(k, 1).uniform_(0.5, 2.0)
    help = base + c * u + 0.1 * torch.randn(k, d)
    harm = base - c * u + 0.1 * torch.randn(k, d)
    return help, harm, u


@pytest.mark.parametrize("method", ["svd", "ccs", "mean_diff"])
def test_planted_direction_is_recovered_and_oriented(method: str) -> None:
    help, harm, u = planted()
    found = find_directions({3: help}, {3: harm}, method=method)  # type: ignore[arg-type]
    assert list(found) == [3]
    result = found[3]
    assert isinstance(result, Directions)
    assert result.method == method
    assert result.helpful.shape == (1, 16)
    assert result.helpful.dtype == torch.float32
    assert float(result.helpful[0] @ u) > 0.95
    assert float(result.harmful[0] @ u) < -0.95
    assert torch.equal(result.harmful, -result.helpful)
    assert torch.allclose(result.helpful.norm(dim=1), torch.ones(1))
    assert result.total_pairs == 512
    assert 0 < result.kept_pairs <= 512
    assert 0.0 < result.explained_variance <= 1.0
    assert result.separation > 0.5


def test_svd_recovers_constant_offset_as_in_the_spec() -> None:
    torch.manual_seed(1)
    u = unit(16, 7)
    base = 0.3 * torch.randn(64, 16)
    help = base + 1.5 * u + 0.1 * torch.randn(64, 16)
    harm = base - 1.5 * u + 0.1 * torch.randn(64, 16)
    for method in ("svd", "mean_diff"):
        result = find_directions({0: help}, {0: harm}, method=method)[0]  # type: ignore[arg-type]
        assert float(result.helpful[0] @ u) > 0.95
        assert float(result.harmful[0] @ u) < -0.95


def test_ccs_is_deterministic_for_a_seed() -> None:
    help, harm, _ = planted(k=64, seed=3)
    first = ccs_direction(help, harm, seed=5, steps=200)
    second = ccs_direction(help, harm, seed=5, steps=200)
    assert torch.equal(first, second)


def test_mean_difference_is_the_normalised_gap() -> None:
    help = torch.tensor([[2.0, 0.0], [4.0, 2.0]])
    harm = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(mean_difference(help, harm), torch.tensor([[1.0, 0.0]]))
    with pytest.raises(ConfigError, match="means are equal"):
        mean_difference(help, help)


def test_filter_pairs_drops_near_identical_pairs() -> None:
    help = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    harm = torch.tensor([[1.0, 0.01], [0.0, 1.0], [0.0, -1.0], [1.0, 0.5]])  # cos ≈ 1, 0, -1, 0.949
    kept_help, kept_harm = filter_pairs(help, harm, 0.8)
    assert torch.equal(kept_help, help[1:3])
    assert torch.equal(kept_harm, harm[1:3])
    kept_help, _ = filter_pairs(help, harm, 0.96)
    assert kept_help.shape[0] == 3


def test_filter_pairs_raises_when_nothing_is_left() -> None:
    help = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    harm = torch.tensor([[1.0, 0.1], [0.1, 2.0]])
    with pytest.raises(ConfigError, match="all 2 pairs") as info:
        filter_pairs(help, harm, 0.8, layer=7)
    assert "layer 7" in str(info.value)
    assert "cos_threshold" in str(info.value)
    with pytest.raises(ConfigError, match="layer 2"):
        find_directions({1: torch.eye(2), 2: help}, {1: -torch.eye(2), 2: harm})


def test_rank_two_signal_keeps_the_right_number_of_directions() -> None:
    torch.manual_seed(0)
    left, _ = torch.linalg.qr(torch.randn(10, 3, dtype=torch.float64))
    right, _ = torch.linalg.qr(torch.randn(6, 3, dtype=torch.float64))
    diff = (left @ torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)) @ right.T).float()
    # explained variance: 9/14 ≈ 0.643, then 13/14 ≈ 0.929, then 1.
    directions, explained = svd_directions(diff, 0.9)
    assert directions.shape == (2, 6)
    assert torch.allclose(explained, torch.tensor([9 / 14, 4 / 14]), atol=1e-5)
    overlap = directions.double() @ right[:, :2]
    assert torch.allclose(overlap.abs(), torch.eye(2, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(directions @ directions.T, torch.eye(2), atol=1e-5)
    assert svd_directions(diff, 0.6)[0].shape == (1, 6)
    assert svd_directions(diff, 13 / 14)[0].shape == (2, 6)
    assert svd_directions(diff, 0.95)[0].shape == (3, 6)
    assert svd_directions(diff, 1.0)[0].shape == (3, 6)


def test_svd_directions_are_oriented_along_the_mean_difference() -> None:
    torch.manual_seed(2)
    diff = torch.randn(40, 8) + torch.tensor([2.0, -1.0, 0, 0, 0, 0, 0, 0])
    directions, _ = svd_directions(diff, 0.99)
    assert bool(((diff.mean(dim=0) @ directions.T) > 0).all())
    flipped, _ = svd_directions(-diff, 0.99)
    assert torch.allclose(flipped, -directions, atol=1e-5)


@pytest.mark.parametrize("variance", [0.0, -0.1, 1.5, math.nan])
def test_variance_outside_unit_interval_is_rejected(variance: float) -> None:
    with pytest.raises(ConfigError, match=r"variance must be in \(0, 1\]"):
        svd_directions(torch.eye(3), variance)
    with pytest.raises(ConfigError, match="variance"):
        find_directions({0: torch.eye(3)}, {0: -torch.eye(3)}, variance=variance)


def test_bad_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="same shape"):
        find_directions({0: torch.ones(3, 4)}, {0: torch.ones(2, 4)})
    with pytest.raises(ConfigError, match="2-D"):
        find_directions({0: torch.ones(4)}, {0: torch.ones(4)})
    with pytest.raises(ConfigError, match="no embeddings"):
        find_directions({0: torch.ones(0, 4)}, {0: torch.ones(0, 4)})
    with pytest.raises(ConfigError, match="same, non-empty set of layers"):
        find_directions({0: torch.eye(2)}, {1: -torch.eye(2)})
    with pytest.raises(ConfigError, match="same, non-empty set of layers"):
        find_directions({}, {})
    with pytest.raises(ConfigError, match="unknown steering method"):
        find_directions({0: torch.eye(2)}, {0: -torch.eye(2)}, method="pca")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 2 pairs"):
        ccs_direction(torch.ones(1, 3), -torch.ones(1, 3))
    with pytest.raises(ConfigError, match="cos_threshold"):
        filter_pairs(torch.eye(2), -torch.eye(2), 1.5)


def test_filter_for_query_keeps_only_directions_the_query_does_not_express() -> None:
    directions = torch.eye(4)
    q = torch.tensor([1.0, -1.0, 0.0, 2.0])
    assert torch.equal(filter_for_query(q, directions), directions[[1, 2]])
    assert torch.equal(filter_for_query(torch.zeros(4), directions), directions)
    assert filter_for_query(torch.ones(4), directions).shape == (0, 4)
    with pytest.raises(ConfigError, match="query"):
        filter_for_query(torch.ones(3), directions)


def test_select_layers_picks_the_layers_with_the_planted_signal() -> None:
    torch.manual_seed(4)
    directions = {layer: unit(12, layer).unsqueeze(0) for layer in range(6)}
    queries = {}
    for layer, theta in directions.items():
        noise = torch.randn(12)
        noise = noise - (noise @ theta[0]) * theta[0]  # orthogonal to θ: score 0 from the noise
        weight = {1: -3.0, 4: -2.0, 2: 5.0}.get(layer, -0.1)  # layer 2 already expresses θ: filtered out
        queries[layer] = noise + weight * theta[0]
    scores = layer_scores(queries, directions)
    assert scores[2] == 0.0
    assert select_layers(queries, directions, n=2) == [1, 4]
    assert select_layers(queries, directions, n=3, query_filter=False) == [1, 2, 4]
    assert select_layers(queries, directions, n=10) == list(range(6))
    with pytest.raises(ConfigError, match=">= 1"):
        select_layers(queries, directions, n=0)
    with pytest.raises(ConfigError, match="no query embedding for layers \\[5\\]"):
        select_layers({k: v for k, v in queries.items() if k != 5}, directions)


def test_select_layers_without_query_prefers_the_separated_layers() -> None:
    help_by_layer, harm_by_layer = {}, {}
    for layer in range(5):
        help, harm, _ = planted(k=64, seed=layer, strength=1.0 if layer in (1, 3) else 0.05)
        help_by_layer[layer], harm_by_layer[layer] = help, harm
    found = find_directions(help_by_layer, harm_by_layer, method="mean_diff", cos_threshold=1.0)
    assert select_layers_without_query(found, n=2) == [1, 3]
    assert len(select_layers_without_query(found, n=2, score="explained_variance")) == 2
    with pytest.raises(ConfigError, match="unknown layer score"):
        select_layers_without_query(found, score="norm")  # type: ignore[arg-type]
