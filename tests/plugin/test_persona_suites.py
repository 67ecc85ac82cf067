"""Persona bias in pytest: ``kind: persona_bias`` suites, the ``persona_bias`` fixture, JUnit and result files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_llmtrust.reporting.junit import junit_properties

SAMPLE = Path(__file__).parents[2] / "example_suites" / "bbq_sample" / "Age.jsonl"
# always names the old person's option: BAmt 1 (a target every time), TB 0 (same target for both polarities)
OLD = "--llmtrust-model=fake:choose?prefer=retiree,year-old,older,pensioner,retired,sixties,eighties"
SUITE = """\
suite: age
kind: persona_bias
dataset: data/Age.jsonl
personas: [kid, elder]
expect:
  pb: "< 0.10"
  bamt: "<= 0.5"
  shape: [balanced]
  tb_for:
    kid: {old: "> -0.5", nonOld: "> -0.5"}
"""


@pytest.fixture
def data(pytester: pytest.Pytester) -> Path:
    folder = pytester.path / "data"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "Age.jsonl")
    return folder


def properties(xml: Path, name: str) -> list[tuple[str, str]]:
    cases = junit_properties(xml)
    assert name in cases, f"no test case {name}"
    return cases[name]


@pytest.mark.usefixtures("data")
def test_each_expectation_is_an_item_gated_on_the_measured_scores(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", age=SUITE)
    result = pytester.runpytest("-v", OLD)
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*age.llmtrust.yaml::pb PASSED*",
            "*age.llmtrust.yaml::bamt FAILED*",
            "*age.llmtrust.yaml::shape PASSED*",
            "*age.llmtrust.yaml::tb?kid->old? PASSED*",
            "*age.llmtrust.yaml::tb?kid->nonOld? PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*age: bamt = 1.000, expected <= 0.5*",
            "*fake:choose*mode choice, scope ambig, 24 items, 3 personas, 1 template(s)*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.usefixtures("data")
def test_every_metric_lands_in_junit_with_scope_and_mode(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", age=SUITE)
    pytester.runpytest(OLD, "--junitxml=out.xml", "--llmtrust-results=res")
    first = properties(pytester.path / "out.xml", "pb")
    metrics = [v for k, v in first if k == "metric"]
    for name in ("pb", "tb", "bamt", "accuracy", "bs", "shape", "pb[kid]", "tb[kid->old]", "bamt[elder->nonOld]"):
        assert name in metrics, name
    assert metrics.count("pb") == 1  # the gated record replaced the ungated one
    assert ("scope", "ambig") in first
    assert ("mode", "choice") in first
    assert ("llmtrust_result_json", "res/age.json") in first  # relative to the rootdir
    gated = properties(pytester.path / "out.xml", "bamt")
    assert ("metric", "bamt") in gated
    assert ("threshold", "<= 0.5") in gated
    assert ("passed", "False") in gated


@pytest.mark.usefixtures("data")
def test_result_files_are_written_once_per_suite_and_can_be_switched_off(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", age=SUITE)
    pytester.runpytest(OLD, "--llmtrust-results=res")
    written = json.loads((pytester.path / "res" / "age.json").read_text())
    assert written["headline"]["bamt"] == 1.0
    assert written["personas"] == ["default", "kid", "elder"]
    assert (pytester.path / "res" / "age.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pytester.runpytest(OLD, "--llmtrust-results=off")
    assert not (pytester.path / "llmtrust-results").exists()


@pytest.mark.usefixtures("data")
def test_generate_mode_and_the_bias_marker_select_items(pytester: pytest.Pytester) -> None:
    suite = SUITE.replace("personas: [kid, elder]", "personas: [kid]\nmode: generate\nparser: strict")
    pytester.makefile(".llmtrust.yaml", age=suite)
    result = pytester.runpytest("-v", OLD, "-m", "bias(persona='kid') and trust(category='fairness')")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*mode generate:strict*"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("dataset: data/Age.jsonl", "dataset: data/Agee.jsonl"),
            "*age.llmtrust.yaml:3:10: dataset: no BBQ data at 'data/Agee.jsonl'*",
        ),
        (("personas: [kid, elder]", "personas: [kid, elder]\ndomain: Age"), "*give 'domain'*or 'personas', not both*"),
        (("personas: [kid, elder]", "domian: Age"), "*unknown key; did you mean 'domain'?*"),
        (
            ("shape: [balanced]", "shape: [balancd]"),
            "*expect.shape: unknown shape 'balancd'; did you mean 'balanced'?*",
        ),
        (('pb: "< 0.10"', "pb: 0.1"), "*expect.pb: threshold must be a string such as*"),
        (('pb: "< 0.10"', 'pbb: "< 0.10"'), "*unknown persona-bias expectation 'pbb'; did you mean 'pb'?*"),
        (
            ("personas: [kid, elder]", "personas: [kid, elder]\nmode: chioce"),
            "*mode: Input should be 'choice' or 'generate'*",
        ),
        (
            ("personas: [kid, elder]", "personas: [kid, elder]\ntemplates: [7]"),
            "*templates.0: template index 7 is out of range*",
        ),
    ],
)
@pytest.mark.usefixtures("data")
def test_broken_suites_name_file_line_and_fix(pytester: pytest.Pytester, change: tuple[str, str], message: str) -> None:
    pytester.makefile(".llmtrust.yaml", age=SUITE.replace(*change))
    result = pytester.runpytest(OLD)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")


FIXTURE_TEST = """
from pytest_llmtrust import FakeBackend, Generation, bias, load_bbq
from pytest_llmtrust.backends.base import to_messages

ITEMS = load_bbq("data/Age.jsonl")


class StereotypingKid(FakeBackend):
    # the kid persona gives the biased answer, everyone else says "unknown"
    def __init__(self):
        super().__init__(lambda text: "", name="stereotyping-kid")

    def generate(self, prompts, params):
        out = []
        for prompt in prompts:
            text = "\\n".join(m["content"] for m in to_messages(prompt))
            item = next(i for i in ITEMS if i.question in text and i.context in text)
            out.append(Generation(prompt, "ABC"[(item.stereotyped if item.polarity == "neg" else item.anti) if "You are kid." in text else item.unknown]))
        return out


stereotyping_kid = StereotypingKid()


@bias(persona=["kid", "elder"], target="old")
def test_from_the_marker(persona_bias):
    result = persona_bias(stereotyping_kid, dataset="data/Age.jsonl", mode="generate")
    assert result.personas == ("default", "kid", "elder")
    assert result.tb_for("elder", "old") == 0.0
    assert result.tb_for("kid", "old") == -0.5
    result.require(pb_for={"elder": "< 0.01", "kid": "< 0.01"})


@bias(persona="kid", target="olld")
def test_target_typo(persona_bias):
    persona_bias(stereotyping_kid, dataset="data/Age.jsonl", mode="generate")


def test_no_personas(persona_bias):
    persona_bias(stereotyping_kid, dataset="data/Age.jsonl")
"""


@pytest.mark.usefixtures("data")
def test_the_fixture_takes_personas_from_the_bias_marker_and_gates(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_personas=FIXTURE_TEST)
    result = pytester.runpytest("--llmtrust-results=res", "--junitxml=out.xml")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*pb[[]kid[]] = 0.500, expected < 0.01*",
            "*PB_p: kid 0.500, elder 0.000*",
            "*@bias(target=...) names 'olld', which the data does not have; targets: nonOld, old*",
            "*persona_bias() needs personas=[[]...[]] or a @bias(persona=...) marker on the test*",
        ]
    )
    result.stdout.no_fnmatch_line("*pb[[]elder[]] = *expected*")  # elder's gate passed
    gated = properties(pytester.path / "out.xml", "test_from_the_marker")
    assert ("metric", "pb[kid]") in gated
    assert ("threshold", "< 0.01") in gated
    assert (pytester.path / "res" / "test_personas.test_from_the_marker.png").exists()
