"""The eight studies in pytest: ``kind: <study>`` suites, trust selection, the ``trust_study`` fixture, JUnit."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.recording import group_properties
from pytest_llmtrust.reporting.junit import junit_properties

if TYPE_CHECKING:
    from pathlib import Path

# Constrained choice on the fake answers A every time: right on causal type-2 pairs (gold A, A), wrong on type 1.
ALWAYS_A = "--llmtrust-model=fake:choose?otherwise=A"
PAIRS = "\n".join(
    json.dumps({"event_a": a, "event_b": b, "type": t})
    for a, b, t in [
        ("the pipe burst", "the kitchen flooded", 2),
        ("she dropped the glass", "the glass broke", 2),
        ("he missed the bus", "he was late for work", 2),
        ("I wore a red hat", "the stock market rose", 1),
    ]
)
CAUSAL = """\
suite: causal-check
kind: causal
data: pairs.jsonl
mode: choice
expect:
  q1_accuracy: ">= 0.7"
  q2_accuracy: ">= 0.9"
"""
HALLUCINATION = """\
suite: grounded
kind: hallucination
mode: choice
limit: 4
expect:
  accuracy: ">= 0"
"""


@pytest.fixture
def pairs(pytester: pytest.Pytester) -> Path:
    return pytester.makefile(".jsonl", pairs=PAIRS)


def _properties_list(xml: Path, name: str) -> list[tuple[str, object]]:
    cases = junit_properties(xml)
    assert name in cases, f"no test case {name}"
    return list(cases[name])


def _properties(xml: Path, name: str) -> dict[str, object]:
    return dict(_properties_list(xml, name))


@pytest.mark.usefixtures("pairs")
def test_each_expectation_is_an_item_gated_on_one_shared_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", causal=CAUSAL)
    result = pytester.runpytest("-v", ALWAYS_A, "--junitxml=out.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*causal.llmtrust.yaml::q1_accuracy PASSED*",
            "*causal.llmtrust.yaml::q2_accuracy FAILED*",
            "*causal-check: causal: q2_accuracy = 0.750 (95% CI *, k=3/n=4) does not meet >= 0.9 ?gate: point?*",
            "*model: fake:choose?prefer=&otherwise=A*",
        ]
    )
    props = _properties(pytester.path / "out.xml", "q1_accuracy")
    assert props["metric"] == "causal.q1_accuracy"
    assert (props["value"], props["k"], props["n"], props["passed"]) == ("0.75", "3", "4", "True")
    saved = json.loads((pytester.path / "llmtrust-results" / "causal.json").read_text())
    assert saved["study"] == "causal"
    assert saved["measures"]["q1_accuracy"]["k"] == 3
    assert len(saved["cases"]) == 8  # 4 pairs x 2 questions, written once for both items


@pytest.mark.usefixtures("pairs")
def test_failure_points_at_the_expectation_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", causal=CAUSAL)
    reprec = pytester.inline_run(ALWAYS_A)
    [failed] = reprec.getreports("pytest_runtest_logreport")[4:5]  # setup, call, teardown of q1; setup, call of q2
    assert failed.failed
    assert failed.location[0] == "causal.llmtrust.yaml"
    assert failed.location[1] == 6  # 0-based: line 7, where q2_accuracy is written
    assert failed.location[2] == "causal-check::q2_accuracy"


@pytest.mark.usefixtures("pairs")
def test_trust_selection_picks_the_study_of_the_category(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", causal=CAUSAL, grounded=HALLUCINATION)
    result = pytester.runpytest("-v", ALWAYS_A, "--llmtrust-trust", "reliability")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*grounded.llmtrust.yaml::accuracy PASSED*"])
    result = pytester.runpytest(
        "-v", ALWAYS_A, "--llmtrust-trust", "explainability_and_reasoning/limited_causal_reasoning"
    )
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    result = pytester.runpytest("-v", ALWAYS_A, "-m", "trust(category='reliability')")
    result.assert_outcomes(passed=1, deselected=2)


def test_a_suite_can_move_its_study_in_the_taxonomy(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", grounded=HALLUCINATION + "trust: reliability/misinformation\n")
    result = pytester.runpytest("-v", ALWAYS_A, "--llmtrust-trust", "reliability/misinformation")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("-v", ALWAYS_A, "--llmtrust-trust", "reliability/hallucination")
    result.assert_outcomes(deselected=1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "suite: s\nkind: causl\nexpect: {q1_accuracy: '>= 0.5'}\n",
            "*s.llmtrust.yaml:2:7: kind: unknown suite kind 'causl'; did you mean 'causal'?*",
        ),
        (
            "suite: s\nkind: causal\nlimt: 3\nexpect: {q1_accuracy: '>= 0.5'}\n",
            "*s.llmtrust.yaml:3:1: limt: unknown key; did you mean 'limit'?*",
        ),
        (
            "suite: s\nkind: causal\nexpect:\n  q1_acuracy: '>= 0.5'\n",
            "*s.llmtrust.yaml:4:3: expect.q1_acuracy: unknown metric; did you mean 'q1_accuracy'?*",
        ),
        (
            "suite: s\nkind: causal\nexpect:\n  q1_accuracy: '>= 95'\n",
            "*s.llmtrust.yaml:4:*: threshold '>= 95' is outside ?0, 1?*did you mean '>= 95%'?*",
        ),
        (
            "suite: s\nkind: causal\nmode: guess\nexpect: {q1_accuracy: '>= 0.5'}\n",
            "*s.llmtrust.yaml:3:7: mode: *'generate' or 'choice'*(got 'guess')*",
        ),
        (
            "suite: s\nkind: causal\nlimit: 0\nexpect: {q1_accuracy: '>= 0.5'}\n",
            "*s.llmtrust.yaml:3:8: limit: *greater than or equal to 1*",
        ),
        (
            "suite: s\nkind: causal\ntrust: reliabilty\nexpect: {q1_accuracy: '>= 0.5'}\n",
            "*s.llmtrust.yaml:3:8: trust: unknown trust category 'reliabilty'*",
        ),
        ("suite: s\nkind: causal\n", "*s.llmtrust.yaml:1:1: *missing required key 'expect'*"),
    ],
)
def test_bad_study_suites_are_located(pytester: pytest.Pytester, body: str, message: str) -> None:
    pytester.makefile(".llmtrust.yaml", s=body)
    result = pytester.runpytest(ALWAYS_A)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_missing_data_file_fails_the_items_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s="suite: s\nkind: causal\ndata: nope.jsonl\nexpect: {q1_accuracy: '>= 0.5'}\n")
    result = pytester.runpytest(ALWAYS_A)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*causal: no data at 'nope.jsonl'*relative to the suite file*"])


@pytest.mark.usefixtures("pairs")
def test_trust_study_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_llmtrust import trust

        @trust("explainability_and_reasoning", "limited_causal_reasoning")
        def test_causal(trust_study):
            result = trust_study("causal", data="pairs.jsonl", mode="choice", questions=["q1"])
            assert result.value("q1_accuracy") == 0.75
            result.require("q1_accuracy", ">= 0.9")

        def test_bad_option(trust_study):
            trust_study("causal", modee="choice")
        """
    )
    result = pytester.runpytest("-v", ALWAYS_A, "--junitxml=out.xml")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*causal: q1_accuracy = 0.750*does not meet >= 0.9*",
            "*causal option 'modee': Extra inputs are not permitted; options of causal: data, limit, seed, *",
        ]
    )
    groups = group_properties(list(_properties_list(pytester.path / "out.xml", "test_causal")))
    gated = [g for g in groups if "threshold" in g]
    assert gated == [dict(gated[0], metric="causal.q1_accuracy", threshold=">= 0.9", passed="False")]
    assert {g["metric"] for g in groups} >= {"causal.q1_accuracy", "causal.q1_understood"}
    assert (pytester.path / "llmtrust-results" / "test_trust_study_fixture.test_causal.json").is_file()
