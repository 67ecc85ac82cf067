r"""Build a steering artefact from self-generated preference pairs (AlignEZ steps 2 and 3).

``build_steering(backend, pairs)`` reads the last-token activations of every pair's helpful
and harmful text (``"Human: q\nAssistant:response"``) at every decoder layer, finds the
directions per layer (:func:`~pytest_llmtrust.steering.directions.find_directions`: the
cosine > 0.8 pair filter, then SVD at 90% variance, CCS or the mean difference), and keeps
the ``n_layers`` layers whose helpful and harmful means lie furthest apart (the query-free
layer choice; AlignEZ v2 scores layers per query, which needs the query's embedding at
inference time and is not done here). A layer where the filter leaves no pair is skipped and
listed in the artefact's metadata.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

import torch

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.steering.activations import last_token_activations
from pytest_llmtrust.steering.artefact import SteeringVectors
from pytest_llmtrust.steering.directions import Directions, find_directions, select_layers_without_query

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.hf import HFBackend
    from pytest_llmtrust.steering.selfdata import PreferencePair

Method = Literal["svd", "ccs", "mean_diff"]


def _directions_per_layer(
    helpful: dict[int, torch.Tensor],
    harmful: dict[int, torch.Tensor],
    *,
    method: Method,
    cos_threshold: float,
    variance: float,
    seed: int,
) -> tuple[dict[int, Directions], list[int]]:
    """Directions at every layer that keeps at least one pair; the layers that keep none."""
    usable = [
        layer
        for layer in sorted(helpful)
        if bool((torch.nn.functional.cosine_similarity(helpful[layer], harmful[layer], dim=1) <= cos_threshold).any())
    ]
    skipped = [layer for layer in sorted(helpful) if layer not in usable]
    if not usable:
        return {}, skipped
    found = find_directions(
        {layer: helpful[layer] for layer in usable},
        {layer: harmful[layer] for layer in usable},
        method=method,
        cos_threshold=cos_threshold,
        variance=variance,
        seed=seed,
    )
    return found, skipped


def build_steering(
    backend: HFBackend,
    pairs: Sequence[PreferencePair],
    *,
    method: Method = "svd",
    n_layers: int = 5,
    variance: float = 0.9,
    cos_threshold: float = 0.8,
    site: str = "mlp",
    alpha_help: float = 1.0,
    alpha_harm: float = -1.0,
    seed: int = 0,
) -> SteeringVectors:
    """Steering vectors for ``backend``'s model from ``pairs`` (see the module docstring).

    Raises:
        ConfigError: no pairs, a bad setting, or no layer with a pair left after the filter.
    """
    if not pairs:
        raise ConfigError("build_steering needs preference pairs; make them with generate_pairs(...)")
    if getattr(backend, "model", None) is None:
        raise ConfigError(
            f"{backend.model_id} has no activations to read: build steering with an hf: or smollm2 model "
            "(the preference pairs themselves can come from any backend)"
        )
    if n_layers < 1:
        raise ConfigError(f"n_layers must be at least 1, got {n_layers}")
    started = time.perf_counter()
    helpful = last_token_activations(backend, [p.help_text for p in pairs], site=site)
    harmful = last_token_activations(backend, [p.harm_text for p in pairs], site=site)
    found, skipped = _directions_per_layer(
        helpful, harmful, method=method, cos_threshold=cos_threshold, variance=variance, seed=seed
    )
    if not found:
        raise ConfigError(
            f"every layer lost all {len(pairs)} pairs to the cosine > {cos_threshold} filter: the helpful and harmful "
            "responses are too alike; raise cos_threshold or generate longer, more distinct responses"
        )
    layers = select_layers_without_query(found, n=min(n_layers, len(found)))
    meta = {
        "model_id": backend.model_id,
        "method": method,
        "variance": variance,
        "cos_threshold": cos_threshold,
        "n_pairs": len(pairs),
        "objectives": sorted({p.objective for p in pairs}),
        "kept_pairs": {str(layer): found[layer].kept_pairs for layer in layers},
        "directions": {str(layer): int(found[layer].helpful.shape[0]) for layer in layers},
        "separation": {str(layer): round(found[layer].separation, 6) for layer in sorted(found)},
        "skipped_layers": skipped,
        "build_seconds": round(time.perf_counter() - started, 3),
    }
    return SteeringVectors(
        helpful={layer: found[layer].helpful for layer in layers},
        harmful={layer: found[layer].harmful for layer in layers},
        layers=tuple(layers),
        alpha_help=alpha_help,
        alpha_harm=alpha_harm,
        site=site,
        meta=meta,
    )
