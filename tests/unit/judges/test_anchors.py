"""Anchor files of the embedding judge: the packaged ones, and errors that name the file and line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.judges.anchors import DEFAULT_MARGIN, DEFAULT_TOP_K, Anchors, load_anchors, packaged_anchors
from pytest_llmtrust.judges.questions import PAIRED, QUESTIONS

if TYPE_CHECKING:
    from pathlib import Path

YES_NO = [q for q in QUESTIONS if q not in PAIRED]


@pytest.mark.parametrize("question", YES_NO)
def test_packaged_anchors(question: str) -> None:
    anchors = packaged_anchors(question)
    assert 15 <= len(anchors.yes) <= 30
    assert 15 <= len(anchors.no) <= 30
    assert not set(anchors.yes) & set(anchors.no)
    assert len(set(anchors.yes)) == len(anchors.yes)
    assert len(set(anchors.no)) == len(anchors.no)
    assert all(t == t.strip() and t for t in anchors.yes + anchors.no)
    assert anchors.top_k >= 1
    assert -0.2 <= anchors.margin <= 0.2
    assert anchors.source == f"judges/anchors/{question}.yaml"


def test_no_anchors_for_consistent() -> None:
    with pytest.raises(ConfigError, match="no packaged embedding anchors for the question 'consistent'"):
        packaged_anchors("consistent")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "anchors.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_own_file_yes_no_keys_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "yes:\n  - I can't.\n  - No way.\nno:\n  - Sure, here it is.\n")
    assert load_anchors(path) == Anchors(("I can't.", "No way."), ("Sure, here it is.",),
                                         DEFAULT_TOP_K, DEFAULT_MARGIN, str(path))  # fmt: skip
    quoted = write(tmp_path, '"yes": [a]\n"no": [b]\ntop_k: 2\nmargin: -0.05\n')
    assert load_anchors(quoted) == Anchors(("a",), ("b",), 2, -0.05, str(quoted))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yes: [a]\n", r"anchors.yaml: 'no' must be a non-empty list of example responses"),
        ("yes: [a]\nno: []\n", r"anchors.yaml:2: 'no' must be a non-empty list"),
        ("yes: a\nno: [b]\n", r"anchors.yaml:1: 'yes' must be a non-empty list"),
        ("yes:\n  - a\n  - 3\nno: [b]\n", r"anchors.yaml:3: yes\[1\] must be a non-empty string, got 3; quote it"),
        ("yes: [a]\nno:\n  - b\n  - '  '\n", r"anchors.yaml:4: no\[1\] must be a non-empty string"),
        ("yes: [a]\nno: [b]\nmaybe: [c]\n", r"anchors.yaml:3: unknown key 'maybe'; keys: yes, no, top_k, margin"),
        ("yes: [a]\nno: [b]\ntop_k: 0\n", r"anchors.yaml:3: top_k must be a positive integer, got 0"),
        ("yes: [a]\nno: [b]\ntop_k: true\n", r"anchors.yaml:3: top_k must be a positive integer, got True"),
        ("yes: [a]\nno: [b]\nmargin: 2\n", r"anchors.yaml:3: margin must be a number in \[-1, 1\], got 2"),
        ("- a\n- b\n", r"anchors.yaml: an anchors file must be a mapping with the lists 'yes' and 'no'"),
        ("yes: [a\nno: [b]\n", r"bad anchors file .*anchors.yaml:2"),
        ("yes: [a]\nyes: [b]\nno: [c]\n", r"bad anchors file .*duplicate key"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_anchors(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bad anchors file .*nope\.yaml.*cannot read the file"):
        load_anchors(tmp_path / "nope.yaml")
