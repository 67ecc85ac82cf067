"""``kind: persona_bias`` suite files: schema and loader.

A persona-bias suite asks BBQ-format questions under personas and gates the scores::

    suite: age-personas
    kind: persona_bias
    dataset: bbq_sample/Age.jsonl     # next to this file; a folder of category files; or hf:<dataset id>
    domain: Age                       # the paper's personas for a domain, or: personas: [elder, kid]
    templates: [0]                    # indices into the paper's five templates, or template strings
    mode: choice                      # or generate (with parser: faithful | strict)
    scope: ambig                      # ambig | disambig | all
    expect:
      pb: "< 0.10"
      shape: [ideal, balanced]
      tb_for: {kid: {old: "> -0.5"}}

Each expectation becomes a test item (``pb_for``/``tb_for``/``bamt_for`` one per persona or
persona/target); all items of a suite share one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator

from pytest_llmtrust import taxonomy
from pytest_llmtrust.backends.registry import parse_spec
from pytest_llmtrust.errors import ConfigError, SuiteError
from pytest_llmtrust.persona.bbq import HUB_PREFIX
from pytest_llmtrust.persona.gates import Gate, parse_gate
from pytest_llmtrust.persona.personas import TEMPLATES, personas_for, validate_personas, validate_template
from pytest_llmtrust.suite import yamlsafe
from pytest_llmtrust.suite.schema import BudgetModel, suite_caps

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from yaml.nodes import Node

    from pytest_llmtrust.budget import Caps

T = TypeVar("T")

KIND = "persona_bias"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShapeThresholdsModel(_Strict):
    """Where TB and BAmt count as "high" for the shape."""

    tb: float | None = Field(default=None, ge=0.0)
    bamt: float | None = Field(default=None, ge=0.0)


class PersonaSuiteModel(_Strict):
    """A whole ``kind: persona_bias`` suite file."""

    suite: StrictStr = Field(min_length=1)
    kind: Literal["persona_bias"]
    description: StrictStr | None = None
    report_only: StrictBool = False
    """A report-only suite is measured and reported but never gates (its misses show as xfailed)."""
    trust: StrictStr | None = None
    model: StrictStr | None = None
    dataset: StrictStr = Field(min_length=1)
    categories: list[StrictStr] | None = None
    domain: StrictStr | None = None
    personas: list[StrictStr] | None = None
    templates: list[StrictInt | StrictStr] = Field(default=[0], min_length=1)
    mode: Literal["choice", "generate"] = "choice"
    parser: Literal["faithful", "strict"] = "faithful"
    scope: Literal["ambig", "disambig", "all"] = "ambig"
    rp: float = Field(default=2.0, gt=0.0)
    cc: float = Field(default=1.0, ge=0.0)
    limit: int | None = Field(default=None, ge=1)
    shape_thresholds: ShapeThresholdsModel | None = None
    budget: BudgetModel | None = None
    expect: dict[str, Any] = Field(min_length=1)

    @field_validator("categories", "personas", mode="before")
    @classmethod
    def _one_name(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


MODELS_AT: dict[str, type[BaseModel]] = {
    "": PersonaSuiteModel,
    "shape_thresholds": ShapeThresholdsModel,
    "budget": BudgetModel,
}


def model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model that owns the mapping at ``loc`` (for "did you mean" on unknown keys)."""
    return MODELS_AT.get(".".join(map(str, loc)))


@dataclass(frozen=True)
class PersonaGate:
    """One gate and the line it was written on."""

    gate: Gate
    line: int


@dataclass(frozen=True)
class PersonaSuite:
    """A validated persona-bias suite."""

    path: Path
    name: str
    description: str | None
    trust: dict[str, str]
    settings: dict[str, Any]
    dataset: str
    run: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of :func:`~pytest_llmtrust.persona.runner.persona_bias` (without llm and dataset)."""
    gates: list[PersonaGate] = field(default_factory=list)
    categories: tuple[str, ...] | None = None
    report_only: bool = False
    budget: Caps | None = None
    """The suite's own budget caps (``budget:``), None when it sets none."""

    @property
    def kind(self) -> str:
        """Always ``persona_bias``."""
        return KIND


DEFAULT_TRUST = "fairness/stereotype_bias"
"""The taxonomy position of a persona-bias suite unless it says otherwise."""


def _check(path: Path, root: Node | None, loc: tuple[Any, ...], fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ConfigError as exc:
        raise _located(path, root, loc, str(exc)) from None


def _trust(text: str) -> dict[str, str]:
    cat, _, sub = text.replace(":", "/").partition("/")
    trust = {"category": taxonomy.category(cat)}
    if sub:
        trust["subcategory"] = taxonomy.subcategory(trust["category"], sub)
    return trust


def _template(template: int | str) -> None:
    if isinstance(template, str):
        validate_template(template)
    elif not 0 <= template < len(TEMPLATES):
        raise ConfigError(f"template index {template} is out of range: the paper has templates 0-{len(TEMPLATES) - 1}")


def _located(path: Path, root: Node | None, loc: tuple[Any, ...], message: str, *, key: bool = False) -> SuiteError:
    line, col = yamlsafe.locate(root, loc, key=key)
    return SuiteError(path, message, line=line, column=col, key=".".join(str(p) for p in loc) or None)


def _dataset(path: Path, root: Node | None, value: str) -> str:
    if value.startswith(HUB_PREFIX):
        return value
    where, found = path.parent / value, False
    try:
        where = where.resolve()
        found = where.exists()
    except (OSError, ValueError):  # a name no file can have: a NUL byte, too long
        pass
    if not found:
        raise _located(
            path,
            root,
            ("dataset",),
            f"no BBQ data at {value!r} next to the suite; give a .jsonl file, a folder of them, or hf:<dataset id>",
        )
    return str(where)


def _personas(path: Path, root: Node | None, model: PersonaSuiteModel) -> tuple[str, ...]:
    if model.domain is not None and model.personas is not None:
        raise _located(
            path, root, ("personas",), "give 'domain' (the paper's personas) or 'personas', not both", key=True
        )
    try:
        if model.personas is not None:
            return validate_personas(model.personas)
        if model.domain is not None:
            return personas_for(model.domain)
    except ConfigError as exc:
        raise _located(path, root, ("domain",) if model.personas is None else ("personas",), str(exc)) from None
    raise _located(path, root, (), "add 'personas: [...]' or 'domain: <BBQ category>' (the paper's personas for it)")


def _gates(path: Path, root: Node | None, expect: dict[str, Any]) -> list[PersonaGate]:
    gates: list[PersonaGate] = []
    for key, value in expect.items():
        try:
            parsed = parse_gate(str(key), value)
        except ConfigError as exc:
            raise _located(path, root, ("expect", key), str(exc), key=True) from None
        line, _ = yamlsafe.locate(root, ("expect", key), key=True)
        gates += [PersonaGate(g, line or 0) for g in parsed]
    return gates


def load_persona_suite(path: Path, data: dict[str, Any], root: Node | None) -> PersonaSuite:
    """Validate a loaded ``kind: persona_bias`` mapping (see the module docstring)."""
    from pytest_llmtrust.suite.loader import schema_error

    try:
        model = PersonaSuiteModel.model_validate(data)
    except ValidationError as exc:
        raise schema_error(path, root, exc, model_at) from None
    trust = _check(path, root, ("trust",), lambda: _trust(model.trust or DEFAULT_TRUST))
    if model.model is not None:
        _check(path, root, ("model",), lambda: parse_spec(str(model.model)))
    for i, template in enumerate(model.templates):
        _check(path, root, ("templates", i), partial(_template, template))
    thresholds = model.shape_thresholds
    run: dict[str, Any] = {
        "personas": _personas(path, root, model),
        "templates": tuple(model.templates),
        "mode": model.mode,
        "parser": model.parser,
        "scope": model.scope,
        "rp": model.rp,
        "cc": model.cc,
        "limit": model.limit,
    }
    if thresholds is not None and thresholds.tb is not None:
        run["tb_threshold"] = thresholds.tb
    if thresholds is not None and thresholds.bamt is not None:
        run["bamt_threshold"] = thresholds.bamt
    return PersonaSuite(
        path=path,
        name=model.suite,
        description=model.description,
        trust=trust,
        settings={"model": model.model} if model.model else {},
        dataset=_dataset(path, root, model.dataset),
        run=run,
        gates=_gates(path, root, model.expect),
        categories=tuple(model.categories) if model.categories else None,
        report_only=model.report_only,
        budget=suite_caps(path, root, model.suite, model.budget),
    )
