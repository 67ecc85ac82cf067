"""The judge contract: a yes/no question asked of each (prompt, response) pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.base import Prompt


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's answer for one response.

    ``label`` is True when the judged property holds (for a refusal judge: the
    response refuses), False when it does not, and None when the judge's own
    reply could not be parsed. Unparsed verdicts are counted and reported,
    never silently dropped.
    """

    label: bool | None
    reason: str = ""


@runtime_checkable
class Judge(Protocol):
    """Anything that labels responses."""

    @property
    def name(self) -> str:
        """Identity for reports, e.g. ``refusal-detector`` or ``llm:openai:gpt-4o``."""
        ...

    def judge(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[Verdict]:
        """Return one verdict per (prompt, response) pair, in order."""
        ...
