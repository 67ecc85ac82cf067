"""Budgets: caps on the requests, tokens and wall time a session or a suite may spend on models.

What counts:

- a **request** is one answer a model is actually asked for: one generation or one constrained-choice
  scoring. Answers found in the generation cache (or already made earlier in the run) are free.
- **tokens** are prompt tokens plus completion tokens of those requests: the backend's own counts when
  it gives them (OpenAI-compatible servers' ``usage``, the tokenizer lengths of local ``hf:`` and
  ``smollm2`` models), otherwise an estimate of ``ceil(characters / 4)`` (prompt: the text of all its
  messages). A choice scoring counts its prompt and one completion token.
- **wall time** runs from the first time the session (or the suite) needs a model, loading included.

A call is checked *before* it spends: it is refused when its requests, or the worst case of its
tokens (estimated prompt tokens + ``max_new_tokens`` per generation), would go beyond what is left;
time is checked before every batch. The refusal is :class:`~pytest_llmtrust.errors.BudgetExceeded`,
raised from the generation call itself, so a test fails with the message (and a caller may catch it).

Budgets apply through :func:`charging`: the session's budget is always charged; a suite's budget is
charged while its items run (and while its requests are prefetched).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_llmtrust.backends.base import to_messages
from pytest_llmtrust.errors import BudgetExceeded

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from pytest_llmtrust.backends.base import Generation, Prompt

CHARS_PER_TOKEN = 4
KINDS = ("requests", "tokens", "seconds")
_TIP = " (answers already in the generation cache cost nothing)"


def estimate_tokens(text: str) -> int:
    """Estimated tokens of a text: ``ceil(len(text) / 4)``."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_tokens(prompt: Prompt) -> int:
    """Estimated tokens of a prompt: of the text of all its messages."""
    return estimate_tokens("".join(m["content"] for m in to_messages(prompt)))


def planned_tokens(prompts: Sequence[Prompt], completion: int) -> int:
    """Worst case of a call: estimated prompt tokens plus ``completion`` tokens per prompt."""
    return sum(prompt_tokens(p) + completion for p in prompts)


def spent_tokens(generation: Generation) -> int:
    """Tokens of one generation: the backend's counts where it gave them, else estimates."""
    prompt = generation.prompt_tokens
    completion = generation.completion_tokens
    return (prompt_tokens(generation.prompt) if prompt is None else prompt) + (
        estimate_tokens(generation.text) if completion is None else completion
    )


@dataclass(frozen=True)
class Caps:
    """The caps of one budget (None: no cap), whose budget it is, and where each cap was set."""

    label: str
    """``session`` or ``suite 'NAME'``."""
    requests: int | None = None
    tokens: int | None = None
    seconds: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Per cap, where it was set, e.g. ``--llmtrust-max-requests`` or ``budget.requests in s.llmtrust.yaml:7``."""

    @property
    def any(self) -> bool:
        """Whether any cap is set."""
        return any(getattr(self, kind) is not None for kind in KINDS)

    def source(self, kind: str) -> str:
        """Where cap ``kind`` was set."""
        return self.sources.get(kind, kind)

    def describe(self) -> str:
        """``requests <= 100 (--llmtrust-max-requests), seconds <= 60 (...)``."""
        caps = [(kind, getattr(self, kind)) for kind in KINDS]
        return ", ".join(f"{kind} <= {_number(cap)} ({self.source(kind)})" for kind, cap in caps if cap is not None)


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def plural(count: int, noun: str) -> str:
    """``1 request``, ``2,000 requests``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class Budget:
    """Usage against :class:`Caps`; see the module docstring."""

    def __init__(self, caps: Caps, clock: Callable[[], float] = time.monotonic) -> None:
        """Start an unspent budget; ``clock`` gives seconds (monotonic)."""
        self.caps = caps
        self.requests = 0
        self.tokens = 0
        self.started: float | None = None
        self._clock = clock

    @property
    def elapsed(self) -> float:
        """Seconds since this budget first admitted a call (0 before)."""
        return 0.0 if self.started is None else self._clock() - self.started

    def check(self, requests: int = 0, tokens: int = 0) -> None:
        """Raise BudgetExceeded if the time is up, or if ``requests`` / ``tokens`` more would pass a cap.

        A call with work to admit starts the clock.
        """
        caps, label = self.caps, self.caps.label
        if caps.seconds is not None and self.elapsed > caps.seconds:
            source = caps.source("seconds")
            raise BudgetExceeded(
                f"{label} budget of {caps.seconds:g} s ({source}) is spent: {self.elapsed:.1f} s since its first "
                f"model call, {self.requests:,} requests made; raise {source}{_TIP}"
            )
        if caps.requests is not None and self.requests + requests > caps.requests:
            source = caps.source("requests")
            raise BudgetExceeded(
                f"{label} budget of {plural(caps.requests, 'request')} ({source}) would be exceeded: "
                f"{self.requests:,} used, this call needs {requests:,} more; raise {source}{_TIP}"
            )
        if caps.tokens is not None and self.tokens + tokens > caps.tokens:
            source = caps.source("tokens")
            raise BudgetExceeded(
                f"{label} budget of {plural(caps.tokens, 'token')} ({source}) would be exceeded: "
                f"{self.tokens:,} used, this call may need up to {tokens:,} more (estimated prompt tokens + "
                f"max_new_tokens per generation); raise {source} or lower max_new_tokens{_TIP}"
            )
        if (requests or tokens) and self.started is None:
            self.started = self._clock()

    def charge(self, requests: int, tokens: int) -> None:
        """Count requests made and tokens spent."""
        self.requests += requests
        self.tokens += tokens

    def usage(self) -> str:
        """``session budget: 12 requests, 3,456 tokens, 4.2 s; caps: ...``."""
        return (
            f"{self.caps.label} budget: {self.requests:,} requests, {self.tokens:,} tokens, {self.elapsed:.1f} s "
            f"used; caps: {self.caps.describe()}"
        )


_ACTIVE: ContextVar[tuple[Budget, ...]] = ContextVar("llmtrust_budgets", default=())


@contextmanager
def charging(*budgets: Budget | None) -> Iterator[None]:
    """Within this block, model calls also charge ``budgets`` (None entries are ignored)."""
    current = _ACTIVE.get()
    token = _ACTIVE.set(current + tuple(b for b in budgets if b is not None and b not in current))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active(*always: Budget | None) -> list[Budget]:
    """``always`` (e.g. the session's budget) plus the budgets of the enclosing :func:`charging` blocks."""
    out: list[Budget] = []
    for budget in (*always, *_ACTIVE.get()):
        if budget is not None and budget not in out:
            out.append(budget)
    return out


def admit(budgets: Sequence[Budget], requests: int, tokens: int) -> None:
    """Check a call against every budget before it spends anything."""
    for budget in budgets:
        budget.check(requests, tokens)


def charge(budgets: Sequence[Budget], requests: int, tokens: int) -> None:
    """Charge a finished call to every budget."""
    for budget in budgets:
        budget.charge(requests, tokens)
