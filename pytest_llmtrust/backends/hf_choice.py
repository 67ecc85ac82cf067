"""Constrained choice on a transformers model: score answer options from next-token logits.

For each prompt, one forward pass over the rendered prompt gives the next-token
distribution at the last position; each option's score is the log-probability
of its label token (``"A"`` or ``" A"``, whichever the tokenizer has as single
tokens, combined with logsumexp), renormalised over the options. Prompts are
sorted by length and left-padded into batches, with position ids that skip
the padding, so a prompt scores the same alone or in a batch (in float32).

Shared prefixes: when many prompts open with the same tokens (a persona's system
prompt and the task instruction), :func:`~pytest_llmtrust.backends.prefix_groups.group_by_prefix`
finds that opening, its key/value cache is computed once, and only the suffixes
run in batches against it (``[prefix][padding][suffix]``, the padding masked out
and the positions continuing from the prefix). In float32 the scores equal the
scores without sharing to within 1e-4; in bfloat16 they differ by rounding, as
any change of batch does. ``share_prefix=False`` on the backend turns it off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch

from pytest_llmtrust.backends.hf import _left_pad
from pytest_llmtrust.backends.prefix_groups import PrefixGroup, group_by_prefix
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


log = logging.getLogger(__name__)
_CACHE_ERRORS = (TypeError, ValueError, AttributeError, NotImplementedError, IndexError)
"""What a model whose cache cannot be expanded this way raises (then prompts are scored whole): a cache
layer without ``keys``/``values`` (AttributeError), a cache class that does not implement prefix reuse
(NotImplementedError), or shapes the expansion does not fit (the others)."""


def _last_logits(model: Any, ids: torch.Tensor, mask: torch.Tensor, offset: int = 0, cache: Any = None) -> torch.Tensor:
    """Logits at the last position; ``mask`` covers ``offset`` cached prefix tokens plus ``ids``."""
    positions = offset + (mask[:, offset:].cumsum(-1) - 1).clamp(min=0)
    extra: dict[str, Any] = {} if cache is None else {"past_key_values": cache, "use_cache": True}
    try:
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, **extra)
    except TypeError:  # transformers before logits_to_keep
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **extra)
    logits: torch.Tensor = out.logits[:, -1, :]
    return logits.float()


def _prefix_cache(model: Any, prefix: list[int], device: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, the (keys, values) of one prefix."""
    from transformers import DynamicCache

    cache = DynamicCache()
    model(input_ids=torch.tensor([prefix], device=device), past_key_values=cache, use_cache=True)
    layers: Any = cache.layers  # a layer without keys/values (linear attention) raises: scored whole instead
    return [(layer.keys, layer.values) for layer in layers]


def _expanded(kv: list[tuple[torch.Tensor, torch.Tensor]], rows: int) -> Any:
    """A fresh cache holding the prefix once per batch row (views, no copies until appended to)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for layer, (keys, values) in enumerate(kv):
        cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), layer)
    return cache


class _Scorer:
    """Scores batches of encoded prompts for one call of :func:`choice_logprobs`."""

    def __init__(self, backend: HFBackend, label_ids: list[list[int]]) -> None:
        self.backend = backend
        self.label_ids = label_ids
        self.pad = int(backend.tokenizer.pad_token_id)

    def normalised(self, logits: torch.Tensor) -> list[list[float]]:
        logp = torch.log_softmax(logits, -1)
        scores = torch.stack([torch.logsumexp(logp[:, ids_], dim=-1) for ids_ in self.label_ids], dim=-1)
        return [[float(x) for x in row] for row in torch.log_softmax(scores, dim=-1).cpu().tolist()]

    def plain(self, rows: Sequence[list[int]]) -> list[list[float]]:
        ids, mask = _left_pad(rows, self.pad)
        device = self.backend.device
        return self.normalised(_last_logits(self.backend.model, ids.to(device), mask.to(device)))

    def with_prefix(
        self, kv: list[tuple[torch.Tensor, torch.Tensor]], size: int, rows: Sequence[list[int]]
    ) -> list[list[float]]:
        ids, mask = _left_pad(rows, self.pad)
        mask = torch.cat([torch.ones(len(rows), size, dtype=torch.long), mask], dim=1)
        device = self.backend.device
        logits = _last_logits(self.backend.model, ids.to(device), mask.to(device), size, _expanded(kv, len(rows)))
        return self.normalised(logits)


def _score_group(scorer: _Scorer, group: PrefixGroup, encoded: list[list[int]], out: list[list[float]]) -> None:
    backend = scorer.backend
    size = group.prefix_len
    members = sorted(group.indices, key=lambda i: (-len(encoded[i]), i))
    kv = _prefix_cache(backend.model, encoded[members[0]][:size], backend.device) if size else None
    for start in range(0, len(members), backend.choice_batch_size):
        batch = members[start : start + backend.choice_batch_size]
        if kv is None:
            rows = scorer.plain([encoded[i] for i in batch])
        else:
            rows = scorer.with_prefix(kv, size, [encoded[i][size:] for i in batch])
        for index, row in zip(batch, rows, strict=True):
            out[index] = row


def choice_logprobs(backend: HFBackend, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
    """Log-probabilities over ``labels`` (renormalised) as the next token after each prompt, in input order."""
    if not labels:
        raise ConfigError("constrained choice needs at least one option label")
    scorer = _Scorer(backend, [label_token_ids(backend.tokenizer, label) for label in labels])
    encoded = [backend.encode(p) for p in prompts]
    empty = [i for i, row in enumerate(encoded) if not row]
    if empty:
        raise ConfigError(f"prompt {empty[0]} renders to no tokens; constrained choice needs a prompt to continue")
    out: list[list[float]] = [[] for _ in prompts]
    if backend.share_prefix:
        groups = group_by_prefix(encoded, min_group=backend.choice_batch_size)
    else:
        groups = [PrefixGroup(0, tuple(range(len(encoded))))]
    with torch.inference_mode():
        for group in groups:
            try:
                _score_group(scorer, group, encoded, out)
            except _CACHE_ERRORS as exc:
                if not group.prefix_len:
                    raise
                log.warning("%s: shared-prefix scoring failed (%s); scoring whole prompts", backend.model_id, exc)
                backend.share_prefix = False
                _score_group(scorer, PrefixGroup(0, group.indices), encoded, out)
    return out
