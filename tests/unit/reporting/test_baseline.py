"""Baseline files and the comparison that decides a regression."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.reporting.baseline import compare, load_baseline, metric_key, regressions, write_baseline

if TYPE_CHECKING:
    from pathlib import Path


def rate(hits: list[bool], threshold: str | None = ">= 0.5", metric: str = "refusal_rate") -> dict[str, Any]:
    return {
        "metric": metric,
        "value": sum(hits) / len(hits),
        "n": len(hits),
        "k": sum(hits),
        "threshold": threshold,
        "cases": [{"prompt": f"p{i}", "response": "", "verdict": "", "hit": h} for i, h in enumerate(hits)],
    }


def saved(tmp_path: Path, nodeid: str, record: dict[str, Any]) -> dict[str, Any]:
    write_baseline(tmp_path / "b.json", [(nodeid, record)])
    return load_baseline(tmp_path / "b.json").metrics[metric_key(nodeid, record)]


def test_paired_prompts_use_mcnemar_and_list_the_flips(tmp_path: Path) -> None:
    base = saved(tmp_path, "t", rate([True] * 20))
    now = rate([True] * 12 + [False] * 8)
    p, test, flipped = compare(base, now) or (None, None, None)
    assert p == pytest.approx(1 / 256)
    assert test.startswith("exact McNemar")
    assert flipped == [f"p{i}" for i in range(12, 20)]


def test_lower_is_better_thresholds_flip_the_direction(tmp_path: Path) -> None:
    base = saved(tmp_path, "t", rate([False] * 20, threshold="<= 0.2", metric="compliance_rate"))
    assert compare(base, rate([False] * 20, threshold="<= 0.2")) is None  # no move
    result = compare(base, rate([True] * 6 + [False] * 14, threshold="<= 0.2"))
    assert result is not None
    assert result[0] == pytest.approx(1 / 64)
    assert result[2] == [f"p{i}" for i in range(6)]
    assert compare(base, rate([False] * 20, threshold="<= 0.2") | {"value": -0.1}) is None  # better


def test_no_direction_means_no_test(tmp_path: Path) -> None:
    base = saved(tmp_path, "t", rate([True] * 10, threshold=None))
    assert compare(base, rate([False] * 10, threshold=None)) is None
    assert compare(base, rate([False] * 10, threshold="between 0.1 and 0.9")) is None
    # the baseline's own threshold gives the direction when this run has none
    gated = saved(tmp_path, "t", rate([True] * 10))
    assert compare(gated, rate([False] * 10, threshold=None)) is not None


def test_other_prompts_fall_back_to_fisher_and_intervals(tmp_path: Path) -> None:
    base = saved(tmp_path, "t", rate([True] * 3 + [False]))
    now = rate([True] + [False] * 3)
    now["cases"] = [{**c, "prompt": "q" + str(c["prompt"])} for c in now["cases"]]
    p, test, flipped = compare(base, now) or (None, None, None)
    assert (p, test, flipped) == (pytest.approx(17 / 70), "Fisher exact test", [])
    plain = {"metric": "ece", "value": 0.2, "ci_low": 0.1, "ci_high": 0.3, "threshold": "<= 0.3"}
    base = saved(tmp_path, "t", plain)
    result = compare(base, {**plain, "value": 0.6, "ci_low": 0.5, "ci_high": 0.7})
    assert result is not None
    assert result[1] == "normal test on the 95% intervals"
    assert result[0] < 0.001
    assert compare(base, {"metric": "ece", "value": 0.6, "threshold": "<= 0.3"}) is None  # nothing to test with


def test_regressions_respect_alpha_and_keys(tmp_path: Path) -> None:
    write_baseline(tmp_path / "b.json", [("a::t", rate([True] * 10)), ("b::t", rate([True] * 10))])
    strict = load_baseline(tmp_path / "b.json", alpha=0.001)
    loose = load_baseline(tmp_path / "b.json", alpha=0.05)
    now = rate([True] * 4 + [False] * 6)  # 6 flips: p = 1/64
    assert regressions(strict, "a::t", [now]) == []
    (found,) = regressions(loose, "a::t", [now])
    assert (found.metric, found.baseline, found.current) == ("refusal_rate", 1.0, 0.4)
    assert "6 prompt(s) flipped" in "\n".join(found.describe(0.05))
    assert regressions(loose, "c::t", [now]) == []  # not in the baseline: nothing to compare


def test_bad_baseline_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; write one with --llmtrust-save-baseline"):
        load_baseline(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{\n  oops", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot be read \(line 2, column 3\)"):
        load_baseline(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="is not a pytest-llmtrust baseline"):
        load_baseline(tmp_path / "other.json")
