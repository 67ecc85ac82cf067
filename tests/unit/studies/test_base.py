"""The study framework: measures, intervals, gating, failure reports, option checking."""

from __future__ import annotations

import math

import pytest
from pydantic import Field

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.metrics.rates import ExpectationFailed
from pytest_llmtrust.recording import recording
from pytest_llmtrust.studies.base import Case, StudyResult, StudySpec, mean, rate, value
from pytest_llmtrust.studies.options import StudyOptions
from pytest_llmtrust.studies.registry import STUDIES, get_study


def _result(confidence: float | None = None) -> StudyResult:
    cases = [
        Case("q1", "right", "correct", True),
        Case("q2", "wrong answer", "wrong: chose B", False, score=0.2),
        Case("q3", "worse answer", "wrong: chose B", False, score=0.9),
        Case("q4", "???", "unparsed", None),
    ]
    return StudyResult(
        "demo",
        "fake:m",
        "refusal-detector",
        {"accuracy": rate("accuracy", 8, 10, unparsed=1), "gap": mean("gap", [0.1, 0.3]), "ece": value("ece", 0.2, 10)},
        cases,
        confidence=confidence,
    )


def test_rate_mean_value() -> None:
    r = rate("accuracy", 3, 4)
    assert r.value == 0.75
    assert r.k == 3
    assert r.n == 4
    assert r.kind == "rate"
    assert r.interval() is not None
    assert math.isnan(rate("x", 0, 0).value)
    m = mean("gap", [0.1, 0.3])
    assert m.value == pytest.approx(0.2)
    assert m.n == 2
    assert m.sd == pytest.approx(math.sqrt(0.02))
    low, high = m.interval() or (0, 0)
    assert low < 0.2 < high
    assert math.isnan(mean("gap", []).value)
    assert value("ece", 0.1, 5).interval() is None


def test_summary_line() -> None:
    assert _result()["accuracy"].summary().startswith("accuracy = 0.800 (95% CI ")
    assert "k=8/n=10, 1 unparsed" in _result()["accuracy"].summary()


def test_point_gate_and_interval_gate() -> None:
    point = _result()
    assert point.passes("accuracy", ">= 0.8")
    assert not point.passes("accuracy", "> 0.8")
    assert point.gate_name("accuracy") == "point"
    gated = _result(confidence=0.95)
    assert not gated.passes("accuracy", ">= 0.7")  # Wilson lower bound of 8/10 is about 0.49
    assert gated.passes("accuracy", ">= 0.4")
    assert gated.gate_name("accuracy") == "interval@0.95"
    assert gated.gate_name("ece") == "point"  # a plain value has no interval
    assert gated.passes("ece", "<= 0.2")


def test_nan_never_passes() -> None:
    result = StudyResult("demo", "m", "j", {"accuracy": rate("accuracy", 0, 0)}, [])
    assert not result.passes("accuracy", ">= 0")
    assert not result.passes("accuracy", "<= 1")


def test_unknown_metric_names_the_ones_there_are() -> None:
    with pytest.raises(KeyError, match=r"no metric 'acuracy'.*did you mean 'accuracy'"):
        _result()["acuracy"]


def test_require_records_and_explains_worst_cases_first() -> None:
    result = _result()
    with recording() as records, pytest.raises(ExpectationFailed) as info:
        result.require("accuracy", ">= 0.9", examples=3)
    text = str(info.value)
    assert text.startswith("demo: accuracy = 0.800")
    assert "does not meet >= 0.9 [gate: point]" in text
    assert "model: fake:m   judge: refusal-detector" in text
    assert text.index("worse answer") < text.index("wrong answer") < text.index("???")
    assert "right" not in text.split("worst examples")[1]
    [rec] = records
    assert rec.metric == "demo.accuracy"
    assert rec.passed is False
    assert rec.threshold == ">= 0.9"
    assert rec.k == 8
    assert rec.n == 10
    assert rec.unparsed == 1
    assert rec.explain is not None
    assert "worst examples" in "\n".join(rec.explain(1))


def test_note_records_every_measure() -> None:
    with recording() as records:
        _result().note()
    assert [r.metric for r in records] == ["demo.accuracy", "demo.gap", "demo.ece"]
    assert records[2].ci_low is None


def test_to_json() -> None:
    data = _result().to_json()
    assert data["study"] == "demo"
    assert data["measures"]["accuracy"] == {
        "value": 0.8,
        "n": 10,
        "k": 8,
        "unparsed": 1,
        "ci95": pytest.approx(data["measures"]["accuracy"]["ci95"]),
    }
    assert data["measures"]["ece"]["ci95"] is None


class _Options(StudyOptions):
    mode: str = "choice"
    samples: int = Field(default=3, ge=1)


def test_parse_options_names_the_key() -> None:
    spec = StudySpec(
        "demo",
        "Demo",
        (("reliability", "hallucination"),),
        {"accuracy": ""},
        frozenset(),
        _Options,
        lambda ctx, opts: _result(),
    )
    assert spec.parse_options({"limit": 3}).limit == 3
    assert spec.parse_options({}).seed == 8888
    with pytest.raises(ConfigError, match=r"demo option 'sampels'.*options of demo: data, limit, seed, mode, samples"):
        spec.parse_options({"sampels": 2})
    with pytest.raises(ConfigError, match="demo option 'samples'"):
        spec.parse_options({"samples": 0})


def test_every_study_is_registered_with_metrics_and_trust() -> None:
    assert set(STUDIES) == {
        "hallucination",
        "safety",
        "fairness",
        "miscalibration",
        "misuse",
        "copyright",
        "causal",
        "typo",
    }
    for name in STUDIES:
        spec = get_study(name)
        assert spec.name == name
        assert spec.metrics
        assert spec.trust
        assert spec.rate_metrics <= set(spec.metrics)
    with pytest.raises(ConfigError, match=r"unknown study .halucination..*did you mean .hallucination."):
        get_study("halucination")


def test_worst_cases_are_those_of_the_failing_metric() -> None:
    cases = [
        Case("q1 prompt", "a", "q1 wrong", False, metrics=frozenset({"q1_accuracy"})),
        Case("q2 prompt", "b", "q2 wrong", False, metrics=frozenset({"q2_accuracy"})),
        Case("any prompt", "c", "wrong everywhere", False),
    ]
    result = StudyResult("demo", "m", "j", {"q2_accuracy": rate("q2_accuracy", 0, 3)}, cases)
    assert [c.outcome for c in result.worst(5, "q2_accuracy")] == ["q2 wrong", "wrong everywhere"]
    assert len(result.worst(5)) == 3
    assert "q1 prompt" not in "\n".join(result.explain("q2_accuracy", ">= 0.5"))
