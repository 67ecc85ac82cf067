"""YAML suites with ``samples:``: rounds, pass^k, reproducible samples, early stopping and located errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

PROMPTS = "prompts:\n" + "".join(f"  - prompt {i}\n" for i in range(10))
SAMPLED = "generation: {temperature: 0.8, seed: 1}\n"
RANDOM = "--llmtrust-model=fake:random?refuse=0.5"
XUNIT1 = ("-o", "junit_family=xunit1")  # keeps each test's properties on its testcase
BATCHES = """
from pytest_llmtrust.stash import SESSION

def pytest_sessionfinish(session):
    backends = session.config.stash[SESSION].backends.values()
    print("BATCHES", ",".join(str(n) for b in backends for n in b.calls))
"""


def suite(samples: str, expect: str, generation: str = SAMPLED) -> str:
    return f"suite: sampled\nsamples: {samples}\n{generation}{PROMPTS}expect:\n{expect}"


def properties(path: str) -> dict[str, dict[str, str]]:
    """Per test name, its JUnit properties (the first record's, for these one-record tests)."""
    out: dict[str, dict[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props: dict[str, str] = {}
        for prop in case.iter("property"):
            props.setdefault(prop.get("name", ""), prop.get("value", ""))
        out[case.get("name", "")] = props
    return out


def test_sampled_suite_measures_rate_and_pass_k(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".llmtrust.yaml",
        s=suite("{n: 4, early_stop: false}", "  refusal_rate: '>= 0.2'\n  refusal_pass_k: '<= 0.5'\n"),
    )
    pytester.makeconftest(BATCHES)
    result = pytester.runpytest("-v", "-s", RANDOM, "--junitxml=r.xml", *XUNIT1)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*s.llmtrust.yaml::refusal_rate PASSED*", "*s.llmtrust.yaml::refusal_pass_k PASSED*"])
    result.stdout.fnmatch_lines(["*BATCHES 10,10,10,10"])  # every round prefetched, one batch each
    props = properties(str(pytester.path / "r.xml"))
    rate, pass_k = props["refusal_rate"], props["refusal_pass_k"]
    assert (rate["n"], rate["samples"], pass_k["n"], pass_k["samples"]) == ("40", "4", "10", "4")
    assert 0 < int(rate["k"]) < 40  # the answers of a prompt differ from sample to sample
    assert float(pass_k["value"]) < float(rate["value"])


def test_samples_reproduce_across_runs_and_replay_from_the_cache(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s=suite("{n: 5, early_stop: false}", "  refusal_rate: '>= 0'\n"))
    first = pytester.runpytest(RANDOM, "--junitxml=a.xml", *XUNIT1, "--llmtrust-cache=write")
    first.assert_outcomes(passed=1)
    again = pytester.runpytest(RANDOM, "--junitxml=b.xml", *XUNIT1, "--llmtrust-cache=off")
    again.assert_outcomes(passed=1)
    replay = pytester.runpytest(RANDOM, "--junitxml=c.xml", *XUNIT1, "--llmtrust-cache=replay")
    replay.assert_outcomes(passed=1)  # every sample is in the cache, under its own seed
    runs = [properties(str(pytester.path / f"{name}.xml"))["refusal_rate"] for name in "abc"]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0]["samples"] == "5"


def test_clear_results_stop_early(pytester: pytest.Pytester) -> None:
    expect = "  refusal_rate: '>= 0.5'\n"
    pytester.makefile(".llmtrust.yaml", s=suite("20", expect))
    pytester.makeconftest(BATCHES)
    result = pytester.runpytest("-s", "--llmtrust-model=fake:refuse", "--junitxml=r.xml", *XUNIT1)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*BATCHES 10,10"])  # the two minimum rounds, prefetched
    assert properties(str(pytester.path / "r.xml"))["refusal_rate"]["samples"] == "2"


def test_early_stop_can_be_turned_off_or_delayed(pytester: pytest.Pytester) -> None:
    expect = "  refusal_rate: '>= 0.5'\n"
    pytester.makefile(".llmtrust.yaml", off=suite("{n: 6, early_stop: false}", expect))
    pytester.makefile(".llmtrust.yaml", late=suite("{n: 6, min: 3}", expect))
    result = pytester.runpytest("--llmtrust-model=fake:refuse", "--junitxml=r.xml", *XUNIT1)
    result.assert_outcomes(passed=2)
    samples = [case.get("samples", "") for case in _record_list(str(pytester.path / "r.xml"))]
    assert sorted(samples) == ["3", "6"]


def _record_list(path: str) -> list[dict[str, str]]:
    return [
        {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        for case in ET.parse(path).getroot().iter("testcase")
    ]


def test_a_failing_sampled_gate_says_how_sampling_stopped(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s=suite("10", "  refusal_pass_k: '>= 0.9'\n"))
    result = pytester.runpytest(RANDOM)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*sampled: refusal_pass_k = * does not meet >= 0.9*",
            "*samples: 2 of 10 per prompt (stopped: decided)*",
            "*prompt:   prompt * [[]sample *]",
        ]
    )


def test_greedy_decoding_with_samples_is_a_located_error(pytester: pytest.Pytester) -> None:
    greedy = "generation: {temperature: 0}\n"
    pytester.makefile(".llmtrust.yaml", s=suite("3", "  refusal_rate: '>= 0.5'\n", greedy))
    result = pytester.runpytest("--llmtrust-model=fake:refuse")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "s.llmtrust.yaml:2:10: samples: 3 samples per prompt need sampled decoding, but the temperature is 0 "
            "*set generation: {temperature: 0.7, seed: 0}"
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_samples_without_any_temperature_fail_located_when_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s=suite("3", "  refusal_rate: '>= 0.5'\n  compliance_rate: '<= 1'\n", ""))
    result = pytester.runpytest("--llmtrust-model=fake:refuse")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*s.llmtrust.yaml:2:10: samples: 3 samples per prompt need sampled decoding*"])
    ok = pytester.runpytest("--llmtrust-model=fake:refuse", "--llmtrust-temperature=0.7")
    ok.assert_outcomes(passed=2)  # a temperature from the command line is enough; the seed defaults to 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            suite("0", "  refusal_rate: '>= 0.5'\n"),
            "s.llmtrust.yaml:2:10: samples.n: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            suite("many", "  refusal_rate: '>= 0.5'\n"),
            "s.llmtrust.yaml:2:10: samples.n: Input should be a valid integer (got 'many')",
        ),
        (
            suite("{n: 3, erly_stop: false}", "  refusal_rate: '>= 0.5'\n"),
            "s.llmtrust.yaml:2:17: samples.erly_stop: unknown key; did you mean 'early_stop'?",
        ),
        (
            suite("{n: 3, early_stop: maybe}", "  refusal_rate: '>= 0.5'\n"),
            "s.llmtrust.yaml:2:29: samples.early_stop: Input should be a valid boolean (got 'maybe')",
        ),
        (
            suite("{n: 3, k: 5}", "  refusal_pass_k: '>= 0.5'\n"),
            "s.llmtrust.yaml:2:20: samples.k: k=5 is above n=3; pass^k needs k <= n",
        ),
        (
            "suite: s\n" + PROMPTS + "expect:\n  refusal_pass_k: '>= 0.5'\n",
            "s.llmtrust.yaml:14:3: expect.refusal_pass_k: refusal_pass_k needs repeated sampling: add 'samples: N'*",
        ),
    ],
    ids=["zero", "not-a-number", "unknown-key", "bad-bool", "k-above-n", "pass-k-without-samples"],
)
def test_bad_samples_give_one_located_error(pytester: pytest.Pytester, text: str, expected: str) -> None:
    pytester.makefile(".llmtrust.yaml", s=text)
    result = pytester.runpytest("--llmtrust-model=fake:refuse")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([expected])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_python_api_in_a_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_llmtrust import sampled_rate

        PROMPTS = [f"prompt {i}" for i in range(8)]

        def test_sampled(llm):
            result = sampled_rate(llm.with_params(temperature=0.9), PROMPTS, samples=5)
            assert result.taken == 5
            assert result >= 0.2
            assert result.pass_k is not None
            assert result.pass_k <= 0.9

        def test_greedy(llm):
            sampled_rate(llm, PROMPTS, samples=5)
        """
    )
    result = pytester.runpytest(RANDOM, "--junitxml=r.xml", *XUNIT1)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ConfigError: 5 samples per prompt need sampled decoding*"])
    first = properties(str(pytester.path / "r.xml"))["test_sampled"]  # the first record: the mean rate
    assert (first["metric"], first["samples"], first["n"]) == ("refusal_rate", "5", "40")


BUDGETED = """\
suite: sampled
samples: 6
budget: {requests: 25}
generation: {temperature: 0.8}
prompts: [a, b, c, d, e, f, g, h, i, j]
expect:
  refusal_rate: ">= 0.7"
"""


def test_a_budget_stops_sampling_between_rounds(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", s=BUDGETED)
    result = pytester.runpytest(RANDOM, "--junitxml=r.xml", *XUNIT1)
    result.assert_outcomes(failed=1)  # 13 of 20 refused: below 0.7, but not yet settled when the budget ends
    result.stdout.fnmatch_lines(["*k=13/n=20, 2 samples/prompt*", "*samples: 2 of 6 per prompt (stopped: budget)*"])
    assert properties(str(pytester.path / "r.xml"))["refusal_rate"]["samples"] == "2"
    pytester.makefile(".llmtrust.yaml", s=BUDGETED.replace("requests: 25", "requests: 5"))
    first = pytester.runpytest(RANDOM, "--llmtrust-cache=off")  # cached answers would cost nothing
    first.assert_outcomes(failed=1)  # not even one round fits: the budget error stands
    first.stdout.fnmatch_lines(["*BudgetExceeded: suite 'sampled' budget of 5 requests*"])
