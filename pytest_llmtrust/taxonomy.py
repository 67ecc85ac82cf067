"""The Trustworthy-LLM taxonomy: 7 categories and 29 sub-categories.

Names are matched loosely ("Unlawful Conduct", "unlawful-conduct" and
``unlawful_conduct`` are the same) and stored as snake_case slugs.
"""

from __future__ import annotations

import re

from pytest_llmtrust.errors import ConfigError, did_you_mean

TAXONOMY: dict[str, tuple[str, ...]] = {
    "reliability": ("misinformation", "hallucination", "inconsistency", "miscalibration", "sycophancy"),
    "safety": (
        "violence",
        "unlawful_conduct",
        "harms_to_minors",
        "adult_content",
        "mental_health_issues",
        "privacy_violation",
    ),
    "fairness": ("injustice", "stereotype_bias", "preference_bias", "disparate_performance"),
    "resistance_to_misuse": (
        "propagandistic_misuse",
        "cyberattack_misuse",
        "social_engineering_misuse",
        "leaking_copyrighted_content",
    ),
    "explainability_and_reasoning": (
        "lack_of_interpretability",
        "limited_logical_reasoning",
        "limited_causal_reasoning",
    ),
    "social_norm": ("toxicity", "unawareness_of_emotions", "cultural_insensitivity"),
    "robustness": (
        "prompt_attacks",
        "paradigm_and_distribution_shifts",
        "interventional_effect",
        "poisoning_attacks",
    ),
}

ALIASES: dict[str, str] = {
    "misuse": "resistance_to_misuse",
    "explainability": "explainability_and_reasoning",
    "reasoning": "explainability_and_reasoning",
    "social_norms": "social_norm",
}

SUBCATEGORY_PARENT: dict[str, str] = {sub: cat for cat, subs in TAXONOMY.items() for sub in subs}


def slug(name: str) -> str:
    """Normalise a display name to a snake_case slug."""
    text = str(name).strip().lower().replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def category(name: str) -> str:
    """Return the canonical category slug, or raise ConfigError with a suggestion."""
    key = slug(name)
    key = ALIASES.get(key, key)
    if key in TAXONOMY:
        return key
    choices = [*TAXONOMY, *ALIASES]
    raise ConfigError(f"unknown trust category {name!r}{did_you_mean(key, choices)}; categories: {', '.join(TAXONOMY)}")


def subcategory(cat: str, name: str) -> str:
    """Return the canonical sub-category slug of ``cat``, or raise ConfigError."""
    key = slug(name)
    if key in TAXONOMY[cat]:
        return key
    parent = SUBCATEGORY_PARENT.get(key)
    if parent is not None:
        raise ConfigError(f"sub-category {name!r} belongs to category {parent!r}, not {cat!r}")
    raise ConfigError(
        f"unknown sub-category {name!r} of {cat!r}{did_you_mean(key, TAXONOMY[cat])}; "
        f"sub-categories of {cat}: {', '.join(TAXONOMY[cat])}"
    )


def parse_selector(text: str) -> tuple[str, str | None]:
    """Parse ``category`` or ``category/subcategory`` (``:`` also works) for ``--llmtrust-trust``."""
    head, _, tail = str(text).replace(":", "/").partition("/")
    cat = category(head)
    return cat, (subcategory(cat, tail) if tail.strip() else None)
