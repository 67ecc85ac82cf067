"""Settings resolution: precedence, validation and messages that name the layer."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pytest_llmtrust.backends.base import GenerationParams
from pytest_llmtrust.config import (
    BACKEND_OPTION_KEYS,
    DEFAULT_JUDGE,
    DEFAULT_MODEL,
    SETTING_KEYS,
    Settings,
    check_confidence,
    check_keys,
    resolve,
)
from pytest_llmtrust.errors import ConfigError


def test_no_layers_gives_defaults() -> None:
    settings = resolve([])
    assert settings == Settings()
    assert settings.model == DEFAULT_MODEL == "smollm2"
    assert settings.judge == DEFAULT_JUDGE == "refusal"
    assert settings.params == GenerationParams()
    assert settings.confidence is None
    assert settings.backend_options == {}


def test_first_layer_wins_per_key() -> None:
    settings = resolve(
        [
            ("cli", {"model": "fake:refuse"}),
            ("marker", {"model": "fake:comply", "judge": "fake:echo", "max_new_tokens": 16}),
            ("ini", {"model": "hf:x/y", "judge": "refusal", "max_new_tokens": 64, "temperature": 0.7}),
        ]
    )
    assert settings.model == "fake:refuse"
    assert settings.judge == "fake:echo"
    assert settings.params.max_new_tokens == 16
    assert settings.params.temperature == 0.7


def test_none_values_are_skipped() -> None:
    settings = resolve(
        [
            ("cli", {"model": None, "confidence": None, "seed": None}),
            ("env", {"model": "fake:comply", "seed": 3}),
        ]
    )
    assert settings.model == "fake:comply"
    assert settings.params.seed == 3
    assert settings.confidence is None


def test_every_setting_key_is_accepted() -> None:
    check_keys(dict.fromkeys(SETTING_KEYS), "cli")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("modle", "model"),
        ("max_tokens", "max_new_tokens"),
        ("temprature", "temperature"),
        ("devise", "device"),
    ],
)
def test_unknown_key_did_you_mean_names_layer(key: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve([("cli", {"model": "fake:refuse"}), ("marker llmtrust(...)", {key: 1})])
    message = str(info.value)
    assert message.startswith("marker llmtrust(...): ")
    assert f"unknown setting {key!r}" in message
    assert f"did you mean {suggestion!r}?" in message
    assert "settings: model, judge, confidence" in message


def test_unknown_key_without_suggestion_lists_settings() -> None:
    with pytest.raises(ConfigError) as info:
        resolve([("ini", {"zzz": 1})])
    message = str(info.value)
    assert "did you mean" not in message
    for key in SETTING_KEYS:
        assert key in message


def test_unknown_key_rejected_even_when_value_is_none() -> None:
    with pytest.raises(ConfigError, match="fixture: unknown setting 'modell'"):
        resolve([("fixture", {"modell": None})])


def test_string_numbers_are_coerced() -> None:
    settings = resolve(
        [("ini", {"max_new_tokens": "32", "temperature": "0.5", "top_p": "0.9", "seed": "7", "stop": "END"})]
    )
    assert settings.params == GenerationParams(max_new_tokens=32, temperature=0.5, top_p=0.9, seed=7, stop=("END",))


def test_stop_list_becomes_tuple() -> None:
    settings = resolve([("suite", {"stop": ["a", "b"]})])
    assert settings.params.stop == ("a", "b")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_new_tokens", "many"),
        ("max_new_tokens", "3.5"),
        ("seed", "x"),
        ("temperature", "hot"),
        ("top_p", ""),
    ],
)
def test_uncoercible_string_names_layer(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve([("cli", {"model": "fake:refuse"}), ("ini", {key: value})])
    assert str(info.value) == f"ini: {key}={value!r} is not a valid value"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("max_new_tokens", 0, "max_new_tokens must be >= 1"),
        ("max_new_tokens", "0", "max_new_tokens must be >= 1"),
        ("max_new_tokens", 2.5, "max_new_tokens must be an integer"),
        ("max_new_tokens", True, "max_new_tokens must be an integer"),
        ("temperature", 11, "temperature must be within [0, 10]"),
        ("temperature", "-1", "temperature must be within [0, 10]"),
        ("top_p", 0, "top_p must be within (0, 1]"),
        ("top_p", "1.5", "top_p must be within (0, 1]"),
        ("seed", 1.5, "seed must be an integer or null"),
    ],
)
def test_out_of_range_values_name_layer(key: str, value: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve([("marker", {key: value})])
    message = str(info.value)
    assert message.startswith("marker: ")
    assert fragment in message


def test_range_error_names_every_param_source() -> None:
    with pytest.raises(ConfigError) as info:
        resolve([("marker", {"max_new_tokens": 4}), ("ini", {"top_p": 0})])
    assert str(info.value).startswith("ini, marker: ")


@pytest.mark.parametrize(("value", "expected"), [(0.95, 0.95), ("0.9", 0.9), (0.5, 0.5), ("  0.99 ", 0.99)])
def test_confidence_accepted(value: object, expected: float) -> None:
    assert resolve([("cli", {"confidence": value})]).confidence == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (0, "must be between 0 and 1"),
        (1, "must be between 0 and 1"),
        ("1.5", "must be between 0 and 1"),
        (-0.1, "must be between 0 and 1"),
        (math.nan, "must be between 0 and 1"),
        ("high", "must be a number such as 0.95"),
        (True, "must be a number such as 0.95"),
        ([0.9], "must be a number such as 0.95"),
    ],
)
def test_bad_confidence_names_layer(value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve([("cli", {"model": "fake:refuse"}), ("suite", {"confidence": value})])
    message = str(info.value)
    assert message.startswith("suite: confidence ")
    assert fragment in message


def test_check_confidence_none_and_where() -> None:
    assert check_confidence(None, "x") is None
    with pytest.raises(ConfigError, match=r"^somewhere: "):
        check_confidence(2, "somewhere")


def test_backend_options_only_known_keys_as_strings() -> None:
    settings = resolve(
        [
            ("cli", {"dtype": "float32"}),
            ("ini", {"device": "cpu", "batch_size": 8, "dtype": "bfloat16", "model": "hf:a/b"}),
        ]
    )
    assert BACKEND_OPTION_KEYS == ("dtype", "device", "batch_size")
    assert dict(settings.backend_options) == {"dtype": "float32", "device": "cpu", "batch_size": "8"}


@pytest.mark.parametrize("key", ["base_url", "api_key", "revision"])
def test_other_backend_options_rejected(key: str) -> None:
    with pytest.raises(ConfigError, match=f"ini: unknown setting {key!r}"):
        resolve([("ini", {key: "x"})])


def test_model_and_judge_are_strings() -> None:
    settings = resolve([("env", {"model": "fake:comply", "judge": "llm:fake:refuse"})])
    assert settings.model == "fake:comply"
    assert settings.judge == "llm:fake:refuse"
