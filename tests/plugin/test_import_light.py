"""Importing the plugin (which pytest does on every run) must stay cheap."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("module", ["pytest_llmtrust.plugin", "pytest_llmtrust"])
def test_import_does_not_pull_heavy_libraries(pytester: pytest.Pytester, module: str) -> None:
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('torch', 'transformers', 'pydantic', 'openai') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = pytester.runpython_c(code)
    assert result.ret == 0, result.stderr.str()


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "*LLM behaviour tests (pytest-llmtrust)*",
            "*--llmtrust-model*",
            "*--llmtrust-judge*",
            "*--llmtrust-confidence*",
            "*--llmtrust-trust*",
        ]
    )
    assert result.ret == 0


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.trust(category, subcategory=None)*",
            "*@pytest.mark.bias(*",
            "*@pytest.mark.llmtrust(*",
        ]
    )


def test_no_subpackage_shadows_the_exported_markers(pytester: pytest.Pytester) -> None:
    code = (
        "import pkgutil, pytest_llmtrust, importlib; "
        "[importlib.import_module(f'pytest_llmtrust.{m.name}') for m in pkgutil.iter_modules(pytest_llmtrust.__path__)"
        " if m.name != 'plugin']; "
        "from pytest_llmtrust import bias, trust; "
        "assert callable(bias) and callable(trust), (bias, trust)"
    )
    result = pytester.runpython_c(code)
    assert result.ret == 0, result.stderr.str()
