"""Shared test set-up: pytester for plugin tests, and a guard for real-model tests."""

from __future__ import annotations

import importlib.util
import os

# pytester drops modules first imported inside an in-process run; importing the plugin's lazily
# loaded parts here keeps them (and pydantic) loaded once for the whole test session.
# numpy and matplotlib cannot be imported twice in one process, and the heatmap imports them lazily.
import matplotlib.backends.backend_agg
import matplotlib.figure  # noqa: F401
import numpy  # noqa: F401
import pytest

import pytest_llmtrust.judges.refusal
import pytest_llmtrust.persona.result_files
import pytest_llmtrust.suite.collect
import pytest_llmtrust.suite.persona_collect  # noqa: F401

pytest_plugins = ["pytester"]


def require(module: str, why: str) -> None:
    """Skip when ``module`` is missing, except under CI, where a missing dependency is a failure."""
    if importlib.util.find_spec(module) is not None:
        return
    message = f"{module} is not installed: {why}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI must run this test; see the README's install step)", pytrace=False)
    pytest.skip(message)
