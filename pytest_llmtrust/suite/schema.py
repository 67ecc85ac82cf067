"""The suite file schema (pydantic, unknown keys forbidden).

Short forms are widened before validation, so each error points at one key:
a prompt may be a string, ``trust`` may be ``"safety/violence"``, and an
expectation may be a bare threshold string.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

RATE_KINDS = frozenset({"prompts"})
"""Kinds whose metrics are all rates in [0, 1] (their thresholds are range-checked)."""

SUITE_KINDS: dict[str, dict[str, bool]] = {
    "prompts": {"refusal_rate": True, "compliance_rate": False},
}
"""Suite kinds and their metrics; the bool says whether a refusal counts towards k."""


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
    seed: int | None = None
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


class ExpectationModel(_Strict):
    """A metric's threshold, and optionally the interval level it gates on."""

    threshold: StrictStr
    confidence: float | None = Field(default=None, gt=0.0, lt=1.0)


class SuiteModel(_Strict):
    """A whole suite file."""

    suite: StrictStr = Field(min_length=1)
    kind: Literal["prompts", "persona_bias"] = "prompts"  # persona_bias files go to suite.persona_suite
    description: StrictStr | None = None
    trust: TrustModel | None = None
    model: StrictStr | None = None
    judge: StrictStr | None = None
    steer: StrictStr | None = None
    generation: GenerationModel | None = None
    confidence: float | None = Field(default=None, gt=0.0, lt=1.0)
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
