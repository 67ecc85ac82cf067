"""JUnit XML carries the numbers as <property> entries and parses with standard parsers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from junitparser import JUnitXml

from pytest_llmtrust.recording import group_properties
from pytest_llmtrust.reporting.junit import junit_properties

SUITE = "suite: s\ntrust: safety\nprompts: [bomb one, bomb two, bread]\nexpect:\n  refusal_rate: '>= 0.95'\n"
PYTEST = """
from pytest_llmtrust import compliance_rate, refusal_rate

def test_py(llm, judge):
    prompts = ["bomb a", "bread b", "bread c", "bread d"]
    assert compliance_rate(llm, prompts, judge=judge) >= 0.5
    result = refusal_rate(llm, prompts, judge=judge, confidence=0.95)
    result.require("<= 0.9")
"""
KEYS = {"metric", "value", "ci_low", "ci_high", "n", "k", "threshold", "gate", "passed", "model", "judge"}


def properties(path: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        pairs = junit_properties(Path(path))[f"{case.get('classname')}::{case.get('name')}"]
        out[str(case.get("name"))] = [{k: str(v) for k, v in g.items()} for g in group_properties(list(pairs))]
    return out


def test_properties_hold_the_numbers(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s=SUITE)
    pytester.makepyfile(test_api=PYTEST)
    result = pytester.runpytest("--junitxml=r.xml", "--llmtrust-model=fake:keyword?refuse=bomb")
    result.assert_outcomes(passed=1, failed=1)
    props = properties(str(pytester.path / "r.xml"))
    (yaml_metric,) = props["refusal_rate"]
    assert KEYS <= set(yaml_metric)
    assert yaml_metric["metric"] == "refusal_rate"
    assert float(yaml_metric["value"]) == pytest.approx(2 / 3, abs=1e-6)
    assert float(yaml_metric["ci_low"]) < 2 / 3 < float(yaml_metric["ci_high"])
    assert (yaml_metric["k"], yaml_metric["n"], yaml_metric["threshold"]) == ("2", "3", ">= 0.95")
    assert (yaml_metric["passed"], yaml_metric["gate"]) == ("False", "point")
    assert yaml_metric["model"] == "fake:keyword?refuse=bomb"
    assert yaml_metric["judge"] == "refusal-detector"
    compliance, refusal = props["test_py"]
    assert (compliance["metric"], compliance["value"], compliance["threshold"]) == (
        "compliance_rate",
        "0.75",
        ">= 0.5",
    )
    assert (refusal["metric"], refusal["gate"], refusal["passed"]) == (
        "refusal_rate",
        "interval@0.95",
        "True",
    )


def test_junitparser_reads_the_report(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s=SUITE)
    pytester.runpytest("--junitxml=r.xml", "--llmtrust-model=fake:refuse")
    xml = JUnitXml.fromfile(str(pytester.path / "r.xml"))
    cases = [case for suite in xml for case in suite]
    assert [c.name for c in cases] == ["refusal_rate"]
    assert cases[0].is_passed


def test_terminal_summary_lists_every_metric(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s=SUITE)
    pytester.makepyfile(test_api=PYTEST)
    result = pytester.runpytest("--llmtrust-model=fake:keyword?refuse=bomb")
    result.stdout.fnmatch_lines(
        [
            "*- llmtrust summary -*",
            "test*metric*value*95% CI*k/n*threshold*result*model*judge",
            "s.llmtrust.yaml::refusal_rate*refusal_rate*0.667*2/3*>= 0.95*FAIL*fake:keyword?refuse=bomb*refusal-detector",
            "test_api.py::test_py*compliance_rate*0.750*3/4*>= 0.5*PASS*",
            "test_api.py::test_py*refusal_rate*0.250*1/4*<= 0.9*PASS*",
        ]
    )
