"""Result files of a persona-bias run: every number as JSON, and a persona × target TB heatmap as PNG.

``write_result_files(report, "results", "age")`` writes ``results/age.json`` and ``results/age.png``. Both
writes are atomic (a temporary file in the same folder, then ``os.replace``), so a reader never sees half a
file. matplotlib is imported only when a heatmap is drawn, and only its Agg canvas is used: pyplot and the
user's interactive backend are left alone.

JSON layout (``version`` 1): ``format``, ``version``, ``model``, ``mode``, ``scope``, ``default``, ``personas``,
``templates``, ``n_items``, ``unparsed``, ``rp``, ``cc``, ``tb_threshold``, ``bamt_threshold`` (for every
``shape``); ``headline`` (``pb``, ``tb``, ``bamt``, ``accuracy``, ``bs``:
means over templates on the report's scope, and ``shape``) and ``std`` (their population std over templates);
``tb_by_persona_target`` (the heatmap: the mean over templates, report's scope); ``by_template``, one
``{"template", "scopes"}`` per template, where ``scopes[scope]`` holds that result's ``n_items``, the five
metrics, ``shape``, ``<metric>_by_persona`` and the ``tb_by_persona_target`` / ``bamt_by_persona_target``
matrices; with ``include_answers``, ``answers[template][persona]``. NaN and infinity are written as ``null``.
Persona keys follow the report's order (default first); targets are sorted.
"""

from __future__ import annotations

import io
import json
import math
import textwrap
from pathlib import Path
from statistics import fmean, pstdev
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.atomic import atomic_write
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.persona.bbq_score import DEFAULT_BAMT_THRESHOLD, DEFAULT_TB_THRESHOLD, classify_shape
from pytest_llmtrust.persona.scoring import SCOPES

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping, Sequence

    from pytest_llmtrust.persona.bbq_score import PersonaBiasResult
    from pytest_llmtrust.persona.runner import PersonaBiasReport
    from pytest_llmtrust.persona.scoring import Scope

FORMAT = "pytest-llmtrust/persona-bias"
VERSION = 1
METRICS = ("pb", "tb", "bamt", "accuracy", "bs")
"""The scalar metrics of a result, in the order they are written."""


def _num(value: float) -> float | None:
    """``value`` as a float, or ``None`` when it is NaN or infinite."""
    number = float(value)
    return number if math.isfinite(number) else None


def _thresholds(report: PersonaBiasReport) -> dict[str, float]:
    """The report's shape thresholds (the defaults when it keeps none)."""
    pairs = (("tb_threshold", DEFAULT_TB_THRESHOLD), ("bamt_threshold", DEFAULT_BAMT_THRESHOLD))
    return {name: float(getattr(report, name, default)) for name, default in pairs}


def _shape(tb: float, bamt: float, thresholds: Mapping[str, float]) -> str | None:
    return classify_shape(tb, bamt, **thresholds) if math.isfinite(tb) and math.isfinite(bamt) else None


def _ordered(keys: Iterable[str], order: Sequence[str]) -> list[str]:
    """``keys`` in ``order``, then any others sorted."""
    present = set(keys)
    return [k for k in dict.fromkeys(order) if k in present] + sorted(present - set(order))


def _std(values: Sequence[float]) -> float | None:
    """Population std, as ``report.average()`` gives it, or ``None`` if a value is not finite (it would raise)."""
    return pstdev(values) if all(math.isfinite(v) for v in values) else None


def _mean_of(values: Iterable[float | None]) -> float:
    found = [v for v in values if v is not None]
    return fmean(found) if found else math.nan


def _by_persona(values: Mapping[str, float], order: Sequence[str]) -> dict[str, float | None]:
    return {p: _num(values[p]) for p in _ordered(values, order)}


def _matrix(values: Mapping[str, Mapping[str, float]], order: Sequence[str]) -> dict[str, dict[str, float | None]]:
    return {p: {t: _num(values[p][t]) for t in sorted(values[p])} for p in _ordered(values, order)}


def _result_dict(result: PersonaBiasResult, order: Sequence[str], thresholds: Mapping[str, float]) -> dict[str, Any]:
    return {
        "n_items": result.n_items,
        **{m: _num(getattr(result, m)) for m in METRICS},
        "shape": _shape(result.tb, result.bamt, thresholds),
        **{f"{m}_by_persona": _by_persona(getattr(result, f"{m}_by_persona"), order) for m in METRICS},
        "tb_by_persona_target": _matrix(result.tb_by_persona_target, order),
        "bamt_by_persona_target": _matrix(result.bamt_by_persona_target, order),
    }


def tb_matrix(
    report: PersonaBiasReport, scope: Scope | None = None, template: int | None = None
) -> tuple[list[str], list[str], list[list[float]]]:
    """The heatmap's data: personas (default first), targets (sorted) and ``TB_{p→t}`` per row and column.

    Args:
        report: The persona-bias report.
        scope: The scope to read (default: the report's).
        template: A template index, or ``None`` for the mean over templates (of those that have the cell).

    Returns:
        ``(personas, targets, values)``; a cell no template has is NaN.

    Raises:
        ConfigError: On an unknown scope or a template index out of range.
    """
    scope = scope or report.scope
    if scope not in SCOPES:
        raise ConfigError(f"unknown scope {scope!r}; scopes: {', '.join(SCOPES)}")
    if template is not None and not 0 <= template < len(report.by_template):
        raise ConfigError(f"template index {template} out of range: the report has {len(report.by_template)}")
    chosen = report.by_template if template is None else [report.by_template[template]]
    results = [t[scope] for t in chosen]
    rows = _ordered({p for r in results for p in r.tb_by_persona_target}, [results[0].default, *report.personas])
    cols = sorted({t for r in results for by_t in r.tb_by_persona_target.values() for t in by_t})
    return (
        rows,
        cols,
        [[_mean_of(r.tb_by_persona_target.get(p, {}).get(t) for r in results) for t in cols] for p in rows],
    )


def report_to_dict(report: PersonaBiasReport, *, include_answers: bool = False) -> dict[str, Any]:
    """A JSON-ready dict of everything ``report`` measured (layout: see the module docstring)."""
    first = report.result()
    order = [first.default, *report.personas]
    thresholds = _thresholds(report)
    rows, cols, values = tb_matrix(report)
    out: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model": report.model,
        "mode": report.mode,
        "scope": report.scope,
        "default": first.default,
        "personas": list(report.personas),
        "templates": list(report.templates),
        "n_items": report.n_items,
        "unparsed": report.unparsed,
        "rp": _num(first.rp),
        "cc": _num(first.cc),
        **{name: _num(value) for name, value in thresholds.items()},
        "headline": {
            **{m: _num(getattr(report, m)) for m in METRICS},
            "shape": _shape(report.tb, report.bamt, thresholds),
        },
        "std": {m: _std([getattr(t[report.scope], m) for t in report.by_template]) for m in METRICS},
        "tb_by_persona_target": {
            p: {t: _num(v) for t, v in zip(cols, row, strict=True)} for p, row in zip(rows, values, strict=True)
        },
        "by_template": [
            {
                "template": name,
                "scopes": {s: _result_dict(by_scope[s], order, thresholds) for s in SCOPES if s in by_scope},
            }
            for name, by_scope in zip(report.templates, report.by_template, strict=True)
        ],
    }
    if include_answers:
        answers: dict[str, dict[str, list[int | None]]] = {}
        for (template, persona), given in report.answers.items():
            answers.setdefault(template, {})[persona] = list(given)
        out["answers"] = {t: {p: by_p[p] for p in _ordered(by_p, order)} for t, by_p in answers.items()}
    return out


def write_json(report: PersonaBiasReport, path: str | os.PathLike[str], *, include_answers: bool = False) -> Path:
    """Write :func:`report_to_dict` to ``path`` as UTF-8 JSON (indent 2, trailing newline); returns the path."""
    text = json.dumps(
        report_to_dict(report, include_answers=include_answers), indent=2, ensure_ascii=False, allow_nan=False
    )
    return atomic_write(path, (text + "\n").encode("utf-8"))


def write_heatmap(
    report: PersonaBiasReport,
    path: str | os.PathLike[str],
    *,
    scope: Scope | None = None,
    template: int | None = None,
    title: str | None = None,
    rp: float | None = None,
) -> Path:
    """Draw ``TB_{p→t}`` as a persona (rows) × target (columns) heatmap PNG; returns the path.

    Args:
        report: The persona-bias report.
        path: Where to write the PNG.
        scope: The scope to draw (default: the report's).
        template: A template index, or ``None`` for the mean over templates.
        title: The title (default: model, mode, scope and template).
        rp: Half the colour range (default: the run's bound, ``max(rp, cc)``); the scale is centred on 0.

    Raises:
        ConfigError: If matplotlib is missing, or on a bad scope or template index.
    """
    try:
        import matplotlib
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        hint = "pip install matplotlib (a dependency of pytest-llmtrust: reinstall it, or pip install -e .)"
        raise ConfigError(f"write_heatmap needs matplotlib, which is not installed: {hint}") from exc
    rows, cols, values = tb_matrix(report, scope, template)
    scope = scope or report.scope
    first = report.result(scope, template or 0)
    finite = [abs(v) for row in values for v in row if math.isfinite(v)]
    limit = max([rp if rp is not None else max(first.rp, first.cc), *finite]) or 1.0
    rotate = len(cols) > 4 or any(len(t) > 8 for t in cols)
    row_labels = [textwrap.fill(p, 24) for p in rows]
    widest = max(len(line) for label in row_labels for line in label.splitlines())
    width = 3.2 + 0.08 * widest + 0.85 * max(len(cols), 2)
    height = 2.0 + 0.42 * sum(label.count("\n") + 1 for label in row_labels) + (0.7 if rotate else 0.0)
    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if cols:
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.8")
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(len(cols)), labels=[textwrap.fill(t, 18) for t in cols], fontsize=9)
        if rotate:
            ax.tick_params(axis="x", labelrotation=35)
            for label in ax.get_xticklabels():
                label.set(ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(rows)), labels=row_labels, fontsize=9)
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                dark = math.isfinite(v) and abs(v) > 0.6 * limit
                text = f"{v:.2f}" if math.isfinite(v) else "n/a"
                ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black")
        fig.colorbar(image, ax=ax, label="TB (p→t)")
        ax.set_xlabel("target t", fontsize=10)
        ax.set_ylabel("persona p", fontsize=10)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"no targets in scope {scope!r}", ha="center", va="center", fontsize=10)
    if title is None:
        n = len(report.templates)
        one = template if template is not None else 0 if n == 1 else None
        which = f"mean of {n} templates" if one is None else f"template {textwrap.shorten(report.templates[one], 30)}"
        title = f"TB (p→t): {report.model}\nmode {report.mode}, scope {scope}, {which}"
    ax.set_title(title, fontsize=10, wrap=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return atomic_write(path, buffer.getvalue())


def write_result_files(
    report: PersonaBiasReport, directory: str | os.PathLike[str], stem: str, *, include_answers: bool = False
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and the heatmap ``<stem>.png`` into ``directory`` (created if missing).

    Returns:
        The JSON path and the PNG path.

    Raises:
        ConfigError: If ``stem`` is empty or holds a path separator, or matplotlib is missing (the JSON is
            written first, so it is there even then).
    """
    if not stem or Path(stem).name != stem or stem in (".", ".."):
        raise ConfigError(f"stem must be a plain file name without extension, got {stem!r}")
    folder = Path(directory)
    json_path = write_json(report, folder / f"{stem}.json", include_answers=include_answers)
    return json_path, write_heatmap(report, folder / f"{stem}.png")
