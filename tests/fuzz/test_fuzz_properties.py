"""Fuzz properties, CI size: every user-facing input is accepted, or rejected with a located error; never a traceback.

The generators (``tests/fuzz/strategies.py``) and the oracle (``tests/fuzz/oracle.py``) are those of
``benchmarks/fuzz.py``, which runs them for 10,000+ examples; here each target runs 150 derandomized
examples (the same ones every run), plus an ``@example`` for every bug the fuzzing found. Two more
properties go through pytest itself (pytester, a few examples each): a generated suite file is collected
as items or as one located "suite error" item, and marked tests fail with a message, never an internal error.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, example, given, settings

from tests.fuzz import oracle
from tests.fuzz.strategies import (
    BBQ_NAME,
    BBQ_SAMPLE,
    SUITE_NAME,
    BBQCase,
    MarkerCall,
    SuiteCase,
    bbq_files,
    generated_suites,
    marker_sets,
    suite_files,
    threshold_inputs,
)

if TYPE_CHECKING:
    from pathlib import Path

CI = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
PYTESTER = settings(
    CI, max_examples=10, suppress_health_check=[*CI.suppress_health_check, HealthCheck.function_scoped_fixture]
)
SUITE = b"suite: s\nprompts: [hi]\nexpect: {refusal_rate: '>= 0.5'}\n"


def suite(text: str | bytes) -> SuiteCase:
    """A suite file with the BBQ sample beside it."""
    return SuiteCase(text.encode() if isinstance(text, str) else text, {BBQ_NAME: BBQ_SAMPLE})


def with_prompts_file(name: str, data: bytes) -> SuiteCase:
    """A valid suite whose prompts come from ``name`` (holding ``data``), which lies beside it."""
    return SuiteCase(
        f"suite: s\nprompts_file: {name}\nexpect: {{refusal_rate: '>= 0.5'}}\n".encode(),
        {BBQ_NAME: BBQ_SAMPLE, name: data},
    )


PERSONA = "suite: p\nkind: persona_bias\ndataset: bbq.jsonl\ndomain: Age\nexpect: {{pb: '< 0.1'}}\n{extra}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder the examples write their files into (each example empties it first)."""
    return tmp_path_factory.mktemp("fuzz")


# --- regressions: each input below raised something other than a located SuiteError before it was fixed
@CI
@given(case=suite_files)
@example(case=suite("a: " + "[" * 5000 + "]" * 5000 + "\n"))  # RecursionError in the YAML composer
@example(case=suite(b"suite: caf\xe9\n"))  # SuiteError without a line
@example(case=suite("suite: \x07\n"))  # yaml ReaderError (a control character)
@example(case=suite("suite: s\nseed: " + "9" * 5000 + "\n"))  # ValueError: int of more than 4300 digits
@example(case=suite("suite: 2001-13-45\n"))  # ValueError: month must be in 1..12
@example(case=suite("suite: !!bool maybe\n"))  # KeyError
@example(case=suite("suite: !!timestamp x\n"))  # AttributeError
@example(case=suite("suite: !!set [a]\n"))  # TypeError
@example(case=suite("suite: !!map x\n"))  # ValueError
@example(case=suite('suite: s\nprompts_file: "a\\0b.txt"\nexpect: {refusal_rate: ">= 0.5"}\n'))  # ValueError: NUL
@example(case=suite(f"suite: s\nprompts_file: {'a' * 300}.txt\nexpect: {{refusal_rate: '>= 0.5'}}\n"))  # OSError
@example(case=suite("suite: s\nprompts: [hi]\nsteer: /\nexpect: {refusal_rate: '>= 0.5'}\n"))  # ValueError
@example(case=suite('suite: s\nprompts: [hi]\nsteer: "v\\0"\nexpect: {refusal_rate: ">= 0.5"}\n'))  # ValueError
@example(case=suite(PERSONA.format(extra="").replace("bbq.jsonl", '"b\\0"')))  # ValueError: NUL in dataset
@example(case=suite(PERSONA.format(extra="templates: ['{0} {0.nope}']\n")))  # AttributeError
@example(case=suite(PERSONA.format(extra="templates: ['{0} {0[x]}']\n")))  # TypeError
@example(case=with_prompts_file("p.txt", b"ok\ncaf\xe9\n"))  # SuiteError without a line
@example(case=with_prompts_file("p.csv", b"hi\n"))  # SuiteError without a line
@example(case=with_prompts_file("p.jsonl", b'{"prompt": ' + b"9" * 5000 + b"}\n"))  # ValueError
@example(case=with_prompts_file("p.jsonl", b"[" * 100_000 + b"\n"))  # RecursionError
@example(case=suite(SUITE.replace(b"'>= 0.5'", b"'>= 1e999'")))  # accepted: an infinite threshold
def test_suite_files_load_or_fail_at_a_line(folder: Path, case: SuiteCase) -> None:
    oracle.check_suite(folder, case)


@CI
@given(value=threshold_inputs)
@example(value=">= 1e999")  # accepted as infinity, and str() did not read back
@example(value="between 1 and 1e999")
@example(value="< " + "9" * 400)
def test_thresholds_parse_or_fail_with_config_error(value: object) -> None:
    oracle.check_threshold(value)


@CI
@given(calls=marker_sets)
@example(calls=[MarkerCall("prompts", ([{"role": "user", "content": [1]}],))])  # accepted: content not a string
@example(calls=[MarkerCall("prompts", ("hi",), {"temperature": "0.7"})])  # accepted: a string temperature
@example(calls=[MarkerCall("prompts", ("hi",), {"temperature": 10**400})])  # OverflowError
@example(calls=[MarkerCall("llmtrust", (), {"stop": [{"a": 1}]})])  # accepted: a stop that is not a string
@example(calls=[MarkerCall("llmtrust", (), {"seed": 2**64})])  # accepted: a seed torch cannot take
@example(calls=[MarkerCall("llmtrust", (), {"confidence": 10**400})])  # OverflowError
def test_markers_accept_or_fail_with_config_error(calls: list[MarkerCall]) -> None:
    oracle.check_markers(calls)


@CI
@given(case=bbq_files())
@example(case=BBQCase(b"{}\n\xff\n"))  # UnicodeDecodeError
@example(case=BBQCase(b'{"label": ' + b"9" * 5000 + b"}\n"))  # ValueError: int of more than 4300 digits
@example(case=BBQCase(b"[" * 100_000 + b"\n"))  # RecursionError
def test_bbq_rows_load_or_fail_at_a_line(folder: Path, case: BBQCase) -> None:
    oracle.check_bbq(folder, case)


# --- through pytest


def _no_crash(result: pytest.RunResult) -> str:
    output = "\n".join(result.outlines + result.errlines)
    assert result.ret != pytest.ExitCode.INTERNAL_ERROR, output
    assert "INTERNALERROR" not in output, output
    assert "Traceback" not in output, output
    return output


def _reset(pytester: pytest.Pytester) -> None:
    for child in pytester.path.iterdir():
        if child.is_file():
            child.unlink()


@PYTESTER
@given(case=generated_suites())
@example(case=suite("a: " + "[" * 5000 + "]" * 5000 + "\n"))
@example(case=suite(b"suite: caf\xe9\n"))
def test_pytest_collects_a_suite_or_a_located_suite_error(pytester: pytest.Pytester, case: SuiteCase) -> None:
    _reset(pytester)
    for name, data in {SUITE_NAME: case.data, **case.companions}.items():
        (pytester.path / name).write_bytes(data)
    collected = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
    output = _no_crash(collected)
    assert collected.ret == pytest.ExitCode.OK, output
    if f"{SUITE_NAME}::suite" not in output:
        return  # loaded: one item per expectation
    run = pytester.runpytest("-p", "no:cacheprovider", f"{SUITE_NAME}::suite")
    output = _no_crash(run)
    run.assert_outcomes(errors=1)
    run.stdout.re_match_lines([r"^\S+:\d+(:\d+)?: "])  # file:line[:column]: message, the traceback-free report


@PYTESTER
@given(calls=marker_sets)
@example(calls=[MarkerCall("report_only", ("a", "b"))])
@example(calls=[MarkerCall("prompts", ("hi",), {"temperature": 10**400})])
def test_pytest_reports_bad_markers_without_a_traceback(pytester: pytest.Pytester, calls: list[MarkerCall]) -> None:
    _reset(pytester)
    marks = pickle.dumps([(c.name, c.args, c.kwargs) for c in calls])
    pytester.makepyfile(
        test_marked=f"""
        import pickle
        import pytest

        def test_marked():
            pass

        for name, args, kwargs in pickle.loads({marks!r}):
            test_marked = getattr(pytest.mark, name).with_args(*args, **kwargs)(test_marked)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    _no_crash(result)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.USAGE_ERROR)
