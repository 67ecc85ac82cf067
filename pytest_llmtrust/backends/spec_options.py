"""Typed reading of a spec's ``?key=value`` options, with errors that say the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmtrust.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def check_known(kind: str, options: Mapping[str, str], known: Iterable[str]) -> None:
    """Reject option keys the backend does not take."""
    allowed = sorted(set(known))
    for key in options:
        if key not in allowed:
            raise ConfigError(
                f"the {kind!r} backend has no option {key!r}{did_you_mean(key, allowed)}; options: {', '.join(allowed)}"
            )


def opt_str(options: Mapping[str, str], key: str, default: str | None = None) -> str | None:
    """A string option (empty means unset)."""
    value = options.get(key)
    return value if value else default


def opt_int(options: Mapping[str, str], key: str, default: int, *, minimum: int = 1) -> int:
    """An integer option no smaller than ``minimum``."""
    raw = options.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"option {key}={raw!r} must be an integer") from None
    if value < minimum:
        raise ConfigError(f"option {key}={value} must be >= {minimum}")
    return value


def opt_float(options: Mapping[str, str], key: str, default: float, *, minimum: float = 0.0) -> float:
    """A number option no smaller than ``minimum``."""
    raw = options.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"option {key}={raw!r} must be a number") from None
    if value < minimum:
        raise ConfigError(f"option {key}={value} must be >= {minimum}")
    return value


def opt_bool(options: Mapping[str, str], key: str, default: bool | None) -> bool | None:
    """A yes/no option (1/0, true/false, yes/no, on/off)."""
    raw = options.get(key)
    if raw is None or raw == "":
        return default
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"option {key}={raw!r} must be true or false")
