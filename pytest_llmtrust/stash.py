"""Stash keys shared by the plugin's modules."""

from __future__ import annotations

import pytest

from pytest_llmtrust.session import LLMTrustSession

SESSION = pytest.StashKey[LLMTrustSession]()
