"""Steering hooks, last-token activations and the steering artefact, on a tiny random Llama."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from pytest_llmtrust.backends import hf  # noqa: E402
from pytest_llmtrust.backends.base import GenerationParams  # noqa: E402
from pytest_llmtrust.errors import ConfigError  # noqa: E402
from pytest_llmtrust.steering.activations import collect_last_token, last_token_activations  # noqa: E402
from pytest_llmtrust.steering.artefact import SteeringVectors  # noqa: E402
from pytest_llmtrust.steering.edit import edit  # noqa: E402
from pytest_llmtrust.steering.hooks import active_hooks, hidden_of, steer  # noqa: E402
from pytest_llmtrust.steering.layers import decoder_layers, site_module  # noqa: E402
from tests.backends.test_hf import build_tiny_model  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

GREEDY = GenerationParams(max_new_tokens=6)
PROMPTS = ["hello world", "tell me a story about cats and dogs", "one two three", "what is the capital of france ?"]
TEXTS = [
    "one two three four five six seven",
    "red",
    "tell me a story about cats",
    "hello world",
    "what is the capital of france ? red green blue",
]
D = 32  # hidden size of the tiny model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> hf.HFBackend:
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-steer"))
    return hf.HFBackend(str(folder), dtype="float32", device="cpu", batch_size=2, progress=False)


def texts(backend: hf.HFBackend, prompts: list[str] = PROMPTS) -> list[str]:
    return [g.text for g in backend.generate(prompts, GREEDY)]


def unit_rows(k: int, seed: int, first: Any = None) -> Any:
    """k orthonormal rows of width D; the first along ``first`` when given."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randn(D, k, generator=gen)
    if first is not None:
        raw[:, 0] = first
    q, _ = torch.linalg.qr(raw)
    if first is not None and torch.dot(q[:, 0], first) < 0:
        q[:, 0] = -q[:, 0]
    return q.T.contiguous()


def vectors(**changes: Any) -> SteeringVectors:
    fields: dict[str, Any] = {
        "helpful": {0: unit_rows(3, 1), 1: unit_rows(3, 2)},
        "harmful": {0: unit_rows(3, 3), 1: unit_rows(3, 4)},
        "layers": (0, 1),
        "meta": {"model_id": "tiny", "method": "svd", "n_pairs": 4},
    }
    fields.update(changes)
    return SteeringVectors(**fields)


def prompt_batch(backend: hf.HFBackend, prompt: str) -> tuple[Any, Any]:
    ids = torch.tensor([backend.encode(prompt)])
    return ids, torch.ones_like(ids)


def mlp_last(backend: hf.HFBackend, prompt: str, layer: int) -> Any:
    ids, mask = prompt_batch(backend, prompt)
    return collect_last_token(backend.model, "mlp", [layer], ids, mask)[layer][0]


def last_logits(backend: hf.HFBackend, prompt: str) -> Any:
    ids, _ = prompt_batch(backend, prompt)
    with torch.inference_mode():
        return backend.model(input_ids=ids).logits[0, -1].float()


# ----------------------------------------------------------------------------------------------- hooks


def test_zero_alphas_leave_greedy_generation_unchanged(tiny: hf.HFBackend) -> None:
    plain = texts(tiny)
    with steer(tiny.model, vectors(alpha_help=0.0, alpha_harm=0.0)):
        assert active_hooks(tiny.model) == 2
        assert texts(tiny) == plain


def test_hooks_are_removed_after_normal_exit(tiny: hf.HFBackend) -> None:
    plain = last_logits(tiny, PROMPTS[1])
    direction = torch.nn.functional.normalize(mlp_last(tiny, PROMPTS[1], 1), dim=0)
    with steer(tiny.model, vectors(helpful={1: direction[None]}, harmful={}, layers=(1,), alpha_help=8.0)):
        assert not torch.allclose(last_logits(tiny, PROMPTS[1]), plain)
    assert active_hooks(tiny.model) == 0
    assert torch.equal(last_logits(tiny, PROMPTS[1]), plain)


def test_hooks_are_removed_when_the_block_raises(tiny: hf.HFBackend) -> None:
    plain = texts(tiny)
    inside: list[int] = []

    def fail_inside() -> None:
        with steer(tiny.model, vectors(alpha_help=4.0)):
            inside.append(active_hooks(tiny.model))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert inside == [2]
    assert active_hooks(tiny.model) == 0
    assert texts(tiny) == plain


def test_nested_blocks_stack_and_unwind(tiny: hf.HFBackend) -> None:
    with steer(tiny.model, vectors()):
        with steer(tiny.model, vectors(layers=(1,))):
            assert active_hooks(tiny.model) == 3
        assert active_hooks(tiny.model) == 2
    assert active_hooks(tiny.model) == 0


def test_harmful_edit_removes_the_projection_at_the_last_token_only(tiny: hf.HFBackend) -> None:
    prompt = PROMPTS[1]
    ids, mask = prompt_batch(tiny, prompt)
    module = site_module(tiny.model, 1, "mlp")
    plain_all = {}
    handle = module.register_forward_hook(lambda m, a, out: plain_all.update(x=hidden_of(out)[0].clone()))
    with torch.inference_mode():
        tiny.model(input_ids=ids, attention_mask=mask)
    handle.remove()
    before = plain_all["x"][-1]
    harmful = unit_rows(3, 7, first=torch.nn.functional.normalize(before, dim=0))
    assert float(before @ harmful[0]) > 0.1  # the edit has something to remove
    steered: dict[str, Any] = {}
    with steer(tiny.model, vectors(helpful={}, harmful={1: harmful}, layers=(1,))):
        handle = module.register_forward_hook(lambda m, a, out: steered.update(x=hidden_of(out)[0].clone()))
        try:
            with torch.inference_mode():
                tiny.model(input_ids=ids, attention_mask=mask)
        finally:
            handle.remove()
    after = steered["x"]
    assert (after[-1] @ harmful.T).max() <= 1e-5
    torch.testing.assert_close(after[-1], edit(before, harmful=harmful), atol=1e-6, rtol=0)
    assert torch.equal(after[:-1], plain_all["x"][:-1])  # earlier positions untouched


def test_every_decoding_step_edits_its_new_token(tiny: hf.HFBackend) -> None:
    """With the KV cache each step is a forward over one new token; each one is edited."""
    ids, mask = prompt_batch(tiny, PROMPTS[0])
    harmful = unit_rows(3, 9, first=torch.nn.functional.normalize(mlp_last(tiny, PROMPTS[0], 1), dim=0))
    module = site_module(tiny.model, 1, "mlp")
    seen: list[Any] = []
    with steer(tiny.model, vectors(helpful={}, harmful={1: harmful}, layers=(1,))):
        handle = module.register_forward_hook(lambda m, a, out: seen.append(hidden_of(out)[:, -1].clone()))
        try:
            with torch.inference_mode():
                tiny.model.generate(
                    input_ids=ids, attention_mask=mask, max_new_tokens=5, do_sample=False, pad_token_id=0
                )
        finally:
            handle.remove()
    assert len(seen) == 5  # prefill + 4 single-token steps
    for x in seen:
        assert (x @ harmful.T).max() <= 1e-5


def test_aligned_directions_change_the_logits(tiny: hf.HFBackend) -> None:
    prompt = PROMPTS[3]
    plain = last_logits(tiny, prompt)
    direction = torch.nn.functional.normalize(mlp_last(tiny, prompt, 1), dim=0)[None]
    with steer(tiny.model, vectors(helpful={}, harmful={1: direction}, layers=(1,))):
        harm = last_logits(tiny, prompt)
    with steer(tiny.model, vectors(helpful={1: direction}, harmful={}, layers=(1,), alpha_help=5.0)):
        helped = last_logits(tiny, prompt)
    assert (harm - plain).abs().max() > 1e-3
    assert (helped - plain).abs().max() > 1e-3


def test_residual_site_steers_the_decoder_layer_output(tiny: hf.HFBackend) -> None:
    prompt = PROMPTS[0]
    plain = last_logits(tiny, prompt)
    ids, mask = prompt_batch(tiny, prompt)
    x = collect_last_token(tiny.model, "residual", [1], ids, mask)[1][0]
    direction = torch.nn.functional.normalize(x, dim=0)[None]
    with steer(tiny.model, vectors(helpful={}, harmful={1: direction}, layers=(1,), site="residual")):
        assert active_hooks(tiny.model) == 1
        assert (last_logits(tiny, prompt) - plain).abs().max() > 1e-3
    assert active_hooks(tiny.model) == 0


def test_directions_of_another_width_are_rejected(tiny: hf.HFBackend) -> None:
    wrong = SteeringVectors(helpful={0: torch.eye(2, 16)}, harmful={}, layers=(0,))
    with pytest.raises(ConfigError, match="hidden_size"), steer(tiny.model, wrong):
        pass
    assert active_hooks(tiny.model) == 0


def test_layer_out_of_range_is_a_config_error(tiny: hf.HFBackend) -> None:
    with (
        pytest.raises(ConfigError, match="out of range"),
        steer(tiny.model, vectors(helpful={5: unit_rows(1, 0)}, harmful={}, layers=(5,))),
    ):
        pass
    assert active_hooks(tiny.model) == 0


def test_unknown_architecture_lists_what_was_tried() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with pytest.raises(ConfigError, match=r"model\.layers.*transformer\.h.*gpt_neox\.layers.*model\.decoder\.layers"):
        decoder_layers(model)
    with pytest.raises(ConfigError, match="Sequential"), steer(model, vectors()):
        pass


# ----------------------------------------------------------------------------------------------- activations


def test_batched_activations_equal_single_forwards_in_input_order(tiny: hf.HFBackend) -> None:
    batched = last_token_activations(tiny, TEXTS, layers=[0, 1], batch_size=2)
    assert set(batched) == {0, 1}
    for layer in (0, 1):
        assert batched[layer].shape == (len(TEXTS), D)
        assert batched[layer].dtype == torch.float32
        for i, text in enumerate(TEXTS):
            ids = torch.tensor([tiny.tokenizer(text)["input_ids"]])
            alone = collect_last_token(tiny.model, "mlp", [layer], ids, torch.ones_like(ids))[layer][0]
            torch.testing.assert_close(batched[layer][i], alone, atol=1e-5, rtol=1e-5)  # |x| ~ 30 here
    everything = last_token_activations(tiny, TEXTS[:2], site="residual")
    assert sorted(everything) == [0, 1]
    assert active_hooks(tiny.model) == 0
    assert all(not m._forward_hooks for m in tiny.model.modules())


def test_activations_reject_a_bad_site(tiny: hf.HFBackend) -> None:
    with pytest.raises(ConfigError, match="site"):
        last_token_activations(tiny, TEXTS, site="attention")


# ----------------------------------------------------------------------------------------------- artefact


def test_artefact_round_trip(tmp_path: Path) -> None:
    original = vectors(alpha_help=0.5, alpha_harm=-2.0, meta={"model_id": "tiny", "variance": [0.5, 0.25]})
    tensor_path, json_path = original.save(tmp_path / "steer")
    assert {p.name for p in tmp_path.iterdir()} == {"steer.safetensors", "steer.json"}  # no pickle, no temp files
    assert tensor_path.read_bytes()[:1] != b"\x80"  # not a pickle stream
    assert json.loads(json_path.read_text())["version"] == 1
    loaded = SteeringVectors.load(tmp_path / "steer")
    assert loaded.layers == original.layers
    assert loaded.site == "mlp"
    assert (loaded.alpha_help, loaded.alpha_harm, loaded.meta) == (0.5, -2.0, original.meta)
    assert loaded.d_model == D
    for kind in ("helpful", "harmful"):
        mine, theirs = getattr(original, kind), getattr(loaded, kind)
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_with_settings_returns_a_modified_copy() -> None:
    original = vectors()
    changed = original.with_settings(layers=(1,), alpha_help=2.0)
    assert (changed.layers, changed.alpha_help, changed.alpha_harm) == ((1,), 2.0, -1.0)
    assert (original.layers, original.alpha_help) == ((0, 1), 1.0)
    with pytest.raises(ConfigError, match="no stored directions"):
        original.with_settings(layers=(3,))


def test_inconsistent_vectors_are_rejected() -> None:
    with pytest.raises(ConfigError, match="widths"):
        SteeringVectors(helpful={0: torch.ones(1, 4)}, harmful={0: torch.ones(1, 5)}, layers=(0,))
    with pytest.raises(ConfigError, match="site"):
        vectors(site="attention")


def test_corrupted_tensor_file_is_named(tmp_path: Path) -> None:
    tensor_path, _ = vectors().save(tmp_path / "steer")
    data = bytearray(tensor_path.read_bytes())
    data[-1] ^= 0xFF
    tensor_path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"steer\.safetensors.*sha256"):
        SteeringVectors.load(tmp_path / "steer")


@pytest.mark.parametrize("missing", ["steer.json", "steer.safetensors"])
def test_missing_file_is_named(tmp_path: Path, missing: str) -> None:
    vectors().save(tmp_path / "steer")
    (tmp_path / missing).unlink()
    with pytest.raises(ConfigError, match=re.escape(missing) + ".*does not exist"):
        SteeringVectors.load(tmp_path / "steer.json")


def test_wrong_version_is_named(tmp_path: Path) -> None:
    _, json_path = vectors().save(tmp_path / "steer")
    header = json.loads(json_path.read_text())
    header["version"] = 99
    json_path.write_text(json.dumps(header))
    with pytest.raises(ConfigError, match=r"steer\.json.*version 99"):
        SteeringVectors.load(tmp_path / "steer")


def test_layers_not_stored_are_rejected_on_load(tmp_path: Path) -> None:
    _, json_path = vectors().save(tmp_path / "steer")
    header = json.loads(json_path.read_text())
    header["layers"] = [0, 7]
    json_path.write_text(json.dumps(header))
    with pytest.raises(ConfigError, match=r"steer\.json.*no stored directions"):
        SteeringVectors.load(tmp_path / "steer")
