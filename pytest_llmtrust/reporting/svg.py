"""Inline SVG plots for the HTML report (the sections that feed them are in :mod:`.figures`).

Plain strings, no plotting library, no script needed to render. Every text drawn is HTML-escaped here;
callers pass raw strings. Each plot is one ``<svg>`` with the class ``plot plot-KIND`` (``rates``,
``heatmap``, ``shape``, ``steering``); marks carry classes too (``point``, ``cell``, ``persona``,
``headline``, ``bar``) so tests and readers can find them.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

Item = dict[str, Any]
STEER = "+steer:"

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "ungated": "#6e7781", "base": "#4c72b0", "steered": "#dd8452"}
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Interval:
    """A value with an optional interval, labelled; ``status`` is ``pass``, ``fail`` or ``ungated``."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    threshold: float | None = None
    status: str = "ungated"


def esc(text: object) -> str:
    """``text`` as a string safe inside HTML or SVG text and attribute values."""
    return html.escape(str(text), quote=True)


def fmt(value: float) -> str:
    """A number as shown: three decimals; whole counts above 1 bare; tiny values (p-values) in 2 figures."""
    value = float(value)
    if value.is_integer() and abs(value) > 1:
        return f"{value:.0f}"
    if 0 < abs(value) < 0.01:
        return f"{value:.2g}"
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def clip(text: str, size: int) -> str:
    """``text`` cut to ``size`` characters in the middle (model ids differ at their ends)."""
    if len(text) <= size:
        return text
    head = (size - 1) // 2
    return text[:head] + "…" + text[len(text) - (size - 1 - head) :]


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{esc(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" {extra}/>'


def _svg(kind: str, width: float, height: float, body: Sequence[str], title: str) -> str:
    return (
        f'<svg class="plot plot-{kind}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{esc(title)}" {FONT}>'
        f'<rect class="bg" width="100%" height="100%" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )


def _axis(x0: float, x1: float, y: float, lo: float, hi: float, ticks: int = 5) -> list[str]:
    out = [_line(x0, y, x1, y, "#888")]
    for i in range(ticks + 1):
        x = x0 + (x1 - x0) * i / ticks
        out += [_line(x, y, x, y + 4, "#888"), _text(x, y + 15, f"{lo + (hi - lo) * i / ticks:g}", "middle")]
    return out


def _span(values: Sequence[float], lo: float = 0.0, hi: float = 1.0) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    return min([lo, *finite]), max([hi, *finite])


def rates_chart(rows: Sequence[Interval], title: str) -> str:
    """Dot-and-whisker chart: one row per rate, the CI as a whisker, the threshold as a tick mark."""
    label_w, plot_w, row_h, top = 400.0, 480.0, 22.0, 10.0
    lo, hi = _span([v for r in rows for v in (r.value, r.low, r.high, r.threshold) if v is not None])

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    body: list[str] = [_line(sx(g), top, sx(g), top + row_h * len(rows), "#eee") for g in (lo, (lo + hi) / 2, hi)]
    for i, r in enumerate(rows):
        y, colour = top + row_h * i + row_h / 2, COLOURS[r.status]
        label = clip(r.label, 64)
        body.append(f'<g class="row row-{r.status}"><title>{esc(r.label)}: {fmt(r.value)}</title>')
        body.append(_text(label_w - 8, y + 4, label, "end"))
        if r.low is not None and r.high is not None:
            body.append(_line(sx(r.low), y, sx(r.high), y, colour, 'stroke-width="2" class="whisker"'))
        if r.threshold is not None:
            t = sx(r.threshold)
            body.append(_line(t, y - 8, t, y + 8, "#222", 'stroke-width="2" class="threshold"'))
        body.append(f'<circle class="point" cx="{sx(r.value):.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        body.append(_text(label_w + plot_w + 8, y + 4, fmt(r.value)) + "</g>")
    body += _axis(label_w, label_w + plot_w, top + row_h * len(rows) + 4, lo, hi)
    return _svg("rates", label_w + plot_w + 60, top + row_h * len(rows) + 30, body, title)


def diverging(value: float, limit: float = 1.0) -> str:
    """Blue (negative) through white (0) to red (positive), saturating at ``±limit``."""
    t = max(-1.0, min(1.0, value / limit)) if math.isfinite(value) else 0.0
    far = (33, 102, 172) if t < 0 else (178, 24, 43)
    r, g, b = (round(255 + (c - 255) * abs(t)) for c in far)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(personas: Sequence[str], targets: Sequence[str], tb: Mapping[tuple[str, str], float], title: str) -> str:
    """Persona (rows) × target (columns) grid of signed TB, diverging colours centred at 0, with a legend."""
    left, top, cw, ch = 150.0, 46.0, 92.0, 28.0
    limit = max([1.0, *(abs(v) for v in tb.values() if math.isfinite(v))])
    body = [_text(left + cw * j + cw / 2, top - 8, t, "middle", 'font-weight="bold"') for j, t in enumerate(targets)]
    body.append(_text(left - 8, top - 8, "persona \\ target", "end", 'fill="#555"'))
    for i, p in enumerate(personas):
        y = top + ch * i
        body.append(_text(left - 8, y + ch / 2 + 4, p, "end"))
        for j, t in enumerate(targets):
            x, v = left + cw * j, tb.get((p, t))
            fill, label = ("#e5e5e5", "–") if v is None else (diverging(v, limit), fmt(v))
            ink = "#fff" if v is not None and abs(v) / limit > 0.6 else "#111"
            body.append(
                f'<g><title>{esc(p)} → {esc(t)}: TB {esc(label)}</title><rect class="cell" x="{x:.1f}" '
                f'y="{y:.1f}" width="{cw - 2:.1f}" height="{ch - 2:.1f}" fill="{fill}"/>'
                + _text(x + cw / 2 - 1, y + ch / 2 + 3, label, "middle", f'fill="{ink}"')
                + "</g>"
            )
    ly = top + ch * len(personas) + 18
    steps = 11
    for k in range(steps):
        v = -limit + 2 * limit * k / (steps - 1)
        body.append(
            f'<rect class="legend-swatch" x="{left + 18 * k:.1f}" y="{ly:.1f}" width="18" height="10" '
            f'fill="{diverging(v, limit)}"/>'
        )
    body.append(f'<rect x="{left:.1f}" y="{ly:.1f}" width="{18 * steps}" height="10" fill="none" stroke="#999"/>')
    body += [_text(left - 4, ly + 9, f"TB {-limit:g}", "end"), _text(left + 18 * steps + 4, ly + 9, f"+{limit:g}")]
    body.append(_text(left + 9 * steps, ly + 24, "0 = no bias toward the target", "middle", 'fill="#555"'))
    return _svg("heatmap", max(left + cw * len(targets) + 20, left + 18 * steps + 60), ly + 34, body, title)


def shape_plot(
    personas: Sequence[tuple[str, float, float]],
    headline: tuple[float, float] | None,
    title: str,
    tb_threshold: float = 0.1,
    bamt_threshold: float = 0.5,
) -> str:
    """TB (x, -1…1) × BAmt (y, 0…1) scatter of personas and the headline, with dashed shape thresholds."""
    x0, y0, w, h = 50.0, 14.0, 440.0, 260.0
    points = [(p, tb, bamt) for p, tb, bamt in personas if math.isfinite(tb) and math.isfinite(bamt)]
    ymax = max([1.0, *(b for _, _, b in points), *([headline[1]] if headline else [])])

    def sx(v: float) -> float:
        return x0 + (max(-1.0, min(1.0, v)) + 1) / 2 * w

    def sy(v: float) -> float:
        return y0 + h - max(0.0, v) / ymax * h

    dash = 'stroke-dasharray="5 4" class="threshold"'
    body = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#888"/>']
    body += [_line(sx(t), y0, sx(t), y0 + h, "#999", dash) for t in (-tb_threshold, tb_threshold)]
    body.append(_line(x0, sy(bamt_threshold), x0 + w, sy(bamt_threshold), "#999", dash))
    zone = 'fill="#aaa" font-style="italic"'
    body += [
        _text(sx(0), y0 + 12, "balanced", "middle", zone),
        _text(sx(0), y0 + h - 6, "ideal", "middle", zone),
        _text(x0 + w - 4, y0 + 12, "skewed-heavy", "end", zone),
        _text(x0 + w - 4, y0 + h - 6, "skewed", "end", zone),
    ]
    body += _axis(x0, x0 + w, y0 + h, -1.0, 1.0, 4)
    for i in range(3):
        body.append(_text(x0 - 6, sy(ymax * i / 2) + 4, f"{ymax * i / 2:g}", "end"))
    body.append(_text(x0 + w / 2, y0 + h + 30, "TB (signed target bias)", "middle"))
    body.append(_text(12, y0 + h / 2, "BAmt", "middle", f'transform="rotate(-90 12 {y0 + h / 2:.1f})"'))
    for p, tb, bamt in points:
        cx, cy = sx(tb), sy(bamt)
        body.append(
            f'<g><title>{esc(p)}: TB {fmt(tb)}, BAmt {fmt(bamt)}</title><circle class="persona" '
            f'cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{COLOURS["base"]}" fill-opacity="0.8"/>'
            + _text(cx + 7, cy - 5, p)
            + "</g>"
        )
    if headline is not None and all(math.isfinite(v) for v in headline):
        cx, cy = sx(headline[0]), sy(headline[1])
        body.append(
            f"<g><title>headline: TB {fmt(headline[0])}, BAmt {fmt(headline[1])}</title>"
            f'<rect class="headline" x="{cx - 6:.1f}" y="{cy - 6:.1f}" width="12" height="12" '
            f'fill="{COLOURS["fail"]}" transform="rotate(45 {cx:.1f} {cy:.1f})"/>'
            + _text(cx + 9, cy + 14, "headline", extra='font-weight="bold"')
            + "</g>"
        )
    return _svg("shape", x0 + w + 80, y0 + h + 40, body, title)


@dataclass(frozen=True)
class Pair:
    """A base and a steered measurement of one metric."""

    label: str
    base: Interval
    steered: Interval


def steering_chart(pairs: Sequence[Pair], title: str) -> str:
    """Paired horizontal bars, base (or A) above steered (or B), with interval whiskers where known."""
    label_w, plot_w, bar_h, gap = 330.0, 480.0, 16.0, 14.0
    values = [v for p in pairs for iv in (p.base, p.steered) for v in (iv.value, iv.low, iv.high) if v is not None]
    lo, hi = _span(values)

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    body: list[str] = []
    block = 2 * bar_h + gap + 16
    for i, pair in enumerate(pairs):
        y = 8 + block * i
        body.append(_text(8, y + 10, pair.label, extra='font-weight="bold"'))
        steered = STEER in pair.steered.label  # an A/B run of two unsteered models: A and B
        for j, (role, iv) in enumerate((("base", pair.base), ("steered", pair.steered))):
            by = y + 16 + j * bar_h
            x_a, x_b = sorted((sx(max(lo, 0.0)), sx(iv.value)))
            shown = role if steered else "AB"[j]
            body.append(_text(label_w - 8, by + bar_h / 2 + 3, f"{shown}: {clip(iv.label, 42)}", "end"))
            body.append(
                f'<g><title>{esc(iv.label)}: {fmt(iv.value)}</title><rect class="bar {role}" x="{x_a:.1f}" '
                f'y="{by:.1f}" width="{max(1.0, x_b - x_a):.1f}" height="{bar_h - 3:.1f}" '
                f'fill="{COLOURS[role]}"/></g>'
            )
            if iv.low is not None and iv.high is not None:
                body.append(
                    _line(
                        sx(iv.low),
                        by + bar_h / 2 - 1,
                        sx(iv.high),
                        by + bar_h / 2 - 1,
                        "#222",
                        'stroke-width="1.5" class="whisker"',
                    )
                )
            body.append(_text(label_w + plot_w + 8, by + bar_h / 2 + 3, fmt(iv.value)))
    body += _axis(label_w, label_w + plot_w, 8 + block * len(pairs), lo, hi)
    return _svg("steering", label_w + plot_w + 60, 8 + block * len(pairs) + 26, body, title)
