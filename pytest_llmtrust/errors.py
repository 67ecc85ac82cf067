"""Error types: every user-facing problem says where it is and how to fix it."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable


class LLMTrustError(Exception):
    """Base class of every error pytest-llmtrust raises on purpose."""


class ConfigError(LLMTrustError):
    """A bad option, ini value, marker argument or model spec."""


class BackendUnavailable(LLMTrustError):
    """A backend cannot be used here (missing extra, missing file, no server)."""


class GenerationError(LLMTrustError):
    """A backend failed to produce a completion after its retries.

    Attributes:
        done: The answers the failed call did finish, by their prompt's index in the call, where the
            backend knows them (the ``openai:`` backend does), so that the generation cache keeps
            them; empty otherwise.
    """

    def __init__(self, *args: object) -> None:
        """Take the message like any exception; ``done`` starts empty."""
        super().__init__(*args)
        self.done: dict[int, Any] = {}


class SuiteError(LLMTrustError):
    """A problem in a suite file, located by file, line and column (1-based)."""

    def __init__(
        self,
        path: Path | str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        self.key = key
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.display()

    def display(self, base: Path | None = None) -> str:
        """``file:line:column: key: message``, the file relative to ``base`` when it lies below it."""
        where = str(self.path)
        if base is not None:
            try:
                where = str(self.path.resolve().relative_to(base.resolve()))
            except ValueError:
                pass
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return a ``"; did you mean 'x'?"`` hint, or an empty string."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


class CacheMiss(LLMTrustError):
    """Replay mode (``--llmtrust-cache=replay``) met a request the generation cache does not hold."""


class BudgetExceeded(LLMTrustError):
    """A token, request or wall-time budget (per session or per suite) ran out before the work was done."""
