r"""Constrained choice from an OpenAI-compatible server's ``top_logprobs``.

The server is asked for one token (``max_tokens=1``, ``temperature=0``) with
``logprobs=True`` and ``top_logprobs=N``. Each option label is then scored from
the first generated token's top-``N`` list:

- **Matching:** a listed token counts for a label when its text, stripped of
  surrounding whitespace and of one leading ``"("``, equals the label
  (case-sensitive): ``"A"``, ``" A"``, ``"\nA"`` and ``"(A"`` all count for ``A``.
  Several matching tokens are combined with logsumexp (their probabilities add up).
- **Floor:** a label with no matching token in the list gets the lowest logprob in
  the list. Every token outside the top ``N`` is at most as likely as the last one
  listed, so this is an upper bound on the label's real score: a missing label is
  never treated as less likely than it could be.
- **Renormalising:** the label scores go through log-softmax, so a row's
  probabilities sum to 1 over the labels.

When no label matches at all, the row says nothing about the options, and
:func:`choice_row` returns ``None`` (the backend turns that into an error).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from openai.types.chat import ChatCompletion

__all__ = [
    "DEFAULT_TOP_LOGPROBS",
    "check_labels",
    "choice_row",
    "first_token_top_logprobs",
    "label_scores",
    "log_softmax",
    "logsumexp",
    "matches_label",
]

DEFAULT_TOP_LOGPROBS = 20
"""How many alternatives to ask for: 20 is OpenAI's maximum (vLLM's default cap too)."""

TopLogprobs = list[tuple[str, float]]
"""The first generated token's alternatives: (token text, logprob), as the server listed them."""


def check_labels(labels: Sequence[str]) -> None:
    """Reject an empty label list, and labels that are blank, padded or repeated.

    Raises:
        ConfigError: The labels cannot be matched against tokens.
    """
    if not labels:
        raise ConfigError("constrained choice needs at least one option label")
    for label in labels:
        if not isinstance(label, str) or not label.strip() or label != label.strip():
            raise ConfigError(f"option labels must be non-blank strings without surrounding spaces, got {label!r}")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"option labels must be distinct, got {list(labels)!r}")


def matches_label(token: str, label: str) -> bool:
    """Whether a token spells ``label``: equal after stripping whitespace and one leading ``"("``."""
    text = token.strip()
    if text.startswith("("):
        text = text[1:].strip()
    return text == label


def logsumexp(values: Sequence[float]) -> float:
    """``log(sum(exp(v)))``, computed stably; ``-inf`` for no values."""
    if not values:
        return -math.inf
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def log_softmax(scores: Sequence[float]) -> list[float]:
    """Renormalise log-scores so that their probabilities sum to 1."""
    total = logsumexp(scores)
    return [s - total for s in scores]


def first_token_top_logprobs(completion: ChatCompletion) -> TopLogprobs | None:
    """The first generated token's ``top_logprobs`` as (text, logprob) pairs.

    Returns:
        The pairs in the server's order, or ``None`` when the answer carries no
        logprobs or no ``top_logprobs`` (a server that does not support them).
    """
    if not completion.choices:
        return None
    logprobs = completion.choices[0].logprobs
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        return None
    top = getattr(content[0], "top_logprobs", None) or []
    pairs: TopLogprobs = []
    for entry in top:
        token, logprob = getattr(entry, "token", None), getattr(entry, "logprob", None)
        if isinstance(token, str) and isinstance(logprob, (int, float)) and not math.isnan(logprob):
            pairs.append((token, float(logprob)))
    return pairs or None


def label_scores(top: Sequence[tuple[str, float]], labels: Sequence[str]) -> list[float] | None:
    """Unnormalised log-scores of ``labels`` from one token's alternatives.

    Matching spellings are combined with logsumexp; a label with none gets the
    lowest listed logprob (see the module docstring).

    Returns:
        One score per label, or ``None`` when no listed token matches any label.
    """
    if not top:
        return None
    floor = min(logprob for _, logprob in top)
    found = [[logprob for token, logprob in top if matches_label(token, label)] for label in labels]
    if not any(found):
        return None
    return [logsumexp(spellings) if spellings else floor for spellings in found]


def choice_row(top: Sequence[tuple[str, float]], labels: Sequence[str]) -> list[float] | None:
    """Log-probabilities over ``labels``, renormalised, or ``None`` when no label was listed."""
    scores = label_scores(top, labels)
    return None if scores is None else log_softmax(scores)
