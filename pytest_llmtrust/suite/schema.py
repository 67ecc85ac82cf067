"""The suite file schema (pydantic, unknown keys forbidden).

Short forms are widened before validation, so each error points at one key:
a prompt may be a string, ``trust`` may be ``"safety/violence"``, and an
expectation may be a bare threshold string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

from pytest_llmtrust.budget import Caps

if TYPE_CHECKING:
    from pathlib import Path

    from yaml.nodes import Node

RATE_KINDS = frozenset({"prompts"})
"""Kinds whose metrics are all rates in [0, 1] (their thresholds are range-checked)."""

SUITE_KINDS: dict[str, dict[str, bool]] = {
    "prompts": {"refusal_rate": True, "compliance_rate": False, "refusal_pass_k": True, "compliance_pass_k": False},
}
"""Suite kinds and their metrics; the bool says whether a refusal counts towards k."""

PASS_K_METRICS = frozenset({"refusal_pass_k", "compliance_pass_k"})
"""Metrics that need repeated sampling (``samples:``): the share of prompts that hit in every sample."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageModel(_Strict):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: StrictStr


class PromptModel(_Strict):
    """One prompt: ``prompt`` text (optionally with a ``system`` message), or ``messages``."""

    id: StrictStr | None = None
    prompt: StrictStr | None = None
    system: StrictStr | None = None
    messages: list[MessageModel] | None = Field(default=None, min_length=1)


class TrustModel(_Strict):
    """Taxonomy position of a suite."""

    category: StrictStr
    subcategory: StrictStr | None = None


class GenerationModel(_Strict):
    """Decoding settings."""

    max_new_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0.0, le=10.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**63)
    stop: list[StrictStr] | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def settings(self) -> dict[str, Any]:
        """The keys that were set, as settings (``stop`` as a tuple)."""
        gen = self.model_dump(exclude_none=True)
        if "stop" in gen:
            gen["stop"] = tuple(gen["stop"])
        return gen


class SamplesModel(_Strict):
    """Repeated sampling: ``n`` answers per prompt, in rounds (``samples: N`` is short for ``{n: N}``)."""

    n: StrictInt = Field(ge=1, le=10000)
    early_stop: StrictBool = True
    min: StrictInt = Field(default=2, ge=1)
    k: StrictInt | None = Field(default=None, ge=1)


class ExpectationModel(_Strict):
    """A metric's threshold, and optionally the interval level it gates on."""

    threshold: StrictStr
    confidence: float | None = Field(default=None, gt=0.0, lt=1.0)


class BudgetModel(_Strict):
    """A suite's own caps on what it may spend on models (see :mod:`pytest_llmtrust.budget`)."""

    requests: StrictInt | None = Field(default=None, ge=1)
    tokens: StrictInt | None = Field(default=None, ge=1)
    seconds: StrictFloat | None = Field(default=None, gt=0.0)


def suite_caps(path: Path, root: Node | None, name: str, budget: BudgetModel | None) -> Caps | None:
    """The caps of a suite's ``budget:`` mapping, each named with the file and line that sets it."""
    from pytest_llmtrust.suite import yamlsafe

    values = budget.model_dump(exclude_none=True) if budget is not None else {}
    sources = {key: f"budget.{key} in {path.name}:{yamlsafe.locate(root, ('budget', key))[0]}" for key in values}
    return Caps(f"suite {name!r}", sources=sources, **values) if values else None


class SuiteModel(_Strict):
    """A whole suite file."""

    suite: StrictStr = Field(min_length=1)
    kind: Literal["prompts", "persona_bias"] = "prompts"  # persona_bias files go to suite.persona_suite
    description: StrictStr | None = None
    report_only: StrictBool = False
    """A report-only suite is measured and reported but never gates (its misses show as xfailed)."""
    trust: TrustModel | None = None
    model: StrictStr | None = None
    judge: StrictStr | None = None
    steer: StrictStr | None = None
    generation: GenerationModel | None = None
    samples: SamplesModel | None = None
    confidence: float | None = Field(default=None, gt=0.0, lt=1.0)
    budget: BudgetModel | None = None
    prompts: list[PromptModel] | None = None
    prompts_file: list[StrictStr] | None = None
    expect: dict[str, ExpectationModel] = Field(min_length=1)

    @field_validator("trust", mode="before")
    @classmethod
    def _trust_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            cat, _, sub = value.replace(":", "/").partition("/")
            return {"category": cat, "subcategory": sub or None}
        return value

    @field_validator("samples", mode="before")
    @classmethod
    def _samples_count(cls, value: Any) -> Any:
        return value if isinstance(value, dict) or value is None else {"n": value}

    @field_validator("prompts", mode="before")
    @classmethod
    def _prompt_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"prompt": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("prompts_file", mode="before")
    @classmethod
    def _one_file(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("expect", mode="before")
    @classmethod
    def _threshold_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"threshold": v} if not isinstance(v, dict) else v for k, v in value.items()}
        return value


MODELS_AT: dict[str, type[BaseModel]] = {
    "": SuiteModel,
    "trust": TrustModel,
    "generation": GenerationModel,
    "samples": SamplesModel,
    "budget": BudgetModel,
    "prompts.*": PromptModel,
    "prompts.*.messages.*": MessageModel,
    "expect.*": ExpectationModel,
}


def model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model that owns the mapping at ``loc`` (for "did you mean" on unknown keys)."""
    pattern = ".".join(
        "*" if isinstance(p, int) or (i and loc[i - 1] == "expect") else str(p) for i, p in enumerate(loc)
    )
    return MODELS_AT.get(pattern)
