"""Settings and their precedence.

Each layer is a mapping of setting name to value (``None`` = not set). The
first layer that sets a key wins, in this order:

    CLI option > marker ``llmtrust(...)`` > YAML suite > ``llmtrust_config`` fixture
    > environment (LLMTRUST_MODEL, LLMTRUST_JUDGE, LLMTRUST_STEER) > ini (``llmtrust_*``) > built-in default
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_llmtrust.backends.base import PARAM_NAMES, GenerationParams
from pytest_llmtrust.errors import ConfigError, did_you_mean

DEFAULT_MODEL = "smollm2"
DEFAULT_JUDGE = "refusal"
BACKEND_OPTION_KEYS: tuple[str, ...] = ("dtype", "device", "batch_size")
SETTING_KEYS: tuple[str, ...] = ("model", "judge", "confidence", "steer", *PARAM_NAMES, *BACKEND_OPTION_KEYS)
ENV_VARS: dict[str, str] = {"LLMTRUST_MODEL": "model", "LLMTRUST_JUDGE": "judge", "LLMTRUST_STEER": "steer"}

Layer = Mapping[str, Any]


@dataclass(frozen=True)
class Settings:
    """Everything a test needs to know about which model to ask and how."""

    model: str = DEFAULT_MODEL
    judge: str = DEFAULT_JUDGE
    params: GenerationParams = field(default_factory=GenerationParams)
    confidence: float | None = None
    """Gate on the interval bound at this level; None gates on the point estimate."""
    backend_options: Mapping[str, str] = field(default_factory=dict)
    """Options for local backends (dtype, device, batch_size)."""
    steer: str | None = None
    """Steering artefact spec for ``steered_llm`` and steered suites: ``PATH[?alpha=A&layers=L1,L2]``."""


def check_keys(layer: Layer, where: str) -> None:
    """Reject unknown setting names with a suggestion."""
    for key in layer:
        if key not in SETTING_KEYS:
            raise ConfigError(
                f"{where}: unknown setting {key!r}{did_you_mean(key, SETTING_KEYS)}; "
                f"settings: {', '.join(SETTING_KEYS)}"
            )


def check_confidence(value: object, where: str) -> float | None:
    """Validate a confidence level: a number strictly between 0 and 1, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: confidence must be a number such as 0.95, got {value!r}")
    try:
        level = float(value)
    except (ValueError, OverflowError):  # OverflowError: an int too large for a float
        raise ConfigError(f"{where}: confidence must be a number such as 0.95, got {value!r}") from None
    if not 0.0 < level < 1.0:
        raise ConfigError(f"{where}: confidence must be between 0 and 1 (e.g. 0.95), got {level}")
    return level


def _coerce_param(key: str, value: Any) -> Any:
    if key in ("max_new_tokens", "seed") and isinstance(value, str):
        return int(value)
    if key in ("temperature", "top_p") and isinstance(value, str):
        return float(value)
    if key == "stop" and isinstance(value, str):
        return (value,)
    return value


def resolve(layers: Sequence[tuple[str, Layer]]) -> Settings:
    """Merge named layers (highest precedence first) into Settings."""
    merged: dict[str, Any] = {}
    source: dict[str, str] = {}
    for name, layer in layers:
        check_keys(layer, name)
        for key, value in layer.items():
            if value is not None and key not in merged:
                merged[key] = value
                source[key] = name
    params: dict[str, Any] = {}
    for key in PARAM_NAMES:
        if key in merged:
            try:
                params[key] = _coerce_param(key, merged[key])
            except ValueError:
                raise ConfigError(f"{source[key]}: {key}={merged[key]!r} is not a valid value") from None
    try:
        gen = GenerationParams(**params)
    except (ValueError, TypeError) as exc:
        where = ", ".join(sorted({source[k] for k in params})) or "settings"
        raise ConfigError(f"{where}: {exc}") from None
    return Settings(
        model=str(merged.get("model", DEFAULT_MODEL)),
        judge=str(merged.get("judge", DEFAULT_JUDGE)),
        params=gen,
        confidence=check_confidence(merged.get("confidence"), source.get("confidence", "settings")),
        backend_options={k: str(merged[k]) for k in BACKEND_OPTION_KEYS if k in merged},
        steer=str(merged["steer"]) if merged.get("steer") else None,
    )
