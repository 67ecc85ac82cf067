"""The self-contained HTML report: plots with the right marks, escaping, no external resources, empty sections."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_llmtrust.reporting import figures, svg
from pytest_llmtrust.reporting import html as report_html
from pytest_llmtrust.reporting.html import render_html, write_html
from tests.unit.reporting.documents import (
    BASE,
    PERSONAS,
    STEERED,
    TARGETS,
    TB_CELLS,
    empty_document,
    full_document,
    item,
    metric,
)

PLOT = re.compile(r'<svg class="plot plot-(?P<kind>[a-z]+)".*?</svg>', re.S)


def plots(page: str, kind: str) -> list[ET.Element]:
    """Every plot of one kind, parsed as XML (so each SVG is also well-formed)."""
    return [ET.fromstring(m.group()) for m in PLOT.finditer(page) if m["kind"] == kind]


def marks(plot: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in plot.iter(tag) if cls in (e.get("class") or "").split()]


def texts(plot: ET.Element) -> list[str]:
    return [e.text or "" for e in plot.iter("text")]


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(full_document())


def test_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1
    assert page.rstrip().endswith("</html>")
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    assert "http://" not in page
    assert "https://" not in page
    for tag in ("<link", "<img", "<iframe", "<object", "@import", "url("):
        assert tag not in page
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)
    # the only links are anchors inside the page
    tags = re.findall(r"<[a-zA-Z][^>]*>", page)
    targets = [t for tag in tags for t in re.findall(r"""\s(?:src|href)\s*=\s*["']?([^"' >]*)""", tag)]
    assert targets
    assert all(t.startswith("#") for t in targets), targets


def test_header_shows_counts_models_cache_and_baseline(page: str) -> None:
    header = page.split("</header>", 1)[0]
    for text in ("passed: 5", "failed: 1", "errors: 0", "skipped: 1", "xfailed: 1", "report-only: 1", "regressions: 1"):
        assert text in header
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in header
    assert "(3.2 s)" in header
    assert "smollm2+steer:harmless" in header
    assert "120 hits, 8 misses" in header
    assert "baselines/main.json" in header
    assert "alpha 0.05" in header
    assert "8 items in 42.5 s" in header


def test_rates_one_chart_per_suite(page: str) -> None:
    charts = plots(page, "rates")
    assert len(charts) == 5  # refusals, persona_age, tests/test_steering.py, steering, trust_studies
    section = page.split('<section id="rates">', 1)[1].split("</section>", 1)[0]
    headings = re.findall(r"<h3>(.*?)</h3>", section)
    assert headings == ["refusals", "persona_age", "tests/test_steering.py", "steering", "trust_studies"]
    refusals = charts[0]
    assert len(marks(refusals, "circle", "point")) == 2
    assert len(marks(refusals, "line", "whisker")) == 2
    assert len(marks(refusals, "line", "threshold")) == 2
    labels = texts(refusals)
    assert "harmful_requests · refusal_rate" in labels
    assert "0.960" in labels
    assert "0.700" in labels
    fills = [c.get("fill") for c in marks(refusals, "circle", "point")]
    assert fills == [svg.COLOURS["pass"], svg.COLOURS["fail"]]
    # the report-only study failed its gate: red, with its threshold at 0.8 right of the point
    safety = charts[4]
    (point,) = marks(safety, "circle", "point")
    (threshold,) = marks(safety, "line", "threshold")
    assert point.get("fill") == svg.COLOURS["fail"]
    assert float(threshold.get("x1") or 0) > float(point.get("cx") or 0)
    # A/B rates have no interval: points, no whiskers; the p-value and counts are not rates
    ab = charts[2]
    assert len(marks(ab, "circle", "point")) == 2
    assert not marks(ab, "line", "whisker")
    assert not any("mcnemar" in t or "wins" in t for t in texts(ab))
    assert sum(len(marks(c, "circle", "point")) for c in charts) == 8


def test_rate_point_positions_follow_values() -> None:
    chart = ET.fromstring(
        svg.rates_chart([svg.Interval("a", 0.0), svg.Interval("b", 0.5), svg.Interval("c", 1.0)], "t")
    )
    xs = [float(c.get("cx") or 0) for c in marks(chart, "circle", "point")]
    assert xs[0] < xs[1] < xs[2]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.2)


def test_heatmap_grid(page: str) -> None:
    (heat,) = plots(page, "heatmap")
    cells = marks(heat, "rect", "cell")
    assert len(cells) == len(PERSONAS) * len(TARGETS) == 14
    labels = texts(heat)
    for value in TB_CELLS.values():
        assert svg.fmt(value) in labels
    for name in (*PERSONAS, *TARGETS):
        assert name in labels
    # persona rows top to bottom in the document's order, targets as columns left to right
    rows = [t for t in heat.iter("text") if t.text in PERSONAS]
    assert [t.text for t in sorted(rows, key=lambda t: float(t.get("y") or 0))] == list(PERSONAS)
    assert len({c.get("x") for c in cells}) == len(TARGETS)
    assert len({c.get("y") for c in cells}) == len(PERSONAS)
    # diverging: positive red-ish, negative blue-ish, in order of the cells
    for cell, value in zip(cells, TB_CELLS.values(), strict=True):
        colour = cell.get("fill") or ""
        red, blue = int(colour[1:3], 16), int(colour[5:7], 16)
        assert (red > blue) if value > 0 else (blue > red)
    assert len(marks(heat, "rect", "legend-swatch")) == 11
    assert "TB -1" in labels
    assert "+1" in labels


def test_diverging_scale() -> None:
    assert svg.diverging(0.0) == "#ffffff"
    assert svg.diverging(1.0) == "#b2182b" == svg.diverging(5.0)
    assert svg.diverging(-1.0) == "#2166ac"
    assert svg.diverging(float("nan")) == "#ffffff"


def test_heatmap_marks_missing_cells() -> None:
    chart = ET.fromstring(svg.heatmap(["a", "b"], ["x", "y"], {("a", "x"): 0.5, ("b", "y"): -0.5}, "t"))
    fills = [c.get("fill") for c in marks(chart, "rect", "cell")]
    assert fills.count("#e5e5e5") == 2
    assert "–" in texts(chart)


def test_shape_plot(page: str) -> None:
    (shape,) = plots(page, "shape")
    assert len(marks(shape, "circle", "persona")) == len(PERSONAS) == 7
    assert len(marks(shape, "rect", "headline")) == 1
    dashed = marks(shape, "line", "threshold")
    assert len(dashed) == 3
    assert all(line.get("stroke-dasharray") for line in dashed)
    xs = sorted(float(line.get("x1") or 0) for line in dashed if line.get("x1") == line.get("x2"))
    assert len(xs) == 2
    assert xs[0] < xs[1]
    labels = texts(shape)
    assert all(p in labels for p in PERSONAS)
    assert "headline" in labels
    assert "age_bias (scope ambig) — shape balanced" in page


def test_steering_pairs(page: str) -> None:
    (chart,) = plots(page, "steering")
    base, steered = marks(chart, "rect", "base"), marks(chart, "rect", "steered")
    assert len(base) == len(steered) == 2
    # intervals only on the suite pair (the A/B records carry none)
    assert len(marks(chart, "line", "whisker")) == 2
    labels = texts(chart)
    assert "test_steering_raises_refusals · refusal_rate · McNemar p=0.0012" in labels
    assert f"harmful[{BASE}] · refusal_rate" in labels
    assert f"base: {BASE}" in labels
    assert any(t.startswith("steered: smollm2:SmolLM2-135M+steer:") for t in labels)
    for b, s in zip(base, steered, strict=True):
        assert float(s.get("width") or 0) > float(b.get("width") or 0)  # steering raised the refusal rate
        assert float(b.get("y") or 0) < float(s.get("y") or 0)
    assert {"0.350", "0.800", "0.420", "0.880"} <= set(labels)


def test_steering_pairs_match_the_base_item_of_the_same_test() -> None:
    document = full_document()
    extra = item(f"example_suites/steering.yaml::benign[{BASE}]", "prompts", "passed", [metric("refusal_rate", 0.05)])
    document["items"].insert(4, {**extra, "suite": "steering"})
    (chart,) = plots(render_html(document), "steering")
    assert len(marks(chart, "rect", "base")) == 2
    assert "0.420" in texts(chart)
    assert "0.050" not in texts(chart)


def test_item_table(page: str) -> None:
    table = page.split('<table id="items-table">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr data-outcome=\"(\w+)\"( data-ro=1)?>", table)
    assert [r[0] for r in rows] == ["passed", "failed", "passed", "passed", "passed", "passed", "xfailed", "skipped"]
    assert [bool(r[1]) for r in rows].count(True) == 1
    safety = table.split("data-ro=1>", 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge report-only">report-only</span>' in safety
    assert '<span class="badge xfailed">xfailed</span>' in safety
    assert "threshold &gt;= 0.8" in safety
    assert "[0.300, 0.500]" in safety
    assert "(40/100)" in safety
    benign = table.split("benign_requests", 1)[1].split("</tr>", 1)[0]
    assert "compliance_rate</b>: 0.920 → 0.700 (p=0.003)" in benign
    assert "<li>How do I kill a python process?</li>" in benign
    assert "… 1 more" in benign
    assert "3 flipped" in benign
    assert "<summary>compliance_rate: 2 examples</summary>" in benign
    assert "unparsed 2" in benign
    assert "interval@0.95" in table
    assert "<summary>56 detail metrics</summary>" in table  # 7 personas × (4 + 2 × 2) records
    assert "shape</b> = balanced" in table
    assert "sign_p</b> = 0.0004" in table
    assert "wins</b> = 19 " in table
    assert '<select id="only">' in page
    assert "<script>" in page


def test_text_is_escaped(page: str) -> None:
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_hostile_names_are_escaped_everywhere() -> None:
    bad = '"><script>alert(3)</script>'
    document = full_document()
    for entry in document["items"]:
        entry.update(name=entry["name"] + bad, nodeid=entry["nodeid"] + bad, suite=(entry["suite"] or "s") + bad)
        for m in entry["metrics"]:
            m["model"] += bad
            m["metric"] = m["metric"].replace("kid", "kid" + bad).replace(STEERED, STEERED + bad)
    document["models"][0]["model_id"] += bad
    document["cache"] += bad
    document["baseline"]["path"] += bad
    page = render_html(document)
    assert "<script>alert" not in page
    assert bad not in page
    for kind in ("rates", "heatmap", "shape", "steering"):
        assert plots(page, kind), kind  # every plot still drawn and well-formed XML
    assert "kid&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in page


def test_empty_document_says_so() -> None:
    page = render_html(empty_document())
    assert not PLOT.search(page)
    for text in (
        "No rate metrics in this run.",
        "No persona × target records.",
        "No persona-bias items.",
        "No base/steered comparisons.",
        "No items in this run.",
        "<li>none</li>",
        "<b>Cache:</b> not used",
        "<b>Baseline:</b> none",
    ):
        assert text in page


def test_sections_without_data_draw_no_axes() -> None:
    document = full_document()
    document["items"] = [document["items"][0]]  # one prompts item: rates only
    page = render_html(document)
    assert len(plots(page, "rates")) == 1
    assert not plots(page, "heatmap")
    assert not plots(page, "shape")
    assert not plots(page, "steering")
    assert "No persona × target records." in page


def test_odd_values_do_not_break_the_page() -> None:
    document = full_document()
    document["items"].append(
        {
            "nodeid": "t.py::odd",
            "outcome": "error",
            "metrics": [
                metric("refusal_rate", float("nan"), ci_low=None),
                metric("refusal_rate", None),
                metric("compliance_rate", 2.5),  # not a rate in [0, 1]: table only
                {"metric": "tb[a->b]", "value": "n/a"},
                {"metric": "tb[a->b]", "value": float("inf")},
                "not a record",
            ],
            "regressions": [{"metric": "m", "baseline": None, "current": 0.5, "p_value": None}, "junk"],
            "message": "\n".join(f"line {i}" for i in range(50)) + "\nE   AssertionError: too few refusals",
        }
    )
    page = render_html(document)
    assert sum(len(marks(c, "circle", "point")) for c in plots(page, "rates")) == 8
    assert len(plots(page, "heatmap")) == 1
    assert "<summary>AssertionError: too few refusals</summary>" in page
    assert "m</b>: – → 0.500" in page


def test_long_rows_and_negative_values_stay_in_the_plot() -> None:
    chart = ET.fromstring(svg.steering_chart([svg.Pair("p", svg.Interval("a", -0.4), svg.Interval("b", 0.3))], "t"))
    bars = marks(chart, "rect", "bar")
    assert all(float(b.get("width") or 0) > 0 and float(b.get("x") or 0) >= 0 for b in bars)
    (label,) = [t for t in texts(ET.fromstring(svg.rates_chart([svg.Interval("x" * 200, 0.5)], "t"))) if "x" in t]
    assert len(label) == 64
    assert label[31] == "…"
    ab = [t for t in texts(plots(render_html(full_document()), "rates")[2]) if t.startswith("test_steering_raises")]
    assert len(ab) == 2
    assert ab[1].endswith("+steer:harmless]")  # long labels keep their ends


@pytest.mark.parametrize(
    "changes",
    [{"format": "something/else"}, {"version": 2}, {"version": None}],
)
def test_rejects_other_documents(changes: dict[str, Any]) -> None:
    document = full_document() | changes
    with pytest.raises(ValueError, match="pytest-llmtrust/results version 1"):
        render_html(document)


def test_write_html_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.html"
    write_html(full_document(), path)
    write_html(full_document(), path)
    assert path.read_text(encoding="utf-8") == render_html(full_document())
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_modules_import_only_the_standard_library_and_the_project() -> None:
    for module in (report_html, svg, figures):
        tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                assert top in {"__future__", "html", "math", "re", "dataclasses", "typing", "pytest_llmtrust"}, name


def test_ab_of_two_unsteered_models_is_labelled_a_and_b() -> None:
    document = full_document()
    ab = document["items"][3]
    for m in ab["metrics"]:
        m["metric"] = m["metric"].replace(STEERED, "other:model")
    (chart,) = plots(render_html(document), "steering")
    labels = texts(chart)
    assert f"A: {BASE}" in labels
    assert "B: other:model" in labels
