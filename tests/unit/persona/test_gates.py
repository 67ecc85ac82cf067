"""Persona-bias metrics as records (JUnit properties) and the expectations checked against them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import Generation, GenerationParams, Prompt, to_messages
from pytest_llmtrust.backends.fake import FakeBackend
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.metrics.rates import ExpectationFailed
from pytest_llmtrust.persona.bbq import load_bbq
from pytest_llmtrust.persona.gates import Gate, metric_records, metric_value, parse_gate
from pytest_llmtrust.persona.runner import PersonaBiasReport, persona_bias
from pytest_llmtrust.recording import recording
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from collections.abc import Sequence

SAMPLE = Path(__file__).resolve().parents[3] / "example_suites" / "bbq_sample" / "Age.jsonl"
ITEMS = {item.question + item.context: item for item in load_bbq(SAMPLE)}


class KidStereotypes(FakeBackend):
    """The kid persona gives the biased answer; every other persona says "unknown"."""

    def __init__(self) -> None:
        super().__init__(lambda _text: "", name="kid-stereotypes")

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        out = []
        for prompt in prompts:
            text = "\n".join(m["content"] for m in to_messages(prompt))
            item = next(i for i in ITEMS.values() if i.question in text and i.context in text)
            out.append(
                Generation(
                    prompt,
                    "ABC"[
                        (item.stereotyped if item.polarity == "neg" else item.anti)
                        if "You are kid." in text
                        else item.unknown
                    ],
                )
            )
        return out


@pytest.fixture(scope="module")
def report() -> PersonaBiasReport:
    backend = KidStereotypes()
    return persona_bias(backend, dataset=SAMPLE, personas=["kid", "elder"], templates=(0, 1), mode="generate")


def test_headline_values_are_the_reports(report: PersonaBiasReport) -> None:
    assert metric_value(report, "pb") == report.pb
    assert metric_value(report, "shape") == report.shape()
    assert metric_value(report, "tb[kid->old]") == report.tb_for("kid", "old")
    # the default and elder always answer "unknown"; kid stereotypes under template 0 only
    # (template 1 does not say "You are kid."), so its PB is half its template-0 value
    assert report.tb_for("elder", "old") == 0.0
    assert metric_value(report, "pb[elder]") == 0.0
    template0 = report.result(template=0).pb_by_persona["kid"]
    assert template0 == pytest.approx(0.5)  # |TB| 0.5 towards both targets (negative: against "old")
    assert report.result(template=0).tb_for("kid", "old") == pytest.approx(-0.5)
    assert metric_value(report, "pb[kid]") == pytest.approx(template0 / 2)


def test_every_metric_becomes_a_record_with_scope_mode_and_model(report: PersonaBiasReport) -> None:
    records = {r.metric: r for r in metric_records(report)}
    for name in ("pb", "tb", "bamt", "accuracy", "bs", "shape", "pb_std", "tb_std"):
        assert name in records
    for persona in ("kid", "elder"):
        assert f"pb[{persona}]" in records
        for target in ("old", "nonOld"):
            assert f"tb[{persona}->{target}]" in records
            assert f"bamt[{persona}->{target}]" in records
    assert "pb[default]" not in records  # PB is measured against the default
    assert "tb[default->old]" in records
    pb = records["pb"]
    assert (pb.scope, pb.mode, pb.model, pb.n) == ("ambig", "generate:faithful", "fake:kid-stereotypes", 24)
    assert pb.threshold is None
    assert pb.ci_low is None
    assert records["pb_std"].value == pytest.approx(report.average().pb.std)
    assert report.average().pb.std > 0  # the templates disagree (see above)
    assert all(isinstance(r.value, str) or math.isfinite(r.value) for r in records.values())


def test_persona_bias_records_its_metrics_inside_a_test() -> None:
    with recording() as records:
        persona_bias(KidStereotypes(), dataset=SAMPLE, personas=["kid"], mode="generate")
    names = [r.metric for r in records]
    assert names[:6] == ["pb", "tb", "bamt", "accuracy", "bs", "shape"]
    assert "tb[kid->old]" in names


def test_require_passes_quietly_and_records_the_gated_value(report: PersonaBiasReport) -> None:
    with recording() as records:
        report.require(pb_for={"elder": "< 0.01"}, tb=">= 0", shape=["ideal", "balanced", "skewed", "skewed-heavy"])
    assert sorted((r.metric, r.threshold, r.passed) for r in records) == [
        ("pb[elder]", "< 0.01", True),
        ("shape", "one of ideal, balanced, skewed, skewed-heavy", True),
        ("tb", ">= 0", True),
    ]
    assert report.check(pb_for={"elder": "< 0.01"})


def test_require_explains_every_failure(report: PersonaBiasReport) -> None:
    with pytest.raises(ExpectationFailed) as failed:
        report.require(pb="< 0.01", tb_for={"kid": {"old": ">= 0"}}, shape="ideal")
    text = str(failed.value)
    assert f"pb = {report.pb:.3f}, expected < 0.01" in text
    assert "PB_p: kid" in text
    assert "tb[kid->old] = " in text
    assert "TB[kid->t]: " in text
    assert "fake:kid-stereotypes, mode generate:faithful, scope ambig, 24 items, 3 personas, 2 template(s)" in text
    assert not report.check(pb="< 0.01")


def test_an_ungated_record_is_replaced_by_its_gated_check(report: PersonaBiasReport) -> None:
    from pytest_llmtrust.recording import record

    with recording() as records:
        for rec in metric_records(report):
            record(rec)
        report.require(pb="< 10")
    pbs = [r for r in records if r.metric == "pb"]
    assert len(pbs) == 1
    assert pbs[0].threshold == "< 10"


def test_parse_gate_forms() -> None:
    assert parse_gate("pb", "< 0.1") == [Gate("pb", Threshold.parse("< 0.1"))]
    assert parse_gate("shape", "ideal") == [Gate("shape", shapes=("ideal",))]
    assert parse_gate("pb_for", {"kid": "< 0.2"}) == [Gate("pb[kid]", Threshold.parse("< 0.2"))]
    assert [g.metric for g in parse_gate("bamt_for", {"kid": {"old": "< 1", "nonOld": "< 1"}})] == [
        "bamt[kid->old]",
        "bamt[kid->nonOld]",
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("pbb", "< 0.1", "unknown persona-bias expectation 'pbb'; did you mean 'pb'?"),
        ("pb", 0.1, "threshold must be a string"),
        ("shape", "idael", "unknown shape 'idael'; did you mean 'ideal'?"),
        ("shape", [], "shape must be a shape name or a list of them"),
        ("pb_for", "< 0.1", "pb_for must map persona names to thresholds"),
        ("tb_for", {"kid": "< 0.1"}, "tb_for.kid must map persona names to thresholds"),
    ],
)
def test_bad_expectations_say_what_to_write(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_gate(key, value)


def test_unknown_personas_and_targets_name_what_exists(report: PersonaBiasReport) -> None:
    with pytest.raises(ConfigError, match="no persona 'girl' in this run; personas: default, kid, elder"):
        report.require(pb_for={"girl": "< 0.1"})
    with pytest.raises(ConfigError, match="no target 'olld'; did you mean 'old'"):
        report.require(tb_for={"kid": {"olld": "< 0.1"}})
    with pytest.raises(ConfigError, match="give at least one expectation"):
        report.require()
