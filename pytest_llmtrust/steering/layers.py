"""Find the decoder layers of a transformers causal LM and the module whose output is a steering site.

Sites:
    ``mlp``: the MLP (feed-forward) block of a decoder layer; its output is what it adds to the residual stream.
    ``residual``: the decoder layer itself; its output (the first element when it returns a tuple) is the
    residual stream after that layer.

Architectures are found by attribute path, not by class, so any model laid out like Llama/Mistral/Qwen
(``model.layers``), GPT-2/GPT-J/Falcon (``transformer.h``), GPT-NeoX/Pythia (``gpt_neox.layers``) or
OPT (``model.decoder.layers``) works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LAYER_PATHS", "MLP_ATTRIBUTES", "decoder_layers", "site_module", "site_modules"]

LAYER_PATHS: tuple[str, ...] = ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers")
"""Attribute paths, from the causal LM, of the list of decoder layers; tried in order."""
MLP_ATTRIBUTES: tuple[str, ...] = ("mlp", "feed_forward")
"""Attribute names, on a decoder layer, of its MLP block; tried in order."""


def _follow(root: Any, path: str) -> Any:
    node = root
    for name in path.split("."):
        node = getattr(node, name, None)
        if node is None:
            return None
    return node


def decoder_layers(model: nn.Module) -> Sequence[nn.Module]:
    """The decoder layers of ``model`` in order (a ``ModuleList``).

    Raises:
        ConfigError: no known attribute path leads to a list of layers; the message lists the paths tried.
    """
    for path in LAYER_PATHS:
        found = _follow(model, path)
        if isinstance(found, nn.ModuleList | list | tuple) and len(found) > 0:
            return list(found)
    raise ConfigError(
        f"cannot find the decoder layers of {type(model).__name__}: tried {', '.join(LAYER_PATHS)}; "
        "steering supports transformers causal LMs laid out like Llama, GPT-2, GPT-NeoX or OPT"
    )


def site_module(model: nn.Module, layer: int, site: str) -> nn.Module:
    """The module whose forward output is steering ``site`` at decoder layer ``layer``.

    Raises:
        ConfigError: an unknown site, a layer out of range, or a layer without a known MLP attribute.
    """
    layers = decoder_layers(model)
    if not -len(layers) <= layer < len(layers):
        raise ConfigError(f"layer {layer} is out of range: {type(model).__name__} has {len(layers)} decoder layers")
    block = layers[layer]
    if site == "residual":
        return block
    if site != "mlp":
        raise ConfigError(f"steering site {site!r} is not one of mlp, residual")
    for name in MLP_ATTRIBUTES:
        mlp = getattr(block, name, None)
        if isinstance(mlp, nn.Module):
            return mlp
    raise ConfigError(
        f"decoder layer {layer} ({type(block).__name__}) has no MLP attribute: tried {', '.join(MLP_ATTRIBUTES)}; "
        "use site='residual' for this architecture"
    )


def site_modules(model: nn.Module, layers: Sequence[int], site: str) -> dict[int, nn.Module]:
    """:func:`site_module` for several layers: layer index -> module."""
    return {int(layer): site_module(model, int(layer), site) for layer in layers}
