"""Two-option (A/B) answers, shared by the hallucination and causal studies.

A study asks each prompt in one of two modes:

- ``generate``: the model writes a reply (greedy unless the suite's generation settings say otherwise,
  ``max_new_tokens`` from the study's option) and the study's own parser reads the letter, as the survey's
  authors did; a reply the parser cannot read has no letter (it is counted as unparsed).
- ``choice``: constrained choice. The backend scores the next token after the prompt and the study takes the
  likelier of ``A`` and ``B`` (A on an exact tie). Every prompt gets a letter, so nothing is unparsed; this
  suits small models that do not keep to the answer format. It needs a backend with
  :class:`~pytest_llmtrust.backends.base.SupportsChoice` (``hf:``/``smollm2`` and OpenAI-compatible ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pytest_llmtrust.backends.base import SupportsChoice
from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pytest_llmtrust.model import LLM

LETTERS: tuple[str, str] = ("A", "B")
Mode = Literal["generate", "choice"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One reply: its text for reports, the letter read from it (None: unparsed), for choice its probability."""

    text: str
    letter: str | None
    prob: float | None = None


def choose(llm: LLM, prompts: Sequence[str], *, study: str) -> list[Answer]:
    """The likelier of A and B after each prompt (constrained choice); ConfigError if the backend cannot score."""
    if not prompts:
        return []
    backend = llm.backend
    if not isinstance(backend, SupportsChoice):
        raise ConfigError(
            f"{study}: mode 'choice' needs a backend that scores answer options (constrained choice), "
            f"and {llm.model_id} cannot; use an hf: model (e.g. smollm2) or an OpenAI-compatible server, "
            "or set 'mode: generate'"
        )
    rows = backend.choice_logprobs(list(prompts), list(LETTERS))
    answers = []
    for row in rows:
        probs = [math.exp(x) for x in row]
        pick = 0 if probs[0] >= probs[1] else 1
        letter = LETTERS[pick]
        answers.append(Answer(f"{letter} (constrained choice, p={probs[pick]:.3f})", letter, probs[pick]))
    return answers


def generate(
    llm: LLM, prompts: Sequence[str], *, max_new_tokens: int, parse: Callable[[str], str | None]
) -> list[Answer]:
    """Generate a reply per prompt (one batch) and read its letter with ``parse``."""
    if not prompts:
        return []
    replies = llm.generate(list(prompts), max_new_tokens=max_new_tokens)
    return [Answer(g.text, parse(g.text)) for g in replies]


def ask(
    llm: LLM,
    prompts: Sequence[str],
    *,
    mode: Mode,
    max_new_tokens: int,
    parse: Callable[[str], str | None],
    study: str,
) -> list[Answer]:
    """Answer every prompt in ``mode`` (see the module docstring), in input order."""
    if mode == "choice":
        return choose(llm, prompts, study=study)
    return generate(llm, prompts, max_new_tokens=max_new_tokens, parse=parse)
