"""The backend contract: batch in, batch out, input order kept.

A prompt is either a plain string (one user turn) or a list of chat messages
(``{"role": ..., "content": ...}``). Every backend returns exactly one
:class:`Generation` per prompt, in input order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict, runtime_checkable


class Message(TypedDict):
    """One chat message."""

    role: str
    content: str


Prompt = str | Sequence[Message]
"""A plain string (a single user turn) or a list of chat messages."""

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Decoding settings shared by every backend.

    ``temperature == 0`` means greedy decoding; above 0 it samples, seeded by
    ``seed`` when one is given.
    """

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check ranges, so a bad value fails before any model is loaded."""
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int):
            raise ValueError(f"max_new_tokens must be an integer, got {self.max_new_tokens!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        for name in ("temperature", "top_p"):  # numbers, not strings: they reach backends and cache keys as given
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not 0.0 <= self.temperature <= 10.0:  # compared as given: float() of a huge int overflows
            raise ValueError(f"temperature must be within [0, 10], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be within (0, 1], got {self.top_p}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"seed must be an integer or null, got {self.seed!r}")
        if self.seed is not None and not -(2**63) <= self.seed < 2**63:  # what torch and the OpenAI API take
            raise ValueError(f"seed must fit in 64 bits (-2**63 to 2**63-1), got {self.seed}")
        stop = (self.stop,) if isinstance(self.stop, str) else self.stop
        if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
            raise ValueError(f"stop must be a string or a list of strings, got {self.stop!r}")
        object.__setattr__(self, "stop", tuple(stop))

    @property
    def greedy(self) -> bool:
        """Whether decoding is deterministic (no sampling)."""
        return self.temperature == 0.0

    def replace(self, **changes: object) -> GenerationParams:
        """Return a copy with some fields changed (``None`` values are ignored)."""
        kept = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **kept)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """Plain-JSON form (for cache keys and reports)."""
        # the fields are plain values: no dataclasses.asdict deep copy (it was most of a cache key's cost)
        data: dict[str, object] = {name: getattr(self, name) for name in PARAM_NAMES}
        data["stop"] = list(self.stop)
        return data


PARAM_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(GenerationParams))


@dataclass(frozen=True, slots=True)
class Generation:
    """One completion."""

    prompt: Prompt
    text: str
    finish_reason: FinishReason = "stop"
    cached: bool = False
    prompt_tokens: int | None = dataclasses.field(default=None, compare=False)
    """Prompt tokens as the backend counted them (None: not known; budgets then estimate)."""
    completion_tokens: int | None = dataclasses.field(default=None, compare=False)
    """Completion tokens as the backend counted them (None: not known)."""


@runtime_checkable
class Backend(Protocol):
    """What every model backend provides."""

    @property
    def model_id(self) -> str:
        """Stable identity for reports and cache keys, e.g. ``hf:gpt2``."""
        ...

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """Return exactly one Generation per prompt, in input order."""
        ...


@runtime_checkable
class SupportsChoice(Protocol):
    """A backend that can score answer options directly (constrained choice)."""

    def choice_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
        """Per prompt, log-probabilities over ``labels`` (e.g. A, B, C) as the next token, renormalised."""
        ...


AnswerSink = Callable[[int, Prompt, object], None]
"""``sink(index, prompt, answer)``: one finished answer of a model call (see :data:`ANSWER_SINK`)."""

ANSWER_SINK: ContextVar[AnswerSink | None] = ContextVar("llmtrust_answer_sink", default=None)
"""Set by the generation cache while it waits on a model call.

A backend that finishes a call's answers one at a time (the ``openai:`` backend) may report each
through it as soon as it is done: ``sink(index, prompt, answer)``, where ``prompt`` is the call's
``index``-th prompt and ``answer`` its Generation (or its constrained-choice row). The cache stores
it at once, so an interrupted run (even ``kill -9``) keeps every answer already made. Read it in the
calling thread: a worker thread does not see it.
"""


def to_messages(prompt: Prompt) -> list[Message]:
    """Normalise a prompt into chat messages."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages: list[Message] = []
    for i, m in enumerate(prompt):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise ValueError(f"message {i} must be a mapping with 'role' and 'content', got {m!r}")
        messages.append({"role": str(m["role"]), "content": str(m["content"])})
    return messages


def prompt_text(prompt: Prompt) -> str:
    """A one-string view of a prompt, for reports: the last user turn."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    return users[-1] if users else (prompt[-1]["content"] if prompt else "")


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop string; return the text and whether one was hit."""
    cut = len(text)
    for s in stop:
        if s:
            at = text.find(s)
            if 0 <= at < cut:
                cut = at
    return text[:cut], cut < len(text)
