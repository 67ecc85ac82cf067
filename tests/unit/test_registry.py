"""Model specs, the lazy backend registry, and typed spec options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_llmtrust.backends.base import Backend, GenerationParams
from pytest_llmtrust.backends.fake import REFUSAL, FakeBackend
from pytest_llmtrust.backends.registry import BACKENDS, ModelSpec, load_backend, parse_spec
from pytest_llmtrust.backends.spec_options import check_known, opt_bool, opt_float, opt_int, opt_str
from pytest_llmtrust.errors import ConfigError

# --- parse_spec --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("hf:HuggingFaceTB/SmolLM2-135M-Instruct", "hf", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("fake:refuse", "fake", "refuse"),
        ("fake:", "fake", ""),
        ("smollm2:", "smollm2", ""),
        ("hf:/models/x.gguf", "hf", "/models/x.gguf"),
        ("  fake:comply  ", "fake", "comply"),
    ],
)
def test_kinds(text: str, kind: str, target: str) -> None:
    spec = parse_spec(text)
    assert (spec.kind, spec.target, dict(spec.options)) == (kind, target, {})


@pytest.mark.parametrize("text", ["smollm2", "fake", "openai:x", "hf:a/b"])
def test_known_kinds_are_registered(text: str) -> None:
    assert parse_spec(text).kind in BACKENDS


def test_bare_smollm2() -> None:
    assert parse_spec("smollm2") == ModelSpec(kind="smollm2", target="", options={})


def test_bare_fake_defaults_to_empty_target() -> None:
    assert parse_spec("fake") == ModelSpec(kind="fake", target="")


@pytest.mark.parametrize(
    "text",
    [
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "./models/my-model",
        "../up/model",
        "model.gguf",
        "/abs/path/model",
    ],
)
def test_bare_hub_id_or_path_is_hf(text: str) -> None:
    spec = parse_spec(text)
    assert spec.kind == "hf"
    assert spec.target == text


def test_windows_drive_letter_is_a_path() -> None:
    spec = parse_spec("C:\\models\\x.gguf")
    assert (spec.kind, spec.target) == ("hf", "C:\\models\\x.gguf")
    assert parse_spec("D:/models/m").target == "D:/models/m"


def test_query_options_are_parsed() -> None:
    spec = parse_spec("openai:smollm2?base_url=http://127.0.0.1:8000/v1&timeout=30")
    assert spec.kind == "openai"
    assert spec.target == "smollm2"
    assert dict(spec.options) == {"base_url": "http://127.0.0.1:8000/v1", "timeout": "30"}


def test_query_options_blank_values_kept_and_percent_decoded() -> None:
    spec = parse_spec("hf:./m?dtype=&device=cuda%3A0")
    assert dict(spec.options) == {"dtype": "", "device": "cuda:0"}


def test_keyword_fake_spec() -> None:
    spec = parse_spec("fake:keyword?refuse=bomb,malware")
    assert spec == ModelSpec(kind="fake", target="keyword", options={"refuse": "bomb,malware"})


def test_str_round_trip_sorts_options() -> None:
    spec = parse_spec("hf:a/b?z=1&a=2")
    assert str(spec) == "hf:a/b?a=2&z=1"
    assert parse_spec(str(spec)) == spec
    assert str(parse_spec("smollm2")) == "smollm2"


@pytest.mark.parametrize(("text", "suggestion"), [("fak:refuse", "fake"), ("openia:gpt-4o", "openai")])
def test_unknown_kind_did_you_mean(text: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec(text)
    message = str(info.value)
    assert "unknown model kind" in message
    assert f"did you mean {suggestion!r}?" in message
    assert "known kinds: fake, hf, openai, smollm2" in message


def test_bare_word_without_kind_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec("smolm2")
    message = str(info.value)
    assert "has no kind" in message
    assert "did you mean 'smollm2'?" in message
    assert "KIND:TARGET" in message


def test_empty_spec_rejected() -> None:
    with pytest.raises(ConfigError, match="empty model spec"):
        parse_spec("   ")


@pytest.mark.parametrize("secret", ["api_key", "key", "token", "password"])
def test_secrets_rejected(secret: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec(f"openai:gpt-4o?base_url=http://x&{secret}=sk-abc123")
    message = str(info.value)
    assert f"carries a secret ({secret}=...)" in message
    assert "OPENAI_API_KEY" in message


@pytest.mark.parametrize("text", ["hf:", "openai:", "openai:?base_url=http://x"])
def test_hf_and_openai_need_target(text: str) -> None:
    with pytest.raises(ConfigError, match="needs a target after"):
        parse_spec(text)


# --- load_backend ------------------------------------------------------------------------------------


def test_load_backend_fake_refuse_works() -> None:
    backend = load_backend("fake:refuse")
    assert isinstance(backend, FakeBackend)
    assert isinstance(backend, Backend)
    assert backend.model_id == "fake:refuse"
    out = backend.generate(["how do I bake bread?", "hi"], GenerationParams())
    assert [g.text for g in out] == [REFUSAL, REFUSAL]


def test_load_backend_accepts_parsed_spec() -> None:
    backend = load_backend(ModelSpec(kind="fake", target="comply"))
    assert backend.model_id == "fake:comply"


def test_load_backend_defaults_fill_missing_options() -> None:
    backend = load_backend("fake:keyword", defaults={"refuse": "bomb"})
    out = backend.generate(["a bomb", "bread"], GenerationParams())
    assert out[0].text == REFUSAL
    assert out[1].text != REFUSAL


def test_load_backend_spec_options_override_defaults() -> None:
    backend = load_backend("fake:keyword?refuse=bread", defaults={"refuse": "bomb"})
    out = backend.generate(["a bomb", "bread"], GenerationParams())
    assert out[0].text != REFUSAL
    assert out[1].text == REFUSAL


def test_load_backend_unknown_option_rejected() -> None:
    with pytest.raises(ConfigError, match="has no option 'x'"):
        load_backend("fake:refuse?x=1")


def test_registry_imports_backends_lazily() -> None:
    code = (
        "import sys\n"
        "from pytest_llmtrust.backends.registry import load_backend, parse_spec\n"
        "parse_spec('hf:a/b'); parse_spec('smollm2'); load_backend('fake:refuse')\n"
        "heavy = {'torch', 'transformers', 'pytest_llmtrust.backends.hf',"
        " 'pytest_llmtrust.backends.smollm2'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- spec_options ------------------------------------------------------------------------------------


def test_check_known_accepts_known_keys() -> None:
    check_known("hf", {"dtype": "float32", "device": "cpu"}, ["device", "dtype", "batch_size"])


def test_check_known_did_you_mean() -> None:
    with pytest.raises(ConfigError) as info:
        check_known("hf", {"dtyp": "float32"}, ["dtype", "device"])
    message = str(info.value)
    assert "the 'hf' backend has no option 'dtyp'" in message
    assert "did you mean 'dtype'?" in message
    assert "options: device, dtype" in message


def test_opt_str() -> None:
    assert opt_str({"a": "x"}, "a") == "x"
    assert opt_str({"a": ""}, "a", "dflt") == "dflt"
    assert opt_str({}, "a", "dflt") == "dflt"
    assert opt_str({}, "a") is None


def test_opt_int() -> None:
    assert opt_int({"n": "5"}, "n", 1) == 5
    assert opt_int({}, "n", 3) == 3
    assert opt_int({"n": ""}, "n", 3) == 3
    assert opt_int({"n": "0"}, "n", 3, minimum=0) == 0


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [("five", "must be an integer"), ("1.5", "must be an integer"), ("0", "must be >= 1")],
)
def test_opt_int_rejects(raw: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        opt_int({"batch_size": raw}, "batch_size", 8)
    assert "batch_size" in str(info.value)


def test_opt_float() -> None:
    assert opt_float({"t": "2.5"}, "t", 1.0) == 2.5
    assert opt_float({}, "t", 1.0) == 1.0
    assert opt_float({"t": ""}, "t", 1.0) == 1.0
    with pytest.raises(ConfigError, match=r"option timeout='soon' must be a number"):
        opt_float({"timeout": "soon"}, "timeout", 1.0)
    with pytest.raises(ConfigError, match=r"option timeout=-1\.0 must be >= 0\.0"):
        opt_float({"timeout": "-1"}, "timeout", 1.0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), ("On", True), ("0", False), ("false", False), ("no", False)],
)
def test_opt_bool(raw: str, expected: bool) -> None:
    assert opt_bool({"flag": raw}, "flag", None) is expected


def test_opt_bool_default_and_rejects() -> None:
    assert opt_bool({}, "flag", None) is None
    assert opt_bool({"flag": ""}, "flag", True) is True
    with pytest.raises(ConfigError, match=r"option flag='maybe' must be true or false"):
        opt_bool({"flag": "maybe"}, "flag", None)
