"""The AlignEZ activation edit, applied to an MLP output at every decoding step.

For each direction ``θ`` (a unit-norm row of ``Θ``), in row order::

    x ← x + α · σ(⟨x, θ⟩) · θ

harmful directions: ``σ = ReLU``, ``α = -1`` (remove the component only where ``x`` points along ``θ``);
helpful directions: ``σ = tanh``, ``α = +1``. The harmful set is applied first, then the helpful set.

The sequential definition is computed exactly with a few small matmuls: with ``p = x Θᵀ`` and the Gram
matrix ``G = Θ Θᵀ``, the coefficient of row ``j`` is ``c_j = α σ(p_j + Σ_{i<j} c_i G_ij)`` and the result is
``x + c Θ``. When the rows are orthonormal (``G = I``, as SVD directions are) this is the vectorised
``c = α σ(p)``; the loop over rows only runs for non-orthonormal sets of more than one direction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import Tensor

__all__ = ["edit", "projection"]

_ORTHONORMAL_ATOL = 1e-5


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32, or float64 when the input already is float64 (never lose precision)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _as_rows(theta: Tensor, d: int, name: str) -> Tensor:
    if theta.ndim == 1:
        theta = theta.unsqueeze(0)
    if theta.ndim != 2 or theta.shape[1] != d:
        raise ConfigError(
            f"{name} directions must have shape (k, {d}) or ({d},) to match the activations' last dimension; "
            f"got {tuple(theta.shape)}"
        )
    return theta


def projection(x: Tensor, theta: Tensor) -> Tensor:
    """The projections ``⟨x, θ⟩`` of activations on one or several directions.

    Args:
        x: activations, shape ``(..., d)``.
        theta: one direction ``(d,)`` or rows ``(k, d)``; the rows are assumed unit-norm.

    Returns:
        ``(...,)`` for a single direction, ``(..., k)`` for rows, in float32 (float64 for float64 input).

    Raises:
        ConfigError: the direction size does not match ``x``'s last dimension.
    """
    if x.ndim == 0:
        raise ConfigError("activations must have at least one dimension (..., d)")
    dtype = _compute_dtype(x.dtype)
    rows = _as_rows(theta, x.shape[-1], "steering").to(device=x.device, dtype=dtype)
    p = x.to(dtype) @ rows.T
    return p.squeeze(-1) if theta.ndim == 1 else p


def _coefficients(p: Tensor, rows: Tensor, alpha: float, sigma: Callable[[Tensor], Tensor]) -> Tensor:
    """Coefficients ``c`` (..., k) such that the sequential edit equals ``x + c @ rows``."""
    k = rows.shape[0]
    if k == 1:
        return alpha * sigma(p)
    gram = rows @ rows.T
    eye = torch.eye(k, device=rows.device, dtype=rows.dtype)
    if torch.allclose(gram, eye, atol=_ORTHONORMAL_ATOL, rtol=0.0):
        return alpha * sigma(p)
    coefficients: list[Tensor] = []
    for j in range(k):
        current = p[..., j]
        if j:
            previous = torch.stack(coefficients, dim=-1)
            current = current + previous @ gram[:j, j]
        coefficients.append(alpha * sigma(current))
    return torch.stack(coefficients, dim=-1)


def _apply(x: Tensor, theta: Tensor | None, alpha: float, sigma: Callable[[Tensor], Tensor], name: str) -> Tensor:
    if theta is None or alpha == 0.0:
        return x
    rows = _as_rows(theta, x.shape[-1], name).to(device=x.device, dtype=x.dtype)
    if rows.shape[0] == 0:
        return x
    c = _coefficients(x @ rows.T, rows, alpha, sigma)
    return x + c @ rows


def edit(
    x: Tensor,
    helpful: Tensor | None = None,
    harmful: Tensor | None = None,
    alpha_help: float = 1.0,
    alpha_harm: float = -1.0,
) -> Tensor:
    """Steer activations: remove harmful components (ReLU-gated), then boost helpful ones (tanh).

    Args:
        x: activations, shape ``(..., d)``, any float dtype and device.
        helpful: helpful directions ``(k, d)`` or ``(d,)``, unit-norm rows; ``None`` or empty skips them.
        harmful: harmful directions ``(k, d)`` or ``(d,)``, unit-norm rows; ``None`` or empty skips them.
        alpha_help: strength of the tanh-gated helpful edit (``+1`` in AlignEZ).
        alpha_harm: strength of the ReLU-gated harmful edit (``-1`` in AlignEZ).

    Returns:
        A new tensor with ``x``'s shape, dtype and device (computed in float32, or float64 for float64 input).
        With both alphas 0 (or no directions) it equals ``x`` exactly.

    Raises:
        ConfigError: ``x`` has no dimensions, or a direction set does not match its last dimension.
    """
    if x.ndim == 0:
        raise ConfigError("activations must have at least one dimension (..., d)")
    out = x.to(_compute_dtype(x.dtype))
    out = _apply(out, harmful, alpha_harm, torch.relu, "harmful")
    out = _apply(out, helpful, alpha_help, torch.tanh, "helpful")
    result = out.to(x.dtype)
    return result.clone() if result.data_ptr() == x.data_ptr() else result
