"""trust / bias / llmtrust markers: validation, selection by category."""

from __future__ import annotations

import pytest

TESTS = """
import pytest
from pytest_llmtrust import trust, bias

@trust("safety", "violence")
def test_safety_violence():
    pass

@trust("Resistance to Misuse")
def test_misuse():
    pass

@bias(persona=["elder", "kid"], target="nonOld")
def test_bias():
    pass

def test_plain():
    pass
"""
SUITE = "suite: s\ntrust: reliability/hallucination\nprompts: [hi]\nexpect: {compliance_rate: '>= 0'}\n"


def test_select_by_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    pytester.makefile(".llmtrust.yaml", s=SUITE)
    result = pytester.runpytest("-v", "--llmtrust-trust=safety", "--llmtrust-model=fake:comply")
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(["*test_safety_violence PASSED*"])


def test_select_by_option_subcategory_and_yaml(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    pytester.makefile(".llmtrust.yaml", s=SUITE)
    result = pytester.runpytest(
        "-v",
        "--llmtrust-trust=reliability/hallucination",
        "--llmtrust-trust=misuse",
        "--llmtrust-model=fake:comply",
    )
    result.assert_outcomes(passed=2, deselected=3)
    result.stdout.fnmatch_lines(["*test_misuse PASSED*"])
    result.stdout.fnmatch_lines(["*s.llmtrust.yaml::compliance_rate PASSED*"])


def test_select_by_m_expression(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    pytester.makefile(".llmtrust.yaml", s=SUITE)
    result = pytester.runpytest("-v", "-m", "trust(category='reliability')", "--llmtrust-model=fake:comply")
    result.assert_outcomes(passed=1, deselected=4)
    result = pytester.runpytest("-m", "trust", "--llmtrust-model=fake:comply")
    result.assert_outcomes(passed=3, deselected=2)
    result = pytester.runpytest("-m", "bias", "--strict-markers")
    result.assert_outcomes(passed=1, deselected=4)


def test_bad_selector_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--llmtrust-trust=safty")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown trust category 'safty'; did you mean 'safety'?*"])


def test_bad_category_in_decorator_fails_that_module_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="from pytest_llmtrust import trust\n\n@trust('safty')\ndef test_x():\n    pass\n",
        test_good="def test_y():\n    pass\n",
    )
    result = pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unknown trust category 'safty'; did you mean 'safety'?*"])


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        (
            "@pytest.mark.trust('safety', 'violense')",
            "*unknown sub-category 'violense' of 'safety'; did you mean 'violence'?*",
        ),
        (
            "@pytest.mark.trust('fairness', 'violence')",
            "*sub-category 'violence' belongs to category 'safety', not 'fairness'*",
        ),
        ("@pytest.mark.trust()", "*trust() needs a category*"),
        ("@pytest.mark.bias(persona=[])", "*bias(persona=...) must be a non-empty string or list*"),
        (
            "@pytest.mark.bias(personas='x')",
            "*bias() got an unknown argument 'personas'; did you mean 'persona'?*",
        ),
        (
            "@pytest.mark.llmtrust(modle='fake:refuse')",
            "*llmtrust() got an unknown setting 'modle'; did you mean 'model'?*",
        ),
    ],
)
def test_raw_marker_errors_fail_the_test_with_the_fix(pytester: pytest.Pytester, decorator: str, message: str) -> None:
    pytester.makepyfile(f"import pytest\n\n{decorator}\ndef test_x():\n    pass\n\ndef test_ok():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_strict_markers_accepts_ours(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=4)
