"""AlignEZ direction finding (arXiv 2406.03642), pure torch: embeddings in, unit-norm directions out.

Per layer ``l`` the inputs are ``H_help`` and ``H_harm`` (K × d): row ``i`` is the MLP output at the last
token of the helpful / harmful answer of preference pair ``i``.

1. :func:`filter_pairs` drops pair ``i`` when ``cos(help_i, harm_i) > cos_threshold`` (0.8): such pairs carry
   no contrast.
2. Directions, by ``method``:

   * ``"svd"`` (AlignEZ): SVD of ``D = H_help − H_harm`` (not centred: the signal is the mean offset), keeping
     the fewest right singular vectors whose explained variance ``s²/Σs²`` reaches ``variance`` (0.9).
   * ``"mean_diff"`` (ActAdd-style baseline): ``normalise(mean(H_help) − mean(H_harm))``.
   * ``"ccs"`` (Burns et al. 2022): the weight of an unsupervised contrast-consistent probe; see
     :func:`ccs_direction`.

**Orientation.** SVD directions are sign-ambiguous. Every helpful direction is oriented so that
``mean(D @ θ) > 0`` (a direction with no mean projection is oriented so its largest-magnitude component is
positive, which only makes the choice deterministic). The harmful set is the *same subspace with the opposite
orientation*, ``θ_harm = −θ_help``, for every method. We chose this over a separate SVD of the harmful
embeddings because both edits then act on one subspace, and a planted contrast ``±c·u`` gives helpful ``≈ +u``
and harmful ``≈ −u`` exactly (the ReLU edit removes ``x``'s component along ``−u``, the tanh edit boosts
``+u``).

At inference, :func:`filter_for_query` keeps the directions a query does not already express
(``cos(q, θ) ≤ 0``) and :func:`select_layers` ranks layers by ``‖Σ_θ ⟨q̂, θ⟩ θ‖``. Without a query,
:func:`select_layers_without_query` ranks by :attr:`Directions.separation` (scale-free norm of the mean
difference, the default) or by :attr:`Directions.explained_variance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Directions",
    "ccs_direction",
    "filter_for_query",
    "filter_pairs",
    "find_directions",
    "layer_scores",
    "mean_difference",
    "select_layers",
    "select_layers_without_query",
    "svd_directions",
]

Method = Literal["svd", "ccs", "mean_diff"]
METHODS: tuple[str, ...] = ("svd", "ccs", "mean_diff")


@dataclass(frozen=True, eq=False)
class Directions:
    """The directions found at one layer.

    Attributes:
        layer: the layer index.
        method: ``"svd"``, ``"ccs"`` or ``"mean_diff"``.
        helpful: unit-norm helpful directions (k, d), float32.
        harmful: unit-norm harmful directions (k, d), float32; always ``-helpful``.
        kept_pairs: pairs left after the cosine filter.
        total_pairs: pairs before it.
        explained_variance: share of ``‖H_help − H_harm‖²`` (kept pairs) along the directions.
        separation: ``‖mean(H_help) − mean(H_harm)‖`` over the mean embedding norm (kept pairs).
    """

    layer: int
    method: str
    helpful: Tensor
    harmful: Tensor
    kept_pairs: int
    total_pairs: int
    explained_variance: float
    separation: float


def _check_pair(help: Tensor, harm: Tensor, where: str) -> None:
    if help.ndim != 2 or harm.ndim != 2:
        raise ConfigError(
            f"{where}: embeddings must be 2-D (pairs, d); got {tuple(help.shape)} and {tuple(harm.shape)}"
        )
    if help.shape != harm.shape:
        raise ConfigError(
            f"{where}: helpful and harmful embeddings must have the same shape (one row per pair); "
            f"got {tuple(help.shape)} and {tuple(harm.shape)}"
        )
    if help.shape[0] == 0 or help.shape[1] == 0:
        raise ConfigError(f"{where}: no embeddings (shape {tuple(help.shape)}); provide at least one pair")


def _orient(rows: Tensor, diff: Tensor) -> Tensor:
    """Flip rows so that ``mean(diff @ θ) > 0``; ties: largest-magnitude component positive."""
    mean = diff.mean(dim=0) @ rows.T
    tol = 1e-6 * float(diff.abs().max().clamp_min(1e-30))
    largest = rows.gather(1, rows.abs().argmax(dim=1, keepdim=True)).squeeze(1)
    sign = torch.where(mean.abs() > tol, torch.sign(mean), torch.sign(largest))
    return rows * torch.where(sign == 0, torch.ones_like(sign), sign).unsqueeze(1)


def filter_pairs(
    help: Tensor, harm: Tensor, cos_threshold: float = 0.8, *, layer: int | None = None
) -> tuple[Tensor, Tensor]:
    """Drop the pairs whose helpful and harmful embeddings are nearly the same.

    Args:
        help: helpful embeddings (K, d).
        harm: harmful embeddings (K, d), row ``i`` paired with ``help[i]``.
        cos_threshold: pair ``i`` is dropped when ``cos(help_i, harm_i) > cos_threshold``; in [-1, 1].
        layer: the layer, only for error messages.

    Returns:
        ``(help_kept, harm_kept)``, the kept rows in their original order.

    Raises:
        ConfigError: bad shapes, a threshold outside [-1, 1], or no pair left.
    """
    where = "steering pairs" if layer is None else f"steering pairs at layer {layer}"
    _check_pair(help, harm, where)
    if not -1.0 <= cos_threshold <= 1.0:
        raise ConfigError(f"{where}: cos_threshold must be in [-1, 1]; got {cos_threshold}")
    cos = torch.nn.functional.cosine_similarity(help.float(), harm.float(), dim=1)
    keep = cos <= cos_threshold
    if not bool(keep.any()):
        raise ConfigError(
            f"{where}: all {help.shape[0]} pairs have cos(helpful, harmful) > {cos_threshold} "
            f"(max {float(cos.max()):.3f}); raise cos_threshold or use pairs whose answers differ more"
        )
    return help[keep], harm[keep]


def svd_directions(diff: Tensor, variance: float = 0.9) -> tuple[Tensor, Tensor]:
    """The fewest right singular vectors of ``diff`` explaining at least ``variance`` of ``‖diff‖²``.

    Args:
        diff: (K, d), usually ``H_help − H_harm``; not centred.
        variance: cumulative explained-variance target, in (0, 1].

    Returns:
        ``(directions (k, d), explained (k,))``: orthonormal float32 rows oriented so that
        ``mean(diff @ θ) > 0``, and each one's share ``s²/Σs²``.

    Raises:
        ConfigError: ``variance`` outside (0, 1], bad shape, or ``diff`` is all zeros.
    """
    if not 0.0 < variance <= 1.0:
        raise ConfigError(f"variance must be in (0, 1] (a share of explained variance, e.g. 0.9); got {variance}")
    if diff.ndim != 2 or 0 in diff.shape:
        raise ConfigError(f"svd_directions needs a non-empty (pairs, d) matrix; got shape {tuple(diff.shape)}")
    diff = diff.float()
    _, s, vh = torch.linalg.svd(diff, full_matrices=False)
    energy = s.square()
    total = float(energy.sum())
    if total <= 0.0:
        raise ConfigError("helpful and harmful embeddings are identical: there is no direction to find")
    ratio = energy / total
    k = int((torch.cumsum(ratio, 0) < variance - 1e-6).sum()) + 1
    k = max(1, min(k, int((ratio > 1e-12).sum())))
    return _orient(vh[:k], diff), ratio[:k]


def mean_difference(help: Tensor, harm: Tensor) -> Tensor:
    """ActAdd-style baseline: ``normalise(mean(help) − mean(harm))`` as a (1, d) float32 row.

    Raises:
        ConfigError: bad shapes, or the two means are equal.
    """
    _check_pair(help, harm, "mean_difference")
    delta = help.float().mean(dim=0) - harm.float().mean(dim=0)
    norm = float(delta.norm())
    if norm <= 0.0:
        raise ConfigError("mean_difference: helpful and harmful means are equal: there is no direction to find")
    return (delta / norm).unsqueeze(0)


def _ccs_normalise(x: Tensor) -> tuple[Tensor, Tensor]:
    centred = x - x.mean(dim=0)
    std = centred.std(dim=0, unbiased=False)
    std = std.clamp_min(1e-6 * float(std.max().clamp_min(1e-30)))
    return centred / std, std


def ccs_direction(
    help: Tensor,
    harm: Tensor,
    *,
    seed: int = 0,
    restarts: int = 5,
    steps: int = 1000,
    lr: float = 1e-2,
    weight_decay: float = 0.01,
) -> Tensor:
    """Direction of a contrast-consistent search probe (Burns et al. 2022), as a (1, d) float32 row.

    The probe ``p(x) = σ(wᵀx̃ + b)`` is trained on ``x̃⁺`` (helpful) and ``x̃⁻`` (harmful), each set centred and
    divided by its own per-dimension std, to minimise ``mean[(p⁺ − (1 − p⁻))² + min(p⁺, p⁻)²]``. ``restarts``
    probes are optimised together with Adam from a seeded init; the one with the lowest loss wins. Its weight is
    mapped back to embedding coordinates (``w / σ``, σ the RMS of the two sets' stds), normalised, and oriented
    so that ``mean((help − harm) @ θ) > 0``.

    Note: the per-set centring removes any offset shared by every pair, so CCS finds a contrast whose size
    varies across pairs; a constant ``±c·u`` offset is only visible to SVD and mean-difference.

    Raises:
        ConfigError: bad shapes, fewer than 2 pairs, or non-positive ``restarts``/``steps``.
    """
    _check_pair(help, harm, "ccs_direction")
    if help.shape[0] < 2:
        raise ConfigError(f"ccs_direction needs at least 2 pairs (it normalises each set); got {help.shape[0]}")
    if restarts < 1 or steps < 1:
        raise ConfigError(f"ccs_direction: restarts and steps must be >= 1; got {restarts} and {steps}")
    pos, std_pos = _ccs_normalise(help.float())
    neg, std_neg = _ccs_normalise(harm.float())
    d = pos.shape[1]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    init = torch.randn(restarts, d, generator=generator) / d**0.5
    weight = init.to(pos.device).requires_grad_(True)
    bias = torch.zeros(restarts, device=pos.device, requires_grad=True)
    optimiser = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)

    def losses() -> Tensor:
        p_pos = torch.sigmoid(pos @ weight.T + bias)
        p_neg = torch.sigmoid(neg @ weight.T + bias)
        per_pair = (p_pos - (1.0 - p_neg)).square() + torch.minimum(p_pos, p_neg).square()
        return per_pair.mean(dim=0)

    with torch.enable_grad():
        for _ in range(steps):
            optimiser.zero_grad()
            losses().sum().backward()  # type: ignore[no-untyped-call]
            optimiser.step()
    with torch.no_grad():
        best = weight[int(torch.argmin(losses()))]
        raw = best / ((std_pos.square() + std_neg.square()) / 2).sqrt()
        theta = (raw / raw.norm().clamp_min(1e-30)).unsqueeze(0)
        return _orient(theta, help.float() - harm.float())


def find_directions(
    help_by_layer: Mapping[int, Tensor],
    harm_by_layer: Mapping[int, Tensor],
    method: Method = "svd",
    cos_threshold: float = 0.8,
    variance: float = 0.9,
    seed: int = 0,
) -> dict[int, Directions]:
    """Filter pairs and find helpful/harmful directions at every layer.

    Args:
        help_by_layer: layer → helpful embeddings (K, d).
        harm_by_layer: layer → harmful embeddings (K, d); the same layers and shapes.
        method: ``"svd"`` (AlignEZ), ``"ccs"`` or ``"mean_diff"``.
        cos_threshold: see :func:`filter_pairs`.
        variance: see :func:`svd_directions` (checked for every method).
        seed: CCS initialisation seed.

    Returns:
        layer → :class:`Directions`, in ascending layer order.

    Raises:
        ConfigError: unknown method, mismatched layers or shapes, empty sets, bad thresholds, no pair left.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown steering method {method!r}; use one of {', '.join(METHODS)}")
    if not 0.0 < variance <= 1.0:
        raise ConfigError(f"variance must be in (0, 1] (a share of explained variance, e.g. 0.9); got {variance}")
    if not help_by_layer or set(help_by_layer) != set(harm_by_layer):
        raise ConfigError(
            "helpful and harmful embeddings must cover the same, non-empty set of layers; got "
            f"{sorted(help_by_layer)} and {sorted(harm_by_layer)}"
        )
    found: dict[int, Directions] = {}
    with torch.no_grad():
        for layer in sorted(help_by_layer):
            total = help_by_layer[layer].shape[0] if help_by_layer[layer].ndim == 2 else 0
            help, harm = filter_pairs(help_by_layer[layer], harm_by_layer[layer], cos_threshold, layer=layer)
            help, harm = help.float(), harm.float()
            diff = help - harm
            if method == "svd":
                helpful, _ = svd_directions(diff, variance)
            elif method == "mean_diff":
                helpful = mean_difference(help, harm)
            else:
                helpful = ccs_direction(help, harm, seed=seed)
            energy = float(diff.square().sum())
            explained = float((diff @ helpful.T).square().sum()) / energy if energy > 0 else 0.0
            scale = float(torch.cat([help, harm]).norm(dim=1).mean())
            gap = float((help.mean(dim=0) - harm.mean(dim=0)).norm())
            found[layer] = Directions(
                layer, method, helpful, -helpful, help.shape[0], total, explained, gap / scale if scale > 0 else 0.0
            )
    return found


def filter_for_query(q: Tensor, directions: Tensor) -> Tensor:
    """The rows ``θ`` of ``directions`` (k, d) with ``cos(q, θ) ≤ 0``: those the query does not express yet.

    A zero query keeps every row. Returns a (k', d) tensor, possibly (0, d).

    Raises:
        ConfigError: ``q`` is not (d,) matching ``directions`` (k, d).
    """
    if q.ndim != 1 or directions.ndim != 2 or directions.shape[1] != q.shape[0]:
        raise ConfigError(
            f"filter_for_query needs a query (d,) and directions (k, d); got {tuple(q.shape)} and "
            f"{tuple(directions.shape)}"
        )
    return directions[(directions.float() @ q.float().to(directions.device)) <= 0]


def layer_scores(
    query_by_layer: Mapping[int, Tensor], directions_by_layer: Mapping[int, Tensor], *, query_filter: bool = True
) -> dict[int, float]:
    """Per layer, ``‖Σ_θ ⟨q̂, θ⟩ θ‖`` over the directions (kept by :func:`filter_for_query` unless turned off).

    Raises:
        ConfigError: a layer with directions has no query, or shapes do not match.
    """
    missing = sorted(set(directions_by_layer) - set(query_by_layer))
    if missing:
        raise ConfigError(f"no query embedding for layers {missing}; embed the query at every steered layer")
    scores: dict[int, float] = {}
    for layer in sorted(directions_by_layer):
        q = query_by_layer[layer].float()
        rows = directions_by_layer[layer]
        kept = filter_for_query(q, rows)
        rows = (kept if query_filter else rows).float()
        q_hat = q / q.norm().clamp_min(1e-30)
        scores[layer] = float(((rows @ q_hat.to(rows.device)) @ rows).norm())
    return scores


def _top(scores: Mapping[int, float], n: int) -> list[int]:
    if n < 1:
        raise ConfigError(f"the number of layers to steer must be >= 1; got {n}")
    ranked = sorted(scores, key=lambda layer: (-scores[layer], layer))
    return sorted(ranked[:n])


def select_layers(
    query_by_layer: Mapping[int, Tensor],
    directions_by_layer: Mapping[int, Tensor],
    n: int = 5,
    *,
    query_filter: bool = True,
) -> list[int]:
    """The ``n`` layers with the highest :func:`layer_scores` (ties: lower layer), in ascending layer order.

    Meant for helpful directions (the ReLU gate already filters harmful ones per token).

    Raises:
        ConfigError: ``n < 1``, or see :func:`layer_scores`.
    """
    return _top(layer_scores(query_by_layer, directions_by_layer, query_filter=query_filter), n)


def select_layers_without_query(
    found: Mapping[int, Directions], n: int = 5, score: Literal["separation", "explained_variance"] = "separation"
) -> list[int]:
    """Query-free layer choice: the ``n`` layers with the highest ``separation`` or ``explained_variance``.

    ``separation`` (default) is the scale-free norm of the mean helpful − harmful difference, i.e. how far apart
    the two answer kinds are at that layer. ``explained_variance`` is how much of the per-pair contrast the
    directions capture (for SVD it is at least ``variance`` everywhere, so it separates layers less).

    Raises:
        ConfigError: ``n < 1`` or an unknown ``score``.
    """
    if score not in ("separation", "explained_variance"):
        raise ConfigError(f"unknown layer score {score!r}; use 'separation' or 'explained_variance'")
    return _top({layer: float(getattr(d, score)) for layer, d in found.items()}, n)
