"""The bugs the fuzzing found, pinned with their exact locations and messages (see docs/hardening-fuzzing.md)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import GenerationParams
from pytest_llmtrust.config import check_confidence
from pytest_llmtrust.errors import ConfigError, SuiteError
from pytest_llmtrust.markers import prompts_kwargs
from pytest_llmtrust.persona.bbq import load_bbq
from pytest_llmtrust.persona.personas import validate_template
from pytest_llmtrust.suite.loader import Suite, load_suite
from pytest_llmtrust.thresholds import Threshold
from tests.fuzz.strategies import BBQ_SAMPLE

if TYPE_CHECKING:
    from pathlib import Path

EXPECT = "expect: {refusal_rate: '>= 0.5'}\n"


def located(path: Path, data: bytes, **files: bytes) -> SuiteError:
    """The SuiteError of loading a suite holding ``data`` (with ``files`` beside it)."""
    for name, content in files.items():
        (path.parent / name).write_bytes(content)
    path.write_bytes(data)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return info.value


@pytest.fixture
def suite_path(tmp_path: Path) -> Path:
    return tmp_path / "s.llmtrust.yaml"


@pytest.mark.parametrize(
    ("data", "line", "column", "message"),
    [
        (b"suite: s\nprompts: [\xc3\xa9\xff]\n", 2, 12, "not UTF-8 text (invalid start byte at byte 21)"),
        (b"suite: s\nprompts: [a\x07]\n", 2, 12, "character #x0007 is not allowed in YAML; remove it"),
        (b"suite: s\nseed: " + b"9" * 5000 + b"\n", 2, 7, "as a YAML int (Exceeds the limit (4300 digits)"),
        (b"suite: 2001-13-45\n", 1, 8, "cannot read '2001-13-45' as a YAML timestamp (month must be in 1..12)"),
        (b"suite: !!bool maybe\n", 1, 8, "cannot read 'maybe' as a YAML bool; quote it to keep it as text"),
        (b"suite: !!set [a]\n", 1, 8, "expected a mapping, but found a sequence; remove the tag"),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", 1, None, "nested too deeply"),
        (b"suite: s\nprompts: [hi]\ngeneration: {seed: 18446744073709551616}\n" + EXPECT.encode(), 3, 20, "less than"),
    ],
    ids=["not-utf8", "control-char", "long-int", "bad-date", "bool-tag", "set-tag", "deep", "seed-64-bits"],
)
def test_yaml_problems_are_located(suite_path: Path, data: bytes, line: int, column: int | None, message: str) -> None:
    err = located(suite_path, data)
    assert err.line == line
    assert column is None or err.column == column
    assert message in err.message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('suite: s\nprompts_file: "a\\0b.txt"\n' + EXPECT, 2, "prompts file 'a\\x00b.txt' not found"),
        (f"suite: s\nprompts_file: {'a' * 300}.txt\n" + EXPECT, 2, "not found next to the suite"),
        ("suite: s\nprompts: [hi]\nsteer: /\n" + EXPECT, 3, "no steering artefact '/'"),
        ('suite: s\nprompts: [hi]\nsteer: "v\\0"\n' + EXPECT, 3, "no steering artefact"),
        ('suite: p\nkind: persona_bias\ndataset: "b\\0"\ndomain: Age\nexpect: {pb: "< 0.1"}\n', 3, "no BBQ data"),
    ],
    ids=["nul-prompts-file", "long-prompts-file", "steer-root", "nul-steer", "nul-dataset"],
)
def test_impossible_file_names_are_not_found_at_their_key(suite_path: Path, text: str, line: int, message: str) -> None:
    err = located(suite_path, text.encode())
    assert (err.path, err.line) == (suite_path, line)
    assert message in err.message


def test_persona_template_fields_other_than_zero_are_located(suite_path: Path) -> None:
    text = "suite: p\nkind: persona_bias\ndataset: b.jsonl\ndomain: Age\ntemplates: ['{0} {0.upper}']\nexpect: {pb: '< 0.1'}\n"
    err = located(suite_path, text.encode(), **{"b.jsonl": BBQ_SAMPLE})
    assert (err.line, err.key) == (5, "templates.0")
    assert "a field other than a plain {0}" in err.message


@pytest.mark.parametrize("template", ["{0} {0.nope}", "{0} {0[x]}", "{0} {0:>999999999}", "{0} {0!r}"])
def test_persona_templates_take_a_plain_zero_field_only(template: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("use only '{0}' as a field")):
        validate_template(template)


def test_prompts_file_problems_are_located(suite_path: Path) -> None:
    err = located(suite_path, b"suite: s\nprompts_file: p.txt\n" + EXPECT.encode(), **{"p.txt": b"ok\ncaf\xe9\n"})
    assert (err.path.name, err.line, err.column) == ("p.txt", 2, 4)
    err = located(suite_path, b"suite: s\nprompts_file: p.csv\n" + EXPECT.encode(), **{"p.csv": b"hi\n"})
    assert (err.path, err.line, err.column) == (suite_path, 2, 15)
    assert "unknown prompts file type '.csv'" in err.message
    err = located(
        suite_path, b"suite: s\nprompts_file: p.jsonl\n" + EXPECT.encode(), **{"p.jsonl": b'"ok"\n' + b"9" * 5000}
    )
    assert (err.path.name, err.line) == ("p.jsonl", 2)
    assert err.message.startswith("invalid JSON: Exceeds the limit (4300 digits)")


def test_jsonl_prompts_may_hold_unicode_line_separators(suite_path: Path) -> None:
    (suite_path.parent / "p.jsonl").write_text(json.dumps("a\u2028b", ensure_ascii=False) + '\n"c"\n', encoding="utf-8")
    suite_path.write_text("suite: s\nprompts_file: p.jsonl\n" + EXPECT, encoding="utf-8")
    suite = load_suite(suite_path)
    assert isinstance(suite, Suite)
    assert [(p.prompt, p.line) for p in suite.prompts] == [("a\u2028b", 1), ("c", 2)]


@pytest.mark.parametrize("text", [">= 1e999", "between 0 and 1e999", "< -" + "9" * 400])
def test_thresholds_beyond_float_range_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="a number is out of range"):
        Threshold.parse(text)


def test_prompts_marker_messages_need_string_role_and_content() -> None:
    with pytest.raises(ConfigError, match="must be a string or a list of"):
        prompts_kwargs([{"role": "user", "content": ["not", "text"]}])
    assert prompts_kwargs([{"role": "user", "content": "hi"}]) == ([[{"role": "user", "content": "hi"}]], {})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": "0.7"}, "temperature must be a number, got '0.7'"),
        ({"top_p": [1]}, "top_p must be a number"),
        ({"temperature": 10**400}, "temperature must be within [0, 10]"),
        ({"stop": [1]}, "stop must be a string or a list of strings"),
        ({"stop": 5}, "stop must be a string or a list of strings"),
        ({"seed": 2**64}, "seed must fit in 64 bits"),
    ],
)
def test_generation_params_reject_values_backends_cannot_use(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        GenerationParams().replace(**changes)


def test_confidence_too_large_for_a_float_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="confidence must be a number"):
        check_confidence(10**400, "marker")


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (BBQ_SAMPLE + b'{"context": "caf\xe9"}\n', 2, "not UTF-8 text"),
        (BBQ_SAMPLE + b'{"label": ' + b"9" * 5000 + b"}\n", 2, "invalid JSON: Exceeds the limit (4300 digits)"),
        (BBQ_SAMPLE + b"[" * 100_000 + b"\n", 2, "invalid JSON: nested too deeply"),
    ],
    ids=["not-utf8", "long-int", "deep"],
)
def test_bbq_line_problems_are_located(tmp_path: Path, data: bytes, line: int, message: str) -> None:
    path = tmp_path / "Age.jsonl"
    path.write_bytes(data)
    with pytest.raises(SuiteError) as info:
        load_bbq(path)
    assert (info.value.path, info.value.line) == (path, line)
    assert info.value.message.startswith(message)


def test_bbq_file_may_start_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "Age.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + BBQ_SAMPLE)
    assert [item.line for item in load_bbq(path)] == [1]
