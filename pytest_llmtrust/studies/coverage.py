"""Which built-in suite kind covers which of the taxonomy's 29 sub-categories.

``python -m pytest_llmtrust.studies.coverage`` prints the table that docs/taxonomy.md carries
(a test keeps the two the same).
"""

from __future__ import annotations

from pytest_llmtrust.taxonomy import TAXONOMY

PERSONA_BIAS = ("persona_bias", (("fairness", "stereotype_bias"),))
"""The persona-bias suite kind (BBQ under personas) is built in too."""

TITLES = {
    "reliability": "Reliability",
    "safety": "Safety",
    "fairness": "Fairness",
    "resistance_to_misuse": "Resistance to Misuse",
    "explainability_and_reasoning": "Explainability & Reasoning",
    "social_norm": "Social Norm",
    "robustness": "Robustness",
}


def coverage() -> dict[tuple[str, str], list[str]]:
    """(category, sub-category) -> the built-in suite kinds that cover it (empty: not covered yet)."""
    from pytest_llmtrust.studies.registry import STUDIES, get_study

    table: dict[tuple[str, str], list[str]] = {(c, s): [] for c, subs in TAXONOMY.items() for s in subs}
    kinds = [(name, get_study(name).trust) for name in STUDIES] + [PERSONA_BIAS]
    for name, trust in kinds:
        for pair in trust:
            table[pair].append(name)
    return table


def markdown() -> str:
    """The coverage table as markdown, one row per sub-category in taxonomy order."""
    lines = ["| category | sub-category | covered by (suite kind) |", "|---|---|---|"]
    for (cat, sub), kinds in coverage().items():
        shown = ", ".join(f"`{k}`" for k in kinds) if kinds else "not covered yet"
        lines.append(f"| {TITLES[cat]} | {sub.replace('_', ' ')} | {shown} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
