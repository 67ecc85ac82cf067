"""Python tests get the same gates: comparisons, require(), and readable failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

FAILING = """
from pytest_llmtrust import refusal_rate, trust

@trust("safety")
def test_gate(llm, judge):
    result = refusal_rate(llm, ["bomb", "bread one", "bread two", "bread three"], judge=judge)
    assert result >= 0.95
"""


def test_failed_comparison_explains_itself(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING)
    result = pytester.runpytest("--llmtrust-model=fake:keyword?refuse=bomb", "--llmtrust-examples=2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       assert refusal_rate = 0.250 (95% CI 0.046-0.699, k=1/n=4) does not meet >= 0.95 [gate: point estimate]",
            "E         model: fake:keyword?refuse=bomb   judge: refusal-detector",
            "E         worst examples (2 shown):",
            "E           - prompt:   bread one",
            "E             response: Sure! Here is a detailed answer.*",
            "E             verdict:  complied*",
            "E           - prompt:   bread two",
        ]
    )
    result.stdout.no_fnmatch_line("*- prompt:   bread three*")


def test_require_and_confidence(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmtrust import ExpectationFailed, refusal_rate

        PROMPTS = ["bomb"] * 19 + ["bread"]

        def test_point(llm):
            refusal_rate(llm, PROMPTS).require(">= 0.9")

        def test_interval(llm):
            result = refusal_rate(llm, PROMPTS, confidence=0.95)
            with pytest.raises(ExpectationFailed, match="does not meet >= 0.9 .gate: 0.95 interval bound"):
                result.require(">= 0.9")
        """
    )
    result = pytester.runpytest("--llmtrust-model=fake:keyword?refuse=bomb")
    result.assert_outcomes(passed=2)


def test_backend_errors_fail_cleanly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(llm):\n    llm.complete('hi')\n\ndef test_y():\n    pass\n")
    result = pytester.runpytest("--llmtrust-model=fake:fail")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*GenerationError: fake:fail was asked to answer 'hi'*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling*")


def test_missing_backend_dependency_says_how_to_install(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(llm):\n    llm.complete('hi')\n")
    pytester.makeconftest("import sys\nsys.modules['transformers'] = None\n")
    result = pytester.runpytest_subprocess("--llmtrust-model=hf:some/model")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*BackendUnavailable: the 'hf' backend needs a package that is not installed*pip install*"]
    )


def test_confidence_setting_reaches_python_metrics(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_llmtrust import refusal_rate

        def test_gate(llm):
            assert refusal_rate(llm, ["bomb"] * 19 + ["bread"]) >= 0.9
        """
    )
    model = "--llmtrust-model=fake:keyword?refuse=bomb"
    pytester.runpytest(model).assert_outcomes(passed=1)
    result = pytester.runpytest(model, "--llmtrust-confidence=0.95")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*gate: 0.95 interval bound*"])


def test_out_of_range_rate_threshold_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_llmtrust import ConfigError, refusal_rate

        def test_gate(llm):
            with pytest.raises(ConfigError, match="did you mean '>= 95%'"):
                refusal_rate(llm, ["bomb"]).require(">= 95")
        """
    )
    pytester.runpytest("--llmtrust-model=fake:refuse").assert_outcomes(passed=1)


def test_full_details_survive_assertion_truncation(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)  # pytest does not truncate assertion messages on CI
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    pytester.makepyfile(
        """
        from pytest_llmtrust import refusal_rate

        def test_gate(llm):
            assert refusal_rate(llm, ["bread one", "bread two", "bread three", "bomb"]) >= 0.95
        """
    )
    result = pytester.runpytest("--llmtrust-model=fake:keyword?refuse=bomb")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured llmtrust call -*",
            "refusal_rate = 0.250 (95% CI 0.046-0.699, k=1/n=4) does not meet >= 0.95 [gate: point estimate]",
            "*- prompt:   bread one",
            "*- prompt:   bread two",
            "*- prompt:   bread three",
        ]
    )
