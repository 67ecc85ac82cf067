"""Read a model's activations at the last token: the input to fitting steering directions.

:func:`collect_last_token` runs one forward pass over a left-padded batch and captures each chosen
layer's site output at position ``-1`` (the real last token of every row, since rows are left-padded).
:func:`last_token_activations` does that for a list of plain texts on an
:class:`~pytest_llmtrust.backends.hf.HFBackend`, in length-sorted batches, and returns rows in input order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.steering.hooks import hidden_of
from pytest_llmtrust.steering.layers import decoder_layers, site_modules

if TYPE_CHECKING:
    from collections.abc import Sequence

    from torch import nn
    from torch.utils.hooks import RemovableHandle

    from pytest_llmtrust.backends.hf import HFBackend

__all__ = ["collect_last_token", "last_token_activations"]


def collect_last_token(
    model: nn.Module,
    site: str,
    layers: Sequence[int],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
) -> dict[int, torch.Tensor]:
    """One forward pass; each layer's site output at the last position.

    Position ids follow the attention mask, so a left-padded row gets the same activations as the
    same row alone.

    Args:
        model: a transformers causal LM.
        site: ``mlp`` or ``residual`` (see :mod:`pytest_llmtrust.steering.layers`).
        layers: decoder layer indices to read.
        input_ids: (batch, seq) token ids, left-padded, on the model's device.
        attention_mask: (batch, seq), 0 on padding.

    Returns:
        layer -> (batch, d) float32 tensor on CPU.

    Raises:
        ConfigError: an unknown site or a layer the model does not have.
    """
    modules = site_modules(model, layers, site)
    captured: dict[int, torch.Tensor] = {}
    handles: list[RemovableHandle] = []

    def capture(layer: int) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            captured[layer] = hidden_of(output)[..., -1, :].detach().to(device="cpu", dtype=torch.float32)

        return hook

    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    try:
        for layer, module in modules.items():
            handles.append(module.register_forward_hook(capture(layer)))
        with torch.inference_mode():
            model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    missing = [layer for layer in modules if layer not in captured]
    if missing:  # pragma: no cover - a model that skips layers
        raise ConfigError(f"layers {missing} did not run in the forward pass of {type(model).__name__}")
    return {layer: captured[layer] for layer in modules}


def last_token_activations(
    backend: HFBackend,
    texts: Sequence[str],
    layers: Sequence[int] | None = None,
    site: str = "mlp",
    batch_size: int | None = None,
) -> dict[int, torch.Tensor]:
    r"""Last-token site activations of plain texts, batched, in input order.

    The texts are tokenized as they are (no chat template: they are already e.g.
    ``"Human: q\nAssistant: response"``), sorted by length, left-padded and run in batches.

    Args:
        backend: a loaded transformers backend.
        texts: the texts to read.
        layers: decoder layer indices; ``None`` reads every layer.
        site: ``mlp`` or ``residual``.
        batch_size: texts per forward pass; ``None`` uses ``backend.batch_size``.

    Returns:
        layer -> (len(texts), d) float32 tensor on CPU, row i belonging to ``texts[i]``.

    Raises:
        ConfigError: an empty text, a bad batch size, an unknown site or layer.
    """
    from pytest_llmtrust.backends.hf import _left_pad

    size = backend.batch_size if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {size!r}")
    chosen = list(range(len(decoder_layers(backend.model)))) if layers is None else [int(x) for x in layers]
    site_modules(backend.model, chosen, site)  # fail on a bad layer or site before tokenizing
    encoded: list[list[int]] = []
    for i, text in enumerate(texts):
        ids = [int(t) for t in backend.tokenizer(text)["input_ids"]]
        if not ids:
            raise ConfigError(f"text {i} ({text!r:.60}) has no tokens; activations need at least one")
        encoded.append(ids)
    order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i))
    parts: dict[int, list[torch.Tensor]] = {layer: [] for layer in chosen}
    pad = int(backend.tokenizer.pad_token_id)
    for start in range(0, len(order), size):
        rows = [encoded[i] for i in order[start : start + size]]
        input_ids, mask = _left_pad(rows, pad)
        got = collect_last_token(backend.model, site, chosen, input_ids.to(backend.device), mask.to(backend.device))
        for layer in chosen:
            parts[layer].append(got[layer])
    width = int(getattr(backend.model.config, "hidden_size", 0))
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
    out: dict[int, torch.Tensor] = {}
    for layer in chosen:
        stacked = torch.cat(parts[layer]) if parts[layer] else torch.empty(0, width)
        out[layer] = stacked[inverse] if len(order) else stacked
    return out
