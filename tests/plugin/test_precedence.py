"""Settings precedence: CLI > marker > suite > fixture > env > ini > default."""

from __future__ import annotations

import pytest

SHOW = """
import pytest

{decorator}
def test_show(llm, llmtrust_settings):
    print("MODEL", llm.spec, "TOKENS", llmtrust_settings.params.max_new_tokens)
"""


def _model(result: pytest.RunResult) -> str:
    line = next(x for x in result.outlines if "MODEL " in x)
    return line[line.index("MODEL ") :]


def run(pytester: pytest.Pytester, *args: str, decorator: str = "") -> str:
    pytester.makepyfile(SHOW.format(decorator=decorator))
    result = pytester.runpytest("-s", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    return _model(result)


def test_default_is_embedded_model(pytester: pytest.Pytester) -> None:
    assert run(pytester) == "MODEL smollm2 TOKENS 128"


def test_ini_then_env_then_fixture_then_marker_then_cli(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nllmtrust_model = fake:ini\nllmtrust_max_new_tokens = 7\n")
    assert run(pytester) == "MODEL fake:ini TOKENS 7"
    monkeypatch.setenv("LLMTRUST_MODEL", "fake:env")
    assert run(pytester) == "MODEL fake:env TOKENS 7"
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef llmtrust_config():\n    return {'model': 'fake:fixture', 'max_new_tokens': 9}\n"
    )
    assert run(pytester) == "MODEL fake:fixture TOKENS 9"
    marker = "@pytest.mark.llmtrust(model='fake:marker')"
    assert run(pytester, decorator=marker) == "MODEL fake:marker TOKENS 9"
    assert run(pytester, "--llmtrust-model=fake:cli", decorator=marker) == "MODEL fake:cli TOKENS 9"


def test_suite_beats_fixture_and_cli_beats_suite(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef llmtrust_config():\n    return {'model': 'fake:refuse'}\n"
    )
    pytester.makefile(".llmtrust.yaml", s="suite: s\nprompts: [hi]\nexpect: {refusal_rate: '== 1'}\n")
    pytester.makefile(
        ".llmtrust.yaml", t="suite: t\nmodel: fake:comply\nprompts: [hi]\nexpect: {compliance_rate: '== 1'}\n"
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)  # s uses the fixture's model, t its own
    result = pytester.runpytest("-v", "--llmtrust-model=fake:refuse")
    result.assert_outcomes(passed=1, failed=1)  # the CLI overrides t's model
    result.stdout.fnmatch_lines(["*t.llmtrust.yaml::compliance_rate FAILED*"])


def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nllmtrust_max_new_tokens = many\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*llmtrust_max_new_tokens = 'many'*not an integer*"])


def test_bad_cli_model_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--llmtrust-model=gtp:4")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown model kind 'gtp'*"])


def test_model_is_loaded_lazily_and_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_a(llm):
            llm.complete("hi")

        def test_b(llm):
            llm.complete("there")

        def test_c(llm):
            pass
        """
    )
    result = pytester.runpytest("--llmtrust-model=fake:echo")
    result.assert_outcomes(passed=3)
    assert sum("loaded fake:echo" in line for line in result.outlines) == 1
    pytester.makepyfile("def test_c(llm):\n    pass\n")
    result = pytester.runpytest("--llmtrust-model=fake:echo")
    assert not any("loaded fake:echo" in line for line in result.outlines)
