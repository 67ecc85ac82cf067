"""The AlignEZ activation edit: ReLU-gated harmful removal, tanh-gated helpful boost, dtypes, the sequential rule."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.steering.edit import edit, projection


def orthonormal(k: int, d: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))
    return q.T.contiguous().to(dtype)


def sequential_reference(x: torch.Tensor, rows: torch.Tensor, alpha: float, sigma: str) -> torch.Tensor:
    """The definition, one direction at a time, in float64."""
    out = x.double().clone()
    for theta in rows.double():
        p = out @ theta
        gate = torch.relu(p) if sigma == "relu" else torch.tanh(p)
        out = out + alpha * gate.unsqueeze(-1) * theta
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_harmful_edit_leaves_no_positive_projection(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    harmful = orthonormal(3, 8, seed=1, dtype=dtype)
    x = 3 * torch.randn(50, 8, dtype=dtype)
    out = edit(x, harmful=harmful)
    assert bool((projection(out, harmful) <= 1e-6).all())
    before = projection(x, harmful)
    assert torch.allclose(projection(out, harmful), torch.clamp(before, max=0.0), atol=1e-5)


def test_zero_alpha_is_exactly_the_identity() -> None:
    torch.manual_seed(1)
    x = torch.randn(4, 5, 8)
    out = edit(x, helpful=orthonormal(2, 8, 2), harmful=orthonormal(3, 8, 3), alpha_help=0.0, alpha_harm=0.0)
    assert torch.equal(out, x)
    assert out.data_ptr() != x.data_ptr()
    assert torch.equal(edit(x), x)
    assert torch.equal(edit(x, helpful=torch.empty(0, 8), harmful=torch.empty(0, 8)), x)


def test_helpful_edit_adds_tanh_of_the_projection() -> None:
    theta = torch.tensor([[1.0, 0.0, 0.0]])
    x = torch.tensor([[0.5, 1.0, 2.0], [-1.0, 0.0, 0.0], [2.0, 3.0, 4.0]])
    out = edit(x, helpful=theta)
    # tanh(0.5) = 0.4621171573, tanh(-1) = -0.7615941560, tanh(2) = 0.9640275801
    expected = torch.tensor([[0.9621171573, 1.0, 2.0], [-1.7615941560, 0.0, 0.0], [2.9640275801, 3.0, 4.0]])
    assert torch.allclose(out, expected, atol=1e-6)
    gained = projection(out, theta[0]) - projection(x, theta[0])
    assert torch.allclose(gained, torch.tensor([0.4621171573, -0.7615941560, 0.9640275801]), atol=1e-6)
    assert torch.allclose(edit(x, helpful=theta[0]), out)  # a single (d,) direction works too


def test_harmful_then_helpful_on_one_direction_hand_computed() -> None:
    theta = torch.tensor([0.6, 0.8])
    x = torch.tensor([3.0, 4.0])  # ⟨x, θ⟩ = 5
    # harmful = θ: ReLU removes all 5 → (0, 0); helpful = θ then adds tanh(0)·θ = 0.
    assert torch.allclose(edit(x, helpful=theta, harmful=theta), torch.zeros(2), atol=1e-6)
    # harmful = −θ: ⟨x, −θ⟩ = −5, ReLU gate 0; helpful adds tanh(5)·θ.
    expected = x + math.tanh(5.0) * theta
    assert torch.allclose(edit(x, helpful=theta, harmful=-theta), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("alpha", "sigma", "name"), [(-1.0, "relu", "harmful"), (1.0, "tanh", "helpful"), (0.7, "tanh", "helpful")]
)
def test_non_orthonormal_directions_follow_the_sequential_definition(alpha: float, sigma: str, name: str) -> None:
    torch.manual_seed(5)
    rows = torch.randn(4, 6)
    rows = rows / rows.norm(dim=1, keepdim=True)
    x = 2 * torch.randn(3, 7, 6)
    kwargs = {name: rows, f"alpha_{'help' if name == 'helpful' else 'harm'}": alpha}
    out = edit(x, **kwargs)  # type: ignore[arg-type]
    assert out.shape == x.shape
    assert torch.allclose(out.double(), sequential_reference(x, rows, alpha, sigma), atol=1e-5)


def test_orthonormal_fast_path_matches_the_sequential_definition() -> None:
    torch.manual_seed(6)
    rows = orthonormal(5, 16, seed=7)
    x = 2 * torch.randn(10, 16)
    assert torch.allclose(edit(x, harmful=rows).double(), sequential_reference(x, rows, -1.0, "relu"), atol=1e-5)
    assert torch.allclose(edit(x, helpful=rows).double(), sequential_reference(x, rows, 1.0, "tanh"), atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_input_comes_back_in_its_dtype(dtype: torch.dtype) -> None:
    torch.manual_seed(8)
    x = torch.randn(2, 3, 8).to(dtype)
    rows = orthonormal(2, 8, seed=9)
    out = edit(x, helpful=rows, harmful=-rows)
    assert out.dtype == dtype
    assert out.shape == x.shape
    assert out.device == x.device
    reference = edit(x.float(), helpful=rows, harmful=-rows)
    assert torch.allclose(out.float(), reference, atol=5e-2)
    assert projection(x, rows).dtype == torch.float32


def test_projection_shapes() -> None:
    x = torch.ones(2, 3, 4)
    assert projection(x, torch.eye(4)[0]).shape == (2, 3)
    assert projection(x, torch.eye(4)[:2]).shape == (2, 3, 2)


def test_mismatched_directions_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"harmful directions must have shape \(k, 4\)"):
        edit(torch.ones(2, 4), harmful=torch.eye(3))
    with pytest.raises(ConfigError, match="helpful directions"):
        edit(torch.ones(2, 4), helpful=torch.ones(1, 1, 4))
    with pytest.raises(ConfigError, match="at least one dimension"):
        edit(torch.tensor(1.0))


vectors = st.lists(st.floats(-10.0, 10.0, allow_nan=False, width=32), min_size=6, max_size=6)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(vectors, min_size=1, max_size=4), k=st.integers(1, 4), seed=st.integers(0, 1000))
def test_relu_edit_never_increases_an_orthonormal_harmful_projection(
    rows: list[list[float]], k: int, seed: int
) -> None:
    harmful = orthonormal(k, 6, seed)
    x = torch.tensor(rows)
    before = projection(x, harmful)
    after = projection(edit(x, harmful=harmful), harmful)
    assert bool((after <= before + 1e-5).all())
    assert bool((after <= 1e-5).all())


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(vectors, min_size=1, max_size=4), k=st.integers(1, 4), seed=st.integers(0, 1000))
def test_harmful_edit_is_identity_when_no_projection_is_positive(rows: list[list[float]], k: int, seed: int) -> None:
    harmful = orthonormal(k, 6, seed)
    x = torch.tensor(rows)
    # Push every projection to at most −0.1 (Θ orthonormal: each row's projection moves independently).
    x = x - (torch.relu(projection(x, harmful)) + 0.1) @ harmful
    assert bool((projection(x, harmful) <= 0).all())
    assert torch.equal(edit(x, harmful=harmful), x)
