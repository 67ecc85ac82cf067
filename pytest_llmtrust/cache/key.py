"""Cache keys: sha256 of canonical JSON over everything that decides an answer.

A generation key covers the model fingerprint (weights, dtype, chat template), the steering
fingerprint, the decoding parameters, the prompt (as chat messages, so ``"hi"`` and
``[{"role": "user", "content": "hi"}]`` share a key), the seed and the sample index. The sample
index tells repeated samples of one prompt apart, so asking for five samples gives five answers.
Greedy decoding has one answer per prompt, so its sample index is always 0.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.backends.base import GenerationParams, Prompt, to_messages

if TYPE_CHECKING:
    from collections.abc import Sequence

FORMAT_VERSION = 1
"""Bump when the key layout or the stored value format changes."""


def canonical(data: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(data: Any) -> str:
    """sha256 hex of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical(data).encode("utf-8")).hexdigest()


def cacheable(params: GenerationParams) -> bool:
    """Greedy or seeded decoding; unseeded sampling is meant to differ every run, so it is never cached."""
    return params.greedy or params.seed is not None


def sample_indices(prompts: Sequence[Prompt], params: GenerationParams) -> list[int]:
    """Per prompt, how many identical prompts came before it in the list (0 for greedy decoding)."""
    if params.greedy:
        return [0] * len(prompts)
    seen: dict[str, int] = {}
    out: list[int] = []
    for prompt in prompts:
        text = canonical(to_messages(prompt))
        out.append(seen.get(text, 0))
        seen[text] = out[-1] + 1
    return out


def generation_key(model: str, steer: str | None, params: GenerationParams, prompt: Prompt, sample: int) -> str:
    """The key of one generation."""
    decoding = params.as_dict()
    seed = decoding.pop("seed")
    return digest(
        {
            "v": FORMAT_VERSION,
            "op": "generate",
            "model": model,
            "steer": steer,
            "params": decoding,
            "prompt": to_messages(prompt),
            "seed": seed,
            "sample": sample,
        }
    )


def choice_key(model: str, steer: str | None, prompt: Prompt, labels: Sequence[str]) -> str:
    """The key of one constrained-choice scoring (log-probabilities over ``labels``)."""
    return digest(
        {
            "v": FORMAT_VERSION,
            "op": "choice",
            "model": model,
            "steer": steer,
            "prompt": to_messages(prompt),
            "labels": list(labels),
        }
    )
