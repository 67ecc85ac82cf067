"""The causal-reasoning study: the authors' templates, the A)/B) parser, pair loaders and the per-question rates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from pytest_llmtrust.backends.fake import ChoosingBackend, FakeBackend
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.model import LLM
from pytest_llmtrust.studies.causal import (
    GOLD,
    Q1_TEMPLATE,
    Q2_TEMPLATE,
    SPEC,
    EventPair,
    fill,
    load_pairs,
    load_template,
    parse_letter,
)
from pytest_llmtrust.studies.data import packaged
from pytest_llmtrust.studies.registry import get_study, run_study
from tests.realmodel import SHARED, need_smollm2, needs_shared, smollm2

EXAMPLE = Path(__file__).resolve().parents[3] / "example_suites" / "trust_studies" / "causal.llmtrust.yaml"
SUITE_KEYS = {"suite", "kind", "description", "model", "judge", "generation", "confidence", "trust", "expect"}
PAIR = EventPair("The dam broke.", "The town was flooded", 2)
PACKAGED = load_pairs(packaged("causal", "pairs.jsonl"))
TYPE_OF = {(p.event_a, p.event_b): p.type for p in PACKAGED}
_CONTEXT = re.compile(r"^Context: After (.*), (.*)\.$", re.MULTILINE)


def type_of(text: str) -> int:
    """The packaged pair type of a prompt (events have no periods in our data, so they come back verbatim)."""
    m = _CONTEXT.search(text)
    assert m is not None, text
    return TYPE_OF[(m.group(1), m.group(2))]


def question_of(text: str) -> str:
    return "q2" if "flip the sentiment" in text else "q1"


def expert(text: str) -> str:
    """Answers every packaged pair right, in the authors' expected shape."""
    letter = GOLD[type_of(text)][question_of(text)]  # type: ignore[index]
    return f"{letter}) {'Yes' if letter == 'A' else 'No'}"


# ------------------------------------------------------------------------------------------------ templates


def test_templates_fill_as_the_authors_did() -> None:
    assert fill(Q1_TEMPLATE, PAIR) == (
        "Context: After The dam broke, The town was flooded.\nQuestion: Is The dam broke a cause of The town was "
        "flooded?\nA) Yes\nB) No\nYou must answer the question with A) or B).\nAnswer:"
    )
    assert fill(Q2_TEMPLATE, PAIR) == (
        "Context: After The dam broke, The town was flooded.\nQuestion: If we change The town was flooded to flip the "
        "sentiment of the sentence, is it necessary to change The dam broke for consistency?\nA) Yes\nB) No\n"
        "You must answer the question with A) or B).\nAnswer:"
    )


@needs_shared
@pytest.mark.parametrize(("question", "builtin"), [("q1", Q1_TEMPLATE), ("q2", Q2_TEMPLATE)])
def test_builtin_templates_equal_the_authors_files(question: str, builtin: str) -> None:
    authors = load_template(f"causal_prompt_{question}.txt", SHARED, question)  # type: ignore[arg-type]
    assert fill(authors, PAIR) == fill(builtin, PAIR)


def test_template_files_are_checked(tmp_path: Path) -> None:
    (tmp_path / "q1.txt").write_text("Did [Event_A] make [Event_B] happen? A) or B)\n", encoding="utf-8")
    assert load_template("q1.txt", tmp_path, "q1").startswith("Did [Event_A]")
    (tmp_path / "bad.txt").write_text("Is [Event_A] a cause?", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.txt: template lacks \[Event_B\]"):
        load_template("bad.txt", tmp_path, "q2")
    with pytest.raises(ConfigError, match=re.escape("q2_template: no file at 'gone.txt'")):
        load_template("gone.txt", tmp_path, "q2")


def test_template_option_changes_the_prompt(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("[Event_A] -> [Event_B]? A) Yes B) No\n", encoding="utf-8")
    result = run_study("causal", LLM.wrap(FakeBackend(lambda _t: "A)")), base=tmp_path, q1_template="mine.txt", limit=2)
    q1_prompts = [c.prompt for c in result.cases[:2]]
    assert q1_prompts == [f"{p.event_a} -> {p.event_b}? A) Yes B) No" for p in PACKAGED[:2]]
    assert result.cases[2].prompt == fill(Q2_TEMPLATE, PACKAGED[0])


# ------------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("A) Yes", "A"),
        ("B) No", "B"),
        ("(B) No", "B"),
        ("A) Yes\n\nThe answer is A.", "A"),
        ("The answer is B).", "B"),
        ("A) Yes. B) No", None),
        ("A) Yes, I repeat: A)", None),
        ("Yes", None),
        ("A", None),
        ("AB) maybe", None),
        ("", None),
    ],
)
def test_parse_letter_needs_exactly_one_match(reply: str, letter: str | None) -> None:
    assert parse_letter(reply) == letter


# ------------------------------------------------------------------------------------------------ loading


def test_packaged_pairs_are_balanced_and_interleaved() -> None:
    assert len(PACKAGED) == 45
    assert [sum(p.type == t for p in PACKAGED) for t in (1, 2, 3)] == [15, 15, 15]
    assert [sum(p.type == t for p in PACKAGED[:15]) for t in (1, 2, 3)] == [5, 5, 5]
    assert len(TYPE_OF) == 45
    assert all("." not in p.event_a + p.event_b for p in PACKAGED)
    assert PACKAGED[0].source.endswith("pairs.jsonl:1")


def test_authors_format_and_list_lines_load(tmp_path: Path) -> None:
    doc = tmp_path / "causal.json"
    doc.write_text(json.dumps({"data": [["It rained", "I won", 1], ["The dam broke", "It flooded", 2]]}, indent=4))
    pairs = load_pairs(doc)
    assert [(p.event_a, p.type) for p in pairs] == [("It rained", 1), ("The dam broke", 2)]
    assert pairs[1].source.endswith("causal.json data[1]")
    lines = tmp_path / "pairs.jsonl"
    lines.write_text('["It rained", "I won", 1]\n\n{"event_a": "x", "event_b": "y", "type": 3}\n', encoding="utf-8")
    assert [(p.event_b, p.type, p.source[-13:]) for p in load_pairs(lines)] == [
        ("I won", 1, "pairs.jsonl:1"),
        ("y", 3, "pairs.jsonl:3"),
    ]


@needs_shared
def test_authors_causal_json_loads_300_pairs() -> None:
    pairs = load_pairs(SHARED / "causal.json")
    assert len(pairs) == 300
    assert [sum(p.type == t for p in pairs) for t in (1, 2, 3)] == [100, 100, 100]


@needs_shared
def test_authors_data_runs_with_a_limit() -> None:
    result = run_study("causal", LLM.wrap(FakeBackend(lambda _t: "A) Yes")), data=str(SHARED / "causal.json"), limit=6)
    # the authors' file opens with five unrelated pairs, then causal ones
    assert result["q1_accuracy"].k == 1
    assert result["q2_accuracy"].k == 1
    assert result.details["by_type"]["1"]["n"] == 5


@pytest.mark.parametrize(
    ("content", "where", "what"),
    [
        ('{"event_a": "a", "event_b": "b", "type": 1}\n{"event_a": "a", "event_b": "b", "type": 4}\n', ":2:", "type"),
        ('{"event_a": "a", "event_b": "b", "type": true}\n', ":1:", "type must be 1"),
        ('{"event_a": "a", "event_b": "", "type": 1}\n', ":1:", "non-empty"),
        ('{"event_a": "a", "event_b": "b", "type": 1}\n{oops\n', ":2:", "not valid JSON"),
        ('{"data": [\n  ["a", "b", 1],\n  ["a", "b" 2]\n]}\n', ":3:", "not valid JSON"),
        ('{"data": [["a", "b", 1], ["a", "b"]]}', " data[1]", "[a, b, type]"),
        ('{"data": "nope"}', "", "'data' must be a list"),
        ('"text"\n', ":1:", "event_a, event_b, type"),
        ("\n", "", "no event pairs"),
    ],
)
def test_bad_pairs_name_the_file_and_line(tmp_path: Path, content: str, where: str, what: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(what)) as err:
        load_pairs(path)
    assert f"bad.json{where}" in str(err.value)


# ------------------------------------------------------------------------------------------------ metrics


def test_expert_scores_one_everywhere_in_one_batch() -> None:
    backend = FakeBackend(expert)
    result = run_study("causal", LLM.wrap(backend))
    assert backend.calls == [90]
    for metric in SPEC.metrics:
        assert result.value(metric) == 1.0, metric
    assert result["accuracy"].n == 45
    assert len(result.cases) == 90
    assert all(c.good for c in result.cases)


def test_always_yes_scores_by_type() -> None:
    result = run_study("causal", LLM.wrap(FakeBackend(lambda _t: "A) Yes")))
    assert result["q1_accuracy"].k == 30  # types 2 and 3
    assert result["q2_accuracy"].k == 15  # type 2
    assert result["accuracy"].k == 15
    assert result.value("q1_understood") == 1.0
    assert result.details["by_type"]["3"] == {"n": 15, "q1_accuracy": 1.0, "q2_accuracy": 0.0}
    assert result.details["answers"] == {"A": 90, "B": 0, "not_understood": 0}


def test_not_understood_replies_count_as_wrong() -> None:
    def script(text: str) -> str:
        kind = type_of(text)
        if kind == 1:
            return "Yes, probably."  # no A)/B): not understood
        if kind == 2:
            return "A) Yes or B) No"  # two matches: not understood
        return expert(text)

    result = run_study("causal", LLM.wrap(FakeBackend(script)))
    q1, q2 = result["q1_accuracy"], result["q2_accuracy"]
    assert (q1.k, q1.n, q1.unparsed) == (15, 45, 30)
    assert (q2.k, q2.unparsed) == (15, 30)
    assert result["q1_understood"].k == 15
    assert result["accuracy"].k == 15
    assert result["accuracy"].unparsed == 30
    assert sum(c.good is None for c in result.cases) == 60
    assert "not understood" in result.worst(1)[0].outcome


def test_one_question_only() -> None:
    backend = FakeBackend(expert)
    result = run_study("causal", LLM.wrap(backend), questions=["q2"], limit=9)
    assert backend.calls == [9]
    assert set(result.measures) == {"q2_accuracy", "q2_understood"}
    assert all("flip the sentiment" in c.prompt for c in result.cases)


def test_max_new_tokens_option_is_passed() -> None:
    result = run_study("causal", LLM.wrap(FakeBackend(lambda _t: "A) " + "yes " * 60)), limit=1, max_new_tokens=2)
    assert [c.response for c in result.cases] == ["A) yes", "A) yes"]


def test_choice_mode_takes_the_likelier_letter() -> None:
    backend = ChoosingBackend([], otherwise="B")
    result = run_study("causal", LLM.wrap(backend), mode="choice")
    assert backend.calls == []
    assert result["q1_accuracy"].k == 15
    assert result["q2_accuracy"].k == 30
    assert result["q1_understood"].k == 45
    assert result.judge == "constrained choice"
    assert result.cases[0].response == "B (constrained choice, p=0.900)"


def test_choice_mode_needs_a_scoring_backend() -> None:
    with pytest.raises(ConfigError, match=r"causal: mode 'choice'.*mode: generate"):
        run_study("causal", LLM.wrap(FakeBackend(expert)), mode="choice")


def test_runs_are_deterministic() -> None:
    def outcomes() -> list[str]:
        return [c.outcome for c in run_study("causal", LLM.wrap(FakeBackend(expert)), seed=1).cases]

    assert outcomes() == outcomes()


# ------------------------------------------------------------------------------------------------ spec


def test_spec_is_registered_with_its_taxonomy_and_metrics() -> None:
    assert get_study("causal") is SPEC
    assert SPEC.trust == (("explainability_and_reasoning", "limited_causal_reasoning"),)
    assert SPEC.rate_metrics == set(SPEC.metrics)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"questions": []}, "questions"),
        ({"questions": ["q1", "q1"]}, "questions"),
        ({"questions": ["q3"]}, "questions.0"),
        ({"mode": "x"}, "mode"),
    ],
)
def test_bad_options_name_the_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(key))):
        SPEC.parse_options(values)


def test_example_suite_gates_real_metrics_with_valid_options() -> None:
    suite = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert suite["kind"] == "causal"
    assert set(suite["expect"]) <= set(SPEC.metrics)
    SPEC.parse_options({k: v for k, v in suite.items() if k not in SUITE_KEYS})


# ------------------------------------------------------------------------------------------------ real model


@pytest.mark.realmodel
def test_smollm2_answers_both_questions() -> None:
    need_smollm2()

    result = run_study("causal", smollm2(), limit=2, max_new_tokens=6)
    assert result.model.startswith("smollm2")
    assert len(result.cases) == 4
    assert result["q1_accuracy"].n == 2
    assert result["q1_understood"].k is not None
    assert result["q1_accuracy"].unparsed == 2 - result["q1_understood"].k
