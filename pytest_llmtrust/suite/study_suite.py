"""Suite files whose ``kind`` is one of the eight Trustworthy-LLM studies: schema and loader.

A study suite has the common keys (``suite``, ``kind``, ``description``, ``trust``, ``model``,
``judge``, ``generation``, ``confidence``, ``expect``) and, at the top level too, the study's own
options (``data``, ``limit``, ``seed`` and those of the study)::

    suite: hallucination-qa
    kind: hallucination
    limit: 40
    expect:
      accuracy: ">= 0.6"

Each expectation becomes one test item; all items of a suite share one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field, StrictBool, StrictStr, ValidationError, field_validator

from pytest_llmtrust import taxonomy
from pytest_llmtrust.backends.registry import parse_spec
from pytest_llmtrust.errors import ConfigError, SuiteError, did_you_mean
from pytest_llmtrust.judges.registry import judge_model_spec
from pytest_llmtrust.suite import yamlsafe
from pytest_llmtrust.suite.schema import BudgetModel, ExpectationModel, GenerationModel, _Strict, suite_caps
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import BaseModel
    from yaml.nodes import Node

    from pytest_llmtrust.budget import Caps
    from pytest_llmtrust.studies.base import StudySpec


class StudySuiteModel(_Strict):
    """The keys every study suite has (the study's own options are checked by its spec)."""

    suite: StrictStr = Field(min_length=1)
    kind: StrictStr
    description: StrictStr | None = None
    report_only: StrictBool = False
    """A report-only suite is measured and reported but never gates (its misses show as xfailed)."""
    trust: StrictStr | None = None
    model: StrictStr | None = None
    judge: StrictStr | None = None
    generation: GenerationModel | None = None
    confidence: float | None = Field(default=None, gt=0.0, lt=1.0)
    budget: BudgetModel | None = None
    expect: dict[str, ExpectationModel] = Field(min_length=1)

    @field_validator("expect", mode="before")
    @classmethod
    def _threshold_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"threshold": v} if not isinstance(v, dict) else v for k, v in value.items()}
        return value


COMMON_KEYS = frozenset(StudySuiteModel.model_fields)


@dataclass(frozen=True)
class StudyGate:
    """One expectation of a study suite."""

    metric: str
    threshold: Threshold
    confidence: float | None
    line: int


@dataclass(frozen=True)
class StudySuite:
    """A validated study suite."""

    path: Path
    name: str
    kind: str
    description: str | None
    trust: tuple[dict[str, str], ...]
    settings: dict[str, Any]
    options: Any
    """The study's options model instance."""
    gates: list[StudyGate] = field(default_factory=list)
    report_only: bool = False
    budget: Caps | None = None
    """The suite's own budget caps (``budget:``), None when it sets none."""


def _located(path: Path, root: Node | None, loc: tuple[Any, ...], message: str, *, key: bool = False) -> SuiteError:
    line, col = yamlsafe.locate(root, loc, key=key)
    dotted = ".".join(str(p) for p in loc) or None
    return SuiteError(path, message, line=line, column=col, key=dotted)


def _trust(spec: StudySpec, text: str | None) -> tuple[dict[str, str], ...]:
    if text is None:
        return tuple({"category": cat, "subcategory": sub} for cat, sub in spec.trust)
    cat, sub = taxonomy.parse_selector(text)
    return ({"category": cat} if sub is None else {"category": cat, "subcategory": sub},)


def _options(path: Path, root: Node | None, spec: StudySpec, data: dict[str, Any]) -> Any:
    values = {k: v for k, v in data.items() if k not in COMMON_KEYS}
    allowed = [*COMMON_KEYS, *spec.options.model_fields]
    for key in values:
        if key not in spec.options.model_fields:
            hint = did_you_mean(str(key), allowed) or f"; keys of a {spec.name!r} suite: {', '.join(sorted(allowed))}"
            raise _located(path, root, (key,), f"unknown key{hint}", key=True)
    try:
        return spec.options.model_validate(values)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        shown = err.get("input")
        got = "" if isinstance(shown, (dict, list)) else f" (got {shown!r})"
        raise _located(path, root, loc, f"{err['msg']}{got}") from None


def _gates(path: Path, root: Node | None, spec: StudySpec, model: StudySuiteModel) -> list[StudyGate]:
    gates = []
    for metric, exp in model.expect.items():
        loc = ("expect", metric)
        if metric not in spec.metrics:
            raise _located(
                path,
                root,
                loc,
                f"unknown metric{did_you_mean(metric, spec.metrics)}; metrics of a {spec.name!r} suite: "
                + ", ".join(spec.metrics),
                key=True,
            )
        try:
            threshold = Threshold.parse(exp.threshold)
            if metric in spec.rate_metrics:
                threshold = threshold.for_rate()
        except ConfigError as exc:
            raise _located(path, root, loc, str(exc)) from None
        line, _ = yamlsafe.locate(root, loc, key=True)
        gates.append(StudyGate(metric, threshold, exp.confidence, line or 0))
    return gates


def load_study_suite(path: Path, data: dict[str, Any], root: Node | None, spec: StudySpec) -> StudySuite:
    """Validate a loaded mapping whose ``kind`` names a study (see the module docstring)."""
    from pytest_llmtrust.suite.loader import schema_error

    common = {k: v for k, v in data.items() if k in COMMON_KEYS}
    try:
        model = StudySuiteModel.model_validate(common)
    except ValidationError as exc:
        owners: dict[tuple[Any, ...], type[BaseModel]] = {(): StudySuiteModel, ("budget",): BudgetModel}
        raise schema_error(path, root, exc, lambda loc: owners.get(tuple(loc))) from None
    options = _options(path, root, spec, data)
    try:
        trust = _trust(spec, model.trust)
    except ConfigError as exc:
        raise _located(path, root, ("trust",), str(exc)) from None
    for key in ("model", "judge"):
        value = getattr(model, key)
        named = judge_model_spec(value) if key == "judge" and value is not None else value
        if named is None:
            continue
        try:
            parse_spec(named)
        except ConfigError as exc:
            raise _located(path, root, (key,), str(exc)) from None
    settings: dict[str, Any] = {"model": model.model, "judge": model.judge, "confidence": model.confidence}
    if model.generation is not None:
        settings.update(model.generation.settings())
    return StudySuite(
        path=path,
        name=model.suite,
        kind=spec.name,
        description=model.description,
        trust=trust,
        settings={k: v for k, v in settings.items() if v is not None},
        options=options,
        gates=_gates(path, root, spec, model),
        report_only=model.report_only,
        budget=suite_caps(path, root, model.suite, model.budget),
    )
