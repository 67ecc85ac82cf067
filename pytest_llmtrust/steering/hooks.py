"""Inference-time steering: forward hooks that edit the last token's activation at chosen layers.

At each layer in ``vectors.layers`` the output ``x`` of the site module (the MLP, or the whole decoder
layer for ``site="residual"``) is edited at the LAST position only (AlignEZ)::

    x <- x + alpha_help * tanh(<x, theta>) * theta     for each helpful direction theta
    x <- x + alpha_harm * relu(<x, theta>) * theta     for each harmful direction theta

With a key/value cache this edits exactly what AlignEZ edits: the prefill forward edits the last prompt
position and every decoding step (a forward over one new token) edits that token. Prompts in a batch
are left-padded (as :class:`~pytest_llmtrust.backends.hf.HFBackend` does), so position ``-1`` is the
real last token of every row. Without a cache (``use_cache=False``) each step re-runs the whole
sequence and only its current last position is edited; earlier positions then see unedited values.

The edit is computed in float32 for float16/bfloat16 activations and cast back, so the output keeps
its dtype. Directions are moved to the activation's device once per (device, dtype) and cached.

Nesting: ``steer`` blocks stack. Each block adds its own hooks; PyTorch runs forward hooks in the order
they were registered, so at a layer both edit, the inner block's edit is applied to the outer block's
result. Each block removes only its own hooks when it exits, so the outer one keeps steering.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.steering.edit import edit
from pytest_llmtrust.steering.layers import site_modules

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torch.utils.hooks import RemovableHandle

    from pytest_llmtrust.steering.artefact import SteeringVectors

__all__ = ["LastTokenEdit", "active_hooks", "hidden_of", "replace_hidden", "steer"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_Sets = tuple[torch.Tensor | None, torch.Tensor | None]


def hidden_of(output: Any) -> torch.Tensor:
    """The activation tensor of a module output: the output itself, or the first element of a tuple.

    Raises:
        ConfigError: the output holds no tensor of shape (..., seq, d).
    """
    hidden = output[0] if isinstance(output, tuple | list) and output else output
    if not isinstance(hidden, torch.Tensor) or hidden.ndim < 2:
        raise ConfigError(
            f"a steering hook got a module output it cannot edit ({type(output).__name__}); expected a tensor "
            "(..., seq, d) or a tuple starting with one"
        )
    return hidden


def replace_hidden(output: Any, hidden: torch.Tensor) -> Any:
    """``output`` with its activation tensor (see :func:`hidden_of`) replaced by ``hidden``."""
    if isinstance(output, tuple | list) and output:
        return type(output)([hidden, *output[1:]])
    return hidden


class LastTokenEdit:
    """A forward hook that edits the last position of one layer's site output with its direction sets."""

    def __init__(
        self, helpful: torch.Tensor | None, harmful: torch.Tensor | None, alpha_help: float, alpha_harm: float
    ) -> None:
        """Keep the (k, d) direction sets (either may be ``None``) and the two strengths."""
        self.helpful = helpful
        self.harmful = harmful
        self.alpha_help = float(alpha_help)
        self.alpha_harm = float(alpha_harm)
        present = [t for t in (helpful, harmful) if t is not None]
        self.d_model = int(present[0].shape[-1]) if present else 0
        self._cache: dict[tuple[torch.device, torch.dtype], _Sets] = {}

    def _sets(self, device: torch.device, dtype: torch.dtype) -> _Sets:
        key = (device, dtype)
        found = self._cache.get(key)
        if found is None:
            found = (_moved(self.helpful, device, dtype), _moved(self.harmful, device, dtype))
            self._cache[key] = found
        return found

    def __call__(self, module: nn.Module, args: Any, output: Any) -> Any:
        """Return ``output`` with the last position of its activation edited (a new tensor, same dtype)."""
        hidden = hidden_of(output)
        if self.d_model and hidden.shape[-1] != self.d_model:
            raise ConfigError(
                f"steering directions have d={self.d_model} but {type(module).__name__} outputs d={hidden.shape[-1]}; "
                "the steering vectors were made for another model"
            )
        compute = torch.float32 if hidden.dtype in _LOW_PRECISION else hidden.dtype
        helpful, harmful = self._sets(hidden.device, compute)
        last = hidden[..., -1, :].to(compute)
        new_last = edit(last, helpful=helpful, harmful=harmful, alpha_help=self.alpha_help, alpha_harm=self.alpha_harm)
        edited = hidden.clone()
        edited[..., -1, :] = new_last.to(hidden.dtype)
        return replace_hidden(output, edited)


def _moved(tensor: torch.Tensor | None, device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device=device, dtype=dtype)


def active_hooks(model: nn.Module) -> int:
    """How many steering hooks (:class:`LastTokenEdit`) are registered anywhere in ``model``."""
    return sum(isinstance(hook, LastTokenEdit) for module in model.modules() for hook in module._forward_hooks.values())


@contextmanager
def steer(model: nn.Module, vectors: SteeringVectors) -> Iterator[None]:
    """Edit ``model``'s forward passes with ``vectors`` inside the block; remove every hook after it.

    The hooks are removed on every exit, also when the block raises. Blocks may be nested (they stack,
    see the module docstring).

    Args:
        model: a transformers causal LM (e.g. ``HFBackend.model``).
        vectors: the direction sets, the layers to edit, the strengths and the site.

    Raises:
        ConfigError: a layer or site the model does not have, or directions of another width.
    """
    problem = vectors.problem()
    if problem:
        raise ConfigError(f"invalid steering vectors: {problem}")
    width = getattr(getattr(model, "config", None), "hidden_size", None)
    if isinstance(width, int) and vectors.d_model and width != vectors.d_model:
        raise ConfigError(
            f"steering directions have d={vectors.d_model} but the model's hidden_size is {width}; "
            f"they were made for another model ({vectors.meta.get('model_id', 'unknown')})"
        )
    modules = site_modules(model, vectors.layers, vectors.site)
    handles: list[RemovableHandle] = []
    try:
        for layer, module in modules.items():
            hook = LastTokenEdit(
                vectors.helpful.get(layer), vectors.harmful.get(layer), vectors.alpha_help, vectors.alpha_harm
            )
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in reversed(handles):
            handle.remove()
