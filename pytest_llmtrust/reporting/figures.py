"""The sections of the HTML report: pick each plot's data out of the results items and draw it."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from pytest_llmtrust.reporting.svg import (
    STEER,
    Interval,
    Item,
    Pair,
    esc,
    heatmap,
    rates_chart,
    shape_plot,
    steering_chart,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

PERSONA_LEAVES = frozenset({"pb", "tb", "bamt", "bs", "shape"})
_BRACKET = re.compile(r"^(?P<base>[^\[]+)\[(?P<inner>.*)\]$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def split_metric(name: str) -> tuple[str, str | None]:
    """``"tb[kid->old]"`` as ``("tb", "kid->old")``; an unbracketed name as ``(name, None)``."""
    match = _BRACKET.match(name)
    return (match["base"], match["inner"]) if match else (name, None)


def number(value: object) -> float | None:
    """``value`` as a finite float, or None for strings, booleans, None, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def group_of(item: Item) -> str:
    """The suite an item belongs to: its YAML suite, else its file."""
    return str(item.get("suite") or item.get("file") or "(unknown file)")


def _metrics(item: Item) -> list[Item]:
    return [m for m in item.get("metrics") or [] if isinstance(m, dict)]


def _leaf(base: str) -> str:
    return base.rsplit(".", 1)[-1]


def _unsteer(text: str) -> str:
    return re.sub(r"\+steer:[^\]\[\s,|]*", "", text)


def interval(label: str, m: Item) -> Interval | None:
    """A metric record as an :class:`Interval` (None when its value is not a number)."""
    value = number(m.get("value"))
    if value is None:
        return None
    found = _NUMBER.search(str(m.get("threshold") or ""))
    passed = m.get("passed")
    status = "pass" if passed is True else "fail" if passed is False else "ungated"
    threshold = float(found.group()) if found else None
    return Interval(label, value, number(m.get("ci_low")), number(m.get("ci_high")), threshold, status)


def rates_section(items: Sequence[Item]) -> str:
    """One dot-and-whisker chart per suite, of every rate in [0, 1] (with an interval, or named ``*rate``)."""
    groups: dict[str, list[Interval]] = {}
    for item in items:
        for m in _metrics(item):
            base, inner = split_metric(str(m.get("metric", "")))
            leaf, iv = _leaf(base), interval(f"{item.get('name', '')} · {m.get('metric', '')}", m)
            if iv is None or leaf in PERSONA_LEAVES or not 0.0 <= iv.value <= 1.0:
                continue
            rate = leaf.endswith("rate") or (inner is None and (leaf == "accuracy" or iv.low is not None))
            if rate and (inner is None or "->" not in inner):
                groups.setdefault(group_of(item), []).append(iv)
    return "".join(f"<h3>{esc(g)}</h3>{rates_chart(rows, f'rates of {g}')}" for g, rows in groups.items())


def _scoped(item: Item, scope: str | None) -> str:
    return str(item.get("name", "")) + (f" (scope {scope})" if scope else "")


def heatmap_section(items: Sequence[Item]) -> str:
    """A persona × target TB heatmap for every item (and scope) with ``tb[PERSONA->TARGET]`` records."""
    out = []
    for item in items:
        by_scope: dict[str | None, dict[tuple[str, str], float]] = {}
        for m in _metrics(item):
            base, inner = split_metric(str(m.get("metric", "")))
            value, scope = number(m.get("value")), m.get("scope")
            if _leaf(base) == "tb" and inner and "->" in inner and value is not None:
                persona, target = inner.split("->", 1)
                by_scope.setdefault(None if scope is None else str(scope), {})[(persona, target)] = value
        for scope, cells in by_scope.items():
            personas, targets = list(dict.fromkeys(p for p, _ in cells)), list(dict.fromkeys(t for _, t in cells))
            if len(personas) < 2:  # one gated cell (an item that checks tb[kid->old]) is no map
                continue
            title = _scoped(item, scope)
            out.append(f"<div><h3>{esc(title)}</h3>{heatmap(personas, targets, cells, f'TB of {title}')}</div>")
    return f'<div class="figs">{"".join(out)}</div>' if out else ""


def shape_section(items: Sequence[Item]) -> str:
    """A TB × BAmt scatter of the personas (and the headline) of every item with ``tb`` and ``bamt`` records."""
    out = []
    for item in items:
        found: dict[str | None, dict[str | None, dict[str, float]]] = {}
        shapes: dict[str | None, str] = {}
        for m in _metrics(item):
            base, inner = split_metric(str(m.get("metric", "")))
            value, scope = number(m.get("value")), None if m.get("scope") is None else str(m.get("scope"))
            if _leaf(base) == "shape" and inner is None:
                shapes[scope] = str(m.get("value"))
            if _leaf(base) in ("tb", "bamt") and value is not None and (inner is None or "->" not in inner):
                found.setdefault(scope, {}).setdefault(inner, {})[_leaf(base)] = value
        for scope, by_persona in found.items():
            head = by_persona.pop(None, {})
            points = [(str(p), d["tb"], d["bamt"]) for p, d in by_persona.items() if "tb" in d and "bamt" in d]
            headline = (head["tb"], head["bamt"]) if "tb" in head and "bamt" in head else None
            if points or headline:
                title = _scoped(item, scope) + (f" — shape {shapes[scope]}" if scope in shapes else "")
                out.append(f"<div><h3>{esc(title)}</h3>{shape_plot(points, headline, f'bias shape of {title}')}</div>")
    return f'<div class="figs">{"".join(out)}</div>' if out else ""


def _ab_pairs(item: Item) -> list[Pair]:
    metrics = _metrics(item)
    names = {str(m.get("metric", "")) for m in metrics}
    by_base: dict[str, list[Interval]] = {}
    for m in metrics:
        base, inner = split_metric(str(m.get("metric", "")))
        iv = None if inner is None else interval(inner, m)
        if iv is not None and "->" not in iv.label and (f"{base}_diff" in names or STEER in iv.label):
            by_base.setdefault(base, []).append(iv)
    p = next((number(m.get("value")) for m in metrics if m.get("metric") == "mcnemar_p"), None)
    note = "" if p is None else f" · McNemar p={p:.3g}"
    return [
        Pair(f"{item.get('name', '')} · {base}{note}", *sorted(ivs[:2], key=lambda iv: STEER in iv.label))
        for base, ivs in by_base.items()
        if len(ivs) >= 2
    ]


def steering_section(items: Sequence[Item]) -> str:
    """Paired bars for A/B items and for base/steered items of one suite and metric."""
    pairs: list[Pair] = []
    cross: dict[tuple[str, str], list[tuple[Item, Item]]] = {}
    for item in items:
        ab = _ab_pairs(item)
        pairs += ab
        for m in [] if ab else _metrics(item):
            if split_metric(str(m.get("metric", "")))[1] is None and number(m.get("value")) is not None:
                cross.setdefault((group_of(item), str(m.get("metric"))), []).append((item, m))
    for (_, metric), entries in cross.items():
        bases = [e for e in entries if STEER not in str(e[1].get("model", ""))]
        for item, m in entries:
            model = str(m.get("model", ""))
            if STEER not in model or not bases:
                continue
            node, plain = _unsteer(str(item.get("nodeid", ""))), _unsteer(model)
            _, bm = max(bases, key=lambda e: (str(e[0].get("nodeid")) == node, str(e[1].get("model")) == plain))
            base, steered = interval(str(bm.get("model", "")), bm), interval(model, m)
            if base is not None and steered is not None:
                pairs.append(Pair(f"{_unsteer(str(item.get('name', '')))} · {metric}", base, steered))
    return steering_chart(pairs, "base vs steered") if pairs else ""
