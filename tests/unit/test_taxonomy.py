"""The Trustworthy-LLM taxonomy: its shape, loose name matching and helpful errors."""

from __future__ import annotations

import pytest

from pytest_llmtrust import taxonomy
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.taxonomy import ALIASES, SUBCATEGORY_PARENT, TAXONOMY, parse_selector, slug


def test_seven_categories() -> None:
    assert len(TAXONOMY) == 7
    assert set(TAXONOMY) == {
        "reliability",
        "safety",
        "fairness",
        "resistance_to_misuse",
        "explainability_and_reasoning",
        "social_norm",
        "robustness",
    }


def test_twenty_nine_subcategories() -> None:
    subs = [sub for subs in TAXONOMY.values() for sub in subs]
    assert len(subs) == 29
    assert len(set(subs)) == 29
    assert len(SUBCATEGORY_PARENT) == 29


def test_slugs_are_unique_and_canonical() -> None:
    names = [*TAXONOMY, *(sub for subs in TAXONOMY.values() for sub in subs)]
    assert len(names) == len(set(names))
    for name in names:
        assert slug(name) == name


def test_subcategory_parent_map() -> None:
    for cat, subs in TAXONOMY.items():
        for sub in subs:
            assert SUBCATEGORY_PARENT[sub] == cat


def test_aliases_point_at_categories() -> None:
    for alias, target in ALIASES.items():
        assert target in TAXONOMY
        assert alias not in TAXONOMY


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Unlawful Conduct", "unlawful_conduct"),
        ("unlawful-conduct", "unlawful_conduct"),
        ("unlawful_conduct", "unlawful_conduct"),
        ("  UNLAWFUL   conduct ", "unlawful_conduct"),
        ("Explainability & Reasoning", "explainability_and_reasoning"),
        ("Harms to Minors!", "harms_to_minors"),
        ("Paradigm and Distribution Shifts", "paradigm_and_distribution_shifts"),
    ],
)
def test_slug_normalises_display_names(name: str, expected: str) -> None:
    assert slug(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("safety", "safety"),
        ("Safety", "safety"),
        ("Resistance to Misuse", "resistance_to_misuse"),
        ("resistance-to-misuse", "resistance_to_misuse"),
        ("misuse", "resistance_to_misuse"),
        ("Misuse", "resistance_to_misuse"),
        ("explainability", "explainability_and_reasoning"),
        ("reasoning", "explainability_and_reasoning"),
        ("Explainability & Reasoning", "explainability_and_reasoning"),
        ("social norms", "social_norm"),
        ("Social Norm", "social_norm"),
    ],
)
def test_category_names_and_aliases(name: str, expected: str) -> None:
    assert taxonomy.category(name) == expected


def test_unknown_category_did_you_mean() -> None:
    with pytest.raises(ConfigError) as info:
        taxonomy.category("safty")
    message = str(info.value)
    assert "unknown trust category 'safty'" in message
    assert "did you mean 'safety'?" in message
    assert "categories: reliability, safety, fairness" in message


def test_unknown_category_without_close_match_lists_categories() -> None:
    with pytest.raises(ConfigError) as info:
        taxonomy.category("zzzz")
    message = str(info.value)
    assert "did you mean" not in message
    for cat in TAXONOMY:
        assert cat in message


@pytest.mark.parametrize(
    ("cat", "name", "expected"),
    [
        ("safety", "Unlawful Conduct", "unlawful_conduct"),
        ("safety", "violence", "violence"),
        ("robustness", "Prompt Attacks", "prompt_attacks"),
        ("resistance_to_misuse", "cyberattack-misuse", "cyberattack_misuse"),
    ],
)
def test_subcategory_names(cat: str, name: str, expected: str) -> None:
    assert taxonomy.subcategory(cat, name) == expected


def test_unknown_subcategory_did_you_mean() -> None:
    with pytest.raises(ConfigError) as info:
        taxonomy.subcategory("safety", "violense")
    message = str(info.value)
    assert "unknown sub-category 'violense' of 'safety'" in message
    assert "did you mean 'violence'?" in message
    assert "sub-categories of safety: violence, unlawful_conduct" in message


def test_subcategory_under_wrong_category_names_parent() -> None:
    with pytest.raises(ConfigError) as info:
        taxonomy.subcategory("safety", "Toxicity")
    message = str(info.value)
    assert "belongs to category 'social_norm'" in message
    assert "not 'safety'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("safety", ("safety", None)),
        ("safety/", ("safety", None)),
        ("safety/violence", ("safety", "violence")),
        ("safety:violence", ("safety", "violence")),
        ("Safety / Unlawful Conduct", ("safety", "unlawful_conduct")),
        ("misuse:propagandistic-misuse", ("resistance_to_misuse", "propagandistic_misuse")),
        ("Fairness", ("fairness", None)),
    ],
)
def test_parse_selector(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_selector(text) == expected


def test_parse_selector_bad_category() -> None:
    with pytest.raises(ConfigError, match="did you mean 'fairness'"):
        parse_selector("fairnes/injustice")


def test_parse_selector_wrong_parent() -> None:
    with pytest.raises(ConfigError, match="belongs to category 'fairness', not 'safety'"):
        parse_selector("safety/stereotype bias")


def test_parse_selector_bad_subcategory() -> None:
    with pytest.raises(ConfigError, match="did you mean 'hallucination'"):
        parse_selector("reliability:halucination")
