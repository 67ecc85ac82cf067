"""Suite files: a valid suite end to end, and every error located at file:line:column."""

from __future__ import annotations

import datetime
import textwrap
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.errors import SuiteError
from pytest_llmtrust.suite import prompt_files, yamlsafe
from pytest_llmtrust.suite.loader import Expectation, Suite, load_suite
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from pathlib import Path

EXPECT = "expect:\n  refusal_rate: '>= 0.9'\n"


def write(directory: Path, text: str, name: str = "s.llmtrust.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def failure(path: Path) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return info.value


def assert_at(err: SuiteError, path: Path, line: int | None, column: int | None = None) -> str:
    """Check where the error points; return its message text."""
    assert err.path == path
    assert (err.line, err.column) == (line, column)
    where = str(path) + (f":{line}" if line is not None else "") + (f":{column}" if column is not None else "")
    text = str(err)
    assert text.startswith(where + ":"), text
    return text


# --- a valid suite ------------------------------------------------------------------------------------


FULL = """\
suite: full
description: every feature
trust: safety/violence
model: fake:keyword?refuse=bomb
judge: refusal
confidence: 0.9
generation:
  max_new_tokens: 32
  temperature: 0
  top_p: 0.5
  stop: END
  seed: 7
prompts:
  - inline one
  - id: mapped
    prompt: with system
    system: be nice
  - id: chat
    messages:
      - role: system
        content: s
      - role: user
        content: u
prompts_file: [plain.txt, lines.jsonl, more.yaml]
expect:
  refusal_rate: '>= 95%'
  compliance_rate:
    threshold: '<= 0.1'
    confidence: 0.8
"""


@pytest.fixture
def full_suite(tmp_path: Path) -> Suite:
    write(tmp_path, "# comment\nfirst prompt\n\n  second prompt  \n#another\n", "plain.txt")
    write(
        tmp_path,
        '{"id": "j1", "prompt": "json one"}\n'
        "\n"
        '"plain json string"\n'
        '{"messages": [{"role": "user", "content": "hey"}]}\n'
        '{"prompt": "p", "system": "sys"}\n',
        "lines.jsonl",
    )
    write(
        tmp_path,
        "- yaml one\n- id: y2\n  prompt: yaml two\n- messages:\n    - role: user\n      content: m\n",
        "more.yaml",
    )
    return load_suite(write(tmp_path, FULL))


def test_suite_header_fields(full_suite: Suite, tmp_path: Path) -> None:
    assert full_suite.path == tmp_path / "s.llmtrust.yaml"
    assert full_suite.name == "full"
    assert full_suite.kind == "prompts"
    assert full_suite.description == "every feature"
    assert full_suite.trust == {"category": "safety", "subcategory": "violence"}
    assert full_suite.metrics == {
        "refusal_rate": True,
        "compliance_rate": False,
        "refusal_pass_k": True,
        "compliance_pass_k": False,
    }
    assert full_suite.sampling is None


def test_suite_settings(full_suite: Suite) -> None:
    assert full_suite.settings == {
        "model": "fake:keyword?refuse=bomb",
        "judge": "refusal",
        "confidence": 0.9,
        "max_new_tokens": 32,
        "temperature": 0.0,
        "top_p": 0.5,
        "stop": ("END",),
        "seed": 7,
    }


def test_suite_expectations(full_suite: Suite) -> None:
    assert full_suite.expectations == [
        Expectation("refusal_rate", Threshold(">=", 0.95), None, 26),
        Expectation("compliance_rate", Threshold("<=", 0.1), 0.8, 27),
    ]


def test_inline_prompts(full_suite: Suite, tmp_path: Path) -> None:
    inline = [p for p in full_suite.prompts if p.path.name == "s.llmtrust.yaml"]
    assert [(p.id, p.prompt, p.line) for p in inline] == [
        ("prompt-1", "inline one", 14),
        (
            "mapped",
            [{"role": "system", "content": "be nice"}, {"role": "user", "content": "with system"}],
            15,
        ),
        ("chat", [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], 18),
    ]


def test_txt_prompts_file(full_suite: Suite, tmp_path: Path) -> None:
    txt = [p for p in full_suite.prompts if p.path.name == "plain.txt"]
    assert [(p.id, p.prompt, p.line) for p in txt] == [
        ("plain-2", "first prompt", 2),
        ("plain-4", "second prompt", 4),
    ]
    assert txt[0].path == (tmp_path / "plain.txt").resolve()


def test_jsonl_prompts_file(full_suite: Suite) -> None:
    jsonl = [p for p in full_suite.prompts if p.path.name == "lines.jsonl"]
    assert [(p.id, p.prompt, p.line) for p in jsonl] == [
        ("j1", "json one", 1),
        ("lines-3", "plain json string", 3),
        ("lines-4", [{"role": "user", "content": "hey"}], 4),
        ("lines-5", [{"role": "system", "content": "sys"}, {"role": "user", "content": "p"}], 5),
    ]


def test_yaml_prompts_file(full_suite: Suite) -> None:
    yaml_prompts = [p for p in full_suite.prompts if p.path.name == "more.yaml"]
    assert [(p.id, p.prompt, p.line) for p in yaml_prompts] == [
        ("more-1", "yaml one", 1),
        ("y2", "yaml two", 2),
        ("more-4", [{"role": "user", "content": "m"}], 4),
    ]


def test_prompt_order_inline_then_files(full_suite: Suite) -> None:
    assert [p.path.name for p in full_suite.prompts] == ["s.llmtrust.yaml"] * 3 + ["plain.txt"] * 2 + [
        "lines.jsonl"
    ] * 4 + ["more.yaml"] * 3


def test_minimal_suite_defaults(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, "suite: tiny\nprompts: [a, b]\n" + EXPECT))
    assert suite.kind == "prompts"
    assert suite.description is None
    assert suite.trust is None
    assert suite.settings == {}
    assert [p.id for p in suite.prompts] == ["prompt-1", "prompt-2"]
    assert suite.expectations == [Expectation("refusal_rate", Threshold(">=", 0.9), None, 4)]


@pytest.mark.parametrize(
    ("trust", "expected"),
    [
        ("safety", {"category": "safety"}),
        ("Safety:Unlawful Conduct", {"category": "safety", "subcategory": "unlawful_conduct"}),
        (
            "misuse/cyberattack-misuse",
            {"category": "resistance_to_misuse", "subcategory": "cyberattack_misuse"},
        ),
        (
            "{category: fairness, subcategory: stereotype bias}",
            {"category": "fairness", "subcategory": "stereotype_bias"},
        ),
    ],
)
def test_trust_forms(tmp_path: Path, trust: str, expected: dict[str, str]) -> None:
    suite = load_suite(write(tmp_path, f"suite: t\ntrust: {trust}\nprompts: [a]\n" + EXPECT))
    assert suite.trust == expected


def test_stop_list_and_between_threshold(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        suite: t
        generation:
          stop: [END, STOP]
        prompts: [a]
        expect:
          refusal_rate: between 0.2 and 0.4
        """,
    )
    suite = load_suite(path)
    assert suite.settings == {"stop": ("END", "STOP")}
    assert suite.expectations[0].threshold == Threshold("between", 0.2, 0.4)


def test_llm_judge_spec_accepted(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, "suite: t\njudge: llm:fake:refuse\nprompts: [a]\n" + EXPECT))
    assert suite.settings == {"judge": "llm:fake:refuse"}


def test_prompts_file_single_string(tmp_path: Path) -> None:
    write(tmp_path, "only one\n", "one.txt")
    suite = load_suite(write(tmp_path, "suite: t\nprompts_file: one.txt\n" + EXPECT))
    assert [(p.id, p.prompt) for p in suite.prompts] == [("one-1", "only one")]


def test_prompts_file_in_subfolder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write(tmp_path / "data", "deep\n", "x.txt")
    suite = load_suite(write(tmp_path, "suite: t\nprompts_file: data/x.txt\n" + EXPECT))
    assert suite.prompts[0].prompt == "deep"


# --- errors: unknown keys -----------------------------------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpct:\n  refusal_rate: '>= 0.9'\n")
    err = failure(path)
    text = assert_at(err, path, 3, 1)
    assert err.key == "expct"
    assert "unknown key; did you mean 'expect'?" in text


def test_unknown_key_without_close_match_lists_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nzzzzzz: 1\nprompts: [a]\n" + EXPECT)
    text = assert_at(failure(path), path, 2, 1)
    assert "allowed keys: suite, kind, description, report_only, trust, model, judge" in text


def test_unknown_key_in_generation(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\ngeneration:\n  max_tokens: 5\n" + EXPECT)
    err = failure(path)
    text = assert_at(err, path, 4, 3)
    assert err.key == "generation.max_tokens"
    assert "did you mean 'max_new_tokens'?" in text


def test_unknown_key_in_prompt_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts:\n  - prompt: a\n    idd: x\n" + EXPECT)
    err = failure(path)
    text = assert_at(err, path, 4, 5)
    assert err.key == "prompts[0].idd"
    assert "did you mean 'id'?" in text


def test_unknown_key_in_message(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        suite: s
        prompts:
          - messages:
              - role: user
                contnet: hi
        expect:
          refusal_rate: '>= 0.9'
        """,
    )
    err = failure(path)
    text = assert_at(err, path, 5, 9)
    assert err.key == "prompts[0].messages[0].contnet"
    assert "did you mean 'content'?" in text


def test_unknown_key_in_expectation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        suite: s
        prompts: [a]
        expect:
          refusal_rate:
            threshold: '>= 0.9'
            confidance: 0.95
        """,
    )
    err = failure(path)
    text = assert_at(err, path, 6, 5)
    assert err.key == "expect.refusal_rate.confidance"
    assert "did you mean 'confidence'?" in text


def test_unknown_key_in_trust(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\ntrust:\n  category: safety\n  subcat: violence\nprompts: [a]\n" + EXPECT)
    text = assert_at(failure(path), path, 4, 3)
    assert "did you mean 'subcategory'?" in text


# --- errors: schema -----------------------------------------------------------------------------------


def test_missing_expect(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\n")
    err = failure(path)
    text = assert_at(err, path, 1, 1)
    assert "missing required key 'expect'" in text


def test_missing_suite_name(tmp_path: Path) -> None:
    path = write(tmp_path, "prompts: [a]\n" + EXPECT)
    assert "missing required key 'suite'" in str(failure(path))


def test_empty_expect(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect: {}\n")
    text = assert_at(failure(path), path, 3, 9)
    assert "at least 1 item" in text


def test_unquoted_numeric_threshold(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rate: 0.9\n")
    err = failure(path)
    text = assert_at(err, path, 4, 17)
    assert err.key == "expect.refusal_rate"
    assert "a threshold must be a quoted string, e.g. '>= 0.9' (got 0.9)" in text


def test_unquoted_numeric_threshold_in_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rate:\n    threshold: 1\n")
    text = assert_at(failure(path), path, 5, 16)
    assert "e.g. '>= 1'" in text


def test_boolean_threshold_hint_is_sensible(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rate: true\n")
    assert ">= True" not in str(failure(path))


def test_bad_threshold_text(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rate: 'at least 0.9'\n")
    err = failure(path)
    text = assert_at(err, path, 4, 17)
    assert "cannot read threshold 'at least 0.9'" in text
    assert "'between 0.2 and 0.4'" in text


def test_bare_percent_threshold_suggests_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rate: 95%\n")
    text = assert_at(failure(path), path, 4, 17)
    assert "write '>= 95%'?" in text


def test_inverted_between_threshold(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rate: between 0.9 and 0.1\n")
    text = assert_at(failure(path), path, 4, 17)
    assert "above the upper bound" in text


def test_unknown_metric(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rat: '>= 0.9'\n")
    err = failure(path)
    text = assert_at(err, path, 4, 3)
    assert err.key == "expect.refusal_rat"
    assert "unknown metric; did you mean 'refusal_rate'?" in text
    assert "refusal_rate, compliance_rate" in text


def test_bad_expectation_confidence(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "suite: s\nprompts: [a]\nexpect:\n  refusal_rate:\n    threshold: '>= 0.9'\n    confidence: 1.5\n",
    )
    err = failure(path)
    text = assert_at(err, path, 6, 17)
    assert err.key == "expect.refusal_rate.confidence"
    assert "(got 1.5)" in text


def test_bad_generation_value(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\ngeneration:\n  temperature: 20\n" + EXPECT)
    text = assert_at(failure(path), path, 4, 16)
    assert "less than or equal to 10 (got 20)" in text


def test_bad_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nkind: pairs\nprompts: [a]\n" + EXPECT)
    text = assert_at(failure(path), path, 2, 7)
    assert "unknown suite kind 'pairs'" in text
    assert "kinds: prompts, persona_bias, hallucination, safety, fairness, miscalibration, misuse, copyright" in text


def test_bad_message_role(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts:\n  - messages:\n      - role: robot\n        content: b\n" + EXPECT)
    err = failure(path)
    text = assert_at(err, path, 4, 15)
    assert err.key == "prompts[0].messages[0].role"
    assert "(got 'robot')" in text


def test_prompt_and_messages_together(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts:\n  - prompt: a\n    messages: [{role: user, content: b}]\n" + EXPECT)
    text = assert_at(failure(path), path, 3)
    assert "give either 'prompt' or 'messages'" in text


def test_system_with_messages(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts:\n  - system: x\n    messages: [{role: user, content: b}]\n" + EXPECT)
    text = assert_at(failure(path), path, 3)
    assert "'system' goes with 'prompt'" in text


# --- errors: trust and specs --------------------------------------------------------------------------


def test_bad_trust_category(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\ntrust: safty/violence\nprompts: [a]\n" + EXPECT)
    err = failure(path)
    text = assert_at(err, path, 2, 8)
    assert err.key == "trust"
    assert "unknown trust category 'safty'; did you mean 'safety'?" in text


def test_trust_subcategory_of_other_category(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\ntrust: safety/toxicity\nprompts: [a]\n" + EXPECT)
    text = assert_at(failure(path), path, 2, 8)
    assert "belongs to category 'social_norm', not 'safety'" in text


def test_bad_trust_subcategory(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\ntrust:\n  category: safety\n  subcategory: violense\nprompts: [a]\n" + EXPECT)
    text = assert_at(failure(path), path, 3, 3)
    assert "did you mean 'violence'?" in text


def test_bad_model_spec(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nmodel: fak:refuse\nprompts: [a]\n" + EXPECT)
    err = failure(path)
    text = assert_at(err, path, 2, 8)
    assert err.key == "model"
    assert "unknown model kind 'fak'" in text
    assert "did you mean 'fake'?" in text


def test_model_spec_with_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nmodel: openai:gpt-4o?api_key=sk-1\nprompts: [a]\n" + EXPECT)
    text = assert_at(failure(path), path, 2, 8)
    assert "carries a secret" in text


def test_bad_judge_spec(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\njudge: llm:openia:x\nprompts: [a]\n" + EXPECT)
    err = failure(path)
    text = assert_at(err, path, 2, 8)
    assert err.key == "judge"
    assert "did you mean 'openai'?" in text


# --- errors: YAML -------------------------------------------------------------------------------------


def test_duplicate_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nsuite: t\n" + EXPECT)
    text = assert_at(failure(path), path, 3, 1)
    assert "duplicate key 'suite' (first defined on line 1)" in text


def test_nested_duplicate_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rate: '>= 0.9'\n  refusal_rate: '>= 0.8'\n")
    text = assert_at(failure(path), path, 5, 3)
    assert "duplicate key 'refusal_rate' (first defined on line 4)" in text


def test_python_tag_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: !!python/object:os.system x\nprompts: [a]\n" + EXPECT)
    text = assert_at(failure(path), path, 1, 8)
    assert "python/object:os.system" in text
    assert "YAML tags are not allowed" in text


def test_python_apply_tag_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: !!python/object/apply:os.getcwd []\n" + EXPECT)
    text = str(failure(path))
    assert "YAML tags are not allowed" in text


def test_tab_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts:\n\t- a\n" + EXPECT)
    text = assert_at(failure(path), path, 3, 1)
    assert "indent with spaces, not tabs" in text


def test_invalid_yaml_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a, b\n" + EXPECT)
    text = assert_at(failure(path), path, 3, 7)
    assert "expected ',' or ']'" in text


def test_unquoted_comparison_is_a_yaml_error(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: [a]\nexpect:\n  refusal_rate: >= 0.9\n")
    err = failure(path)
    assert err.line == 4


@pytest.mark.parametrize("text", ["- a\n- b\n", "", "just a string\n", "# only a comment\n"])
def test_non_mapping_top_level(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    msg = assert_at(failure(path), path, 1)
    assert "a suite file must be a mapping" in msg


def test_non_utf8_suite(tmp_path: Path) -> None:
    path = tmp_path / "s.llmtrust.yaml"
    path.write_bytes(b"suite: caf\xe9\n")
    text = assert_at(failure(path), path, 1, 11)  # the first byte that is not UTF-8
    assert "not UTF-8 text" in text
    assert "save the file as UTF-8" in text


def test_missing_suite_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.llmtrust.yaml"
    assert "cannot read the file" in str(failure(path))


# --- errors: prompts ----------------------------------------------------------------------------------


def test_empty_prompts(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts: []\n" + EXPECT)
    text = assert_at(failure(path), path, 1)
    assert "the suite has no prompts" in text


def test_no_prompts_key(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\n" + EXPECT)
    assert "the suite has no prompts" in str(failure(path))


def test_empty_prompts_file_is_no_prompts(tmp_path: Path) -> None:
    write(tmp_path, "# nothing here\n\n", "empty.txt")
    path = write(tmp_path, "suite: s\nprompts_file: empty.txt\n" + EXPECT)
    assert "the suite has no prompts" in str(failure(path))


def test_missing_prompts_file(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts_file: nope.txt\n" + EXPECT)
    err = failure(path)
    text = assert_at(err, path, 2, 15)
    assert err.key == "prompts_file"
    assert "prompts file 'nope.txt' not found" in text


def test_missing_second_prompts_file(tmp_path: Path) -> None:
    write(tmp_path, "a\n", "one.txt")
    path = write(tmp_path, "suite: s\nprompts_file:\n  - one.txt\n  - nope.txt\n" + EXPECT)
    text = assert_at(failure(path), path, 4, 5)
    assert "'nope.txt' not found" in text


def test_bad_jsonl_line_names_prompts_file(tmp_path: Path) -> None:
    bad = write(tmp_path, '{"prompt": "ok"}\n{"prompt": "broken"\n', "bad.jsonl")
    path = write(tmp_path, "suite: s\nprompts_file: bad.jsonl\n" + EXPECT)
    err = failure(path)
    text = assert_at(err, bad.resolve(), 2, 20)
    assert "invalid JSON" in text


def test_jsonl_entry_with_unknown_key(tmp_path: Path) -> None:
    bad = write(tmp_path, '{"prompt": "ok"}\n{"prompt": "x", "sytem": "y"}\n', "bad.jsonl")
    path = write(tmp_path, "suite: s\nprompts_file: bad.jsonl\n" + EXPECT)
    text = assert_at(failure(path), bad.resolve(), 2)
    assert "unknown key 'sytem'" in text


@pytest.mark.parametrize("line", ["42", '{"prompt": ""}', '{"id": "x"}', '{"messages": []}', '""'])
def test_jsonl_entry_without_prompt(tmp_path: Path, line: str) -> None:
    bad = write(tmp_path, line + "\n", "bad.jsonl")
    path = write(tmp_path, "suite: s\nprompts_file: bad.jsonl\n" + EXPECT)
    text = assert_at(failure(path), bad.resolve(), 1)
    assert "expected a prompt string or a mapping with 'prompt' or 'messages'" in text


def test_yaml_prompts_file_must_be_a_list(tmp_path: Path) -> None:
    bad = write(tmp_path, "a: 1\n", "p.yaml")
    path = write(tmp_path, "suite: s\nprompts_file: p.yaml\n" + EXPECT)
    text = assert_at(failure(path), bad.resolve(), 1)
    assert "must be a list of prompts" in text


def test_yaml_prompts_file_duplicate_key(tmp_path: Path) -> None:
    bad = write(tmp_path, "- prompt: a\n  prompt: b\n", "p.yaml")
    path = write(tmp_path, "suite: s\nprompts_file: p.yaml\n" + EXPECT)
    text = assert_at(failure(path), bad.resolve(), 2, 3)
    assert "duplicate key 'prompt'" in text


def test_unknown_prompts_file_type(tmp_path: Path) -> None:
    write(tmp_path, "a\n", "p.csv")
    path = write(tmp_path, "suite: s\nprompts_file: p.csv\n" + EXPECT)
    assert "unknown prompts file type '.csv'" in str(failure(path))


def test_non_utf8_prompts_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.txt"
    bad.write_bytes(b"ok\ncaf\xe9\n")
    path = write(tmp_path, "suite: s\nprompts_file: p.txt\n" + EXPECT)
    err = failure(path)
    assert err.path == bad.resolve()
    assert "not UTF-8 text (byte 6)" in str(err)


def test_duplicate_inline_prompt_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nprompts:\n  - id: x\n    prompt: a\n  - id: x\n    prompt: b\n" + EXPECT)
    text = assert_at(failure(path), path, 5)
    assert "duplicate prompt id 'x' (first on line 3)" in text


def test_duplicate_ids_inside_a_prompts_file(tmp_path: Path) -> None:
    bad = write(tmp_path, '{"id": "a", "prompt": "1"}\n{"id": "a", "prompt": "2"}\n', "p.jsonl")
    path = write(tmp_path, "suite: s\nprompts_file: p.jsonl\n" + EXPECT)
    text = assert_at(failure(path), bad.resolve(), 2)
    assert "duplicate prompt id 'a' (first on line 1)" in text


def test_duplicate_id_across_files_names_the_first_file(tmp_path: Path) -> None:
    write(tmp_path, "a\n", "dup.txt")
    path = write(tmp_path, "suite: s\nprompts:\n  - id: dup-1\n    prompt: x\nprompts_file: dup.txt\n" + EXPECT)
    assert "s.llmtrust.yaml:3" in failure(path).message


# --- the helper modules directly ----------------------------------------------------------------------


def test_prompt_files_read_txt(tmp_path: Path) -> None:
    path = write(tmp_path, "# header\n\nalpha\n   # indented comment\n beta \n", "x.txt")
    assert prompt_files.read(path) == [("x-3", "alpha", 3), ("x-5", "beta", 5)]


def test_prompt_files_read_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, '\n"one"\n   \n{"id": "t", "prompt": "two"}\n', "x.jsonl")
    assert prompt_files.read(path) == [("x-2", "one", 2), ("t", "two", 4)]


def test_prompt_files_read_yml_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "- one\n- two\n", "x.yml")
    assert prompt_files.read(path) == [("x-1", "one", 1), ("x-2", "two", 2)]


def test_yamlsafe_load_and_locate(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb:\n  - x\n  - c: 2\n")
    data, root = yamlsafe.load(path)
    assert data == {"a": 1, "b": ["x", {"c": 2}]}
    assert yamlsafe.locate(root, ("a",)) == (1, 4)
    assert yamlsafe.locate(root, ("a",), key=True) == (1, 1)
    assert yamlsafe.locate(root, ("b", 1, "c")) == (4, 8)
    assert yamlsafe.locate(root, ("b", 1, "c"), key=True) == (4, 5)
    assert yamlsafe.locate(root, ("b", 7)) == (3, 3)  # no item 7: the nearest known parent
    assert yamlsafe.locate(root, ("nope", "deeper")) == (1, 1)
    assert yamlsafe.locate(None, ("a",)) == (None, None)


def test_yamlsafe_empty_document(tmp_path: Path) -> None:
    data, root = yamlsafe.load(write(tmp_path, ""))
    assert data is None
    assert root is None


def test_yamlsafe_builds_plain_types_only(tmp_path: Path) -> None:
    path = write(tmp_path, "when: 2024-01-01\nn: 3\nf: 0.5\nok: yes\n")
    data, _ = yamlsafe.load(path)
    assert data["when"] == datetime.date(2024, 1, 1)
    assert data["ok"] is True
    assert data["n"] == 3
    assert data["f"] == 0.5
    with pytest.raises(SuiteError, match="YAML tags are not allowed"):
        yamlsafe.load(write(tmp_path, "x: !!python/name:os.system\n", "t.yaml"))


@pytest.mark.parametrize(
    "judge", ["embedding", "minilm", "embedding:./my-encoder", "refusal", "llm:smollm2", "fake:refuse"]
)
def test_judge_specs_of_every_kind_load(tmp_path: Path, judge: str) -> None:
    prompts = load_suite(write(tmp_path, f"suite: s\njudge: '{judge}'\nprompts: [a]\n" + EXPECT))
    assert prompts.settings["judge"] == judge
    study = load_suite(
        write(tmp_path, f"suite: s\nkind: typo\njudge: '{judge}'\nexpect: {{consistency_ratio: '>= 0.9'}}\n")
    )
    assert study.settings["judge"] == judge


def test_a_bad_judge_model_spec_is_located_in_a_study_suite(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: s\nkind: typo\njudge: 'nope:x'\nexpect: {consistency_ratio: '>= 0.9'}\n")
    text = assert_at(failure(path), path, 3, 8)
    assert "judge" in text
