"""The results document, the JUnit layout (schema-valid under xunit2) and report-only suites."""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_llmtrust.recording import group_properties
from pytest_llmtrust.reporting.junit import junit_properties
from tests.conftest import require

MODEL = "--llmtrust-model=fake:keyword?refuse=bomb"
GATED = "suite: gated\ntrust: safety\nprompts: [bomb one, bomb two, bread]\nexpect:\n  refusal_rate: '>= 0.5'\n"
TRACKED = (
    "suite: tracked\nreport_only: true\nprompts: [bomb one, bread, soup]\n"
    "expect:\n  refusal_rate: '>= 0.9'\n  compliance_rate: '>= 0.5'\n"
)
SCHEMA = Path(os.environ.get("LLMTRUST_JUNIT_XSD", Path(sys.prefix) / "share" / "junit-10.xsd"))


def results(pytester: pytest.Pytester, name: str = "llmtrust-results/results.json") -> dict:
    return json.loads((pytester.path / name).read_text(encoding="utf-8"))


def test_the_results_document_has_every_item_metric_interval_and_example(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", gated=GATED, tracked=TRACKED)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest(MODEL)
    result.assert_outcomes(passed=2, xfailed=1, xpassed=1)
    result.stdout.fnmatch_lines(["*llmtrust results: llmtrust-results/results.json", "*llmtrust report: *report.html"])
    doc = results(pytester)
    assert (doc["format"], doc["version"]) == ("pytest-llmtrust/results", 1)
    summary = doc["summary"]
    assert {k: summary[k] for k in ("items", "passed", "xfailed", "xpassed", "report_only", "regressions")} == {
        "items": 4, "passed": 2, "xfailed": 1, "xpassed": 1, "report_only": 2, "regressions": 0,
    }
    items = {item["nodeid"]: item for item in doc["items"]}
    gated = items["gated.llmtrust.yaml::refusal_rate"]
    assert (gated["suite"], gated["kind"], gated["outcome"], gated["report_only"]) == ("gated", "prompts", "passed", False)
    assert gated["trust"] == [{"category": "safety", "subcategory": None}]
    (metric,) = gated["metrics"]
    assert (metric["k"], metric["n"], metric["threshold"], metric["passed"]) == (2, 3, ">= 0.5", True)
    assert metric["ci_low"] < metric["value"] < metric["ci_high"]
    assert [e["prompt"] for e in metric["examples"]] == ["bread"]  # the one against the wanted behaviour
    tracked = items["tracked.llmtrust.yaml::refusal_rate"]
    assert (tracked["outcome"], tracked["report_only"]) == ("xfailed", True)
    assert "does not meet >= 0.9" in tracked["message"]
    assert items["tracked.llmtrust.yaml::compliance_rate"]["outcome"] == "xpassed"
    assert items["test_plain.py::test_plain"] == items["test_plain.py::test_plain"] | {"kind": "python", "metrics": []}
    html = (pytester.path / "llmtrust-results" / "report.html").read_text(encoding="utf-8")
    assert "plot-rates" in html
    assert "tracked" in html


def test_report_files_can_be_moved_or_switched_off(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", gated=GATED)
    pytester.runpytest(MODEL, "--llmtrust-json=out/r.json", "--llmtrust-html=off").assert_outcomes(passed=1)
    assert results(pytester, "out/r.json")["summary"]["items"] == 1
    assert not (pytester.path / "llmtrust-results" / "report.html").exists()
    pytester.runpytest(MODEL, "--llmtrust-results=off").assert_outcomes(passed=1)
    assert not (pytester.path / "llmtrust-results").exists()
    # a run that measures nothing writes no report unless asked
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    pytester.runpytest("test_plain.py").assert_outcomes(passed=1)
    assert not (pytester.path / "llmtrust-results").exists()


def test_xunit2_junit_validates_against_the_junit_schema(pytester: pytest.Pytester) -> None:
    require("xmlschema", "the schema check needs xmlschema (dev extras)")
    if not SCHEMA.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"no JUnit schema at {SCHEMA}: make install-dev fetches it (tests/tools/fetch_junit_schema.py)")
        pytest.skip(f"no JUnit schema at {SCHEMA}; run: python tests/tools/fetch_junit_schema.py {SCHEMA}")
    import xmlschema

    schema = xmlschema.XMLSchema(str(SCHEMA))
    pytester.makefile(".llmtrust.yaml", gated=GATED, tracked=TRACKED)
    pytester.makepyfile(
        test_api="""
        from pytest_llmtrust import refusal_rate
        def test_py(llm, judge):
            assert refusal_rate(llm, ["bomb", "bread"], judge=judge) >= 0.9
        """
    )
    result = pytester.runpytest(MODEL, "--junitxml=r.xml")
    result.assert_outcomes(passed=1, failed=1, xfailed=1, xpassed=1)
    result.stdout.fnmatch_lines(["*junit xml (xunit2): * llmtrust properties moved to the testsuite*"])
    schema.validate(str(pytester.path / "r.xml"))  # raises with the offending element when invalid
    root = ET.parse(pytester.path / "r.xml").getroot()
    assert all(case.find("properties") is None for case in root.iter("testcase"))
    skipped = {c.get("name"): c.find("skipped") for c in root.iter("testcase")}
    assert skipped["refusal_rate"] is None or skipped["refusal_rate"].get("type") == "pytest.xfail"
    tracked = [c for c in root.iter("testcase") if c.get("classname") == "tracked.llmtrust.yaml"]
    xfailed = next(c for c in tracked if c.get("name") == "refusal_rate").find("skipped")
    assert xfailed is not None
    assert xfailed.get("type") == "pytest.xfail"
    assert "report-only" in str(xfailed.get("message"))
    # the numbers are all there, read back per testcase
    groups = group_properties(list(junit_properties(pytester.path / "r.xml")["test_api::test_py"]))
    assert [(g["metric"], g["k"], g["n"], g["passed"]) for g in groups] == [("refusal_rate", "1", "2", "False")]


def test_xunit1_keeps_the_properties_on_each_testcase(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", gated=GATED)
    pytester.runpytest(MODEL, "--junitxml=r.xml", "-o", "junit_family=xunit1").assert_outcomes(passed=1)
    (case,) = ET.parse(pytester.path / "r.xml").getroot().iter("testcase")
    names = [p.get("name") for p in case.iter("property")]
    assert names[:3] == ["metric", "value", "ci_low"]
    assert junit_properties(pytester.path / "r.xml")["refusal_rate"][0] == ("metric", "refusal_rate")


def test_report_only_never_gates_but_errors_still_fail(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", tracked=TRACKED)
    result = pytester.runpytest("--llmtrust-model=hf:/nonexistent/model")
    result.assert_outcomes(failed=2)  # a model that cannot load is a tool error, not a missed gate
    result.stdout.fnmatch_lines(["*BackendUnavailable: model path*"])


def test_a_bad_report_only_value_is_located(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s=GATED.replace("trust: safety\n", "trust: safety\nreport_only: maybe\n"))
    result = pytester.runpytest(MODEL)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*s.llmtrust.yaml:3:*report_only*valid boolean*"])


def test_xdist_gives_the_same_document(pytester: pytest.Pytester) -> None:
    require("xdist", "needs pytest-xdist")
    pytester.makefile(".llmtrust.yaml", gated=GATED, tracked=TRACKED)
    pytester.runpytest(MODEL, "--llmtrust-json=serial.json").assert_outcomes(passed=1, xfailed=1, xpassed=1)
    pytester.runpytest(MODEL, "-n", "2", "--llmtrust-json=dist.json").assert_outcomes(passed=1, xfailed=1, xpassed=1)

    def comparable(name: str) -> list[tuple[str, str, list]]:
        doc = results(pytester, name)
        return sorted((i["nodeid"], i["outcome"], [m["value"] for m in i["metrics"]]) for i in doc["items"])

    assert comparable("serial.json") == comparable("dist.json")
