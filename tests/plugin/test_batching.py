"""Collect-then-batch: the selected items' requests are answered per model in few large calls before tests run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

SAMPLE = Path(__file__).parents[2] / "example_suites" / "bbq_sample" / "Age.jsonl"
ECHO = "--llmtrust-model=fake:echo"

SUITE = """\
suite: {name}
prompts:
{prompts}
expect:
  compliance_rate: ">= 0.0"
  refusal_rate: ">= 0.0"
"""


def suite(name: str, *prompts: str) -> str:
    return SUITE.format(name=name, prompts="\n".join(f"  - {p}" for p in prompts))


def test_suites_and_declared_python_tests_share_one_model_call(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", first=suite("first", "alpha", "beta", "gamma"))
    pytester.makefile(".llmtrust.yaml", second=suite("second", "gamma", "delta"))
    pytester.makepyfile(
        test_declared="""
from pytest_llmtrust import prompts

ASK = ["epsilon", "alpha"]

@prompts(ASK)
def test_declared(llm):
    assert [g.text for g in llm.generate(ASK)] == ASK

def test_undeclared_still_works(llm):
    assert llm.generate(["zeta", "eta"])[1].text == "eta"
"""
    )
    result = pytester.runpytest(ECHO, "--llmtrust-cache=off")
    result.assert_outcomes(passed=6)
    # 5 distinct declared prompts in one call before the tests; the undeclared test's own call is the second
    result.stdout.fnmatch_lines(["*0 answers from the cache, 7 generated in 2 model calls*"])


def test_without_prefetch_each_suite_would_call_the_model(pytester: pytest.Pytester) -> None:
    pytester.makefile(".llmtrust.yaml", first=suite("first", "alpha"))
    pytester.makefile(".llmtrust.yaml", second=suite("second", "beta"))
    result = pytester.runpytest(ECHO, "--llmtrust-cache=off", "-k", "first")
    result.stdout.fnmatch_lines(["*1 generated in 1 model calls*"])  # deselected suites are not prefetched


def test_declared_generation_arguments_are_honoured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
from pytest_llmtrust import prompts

@prompts("one two three four", max_new_tokens=2)
def test_short(llm):
    assert llm.generate(["one two three four"], max_new_tokens=2)[0].text == "one two"
"""
    )
    result = pytester.runpytest(ECHO, "--llmtrust-cache=off")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 generated in 1 model calls*"])


def test_a_conftest_llmtrust_config_is_applied_before_batching(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest

@pytest.fixture
def llmtrust_config():
    return {"model": "fake:refuse"}
"""
    )
    pytester.makefile(
        ".llmtrust.yaml",
        first=suite("first", "alpha", "beta").replace('refusal_rate: ">= 0.0"', 'refusal_rate: ">= 1.0"'),
    )
    result = pytester.runpytest("--llmtrust-cache=off")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*2 generated in 1 model calls*", "*loaded fake:refuse*"])


def test_persona_suites_are_batched_together(pytester: pytest.Pytester) -> None:
    (pytester.path / "data").mkdir()
    shutil.copy(SAMPLE, pytester.path / "data" / "Age.jsonl")
    body = "kind: persona_bias\ndataset: data/Age.jsonl\npersonas: [{p}]\nexpect:\n  bamt: '<= 1.0'\n"
    pytester.makefile(".llmtrust.yaml", kid="suite: kid\n" + body.format(p="kid"))
    pytester.makefile(".llmtrust.yaml", elder="suite: elder\n" + body.format(p="elder"))
    result = pytester.runpytest("--llmtrust-model=fake:choose?prefer=grandfather", "--llmtrust-cache=off")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*in 1 model calls*"])  # both suites' questions, default persona once


def test_a_bad_prompts_marker_errors_its_test_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.prompts("hi", max_tokens=3)
def test_typo(llm):
    pass
"""
    )
    result = pytester.runpytest(ECHO)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*prompts() got an unknown argument 'max_tokens'; did you mean 'max_new_tokens'?*"])
