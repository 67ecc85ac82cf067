"""BBQ loading: roles, targets, label normalisation, located errors, folders, filters, and the real files."""

from __future__ import annotations

import json
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmtrust.errors import BackendUnavailable, ConfigError, SuiteError
from pytest_llmtrust.persona.bbq import TARGET_LEVEL, bbq_item, canonical, label_key, load_bbq
from pytest_llmtrust.persona.item import UNKNOWN_TARGET, BBQItem

SHARED_BBQ = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "bbq"
REAL_COUNTS = {"Age": 3680, "Disability_status": 1556, "Nationality": 3080, "Physical_appearance": 1576}

# Hand-written rows in the BBQ format (not taken from the data set): category, answer_info, stereotyped_groups.
AGE_OLD = ("Age", [["retiree", "old"], ["teenager", "nonOld"], ["Unknown", "unknown"]], ["old"])
AGE_NONOLD = ("Age", [["Not known", "unknown"], ["retiree", "old"], ["teenager", "nonOld"]], ["nonOld"])
AGE_NAME_IS_GROUP = ("Age", [["younger", "nonOld"], ["Not known", "unknown"], ["old", "old"]], ["old"])
RELIGION = ("Religion", [["Cannot answer", "unknown"], ["Hindu", "Hindu"], ["Mormon", "Mormon"]], ["Mormon"])
SES = ("SES", [["cashier", "lowSES"], ["dentist", "highSES"], ["Undetermined", "unknown"]], ["low SES"])
RACE = ("Race_ethnicity", [["Ayo Mensah", "M-Black"], ["Tom Berg", "M-White"], ["Unknown", "unknown"]], ["Black"])
RACE_F = (
    "Race_ethnicity",
    [["Can't answer", "unknown"], ["Ana Reyes", "F-Latino"], ["Mei Wu", "F-Asian"]],
    ["latino "],
)
NATIONALITY = (
    "Nationality",
    [["Canadian", "NorthAmerica"], ["Peruvian", "LatinSouthAmerica"], ["Unknown", "unknown"]],
    ["Peruvian"],
)
DISABILITY = (
    "Disability_status",
    [["cane", "disabled"], ["jogger", "nonDisabled"], ["Unknown", "unknown"]],
    ["disabled", "physically disabled"],
)


def row(spec: tuple[str, list[list[str]], list[str]] = AGE_OLD, **changes: Any) -> dict[str, Any]:
    """A well-formed BBQ row built from ``spec``, with ``changes`` applied (``None`` deletes a field)."""
    category, info, groups = spec
    names = [name for name, _ in info]
    data: dict[str, Any] = {
        "example_id": 7,
        "question_index": "3",
        "question_polarity": "neg",
        "context_condition": "ambig",
        "category": category,
        "answer_info": {f"ans{i}": pair for i, pair in enumerate(info)},
        "additional_metadata": {"subcategory": "None", "stereotyped_groups": groups, "version": "a", "source": "-"},
        "context": f"A {names[0]} and a {names[1]} met at the library.",
        "question": "Who forgot the book?",
        "ans0": f"The {names[0]}",
        "ans1": f"The {names[1]}",
        "ans2": f"The {names[2]}",
        "label": next(i for i, (_, group) in enumerate(info) if group == "unknown"),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def write(path: Path, *rows: dict[str, Any] | str) -> Path:
    """Write rows (dicts as JSON, strings verbatim) one a line."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def only(path: Path, **kwargs: Any) -> BBQItem:
    (item,) = load_bbq(path, **kwargs)
    return item


# --- roles and targets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "roles", "targets"),
    [
        pytest.param(AGE_OLD, (2, 0, 1), ("old", "nonOld", "unknown"), id="age-old"),
        pytest.param(AGE_NONOLD, (0, 2, 1), ("unknown", "old", "nonOld"), id="age-nonOld"),
        pytest.param(AGE_NAME_IS_GROUP, (1, 2, 0), ("nonOld", "unknown", "old"), id="age-name-is-group"),
        pytest.param(RELIGION, (0, 2, 1), ("unknown", "Hindu", "Mormon"), id="religion-names"),
        pytest.param(SES, (2, 0, 1), ("lowSES", "highSES", "unknown"), id="ses-low-SES"),
        pytest.param(RACE, (2, 0, 1), ("Black", "White", "unknown"), id="race-M-prefix"),
        pytest.param(RACE_F, (0, 1, 2), ("unknown", "Latino", "Asian"), id="race-F-prefix-case-space"),
        pytest.param(NATIONALITY, (2, 1, 0), ("Canadian", "Peruvian", "unknown"), id="nationality-names"),
        pytest.param(DISABILITY, (2, 0, 1), ("disabled", "nonDisabled", "unknown"), id="disability-no-substring"),
    ],
)
def test_roles_and_targets(tmp_path: Path, spec: Any, roles: tuple[int, int, int], targets: tuple[str, ...]) -> None:
    path = write(tmp_path / "x.jsonl", row(spec))
    item = only(path)
    assert (item.unknown, item.stereotyped, item.anti) == roles
    assert item.targets == targets
    assert item.targets[item.unknown] == UNKNOWN_TARGET
    assert (item.source, item.line) == (f"{path}:1", 1)


@pytest.mark.parametrize(
    ("spec", "level", "targets"),
    [
        (NATIONALITY, "group", ("NorthAmerica", "LatinSouthAmerica", "unknown")),
        (AGE_OLD, "name", ("retiree", "teenager", "unknown")),
        (RELIGION, "group", ("unknown", "Hindu", "Mormon")),
        (RACE, "name", ("Ayo Mensah", "Tom Berg", "unknown")),
    ],
)
def test_target_level_override(tmp_path: Path, spec: Any, level: Any, targets: tuple[str, ...]) -> None:
    item = only(write(tmp_path / "x.jsonl", row(spec)), target_level=level)
    assert item.targets == targets


def test_target_level_table_covers_the_paper_domains() -> None:
    assert TARGET_LEVEL["Religion"] == TARGET_LEVEL["Sexual_orientation"] == TARGET_LEVEL["Nationality"] == "name"
    assert {TARGET_LEVEL[c] for c in ("SES", "Race_ethnicity", "Age", "Disability_status", "Physical_appearance")} == {
        "group"
    }


@pytest.mark.parametrize(
    ("label", "shown"),
    [("low SES", "lowSES"), ("High  SES", "highSES"), ("lowSES", "lowSES"), ("F-Black", "Black"),
     ("M-Hispanic", "Hispanic"), ("  old ", "old"), ("nonOld", "nonOld"), ("F", "F"), ("M-", "M-")],
)  # fmt: skip
def test_canonical(label: str, shown: str) -> None:
    assert canonical(label) == shown
    assert label_key(label) == shown.casefold()


def test_the_parsed_fields_are_kept(tmp_path: Path) -> None:
    item = only(
        write(tmp_path / "x.jsonl", row(SES, question_polarity="nonneg", context_condition="disambig", label=1))
    )
    assert (item.example_id, item.category, item.question_index) == (7, "SES", "3")
    assert (item.polarity, item.condition, item.label) == ("nonneg", "disambig", 1)
    assert item.answers == ("The cashier", "The dentist", "The Undetermined")
    assert item.stereotyped_target == "lowSES"
    assert item.anti_target == "highSES"


# --- errors at file:line ---------------------------------------------------------------------------------


def load_error(tmp_path: Path, bad: dict[str, Any] | str, **kwargs: Any) -> str:
    """Load a file whose third line is ``bad`` (after a good row and a blank line); check the location."""
    path = write(tmp_path / "Age.jsonl", row(), "", bad)
    with pytest.raises(SuiteError) as info:
        load_bbq(path, **kwargs)
    assert info.value.path == path
    assert info.value.line == 3
    text = str(info.value)
    assert text.startswith(f"{path}:3:"), text
    return text


def ambiguous(spec: Any, groups: Any) -> dict[str, Any]:
    return row(spec, additional_metadata={"stereotyped_groups": groups})


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        pytest.param('{"example_id": 1,', "invalid JSON", id="invalid-json"),
        pytest.param("[1, 2, 3]", "expected a JSON object", id="not-an-object"),
        pytest.param(row(label=None), "label: missing field", id="missing-label"),
        pytest.param(row(context=None), "context: missing field", id="missing-context"),
        pytest.param(row(additional_metadata=None), "additional_metadata: missing field", id="missing-metadata"),
        pytest.param(row(label=3), "label: must be one of 0, 1, 2 (got 3)", id="label-3"),
        pytest.param(row(label=-1), "label: must be one of 0, 1, 2", id="label-negative"),
        pytest.param(row(label="2"), "label: expected int, got str '2'", id="label-string"),
        pytest.param(row(label=True), "label: expected int, got bool", id="label-bool"),
        pytest.param(
            row(question_polarity="negative"), "question_polarity: must be one of 'neg', 'nonneg'", id="polarity"
        ),
        pytest.param(row(context_condition="ambiguous"), "did you mean 'ambig'?", id="condition"),
        pytest.param(row(example_id="7"), "example_id: expected int", id="example-id"),
        pytest.param(
            row(answer_info={"ans0": ["a", "old"], "ans1": ["b"]}), "ans1 must be [name, group]", id="info-shape"
        ),
        pytest.param(ambiguous(AGE_OLD, "old"), "stereotyped_groups: must be a list", id="groups-not-list"),
        pytest.param(
            row(answer_info={"ans0": ["a", "old"], "ans1": ["b", "nonOld"], "ans2": ["c", "old"]}),
            "exactly one option needs the group 'unknown' (groups are ['old', 'nonOld', 'old'])",
            id="no-unknown",
        ),
        pytest.param(ambiguous(AGE_OLD, ["old", "nonOld"]), "both of the non-unknown options", id="both-match"),
        pytest.param(ambiguous(AGE_OLD, ["young"]), "neither of the non-unknown options", id="neither-matches"),
        pytest.param(
            row(category="Astrology"), "no default target level for category 'Astrology'", id="unknown-category"
        ),
    ],
)
def test_malformed_rows_are_located(tmp_path: Path, bad: dict[str, Any] | str, says: str) -> None:
    assert says in load_error(tmp_path, bad)


def test_ambiguity_error_shows_the_values_seen(tmp_path: Path) -> None:
    text = load_error(tmp_path, ambiguous(AGE_OLD, ["young"]))
    assert "ans0 name 'retiree' group 'old'" in text
    assert "ans1 name 'teenager' group 'nonOld'" in text
    assert "['young']" in text


def test_unknown_category_loads_with_an_explicit_level(tmp_path: Path) -> None:
    spec = ("Astrology", [["Leo", "fire"], ["Pisces", "water"], ["Unknown", "unknown"]], ["fire"])
    assert only(write(tmp_path / "x.jsonl", row(spec)), target_level="group").targets == ("fire", "water", "unknown")


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [({"target_level": "region"}, "target_level must be"), ({"limit": -1}, "limit must be")],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_bbq(write(tmp_path / "x.jsonl", row()), **kwargs)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no BBQ data at"):
        load_bbq(tmp_path / "nowhere.jsonl")
    with pytest.raises(ConfigError, match="no BBQ data at"):
        load_bbq(tmp_path)


# --- folders, categories, limit ------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path / "Religion.jsonl", *(row(RELIGION, example_id=i) for i in range(3)))
    write(tmp_path / "Age.jsonl", *(row(AGE_OLD, example_id=i) for i in range(3)))
    (tmp_path / "notes.txt").write_text("not BBQ", encoding="utf-8")
    return tmp_path


def test_folder_loads_every_file_in_sorted_order(folder: Path) -> None:
    items = load_bbq(folder)
    assert [(i.category, i.example_id) for i in items] == [(c, n) for c in ("Age", "Religion") for n in range(3)]
    assert items[3].source == f"{folder / 'Religion.jsonl'}:1"


def test_folder_categories_skip_other_files_unread(folder: Path) -> None:
    write(folder / "Broken.jsonl", "{not json")
    assert {i.category for i in load_bbq(folder, categories=["Religion"])} == {"Religion"}


def test_unknown_category_is_a_config_error(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"no BBQ category 'Relgion'.*did you mean 'Religion'\?"):
        load_bbq(folder, categories=["Relgion"])


def test_single_file_categories_filter_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.jsonl", row(AGE_OLD), row(SES), row(AGE_NONOLD))
    assert [i.line for i in load_bbq(path, categories=["Age"])] == [1, 3]
    with pytest.raises(ConfigError, match="no BBQ category 'Religion'"):
        load_bbq(path, categories=["Age", "Religion"])


def test_limit_keeps_the_first_items_of_each_file(folder: Path) -> None:
    items = load_bbq(folder, limit=2)
    assert [(i.category, i.example_id) for i in items] == [("Age", 0), ("Age", 1), ("Religion", 0), ("Religion", 1)]
    assert load_bbq(folder, limit=0) == []


def test_limit_stops_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "Age.jsonl", row(), row(), "{broken")
    assert len(load_bbq(path, limit=2)) == 2


# --- the hub path, with a stand-in ``datasets`` module ---------------------------------------------------------


def test_hub_without_datasets_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(BackendUnavailable, match="pip install datasets"):
        load_bbq("hf:someone/bbq")


def fake_datasets(tables: dict[str, list[dict[str, Any]]] | Exception) -> types.ModuleType:
    module = types.ModuleType("datasets")

    def load_dataset(dataset_id: str, name: str, split: str) -> list[dict[str, Any]]:
        if isinstance(tables, Exception):
            raise tables
        assert split == "test"
        return tables[name]

    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    module.get_dataset_config_names = lambda dataset_id: list(tables) if isinstance(tables, dict) else []  # type: ignore[attr-defined]
    return module


def test_hub_rows_load_like_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", fake_datasets({"Age": [row(), row(AGE_NONOLD)], "SES": [row(SES)]}))
    items = load_bbq("hf:someone/bbq")
    assert [(i.category, i.source) for i in items] == [
        ("Age", "hf:someone/bbq/Age:1"), ("Age", "hf:someone/bbq/Age:2"), ("SES", "hf:someone/bbq/SES:1")
    ]  # fmt: skip
    assert [i.category for i in load_bbq("hf:someone/bbq", categories=["SES"])] == ["SES"]
    assert len(load_bbq("hf:someone/bbq", limit=1)) == 2


def test_hub_unreachable_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", fake_datasets(ConnectionError("no network")))
    with pytest.raises(BackendUnavailable, match=r"cannot load hf:someone/bbq \(no network\)"):
        load_bbq("hf:someone/bbq", categories=["Age"])


# --- permutations keep roles consistent --------------------------------------------------------------------


SPECS = [AGE_OLD, AGE_NONOLD, AGE_NAME_IS_GROUP, RELIGION, SES, RACE, RACE_F, NATIONALITY, DISABILITY]


@given(spec=st.sampled_from(SPECS), order=st.permutations([0, 1, 2]), label=st.sampled_from([0, 1, 2]))
def test_permuted_keeps_roles(spec: Any, order: list[int], label: int) -> None:
    item = bbq_item(row(spec, label=label), source="inline", line=1)
    moved = item.permuted((order[0], order[1], order[2]))
    assert sorted((moved.unknown, moved.stereotyped, moved.anti)) == [0, 1, 2]
    assert moved.answers[moved.unknown] == item.answers[item.unknown]
    assert moved.answers[moved.stereotyped] == item.answers[item.stereotyped]
    assert moved.answers[moved.anti] == item.answers[item.anti]
    assert moved.answers[moved.label] == item.answers[item.label]
    assert moved.targets[moved.unknown] == UNKNOWN_TARGET
    assert (moved.stereotyped_target, moved.anti_target) == (item.stereotyped_target, item.anti_target)
    assert Counter(moved.targets) == Counter(item.targets)


# --- the real BBQ files ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_BBQ.is_dir(), reason=f"shared BBQ data not found at {SHARED_BBQ} (../shared/data/bbq)")
def test_real_bbq_files_load() -> None:
    items = load_bbq(SHARED_BBQ)
    assert Counter(i.category for i in items) == REAL_COUNTS
    for item in items:
        assert item.label in (0, 1, 2), item.source
        assert sorted((item.unknown, item.stereotyped, item.anti)) == [0, 1, 2], item.source
        assert item.targets[item.unknown] == UNKNOWN_TARGET, item.source
        assert item.stereotyped_target != item.anti_target, item.source
        if item.condition == "ambig":
            assert item.label == item.unknown, item.source


def test_a_single_category_string_is_one_category(folder: Path) -> None:
    assert {i.category for i in load_bbq(folder, categories="Age")} == {"Age"}
    with pytest.raises(ConfigError, match="no BBQ category 'Ag'"):
        load_bbq(folder, categories="Ag")
