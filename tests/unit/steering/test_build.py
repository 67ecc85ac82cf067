"""build_steering: self-generated pairs -> activations -> directions -> a steering artefact."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pytest_llmtrust.backends.hf import HFBackend  # noqa: E402
from pytest_llmtrust.errors import ConfigError  # noqa: E402
from pytest_llmtrust.steering.build import build_steering  # noqa: E402
from pytest_llmtrust.steering.selfdata import PreferencePair  # noqa: E402
from tests.backends.test_hf import build_tiny_model  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

WORDS = "what is the capital of france hello world tell me a story about cats dogs and birds".split()


def pairs(n: int) -> list[PreferencePair]:
    out = []
    for i in range(n):
        query = " ".join(WORDS[i % 5 : i % 5 + 4])
        out.append(
            PreferencePair(
                query=query,
                objective="harmless",
                pos="safety-first",
                neg="malicious",
                pos_characteristics="",
                neg_characteristics="",
                pos_response=" red green blue one two",
                neg_response=" six seven eight nine ten",
                prompts={},
            )
        )
    return out


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> HFBackend:
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-build"))
    return HFBackend(str(folder), dtype="float32", device="cpu", batch_size=4, progress=False)


@pytest.mark.parametrize("method", ["svd", "mean_diff", "ccs"])
def test_build_gives_an_artefact_that_round_trips(backend: HFBackend, method: str, tmp_path: Path) -> None:
    vectors = build_steering(backend, pairs(12), method=method, n_layers=1)  # type: ignore[arg-type]
    assert len(vectors.layers) == 1
    layer = vectors.layers[0]
    assert torch.allclose(vectors.harmful[layer], -vectors.helpful[layer])
    assert vectors.meta["method"] == method
    assert vectors.meta["n_pairs"] == 12
    assert vectors.meta["model_id"] == backend.model_id
    vectors.save(tmp_path / "a")
    again = type(vectors).load(tmp_path / "a")
    assert again.layers == vectors.layers
    assert torch.equal(again.helpful[layer], vectors.helpful[layer])


def test_layers_without_a_usable_pair_are_skipped_or_fail_clearly(backend: HFBackend) -> None:
    with pytest.raises(ConfigError, match=r"every layer lost all 4 pairs to the cosine > -1\.0 filter"):
        build_steering(backend, pairs(4), cos_threshold=-1.0)
    with pytest.raises(ConfigError, match="needs preference pairs"):
        build_steering(backend, [])
