"""Fixtures: ``llm``, ``judge``, ``llmtrust_config`` and ``llmtrust_settings``.

Override ``llmtrust_config`` in a conftest to set defaults for a directory::

    @pytest.fixture
    def llmtrust_config():
        return {"model": "openai:gpt-4o-mini", "max_new_tokens": 64}
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.errors import LLMTrustError
from pytest_llmtrust.markers import item_settings
from pytest_llmtrust.stash import SESSION

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_llmtrust.config import Settings
    from pytest_llmtrust.judges.base import Judge
    from pytest_llmtrust.model import LLM
    from pytest_llmtrust.session import LLMTrustSession


def get_session(config: pytest.Config) -> LLMTrustSession:
    """The run's LLMTrustSession."""
    return config.stash[SESSION]


@pytest.fixture
def llmtrust_config() -> dict[str, Any]:
    """Settings for the tests in scope; override in a conftest (below CLI, markers and suites)."""
    return {}


@contextmanager
def _as_test_failure() -> Iterator[None]:
    """Turn our own errors into a clean test failure (message only, no traceback)."""
    try:
        yield
    except LLMTrustError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


@pytest.fixture
def llmtrust_settings(request: pytest.FixtureRequest, llmtrust_config: dict[str, Any]) -> Settings:
    """The resolved settings of this test: CLI > marker > fixture > env > ini > defaults."""
    with _as_test_failure():
        return get_session(request.config).settings(marker=item_settings(request.node), fixture=llmtrust_config)


@pytest.fixture
def llm(request: pytest.FixtureRequest, llmtrust_settings: Settings) -> LLM:
    """The model under test; loaded on first use and shared by the whole session."""
    with _as_test_failure():
        return get_session(request.config).llm(llmtrust_settings)


@pytest.fixture
def judge(request: pytest.FixtureRequest, llmtrust_settings: Settings) -> Judge:
    """The judge: the offline refusal detector unless a model spec makes it an LLM judge."""
    with _as_test_failure():
        return get_session(request.config).judge(llmtrust_settings)
