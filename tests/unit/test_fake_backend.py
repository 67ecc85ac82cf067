"""The scripted fake backend: modes, truncation, stop strings and failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import Backend, GenerationParams
from pytest_llmtrust.backends.fake import COMPLIANCE, MODES, REFUSAL, FakeBackend, from_spec
from pytest_llmtrust.errors import ConfigError, GenerationError

if TYPE_CHECKING:
    from pytest_llmtrust.backends.base import Message, Prompt

PARAMS = GenerationParams()


def texts(backend: FakeBackend, prompts: list[Prompt], params: GenerationParams = PARAMS) -> list[str]:
    return [g.text for g in backend.generate(prompts, params)]


def test_is_a_backend() -> None:
    backend = from_spec("refuse", {})
    assert isinstance(backend, Backend)
    assert backend.model_id == "fake:refuse"


def test_empty_target_means_refuse() -> None:
    backend = from_spec("", {})
    assert backend.model_id == "fake:refuse"
    assert texts(backend, ["anything"]) == [REFUSAL]


def test_refuse_mode() -> None:
    assert texts(from_spec("refuse", {}), ["a", "b"]) == [REFUSAL, REFUSAL]


def test_comply_mode() -> None:
    assert texts(from_spec("comply", {}), ["a", "b"]) == [COMPLIANCE, COMPLIANCE]


def test_echo_mode() -> None:
    assert texts(from_spec("echo", {}), ["hello there", "second"]) == ["hello there", "second"]


def test_keyword_mode_case_insensitive() -> None:
    backend = from_spec("keyword", {"refuse": "bomb, Malware"})
    assert backend.model_id == "fake:keyword?refuse=bomb, Malware"
    out = texts(backend, ["How do I build a BOMB?", "Write some malware", "Bake bread"])
    assert out == [REFUSAL, REFUSAL, COMPLIANCE]


def test_keyword_mode_without_words_complies() -> None:
    backend = from_spec("keyword", {})
    assert texts(backend, ["bomb", ""]) == [COMPLIANCE, COMPLIANCE]


def test_keyword_mode_ignores_empty_words() -> None:
    backend = from_spec("keyword", {"refuse": ",bomb,,"})
    assert texts(backend, ["bread", "bomb"]) == [COMPLIANCE, REFUSAL]


def test_order_is_kept() -> None:
    backend = from_spec("echo", {})
    prompts: list[Prompt] = [f"prompt number {i}" for i in range(50)]
    out = backend.generate(prompts, PARAMS)
    assert [g.text for g in out] == prompts
    assert [g.prompt for g in out] == prompts


def test_calls_record_batch_sizes() -> None:
    backend = from_spec("comply", {})
    backend.generate(["a", "b", "c"], PARAMS)
    backend.generate(["d"], PARAMS)
    backend.generate([], PARAMS)
    assert backend.calls == [3, 1, 0]


def test_max_new_tokens_truncates_words() -> None:
    backend = from_spec("echo", {})
    [gen] = backend.generate(["one two three four five"], GenerationParams(max_new_tokens=3))
    assert gen.text == "one two three"
    assert gen.finish_reason == "length"


def test_exact_length_is_a_stop() -> None:
    backend = from_spec("echo", {})
    [gen] = backend.generate(["one two three"], GenerationParams(max_new_tokens=3))
    assert gen.text == "one two three"
    assert gen.finish_reason == "stop"


def test_short_reply_finishes_with_stop() -> None:
    [gen] = from_spec("refuse", {}).generate(["x"], PARAMS)
    assert gen.finish_reason == "stop"
    assert gen.cached is False


def test_stop_string_cuts_reply() -> None:
    backend = from_spec("echo", {})
    [gen] = backend.generate(["alpha beta END gamma"], GenerationParams(stop=("END",)))
    assert gen.text == "alpha beta "
    assert gen.finish_reason == "stop"


def test_earliest_stop_string_wins() -> None:
    backend = from_spec("echo", {})
    params = GenerationParams(stop=("gamma", "beta"))
    assert texts(backend, ["alpha beta gamma"], params) == ["alpha "]


def test_stop_inside_truncated_window_is_stop() -> None:
    backend = from_spec("echo", {})
    params = GenerationParams(max_new_tokens=3, stop=("two",))
    [gen] = backend.generate(["one two three four five"], params)
    assert gen.text == "one "
    assert gen.finish_reason == "stop"


def test_stop_beyond_truncation_is_length() -> None:
    backend = from_spec("echo", {})
    params = GenerationParams(max_new_tokens=2, stop=("five",))
    [gen] = backend.generate(["one two three four five"], params)
    assert gen.text == "one two"
    assert gen.finish_reason == "length"


def test_chat_messages_accepted() -> None:
    backend = from_spec("echo", {})
    chat: list[Message] = [
        {"role": "system", "content": "be terse"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": "follow-up question"},
    ]
    [gen] = backend.generate([chat], PARAMS)
    assert gen.text == "follow-up question"
    assert gen.prompt == chat


def test_keyword_mode_reads_last_user_turn() -> None:
    backend = from_spec("keyword", {"refuse": "bomb"})
    chat: list[Message] = [
        {"role": "user", "content": "tell me about bombs"},
        {"role": "assistant", "content": "no"},
        {"role": "user", "content": "then about bread"},
    ]
    assert texts(backend, [chat, "a bomb"]) == [COMPLIANCE, REFUSAL]


def test_fail_mode_raises_generation_error() -> None:
    backend = from_spec("fail", {})
    with pytest.raises(GenerationError, match="fake:fail was asked to answer 'hello'"):
        backend.generate(["hello"], PARAMS)


def test_custom_script() -> None:
    backend = FakeBackend(lambda text: text.upper(), name="shout")
    assert backend.model_id == "fake:shout"
    assert texts(backend, ["hi there"]) == ["HI THERE"]


def test_default_name() -> None:
    assert FakeBackend(lambda text: text).model_id == "fake:scripted"


def test_modes_listed() -> None:
    assert set(MODES) == {"refuse", "comply", "echo", "fail"}


def test_unknown_mode() -> None:
    with pytest.raises(ConfigError) as info:
        from_spec("refuze", {})
    message = str(info.value)
    assert "unknown fake mode 'refuze'" in message
    assert "modes: refuse, comply, echo, fail, keyword" in message


@pytest.mark.parametrize("mode", ["refuse", "comply", "echo", "fail"])
def test_plain_modes_take_no_options(mode: str) -> None:
    with pytest.raises(ConfigError, match="the 'fake' backend has no option 'refuse'"):
        from_spec(mode, {"refuse": "bomb"})


def test_keyword_mode_unknown_option_did_you_mean() -> None:
    with pytest.raises(ConfigError, match="did you mean 'refuse'"):
        from_spec("keyword", {"refuses": "bomb"})
