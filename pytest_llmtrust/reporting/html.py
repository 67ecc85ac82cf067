"""The self-contained HTML report of a results document (format ``pytest-llmtrust/results``, version 1).

One file, no network: inline CSS, inline SVG plots (:mod:`.svg`), a few lines of optional script to
filter the item table. Every string from the document is HTML-escaped. The plots, and picking their
data out of the items, are in :mod:`pytest_llmtrust.reporting.svg`; this module lays out the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_llmtrust.atomic import atomic_write
from pytest_llmtrust.reporting import figures
from pytest_llmtrust.reporting.svg import esc, fmt

if TYPE_CHECKING:
    from pathlib import Path

FORMAT, VERSION = "pytest-llmtrust/results", 1
COUNTS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed", "report_only", "regressions")
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "report-only")
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1240px;padding:16px 24px;color:#1f2328}
h1{font-size:22px;margin:4px 0}h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
h3{font-size:15px;margin:16px 0 6px}nav a{margin-right:12px}.muted,small{color:#57606a}.empty{color:#57606a}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;margin:1px 2px;font-size:12px;background:#eaeef2}
.passed{background:#dafbe1;color:#116329}.failed,.error,.errors,.regressions{background:#ffebe9;color:#a40e26}
.skipped{background:#eaeef2}.xfailed,.xpassed,.report-only,.report_only{background:#fff8c5;color:#7d4e00}
table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #d0d7de;padding:5px 6px;vertical-align:top;
text-align:left}th{background:#f6f8fa}pre{white-space:pre-wrap;word-break:break-word;max-height:16em;overflow:auto;
background:#f6f8fa;padding:6px;margin:4px 0}ul{margin:2px 0;padding-left:18px}.ok{color:#1a7f37}.bad{color:#cf222e}
svg.plot{display:block;max-width:100%;height:auto;margin:6px 0 14px}.figs{display:flex;flex-wrap:wrap;gap:18px}
"""
SCRIPT = """
const q=document.getElementById('filter'),o=document.getElementById('only');
function apply(){const t=q.value.toLowerCase(),w=o.value;for(const r of document.querySelectorAll('#items tbody tr')){
r.hidden=!(r.textContent.toLowerCase().includes(t)&&(!w||r.dataset.outcome===w||(w==='report-only'&&r.dataset.ro)));}}
q.addEventListener('input',apply);o.addEventListener('change',apply);
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def render_html(document: dict[str, Any]) -> str:
    """Render a results document as one self-contained HTML page.

    Args:
        document: The results document (``format`` ``pytest-llmtrust/results``, ``version`` 1).

    Returns:
        The page: header, rates per suite, persona heatmaps, shape plots, base vs steered, item table.

    Raises:
        ValueError: The document is not a version-1 results document.
    """
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise ValueError(
            f"not a {FORMAT} version {VERSION} document (format={document.get('format')!r}, "
            f"version={document.get('version')!r}); write it with this version of pytest-llmtrust"
        )
    items: list[dict[str, Any]] = [i for i in document.get("items") or [] if isinstance(i, dict)]
    sections = [
        ("rates", "Rates with intervals", figures.rates_section(items), "No rate metrics in this run."),
        ("heatmaps", "Persona × target bias (TB)", figures.heatmap_section(items), "No persona × target records."),
        ("shapes", "Bias shape (TB × BAmt)", figures.shape_section(items), "No persona-bias items."),
        ("steering", "Base vs steered", figures.steering_section(items), "No base/steered comparisons."),
    ]
    nav = "".join(f'<a href="#{key}">{title}</a>' for key, title, _, _ in [*sections, ("items", "Items", "", "")])
    body = [_header(document), f"<nav>{nav}</nav>"]
    for key, title, html, empty in sections:
        body.append(f'<section id="{key}"><h2>{title}</h2>{html or f"<p class=empty>{empty}</p>"}</section>')
    body.append(_table(items))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pytest-llmtrust report {esc(document.get('created') or '')}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n"
    )


def write_html(document: dict[str, Any], path: Path) -> None:
    """Render ``document`` and write it to ``path`` atomically (UTF-8), creating its folder.

    Args:
        document: The results document.
        path: Where the page goes, e.g. ``llmtrust-results/report.html``.
    """
    atomic_write(path, render_html(document).encode("utf-8"))


def _header(document: dict[str, Any]) -> str:
    found = document.get("summary")
    summary: dict[str, Any] = found if isinstance(found, dict) else {}
    counts = "".join(
        f'<span class="badge {key if summary.get(key) else "none"}">{esc(key.replace("_", "-"))}: '
        f"{esc(summary.get(key, 0))}</span>"
        for key in COUNTS
    )
    seconds = summary.get("seconds")
    took = f" in {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
    models = "".join(
        f"<li><code>{esc(m.get('spec', ''))}</code> → {esc(m.get('model_id', ''))} "
        f"<small>({_seconds(m.get('seconds'))})</small></li>"
        for m in document.get("models") or []
        if isinstance(m, dict)
    )
    baseline = document.get("baseline")
    base = (
        f"<code>{esc(baseline.get('path', ''))}</code> (alpha {esc(baseline.get('alpha', ''))})"
        if isinstance(baseline, dict)
        else "none"
    )
    return (
        f'<header id="summary"><h1>pytest-llmtrust report</h1><p class="muted">{esc(document.get("created", ""))}'
        f" · {esc(summary.get('items', 0))} items{esc(took)}</p><p>{counts}</p>"
        f"<p><b>Models loaded:</b></p><ul>{models or '<li>none</li>'}</ul>"
        f"<p><b>Cache:</b> {esc(document.get('cache') or 'not used')}</p><p><b>Baseline:</b> {base}</p></header>"
    )


def _seconds(value: object) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else "-"


CONTEXT = ("model", "judge", "scope", "mode", "samples")


def _common(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """The context fields (model, judge, ...) every metric of an item shares: shown once, by the test name."""
    first = metrics[0] if metrics else {}
    return {k: first[k] for k in CONTEXT if first.get(k) is not None and all(m.get(k) == first[k] for m in metrics)}


def _shown(value: object) -> str:
    """A value for the table: numbers via :func:`fmt`, None as a dash, anything else as text."""
    found = figures.number(value)
    return fmt(found) if found is not None else "–" if value is None else str(value)


def _metric_line(m: dict[str, Any], common: dict[str, Any]) -> str:
    parts = [f"<b>{esc(m.get('metric', ''))}</b> = {esc(_shown(m.get('value')))}"]
    low, high = figures.number(m.get("ci_low")), figures.number(m.get("ci_high"))
    if low is not None and high is not None:
        parts.append(f"[{fmt(low)}, {fmt(high)}]")
    if m.get("k") is not None and m.get("n") is not None:
        parts.append(f"({esc(m['k'])}/{esc(m['n'])})")
    elif m.get("n") is not None:
        parts.append(f"(n={esc(m['n'])})")
    if m.get("unparsed"):
        parts.append(f"<small>unparsed {esc(m['unparsed'])}</small>")
    if m.get("threshold"):
        passed = m.get("passed")
        mark = "" if passed is None else '<span class="ok">✓</span>' if passed else '<span class="bad">✗</span>'
        parts.append(f"threshold {esc(m['threshold'])} <small>({esc(m.get('gate') or 'point')})</small> {mark}")
    extra = ", ".join(f"{k} {m[k]}" for k in CONTEXT if m.get(k) is not None and k not in common)
    return " ".join(parts) + (f"<br><small>{esc(extra)}</small>" if extra else "")


def _examples(m: dict[str, Any]) -> str:
    examples = [e for e in m.get("examples") or [] if isinstance(e, dict)]
    if not examples:
        return ""
    shown = "".join(
        f"<li><small>verdict {esc(e.get('verdict', ''))}{'' if e.get('hit') is None else esc(', hit ' + str(e['hit']))}"
        f"</small><pre>{esc(e.get('prompt', ''))}</pre><pre>{esc(e.get('response', ''))}</pre></li>"
        for e in examples
    )
    return f"<details><summary>{esc(m.get('metric', ''))}: {len(examples)} examples</summary><ul>{shown}</ul></details>"


def _regressions(item: dict[str, Any]) -> str:
    out = []
    for r in item.get("regressions") or []:
        if not isinstance(r, dict):
            continue
        p = figures.number(r.get("p_value"))
        flipped = [str(f) for f in r.get("flipped") or []]
        count = r["flipped_count"] if isinstance(r.get("flipped_count"), int) else len(flipped)
        more = count - len(flipped)
        listed = "".join(f"<li>{esc(f)}</li>" for f in flipped) + (f"<li>… {more} more</li>" if more > 0 else "")
        test = f" <small>{esc(r['test'])}</small>" if r.get("test") else ""
        out.append(
            f'<div class="regression"><b>{esc(r.get("metric", ""))}</b>: {esc(_shown(r.get("baseline")))} → '
            f"{esc(_shown(r.get('current')))}{'' if p is None else f' (p={p:.3g})'}{test}"
            f"<br><small>{count} flipped</small><ul>{listed}</ul></div>"
        )
    return "".join(out)


def _message(text: object) -> str:
    """The failure text: short ones as they are, long ones (tracebacks) folded under their last ``E`` line."""
    if not text:
        return ""
    lines = [line for line in str(text).splitlines() if line.strip()]
    if len(lines) <= 3 and len(str(text)) <= 300:
        return f"<pre>{esc(text)}</pre>"
    errors = [line for line in lines if line.startswith("E ")]
    head = (errors or lines or [""])[-1].removeprefix("E ").strip()
    head = head if len(head) <= 120 else head[:119] + "…"
    return f"<details><summary>{esc(head)}</summary><pre>{esc(text)}</pre></details>"


def _is_detail(name: str) -> bool:
    """Per-persona and per-target records (``tb[kid]``, ``bamt[kid->old]``): folded away in the table."""
    base, inner = figures.split_metric(name)
    return inner is not None and base.rsplit(".", 1)[-1] in (*figures.PERSONA_LEAVES, "accuracy")


def _row(item: dict[str, Any]) -> str:
    metrics = [m for m in item.get("metrics") or [] if isinstance(m, dict)]
    common = _common(metrics)
    detail = [m for m in metrics if not m.get("threshold") and _is_detail(str(m.get("metric", "")))]
    lines = "".join(f"<li>{_metric_line(m, common)}</li>" for m in metrics if m not in detail)
    if detail:
        more = "".join(f"<li>{_metric_line(m, common)}</li>" for m in detail)
        lines += f"<li><details><summary>{len(detail)} detail metrics</summary><ul>{more}</ul></details></li>"
    context = "".join(f"<br><small>{k} {esc(v)}</small>" for k, v in common.items())
    outcome = str(item.get("outcome", ""))
    badges = f'<span class="badge {esc(outcome)}">{esc(outcome)}</span>'
    if item.get("report_only"):
        badges += '<span class="badge report-only">report-only</span>'
    message = _message(item.get("message"))
    trust = ", ".join(
        f"{t.get('category', '')}{'/' + t['subcategory'] if t.get('subcategory') else ''}"
        for t in item.get("trust") or []
        if isinstance(t, dict)
    )
    return (
        f'<tr data-outcome="{esc(outcome)}"{" data-ro=1" if item.get("report_only") else ""}>'
        f"<td><b>{esc(item.get('name', ''))}</b><br><small>{esc(item.get('nodeid', ''))}</small><br>"
        f"<small>{esc(figures.group_of(item))} · {esc(item.get('kind', ''))}{esc(' · ' + trust if trust else '')}"
        f" · {esc(_seconds(item.get('seconds')))}</small>{context}</td><td>{badges}{message}</td>"
        f"<td><ul>{lines}</ul></td><td>{_regressions(item)}</td>"
        f"<td>{''.join(_examples(m) for m in metrics)}</td></tr>"
    )


def _table(items: list[dict[str, Any]]) -> str:
    options = "".join(f"<option>{o}</option>" for o in OUTCOMES)
    rows = "".join(_row(i) for i in items) or '<tr><td colspan="5" class="empty">No items in this run.</td></tr>'
    return (
        '<section id="items"><h2>Items</h2><p><input id="filter" placeholder="filter text"> '
        f'<select id="only"><option value="">all outcomes</option>{options}</select></p>'
        '<table id="items-table"><thead><tr><th>Test</th><th>Outcome</th><th>Metrics</th><th>Regressions</th>'
        f"<th>Examples</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
