"""Cache modes: what ``--llmtrust-cache`` may be set to."""

from __future__ import annotations

from enum import Enum

from pytest_llmtrust.errors import ConfigError, did_you_mean


class CacheMode(str, Enum):
    """How the generation cache is used.

    - ``off``: no cache; every request goes to the model (requests repeated within a run still share one answer).
    - ``read``: answers found in the cache are used; new answers are not stored (a read-only shared cache).
    - ``write``: answers found are used and new ones are stored (the default).
    - ``replay``: only the cache answers; a request it does not hold is an error naming the prompt.
      The model is never loaded.
    """

    OFF = "off"
    READ = "read"
    WRITE = "write"
    REPLAY = "replay"

    @property
    def reads(self) -> bool:
        """Whether stored answers are used."""
        return self is not CacheMode.OFF

    @property
    def writes(self) -> bool:
        """Whether new answers are stored."""
        return self is CacheMode.WRITE


DEFAULT_MODE = CacheMode.WRITE
MODES = tuple(m.value for m in CacheMode)


def parse_mode(text: str, where: str = "cache mode") -> CacheMode:
    """Parse a mode name, with the list of modes and a suggestion on a typo."""
    name = str(text).strip().lower()
    try:
        return CacheMode(name)
    except ValueError:
        raise ConfigError(
            f"{where}: {text!r} is not a cache mode{did_you_mean(name, MODES)}; modes: {', '.join(MODES)}"
        ) from None
