"""pytest-llmtrust: LLM behaviour as ordinary, gating pytest tests.

Public API (importing it never imports torch)::

    from pytest_llmtrust import trust, bias, prompts, refusal_rate, compliance_rate, persona_bias, load_bbq, run_study
"""

from __future__ import annotations

from pytest_llmtrust.backends.base import Backend, Generation, GenerationParams, Message, Prompt
from pytest_llmtrust.backends.fake import FakeBackend
from pytest_llmtrust.backends.registry import load_backend
from pytest_llmtrust.errors import (
    BackendUnavailable,
    ConfigError,
    GenerationError,
    LLMTrustError,
    SuiteError,
)
from pytest_llmtrust.judges.base import Judge, Verdict
from pytest_llmtrust.markers import bias, prompts, report_only, trust
from pytest_llmtrust.metrics.ab import ABResult, ab_compare
from pytest_llmtrust.metrics.rates import ExpectationFailed, RateResult, compliance_rate, refusal_rate
from pytest_llmtrust.metrics.rounds import sampled_rate
from pytest_llmtrust.metrics.sampling import PassKRate, SampledRate
from pytest_llmtrust.model import LLM
from pytest_llmtrust.persona.bbq import load_bbq
from pytest_llmtrust.persona.runner import PersonaBiasReport, persona_bias
from pytest_llmtrust.stats import wilson_interval
from pytest_llmtrust.studies.base import StudyResult
from pytest_llmtrust.studies.registry import run_study
from pytest_llmtrust.thresholds import Threshold

__version__ = "0.1.0"

__all__ = [
    "LLM",
    "ABResult",
    "Backend",
    "BackendUnavailable",
    "ConfigError",
    "ExpectationFailed",
    "FakeBackend",
    "Generation",
    "GenerationError",
    "GenerationParams",
    "Judge",
    "LLMTrustError",
    "Message",
    "PassKRate",
    "PersonaBiasReport",
    "Prompt",
    "RateResult",
    "SampledRate",
    "StudyResult",
    "SuiteError",
    "Threshold",
    "Verdict",
    "__version__",
    "ab_compare",
    "bias",
    "compliance_rate",
    "load_backend",
    "load_bbq",
    "persona_bias",
    "prompts",
    "refusal_rate",
    "report_only",
    "run_study",
    "sampled_rate",
    "trust",
    "wilson_interval",
]
