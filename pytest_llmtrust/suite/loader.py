"""Load a suite file into a :class:`Suite`, or raise SuiteError at file:line:column."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pytest_llmtrust import taxonomy
from pytest_llmtrust.backends.registry import parse_spec
from pytest_llmtrust.errors import ConfigError, SuiteError, did_you_mean
from pytest_llmtrust.judges.registry import judge_model_spec
from pytest_llmtrust.suite import prompt_files, yamlsafe
from pytest_llmtrust.suite.persona_suite import KIND, PersonaSuite, load_persona_suite
from pytest_llmtrust.suite.sampling import load_sampling
from pytest_llmtrust.suite.schema import RATE_KINDS, SUITE_KINDS, SuiteModel, model_at, suite_caps
from pytest_llmtrust.suite.study_suite import StudySuite, load_study_suite
from pytest_llmtrust.thresholds import Threshold

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from pydantic import BaseModel
    from yaml.nodes import Node

    from pytest_llmtrust.backends.base import Prompt
    from pytest_llmtrust.budget import Caps
    from pytest_llmtrust.metrics.sampling import SamplingPlan

SUFFIXES = (".llmtrust.yaml", ".llmtrust.yml")


@dataclass(frozen=True)
class SuitePrompt:
    """One prompt and where it was written."""

    id: str
    prompt: Prompt
    path: Path
    line: int


@dataclass(frozen=True)
class Expectation:
    """A metric with its threshold."""

    metric: str
    threshold: Threshold
    confidence: float | None
    line: int


@dataclass(frozen=True)
class Suite:
    """A validated suite."""

    path: Path
    name: str
    kind: str
    description: str | None
    trust: dict[str, str] | None
    settings: dict[str, Any]
    prompts: list[SuitePrompt]
    expectations: list[Expectation]
    metrics: dict[str, bool] = field(default_factory=dict)
    report_only: bool = False
    budget: Caps | None = None
    """The suite's own budget caps (``budget:``), None when it sets none."""
    sampling: SamplingPlan | None = None
    """Repeated sampling (``samples:``), None for one answer per prompt."""
    sampling_at: tuple[int | None, int | None] = (None, None)
    """Line and column of ``samples:`` (for errors found when the settings are known)."""


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_error(
    path: Path, root: Node | None, exc: ValidationError, owner_at: Callable[[Any], type[BaseModel] | None] = model_at
) -> SuiteError:
    """The first schema problem, located in the file (unknown keys get a "did you mean")."""
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = owner_at(loc[:-1])
        allowed = list(owner.model_fields) if owner else []
        line, col = yamlsafe.locate(root, loc, key=True)
        hint = did_you_mean(str(loc[-1]), allowed) or (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        return SuiteError(path, f"unknown key{hint}", line=line, column=col, key=_dotted(loc))
    line, col = yamlsafe.locate(root, loc)
    message = err["msg"]
    if loc and loc[-1] == "threshold" and kind == "string_type":
        got = err["input"]
        example = got if isinstance(got, (int, float)) and not isinstance(got, bool) else 0.95
        message = f"a threshold must be a quoted string, e.g. '>= {example}' (got {got!r})"
        loc = loc[:-1]
    elif kind == "missing":
        line, col = yamlsafe.locate(root, loc[:-1])
        message = f"missing required key {loc[-1]!r}"
    elif kind == "literal_error":
        message = f"{message} (got {err['input']!r})"
    elif "input" in err and not isinstance(err["input"], (dict, list)):
        message = f"{message} (got {err['input']!r})"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return SuiteError(path, message, line=line, column=col, key=_dotted(loc))


def _check(path: Path, root: Node | None, loc: tuple[Any, ...], fn: Any, *, key: bool = False) -> Any:
    try:
        return fn()
    except ConfigError as exc:
        line, col = yamlsafe.locate(root, loc, key=key)
        raise SuiteError(path, str(exc), line=line, column=col, key=_dotted(loc)) from None


def _prompts(path: Path, root: Node | None, model: SuiteModel, *, listed_files: bool) -> list[SuitePrompt]:
    out: list[SuitePrompt] = []
    for i, p in enumerate(model.prompts or []):
        line, _ = yamlsafe.locate(root, ("prompts", i))
        loc = ("prompts", i)
        if (p.prompt is None) == (p.messages is None):
            raise SuiteError(path, "give either 'prompt' or 'messages'", line=line, key=_dotted(loc))
        if p.messages is not None and p.system is not None:
            raise SuiteError(path, "'system' goes with 'prompt'; put it in 'messages' instead", line=line)
        prompt: Prompt
        if p.messages is not None:
            prompt = [{"role": m.role, "content": m.content} for m in p.messages]
        elif p.system is not None:
            prompt = [{"role": "system", "content": p.system}, {"role": "user", "content": str(p.prompt)}]
        else:
            prompt = str(p.prompt)
        out.append(SuitePrompt(p.id or f"prompt-{i + 1}", prompt, path, line or 0))
    for j, name in enumerate(model.prompts_file or []):
        file_loc: tuple[Any, ...] = ("prompts_file", j) if listed_files else ("prompts_file",)
        file, found = path.parent / name, False
        try:
            file = file.resolve()
            found = file.is_file()
        except (OSError, ValueError):  # a name no file can have: a NUL byte, too long
            pass
        if not found:
            line, col = yamlsafe.locate(root, file_loc)
            raise SuiteError(
                path,
                f"prompts file {name!r} not found next to the suite (looked for {os.path.relpath(file)})",
                line=line,
                column=col,
                key="prompts_file",
            )
        if file.suffix.lower() not in prompt_files.SUFFIXES:
            line, col = yamlsafe.locate(root, file_loc)
            raise SuiteError(
                path,
                f"unknown prompts file type {file.suffix!r} ({name!r}); use .txt, .jsonl or .yaml",
                line=line,
                column=col,
                key="prompts_file",
            )
        out += [SuitePrompt(pid, text, file, ln) for pid, text, ln in prompt_files.read(file)]
    if not out:
        raise SuiteError(path, "the suite has no prompts; add 'prompts:' or 'prompts_file:'", line=1)
    seen: dict[str, SuitePrompt] = {}
    for sp in out:
        if sp.id in seen:
            first = seen[sp.id]
            where = f"line {first.line}" if first.path == sp.path else f"{first.path.name}:{first.line}"
            raise SuiteError(sp.path, f"duplicate prompt id {sp.id!r} (first on {where})", line=sp.line)
        seen[sp.id] = sp
    return out


def _steer(path: Path, root: Node | None, spec: str | None) -> str | None:
    """A ``steer:`` artefact path, resolved next to the suite (options after ``?`` kept)."""
    if spec is None:
        return None
    stem, sep, query = spec.partition("?")
    resolved, found = path.parent / stem, False
    try:
        resolved = resolved.resolve()
        found = any(resolved.with_name(resolved.name + suffix).is_file() for suffix in (".json", ".safetensors", ""))
    except (OSError, ValueError):  # a name no file can have: a NUL byte, too long, none at all ("/")
        pass
    if not found:
        line, col = yamlsafe.locate(root, ("steer",))
        raise SuiteError(
            path,
            f"no steering artefact {stem!r} next to the suite (looked for {os.path.relpath(resolved)}.json and "
            ".safetensors); build one with build_steering(...).save(PATH)",
            line=line,
            column=col,
            key="steer",
        )
    return str(resolved) + sep + query


def _kind(path: Path, root: Node | None, kind: object) -> str:
    """The suite's kind, or a located error naming the kinds there are."""
    from pytest_llmtrust.studies.registry import STUDIES

    kinds = ["prompts", KIND, *STUDIES]
    if kind is None:
        return "prompts"
    if isinstance(kind, str) and kind in kinds:
        return kind
    line, col = yamlsafe.locate(root, ("kind",))
    hint = did_you_mean(str(kind), kinds)
    raise SuiteError(
        path, f"unknown suite kind {kind!r}{hint}; kinds: {', '.join(kinds)}", line=line, column=col, key="kind"
    )


def load_suite(path: Path) -> Suite | PersonaSuite | StudySuite:
    """Load and validate one suite file: ``kind: prompts`` (the default), ``persona_bias``, or a study."""
    data, root = yamlsafe.load(path)
    if not isinstance(data, dict):
        raise SuiteError(path, "a suite file must be a mapping with at least 'suite', 'prompts' and 'expect'", line=1)
    kind = _kind(path, root, data.get("kind"))
    if kind == KIND:
        return load_persona_suite(path, data, root)
    if kind != "prompts":
        from pytest_llmtrust.studies.registry import get_study

        return load_study_suite(path, data, root, get_study(kind))
    try:
        model = SuiteModel.model_validate(data)
    except ValidationError as exc:
        raise schema_error(path, root, exc) from None
    trust = None
    if model.trust is not None:
        ref = model.trust
        cat = _check(path, root, ("trust",), lambda: taxonomy.category(ref.category))
        trust = {"category": cat}
        if ref.subcategory:
            sub = str(ref.subcategory)
            trust["subcategory"] = _check(path, root, ("trust",), lambda: taxonomy.subcategory(cat, sub))
    for key in ("model", "judge"):
        value = getattr(model, key)
        named = judge_model_spec(value) if key == "judge" and value is not None else value
        if named is not None:
            _check(path, root, (key,), lambda v=named: parse_spec(v))
    metrics = SUITE_KINDS[model.kind]
    expectations = []
    for name, exp in model.expect.items():
        if name not in metrics:
            line, col = yamlsafe.locate(root, ("expect", name), key=True)
            raise SuiteError(
                path,
                f"unknown metric{did_you_mean(name, metrics)}; metrics of a {model.kind!r} suite: {', '.join(metrics)}",
                line=line,
                column=col,
                key=f"expect.{name}",
            )
        threshold = _check(path, root, ("expect", name), lambda t=exp.threshold: Threshold.parse(t))
        if model.kind in RATE_KINDS:
            threshold = _check(path, root, ("expect", name), threshold.for_rate)
        line, _ = yamlsafe.locate(root, ("expect", name), key=True)
        expectations.append(Expectation(name, threshold, exp.confidence, line or 0))
    sampling, sampling_at = load_sampling(path, root, model)
    settings: dict[str, Any] = {
        "model": model.model,
        "judge": model.judge,
        "confidence": model.confidence,
        "steer": _steer(path, root, model.steer),
    }
    if model.generation is not None:
        settings.update(model.generation.settings())
    return Suite(
        path=path,
        name=model.suite,
        kind=model.kind,
        description=model.description,
        trust=trust,
        settings={k: v for k, v in settings.items() if v is not None},
        prompts=_prompts(path, root, model, listed_files=isinstance(data.get("prompts_file"), list)),
        expectations=expectations,
        metrics=metrics,
        report_only=model.report_only,
        budget=suite_caps(path, root, model.suite, model.budget),
        sampling=sampling,
        sampling_at=sampling_at,
    )
