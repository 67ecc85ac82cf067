"""A steered model: any transformers backend whose forward passes run under a steering artefact.

``SteeredBackend(base, vectors)`` is itself a backend: ``generate`` (and constrained choice)
run the base model inside :func:`~pytest_llmtrust.steering.hooks.steer`, so the hooks exist
only during the call and the base model stays unsteered for everyone else. Its ``model_id``
names the base model and the artefact, so reports tell the two apart.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.steering.artefact import SteeringVectors, artefact_paths
from pytest_llmtrust.steering.hooks import steer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pytest_llmtrust.backends.base import Backend, Generation, GenerationParams, Prompt


class SteeredBackend:
    """``base`` edited by ``vectors`` during every call (see the module docstring)."""

    def __init__(self, base: Backend, vectors: SteeringVectors, name: str | None = None) -> None:
        """Wrap a loaded transformers backend (one with a ``.model``)."""
        model = getattr(base, "model", None)
        if model is None:
            raise ConfigError(
                f"{base.model_id} cannot be steered: steering edits a transformers model's activations, so it needs "
                "an hf: or smollm2 model (an API model has no activations to edit)"
            )
        self.base = base
        self.vectors = vectors
        self.name = name or _fingerprint(vectors)

    @property
    def model(self) -> Any:
        """The base model (shared, unsteered outside calls)."""
        return getattr(self.base, "model")  # noqa: B009

    @property
    def model_id(self) -> str:
        """``<base model id>+steer:<artefact name>``."""
        return f"{self.base.model_id}+steer:{self.name}"

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """Generate with the steering hooks in place."""
        with steer(self.model, self.vectors):
            return self.base.generate(prompts, params)

    def choice_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
        """Constrained choice with the steering hooks in place."""
        choose = getattr(self.base, "choice_logprobs", None)
        if choose is None:
            raise ConfigError(f"{self.base.model_id} cannot score options directly")
        with steer(self.model, self.vectors):
            result: list[list[float]] = choose(prompts, labels)
        return result


def _fingerprint(vectors: SteeringVectors) -> str:
    digest = hashlib.sha256(repr((vectors.layers, vectors.alpha_help, vectors.alpha_harm, vectors.site)).encode())
    return str(vectors.meta.get("name") or digest.hexdigest()[:8])


def parse_steer_spec(spec: str) -> tuple[SteeringVectors, str]:
    """Load ``PATH[?alpha=A&layers=L1,L2]``: an artefact, optionally with other strengths or layers."""
    path, _, query = spec.partition("?")
    options: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, sep, value = part.partition("=")
        if not sep or key not in ("alpha", "layers"):
            raise ConfigError(f"steering spec {spec!r}: unknown option {part!r}; options: alpha=A, layers=L1,L2")
        options[key] = value
    try:
        alpha = float(options["alpha"]) if "alpha" in options else None
        layers = [int(x) for x in options["layers"].split(",")] if "layers" in options else None
    except ValueError:
        raise ConfigError(
            f"steering spec {spec!r}: alpha must be a number and layers integers, e.g. layers=3,4"
        ) from None
    return load_steering(path, alpha=alpha, layers=layers)


def load_steering(
    path: str | Path,
    *,
    alpha: float | None = None,
    layers: Sequence[int] | None = None,
) -> tuple[SteeringVectors, str]:
    """Load an artefact (``<path>.safetensors`` + ``<path>.json``); ``alpha`` scales both edits (+α, −α).

    Returns the vectors and a display name (the file stem, with the overrides).
    """
    vectors = SteeringVectors.load(path)
    stem = artefact_paths(path)[0].stem
    name = stem
    if alpha is not None:
        vectors = vectors.with_settings(alpha_help=float(alpha), alpha_harm=-float(alpha))
        name += f"@alpha={alpha:g}"
    if layers is not None:
        vectors = vectors.with_settings(layers=tuple(int(x) for x in layers))
        name += "@layers=" + ",".join(str(x) for x in vectors.layers)
    return vectors, name
