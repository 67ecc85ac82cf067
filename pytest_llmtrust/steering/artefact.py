"""The steering artefact: per-layer direction sets and how to apply them, saved without pickle.

A :class:`SteeringVectors` is stored as two files next to each other::

    <path>.safetensors   tensors ``helpful.<layer>`` and ``harmful.<layer>``, each (k, d) float32
    <path>.json          every other field, a format/version header and the sha256 of the tensor file

Tensors go through ``safetensors`` only (never ``torch.save``/pickle), so loading an artefact cannot
run code. Both files are written atomically (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from pytest_llmtrust.atomic import atomic_write_with
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.steering.paths import artefact_paths

if TYPE_CHECKING:
    import os
    from pathlib import Path

__all__ = ["FORMAT", "SITES", "VERSION", "SteeringVectors", "artefact_paths"]

FORMAT = "pytest-llmtrust-steering"
VERSION = 1
SITES: tuple[str, ...] = ("mlp", "residual")


@dataclass
class SteeringVectors:
    """Direction sets per layer and the settings to edit a model with them.

    Attributes:
        helpful: layer index -> (k, d) float32 unit rows, pushed towards (``tanh``, ``alpha_help``).
        harmful: layer index -> (k, d) float32 unit rows, pushed away from (``ReLU``, ``alpha_harm``).
        layers: the layers to edit; each must have a helpful or a harmful set.
        alpha_help: strength of the helpful edit (``+1`` in AlignEZ).
        alpha_harm: strength of the harmful edit (``-1`` in AlignEZ: removes the positive projection).
        site: ``mlp`` (the MLP output of a decoder layer) or ``residual`` (the decoder layer output).
        meta: provenance, plain JSON: model_id, method, variance, n_pairs, created, ...
    """

    helpful: dict[int, torch.Tensor]
    harmful: dict[int, torch.Tensor]
    layers: tuple[int, ...]
    alpha_help: float = 1.0
    alpha_harm: float = -1.0
    site: str = "mlp"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Normalise the tensors to contiguous float32 on CPU and check the fields agree."""
        self.helpful = {int(k): _as_float32(v) for k, v in self.helpful.items()}
        self.harmful = {int(k): _as_float32(v) for k, v in self.harmful.items()}
        self.layers = tuple(int(layer) for layer in self.layers)
        self.alpha_help = float(self.alpha_help)
        self.alpha_harm = float(self.alpha_harm)
        problem = self.problem()
        if problem:
            raise ConfigError(f"invalid steering vectors: {problem}")

    def problem(self) -> str | None:
        """What is inconsistent in these fields, or ``None`` when they are fine."""
        if self.site not in SITES:
            return f"site={self.site!r} is not one of {', '.join(SITES)}"
        widths: set[int] = set()
        for kind, sets in (("helpful", self.helpful), ("harmful", self.harmful)):
            for layer, tensor in sets.items():
                if tensor.ndim != 2 or tensor.shape[0] < 1:
                    return f"{kind}.{layer} has shape {tuple(tensor.shape)}; expected (k, d) with k >= 1"
                if not torch.isfinite(tensor).all():
                    return f"{kind}.{layer} holds NaN or infinite values"
                widths.add(int(tensor.shape[1]))
        if len(widths) > 1:
            return f"the direction sets have different widths d: {sorted(widths)}; all must share the model's d"
        if len(set(self.layers)) != len(self.layers):
            return f"layers={list(self.layers)} repeats a layer"
        stored = set(self.helpful) | set(self.harmful)
        missing = [layer for layer in self.layers if layer not in stored]
        if missing:
            return f"layers {missing} have no stored directions (stored: {sorted(stored)})"
        return None

    @property
    def d_model(self) -> int:
        """The width d shared by every direction set (0 when there are none)."""
        for tensor in (*self.helpful.values(), *self.harmful.values()):
            return int(tensor.shape[1])
        return 0

    def with_settings(
        self,
        *,
        layers: tuple[int, ...] | list[int] | None = None,
        alpha_help: float | None = None,
        alpha_harm: float | None = None,
    ) -> SteeringVectors:
        """A copy with other layers or strengths (``None`` keeps a field); the tensors are shared, not copied.

        Raises:
            ConfigError: a chosen layer has no stored directions.
        """
        return dataclasses.replace(
            self,
            helpful=dict(self.helpful),
            harmful=dict(self.harmful),
            layers=tuple(self.layers if layers is None else layers),
            alpha_help=self.alpha_help if alpha_help is None else alpha_help,
            alpha_harm=self.alpha_harm if alpha_harm is None else alpha_harm,
            meta=copy.deepcopy(self.meta),
        )

    # ------------------------------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``<path>.safetensors`` and ``<path>.json`` atomically; return both paths.

        Raises:
            ConfigError: ``meta`` is not plain JSON.
        """
        tensor_path, json_path = artefact_paths(path)
        tensors = {f"helpful.{k}": v for k, v in sorted(self.helpful.items())}
        tensors.update({f"harmful.{k}": v for k, v in sorted(self.harmful.items())})
        header = {
            "format": FORMAT,
            "version": VERSION,
            "tensors": tensor_path.name,
            "layers": list(self.layers),
            "alpha_help": self.alpha_help,
            "alpha_harm": self.alpha_harm,
            "site": self.site,
            "d_model": self.d_model,
            "meta": self.meta,
        }
        try:
            json.dumps(header)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"steering vectors meta must be plain JSON to be saved in {json_path}: {exc}") from exc
        tensor_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_with(tensor_path, lambda tmp: save_file(tensors, str(tmp), metadata={"format": FORMAT}))
        header["sha256"] = _sha256(tensor_path)
        text = json.dumps(header, indent=2, sort_keys=True) + "\n"
        atomic_write_with(json_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return tensor_path, json_path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SteeringVectors:
        """Read an artefact written by :meth:`save`, checking format, version, hash and shapes.

        Raises:
            ConfigError: a file is missing, corrupt, of another version or inconsistent; names the file.
        """
        tensor_path, json_path = artefact_paths(path)
        fix = "re-create it with the steering fit command (or restore both files together)"
        for needed in (json_path, tensor_path):
            if not needed.is_file():
                raise ConfigError(f"steering artefact file {needed} does not exist; {fix}")
        try:
            header = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"steering artefact {json_path} is not valid JSON ({exc}); {fix}") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ConfigError(f"{json_path} is not a pytest-llmtrust steering artefact (format != {FORMAT!r}); {fix}")
        if header.get("version") != VERSION:
            raise ConfigError(
                f"steering artefact {json_path} has version {header.get('version')!r}, this pytest-llmtrust "
                f"reads version {VERSION}; {fix}"
            )
        if header.get("sha256") != _sha256(tensor_path):
            raise ConfigError(f"{tensor_path} does not match the sha256 recorded in {json_path}; {fix}")
        try:
            tensors = load_file(str(tensor_path))
        except Exception as exc:  # safetensors raises its own error types
            raise ConfigError(f"cannot read steering tensors {tensor_path}: {exc}; {fix}") from exc
        helpful, harmful = _split(tensors, tensor_path)
        try:
            vectors = cls(
                helpful=helpful,
                harmful=harmful,
                layers=tuple(int(x) for x in header["layers"]),
                alpha_help=float(header["alpha_help"]),
                alpha_harm=float(header["alpha_harm"]),
                site=str(header["site"]),
                meta=dict(header.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ConfigError(f"steering artefact {json_path} is inconsistent: {exc}; {fix}") from exc
        if header.get("d_model") not in (None, vectors.d_model):
            raise ConfigError(f"{json_path} records d_model={header['d_model']} but the tensors have {vectors.d_model}")
        return vectors


def _as_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to(device="cpu", dtype=torch.float32).contiguous()


def _split(tensors: dict[str, torch.Tensor], where: Path) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    helpful: dict[int, torch.Tensor] = {}
    harmful: dict[int, torch.Tensor] = {}
    for name, tensor in tensors.items():
        kind, _, layer = name.partition(".")
        if kind not in ("helpful", "harmful") or not layer.isdigit():
            raise ConfigError(f"{where} holds an unexpected tensor {name!r}; expected helpful.<layer>/harmful.<layer>")
        (helpful if kind == "helpful" else harmful)[int(layer)] = tensor
    return helpful, harmful


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
