"""The fuzz oracle: each public entry point accepts an input, or rejects it with its own located error.

Anything else (another exception type, an error without a location, an accepted value that breaks the
entry point's contract) is a :class:`Bug`: a traceback that would reach the user. Every ``check_*``
function returns ``"accepted"`` or ``"rejected"`` and raises :class:`Bug` otherwise.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import pytest

from pytest_llmtrust import markers
from pytest_llmtrust.config import resolve
from pytest_llmtrust.errors import ConfigError, SuiteError
from pytest_llmtrust.persona.bbq import load_bbq
from pytest_llmtrust.suite.loader import Suite, load_suite
from pytest_llmtrust.suite.persona_suite import PersonaSuite
from pytest_llmtrust.suite.study_suite import StudySuite
from pytest_llmtrust.thresholds import Threshold
from tests.fuzz.strategies import SUITE_NAME

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from pytest_llmtrust.backends.base import GenerationParams
    from tests.fuzz.strategies import BBQCase, MarkerCall, SuiteCase

Outcome = Literal["accepted", "rejected"]
LINE_BREAKS = re.compile(rb"\r\n|[\n\r]|\xc2\x85|\xe2\x80[\xa8\xa9]")
"""YAML's line breaks, as UTF-8 bytes (for the upper bound of a file's line numbers)."""


class Bug(AssertionError):
    """An input the plugin mishandled: the user would see a traceback, or an error with no location."""


def _bug(what: str, shown: object, exc: BaseException | None = None) -> Bug:
    detail = "" if exc is None else f": {type(exc).__name__}: {str(exc)[:300]}"
    return Bug(f"{what}{detail}\n  input: {shown!r:.1500}")


def last_line(data: bytes) -> int:
    """The highest line number an error in a file holding ``data`` may name (a mark may sit past the end)."""
    return len(LINE_BREAKS.findall(data)) + 1


def _check_message(text: str, shown: object) -> None:
    if not text.strip():
        raise _bug("an error with an empty message", shown)
    if "Traceback" in text:
        raise _bug(f"an error message carrying a traceback: {text[:200]}", shown)


def check_located(exc: SuiteError, files: Mapping[Path, bytes], shown: object) -> None:
    """``exc`` names one of ``files``, a line within it (and a sane column), and says so in its display."""
    path = exc.path.resolve()
    if path not in files:
        raise _bug(f"a SuiteError naming a file that was not given ({exc.path})", shown, exc)
    if exc.line is None:
        raise _bug("a SuiteError without a line", shown, exc)
    if not 1 <= exc.line <= last_line(files[path]):
        raise _bug(f"a SuiteError at line {exc.line}, outside the file's {last_line(files[path])} lines", shown, exc)
    if exc.column is not None and exc.column < 1:
        raise _bug(f"a SuiteError at column {exc.column}", shown, exc)
    text = exc.display()
    if not text.startswith(f"{exc.path}:{exc.line}"):
        raise _bug(f"a SuiteError whose display does not start with file:line: {text[:200]}", shown, exc)
    _check_message(exc.message, shown)


# ------------------------------------------------------------------------------------------- suite files


def write_case(folder: Path, case: SuiteCase) -> dict[Path, bytes]:
    """Empty ``folder`` and write the suite file and its companions into it; return what was written."""
    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    written = {folder.resolve() / SUITE_NAME: case.data}
    written.update({folder.resolve() / name: data for name, data in case.companions.items()})
    for path, data in written.items():
        path.write_bytes(data)
    return written


def check_suite(folder: Path, case: SuiteCase) -> Outcome:
    """``load_suite`` on the generated file: a suite, or a SuiteError at a line of one of the files written."""
    files = write_case(folder, case)
    try:
        suite = load_suite(folder / SUITE_NAME)
    except SuiteError as exc:
        check_located(exc, files, case)
        return "rejected"
    except Exception as exc:
        raise _bug("load_suite raised an exception that is not a SuiteError", case, exc) from exc
    if not isinstance(suite, (Suite, PersonaSuite, StudySuite)) or not suite.name:
        raise _bug(f"load_suite returned {suite!r:.200}", case)
    gates = suite.expectations if isinstance(suite, Suite) else suite.gates
    if not gates:
        raise _bug("an accepted suite without a single expectation", case)
    if isinstance(suite, Suite) and not suite.prompts:
        raise _bug("an accepted prompts suite without prompts", case)
    return "accepted"


# ------------------------------------------------------------------------------------------- thresholds


def check_threshold(value: object) -> Outcome:
    """``Threshold.parse``: a finite threshold that reads back as itself, or a ConfigError."""
    try:
        threshold = Threshold.parse(value)
    except ConfigError as exc:
        _check_message(str(exc), value)
        return "rejected"
    except Exception as exc:
        raise _bug("Threshold.parse raised an exception that is not a ConfigError", value, exc) from exc
    bounds = [threshold.value] if threshold.upper is None else [threshold.value, threshold.upper]
    if not all(isinstance(b, float) and math.isfinite(b) for b in bounds):
        raise _bug(f"an accepted threshold with a non-finite bound: {threshold!r}", value)
    if (threshold.op == "between") != (threshold.upper is not None) or threshold.value > (threshold.upper or math.inf):
        raise _bug(f"an inconsistent threshold {threshold!r}", value)
    try:
        again = Threshold.parse(str(threshold))
    except ConfigError as exc:
        raise _bug(f"str(threshold) = {threshold!s} does not parse", value, exc) from exc
    if again != threshold:
        raise _bug(f"str(threshold) reads back as {again!r}, not {threshold!r}", value)
    return "accepted"


# ------------------------------------------------------------------------------------------- markers


class FakeItem:
    """Just enough of a pytest item for the marker checks: its markers, node id and added marks."""

    def __init__(self, calls: Sequence[MarkerCall]) -> None:
        self.nodeid = "test_fuzz.py::test_marked"
        self.own_markers = [getattr(pytest.mark, c.name).with_args(*c.args, **c.kwargs).mark for c in calls]

    def iter_markers(self, name: str | None = None) -> Iterator[pytest.Mark]:
        return (m for m in self.own_markers if name is None or m.name == name)

    def get_closest_marker(self, name: str, default: pytest.Mark | None = None) -> pytest.Mark | None:
        return next(self.iter_markers(name), default)

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.own_markers.append(marker.mark)


def _real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_params(params: GenerationParams, shown: object) -> None:
    ok = (
        isinstance(params.max_new_tokens, int)
        and not isinstance(params.max_new_tokens, bool)
        and _real(params.temperature)
        and _real(params.top_p)
        and (
            params.seed is None
            or (isinstance(params.seed, int) and not isinstance(params.seed, bool) and -(2**63) <= params.seed < 2**63)
        )
        and isinstance(params.stop, tuple)
        and all(isinstance(s, str) for s in params.stop)
    )
    if not ok:
        raise _bug(f"accepted generation settings of the wrong types: {params!r:.300}", shown)


def _is_prompt(value: object) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(
            isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value
        )
    )


def _step(name: str, calls: Sequence[MarkerCall], fn: Any) -> Any:
    """Run one check: its value, or None when it raised a ConfigError (a rejection)."""
    try:
        return fn()
    except ConfigError as exc:
        _check_message(str(exc), calls)
        return None
    except Exception as exc:
        raise _bug(f"{name} raised an exception that is not a ConfigError", calls, exc) from exc


def check_markers(calls: Sequence[MarkerCall]) -> Outcome:
    """The plugin's marker checks on a test carrying ``calls``: each accepts, or raises ConfigError.

    The checks are those pytest runs: ``validate_item`` at setup, the ``llmtrust`` settings resolved
    as the ``llmtrust_config`` fixture does, ``apply_report_only`` at collection; and each marker's own
    validator, whose accepted values must have the documented types.
    """
    item = FakeItem(calls)
    results = [
        _step("validate_item", calls, lambda: _done(markers.validate_item, item)),
        _step("apply_report_only", calls, lambda: _done(markers.apply_report_only, [item])),
    ]
    settings = _step("llmtrust settings", calls, lambda: resolve([("marker", markers.item_settings(item))]))
    if settings is not None:
        _check_params(settings.params, calls)
    results.append(settings)
    for call in calls:
        validate = {
            "trust": markers.trust_kwargs,
            "bias": markers.bias_kwargs,
            "prompts": markers.prompts_kwargs,
        }.get(call.name)
        if validate is None:
            continue
        accepted = _step(f"{call.name}()", calls, lambda v=validate, c=call: v(*c.args, **c.kwargs))
        results.append(accepted)
        if accepted is not None and call.name == "prompts":
            prompts, overrides = accepted
            if not all(_is_prompt(p) for p in prompts):
                raise _bug("prompts() accepted a prompt that is neither a string nor a message list", calls)
            params = _step("prompts() overrides", calls, lambda o=overrides: _replace(o))
            if params is None:
                raise _bug("prompts() accepted overrides that GenerationParams rejects", calls)
            _check_params(params, calls)
        if accepted is not None and call.name == "bias":
            if not all(isinstance(v, str) or (isinstance(v, tuple) and v) for v in accepted.values()):
                raise _bug(f"bias() accepted {accepted!r}", calls)
    return "accepted" if all(r is not None for r in results) else "rejected"


def _done(fn: Any, arg: object) -> bool:
    fn(arg)
    return True


def _replace(overrides: dict[str, Any]) -> GenerationParams:
    from pytest_llmtrust.backends.base import GenerationParams

    try:
        return GenerationParams().replace(**overrides)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


# ------------------------------------------------------------------------------------------- BBQ files


def check_bbq(folder: Path, case: BBQCase) -> Outcome:
    """``load_bbq`` on the generated file: items, or a SuiteError at its line (ConfigError only for bad arguments)."""
    path = folder.resolve() / "rows.jsonl"
    path.write_bytes(case.data)
    try:
        items = load_bbq(path, categories=case.categories, target_level=case.target_level, limit=case.limit)
    except SuiteError as exc:
        check_located(exc, {path: case.data}, case)
        return "rejected"
    except ConfigError as exc:
        if case.default_arguments:
            raise _bug(
                "load_bbq with default arguments raised a ConfigError, not a located SuiteError", case, exc
            ) from exc
        _check_message(str(exc), case)
        return "rejected"
    except Exception as exc:
        raise _bug("load_bbq raised an exception that is neither a SuiteError nor a ConfigError", case, exc) from exc
    for item in items:
        if not 1 <= item.line <= last_line(case.data) or not item.source.startswith(str(path)):
            raise _bug(f"an item located at {item.source}", case)
        if {item.unknown, item.stereotyped, item.anti} != {0, 1, 2} or item.label not in (0, 1, 2):
            raise _bug(f"an item with inconsistent roles: {item!r:.300}", case)
    return "accepted"
