"""The taxonomy coverage table: generated from the study specs, and the same in docs/taxonomy.md."""

from __future__ import annotations

from pathlib import Path

from pytest_llmtrust.studies.coverage import coverage, markdown
from pytest_llmtrust.taxonomy import TAXONOMY

DOC = Path(__file__).resolve().parents[3] / "docs" / "taxonomy.md"


def test_every_subcategory_has_a_row() -> None:
    table = coverage()
    assert len(table) == 29 == sum(len(s) for s in TAXONOMY.values())
    assert table["reliability", "hallucination"] == ["hallucination"]
    assert table["fairness", "stereotype_bias"] == ["fairness", "persona_bias"]
    assert table["robustness", "prompt_attacks"] == ["typo"]
    assert table["social_norm", "toxicity"] == []


def test_docs_carry_the_generated_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index("<!-- coverage:start -->\n"), text.index("<!-- coverage:end -->")
    shown = text[start + len("<!-- coverage:start -->\n") : end].strip()
    assert shown == markdown(), "docs/taxonomy.md is stale: paste `python -m pytest_llmtrust.studies.coverage`"
    covered = sum(1 for kinds in coverage().values() if kinds)
    assert f"{covered} of 29 sub-categories are covered" in text
