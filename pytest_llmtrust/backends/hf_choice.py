"""Constrained choice on a transformers model: score answer options from next-token logits.

For each prompt, one forward pass over the rendered prompt gives the next-token
distribution at the last position; each option's score is the log-probability
of its label token (``"A"`` or ``" A"``, whichever the tokenizer has as single
tokens, combined with logsumexp), renormalised over the options. Prompts are
sorted by length and left-padded into batches, with position ids that skip
the padding, so a prompt scores the same alone or in a batch (in float32).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from pytest_llmtrust.backends.hf import _left_pad
from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.base import Prompt
    from pytest_llmtrust.backends.hf import HFBackend


def label_token_ids(tokenizer: Any, label: str) -> list[int]:
    """Single-token spellings of an option label (``"A"`` and ``" A"``)."""
    ids: set[int] = set()
    for variant in (label, f" {label}"):
        tokens = tokenizer(variant, add_special_tokens=False)["input_ids"]
        if len(tokens) == 1:
            ids.add(int(tokens[0]))
    if not ids:
        raise ConfigError(f"option label {label!r} is not a single token for this tokenizer; use labels like A, B, C")
    return sorted(ids)


def _last_logits(model: Any, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    try:
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1)
    except TypeError:  # transformers before logits_to_keep
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions)
    logits: torch.Tensor = out.logits[:, -1, :]
    return logits.float()


def choice_logprobs(backend: HFBackend, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
    """Log-probabilities over ``labels`` (renormalised) as the next token after each prompt, in input order."""
    if not labels:
        raise ConfigError("constrained choice needs at least one option label")
    label_ids = [label_token_ids(backend.tokenizer, label) for label in labels]
    encoded = sorted(((i, backend.encode(p)) for i, p in enumerate(prompts)), key=lambda e: (-len(e[1]), e[0]))
    out: list[list[float]] = [[] for _ in prompts]
    pad = int(backend.tokenizer.pad_token_id)
    with torch.inference_mode():
        for start in range(0, len(encoded), backend.batch_size):
            batch = encoded[start : start + backend.batch_size]
            ids, mask = _left_pad([row for _, row in batch], pad)
            logp = torch.log_softmax(_last_logits(backend.model, ids.to(backend.device), mask.to(backend.device)), -1)
            scores = torch.stack([torch.logsumexp(logp[:, ids_], dim=-1) for ids_ in label_ids], dim=-1)
            normalised = torch.log_softmax(scores, dim=-1).cpu().tolist()
            for (index, _), row in zip(batch, normalised, strict=True):
                out[index] = [float(x) for x in row]
    return out
