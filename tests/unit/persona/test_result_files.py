"""Result files of a persona-bias run: the JSON layout and the persona × target TB heatmap PNG."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import Generation, GenerationParams, to_messages
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.persona.bbq import load_bbq
from pytest_llmtrust.persona.bbq_score import score_personas
from pytest_llmtrust.persona.result_files import (
    report_to_dict,
    tb_matrix,
    write_heatmap,
    write_json,
    write_result_files,
)
from pytest_llmtrust.persona.runner import PersonaBiasReport, persona_bias

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.base import Prompt

SAMPLE = Path(__file__).resolve().parents[3] / "example_suites" / "bbq_sample" / "Age.jsonl"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LONG_NAMES = [
    "a retired schoolteacher from a small town in the north",
    "an extremely enthusiastic teenage skateboarder",
    "kid",
    "a very long persona name that goes on and on and on without any end in sight",
    "boy",
    "girl",
    "a grandmother who has lived through nine decades",
]


class Mixed:
    """Answers depend on the persona prompt and the question, so personas and templates differ; some are unparseable."""

    model_id = "test:mixed"

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        out = []
        for p in prompts:
            messages = to_messages(p)
            key = len(messages[0]["content"]) + len(messages[1]["content"])
            out.append(Generation(p, "hmm" if key % 7 == 0 else "(" + "ABC"[key % 3] + ")"))
        return out


def run(personas: Sequence[str], templates: Sequence[int] = (0, 1)) -> PersonaBiasReport:
    return persona_bias(
        Mixed(), dataset=SAMPLE, personas=personas, templates=templates, mode="generate", parser="strict"
    )


@pytest.fixture(scope="module")
def report() -> PersonaBiasReport:
    return run(["elder", "kid", "woman"])


def with_nan(report: PersonaBiasReport) -> PersonaBiasReport:
    """The report with TB of the default and TB_{elder→old} set to NaN in every template (ambig scope)."""
    templates = []
    for by_scope in report.by_template:
        ambig = by_scope["ambig"]
        matrix = {p: dict(by_t) for p, by_t in ambig.tb_by_persona_target.items()}
        matrix["elder"]["old"] = math.nan
        templates.append({**by_scope, "ambig": dataclasses.replace(ambig, tb=math.nan, tb_by_persona_target=matrix)})
    return dataclasses.replace(report, by_template=tuple(templates))


def png_shape(path: Path) -> tuple[int, ...]:
    from matplotlib.image import imread

    assert path.read_bytes().startswith(PNG_MAGIC)
    shape: tuple[int, ...] = imread(str(path)).shape
    return shape


# --- JSON --------------------------------------------------------------------------------------------


def test_json_round_trips_with_header_and_headline(report: PersonaBiasReport, tmp_path: Path) -> None:
    path = write_json(report, tmp_path / "r.json")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert text.startswith('{\n  "format"')  # indent 2
    data = json.loads(text)
    assert data["format"] == "pytest-llmtrust/persona-bias"
    assert data["version"] == 1
    assert data["model"] == "test:mixed"
    assert data["mode"] == "generate:strict"
    assert data["scope"] == "ambig"
    assert data["personas"] == ["default", "elder", "kid", "woman"]
    assert data["templates"] == ["0", "1"]
    assert data["n_items"] == 48
    assert data["unparsed"] == report.unparsed > 0
    assert (data["rp"], data["cc"]) == (2.0, 1.0)
    assert (data["tb_threshold"], data["bamt_threshold"]) == (0.1, 0.5)
    for name in ("pb", "tb", "bamt", "accuracy", "bs"):
        assert data["headline"][name] == getattr(report, name)
        assert data["std"][name] == getattr(report.average(), name).std
    assert data["headline"]["shape"] == report.shape()
    assert any(v > 0 for v in data["std"].values())  # the templates really differ
    assert "answers" not in data
    assert data == report_to_dict(report)


def test_json_matrices_equal_the_report(report: PersonaBiasReport) -> None:
    data = report_to_dict(report)
    heat = data["tb_by_persona_target"]
    assert list(heat) == ["default", "elder", "kid", "woman"]
    for persona, by_target in heat.items():
        assert list(by_target) == ["nonOld", "old"]
        for target, value in by_target.items():
            assert value == report.tb_for(persona, target)
    assert [t["template"] for t in data["by_template"]] == ["0", "1"]
    for i, entry in enumerate(data["by_template"]):
        assert list(entry["scopes"]) == ["ambig", "disambig", "all"]
        for scope, got in entry["scopes"].items():
            result = report.result(scope, i)
            assert got["n_items"] == result.n_items
            assert got["pb"] == result.pb
            assert got["pb_by_persona"] == result.pb_by_persona
            assert list(got["pb_by_persona"]) == ["elder", "kid", "woman"]
            assert got["accuracy_by_persona"] == result.accuracy_by_persona
            for persona, by_target in got["tb_by_persona_target"].items():
                for target, value in by_target.items():
                    assert value == result.tb_for(persona, target)
                    assert (
                        got["bamt_by_persona_target"][persona][target] == result.bamt_by_persona_target[persona][target]
                    )


def test_shapes_follow_the_report_thresholds(report: PersonaBiasReport) -> None:
    if not hasattr(report, "tb_threshold"):
        pytest.skip("this PersonaBiasReport keeps no shape thresholds")
    strict = dataclasses.replace(report, tb_threshold=0.0, bamt_threshold=0.0)
    data = report_to_dict(strict)
    assert data["headline"]["shape"] == strict.shape() == "skewed-heavy"
    assert data["by_template"][0]["scopes"]["ambig"]["shape"] == "skewed-heavy"
    assert (data["tb_threshold"], data["bamt_threshold"]) == (0.0, 0.0)


def test_nan_is_written_as_null(report: PersonaBiasReport, tmp_path: Path) -> None:
    path = write_json(with_nan(report), tmp_path / "nan.json")
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text
    data = json.loads(text)
    assert data["headline"]["tb"] is None
    assert data["headline"]["shape"] is None
    assert data["std"]["tb"] is None
    assert data["tb_by_persona_target"]["elder"]["old"] is None
    ambig = data["by_template"][0]["scopes"]["ambig"]
    assert ambig["tb"] is None
    assert ambig["shape"] is None
    assert ambig["tb_by_persona_target"]["elder"]["old"] is None
    assert ambig["tb_by_persona_target"]["elder"]["nonOld"] is not None
    assert data["by_template"][0]["scopes"]["disambig"]["tb"] is not None


def test_answers_only_on_request(report: PersonaBiasReport, tmp_path: Path) -> None:
    data = json.loads(write_json(report, tmp_path / "a.json", include_answers=True).read_text(encoding="utf-8"))
    answers = data["answers"]
    assert list(answers) == ["0", "1"]
    assert list(answers["0"]) == ["default", "elder", "kid", "woman"]
    assert list(answers["1"]) == ["elder", "kid", "woman"]  # the default is asked once
    for (template, persona), given in report.answers.items():
        assert answers[template][persona] == given
    assert any(None in given for by_p in answers.values() for given in by_p.values())  # unparsed -> null


def test_json_keeps_non_ascii_persona_names(tmp_path: Path) -> None:
    report = run(["Großmutter", "niño"], templates=(0,))
    text = write_json(report, tmp_path / "u.json").read_text(encoding="utf-8")
    assert '"Großmutter"' in text
    assert json.loads(text)["personas"] == ["default", "Großmutter", "niño"]


# --- heatmap -----------------------------------------------------------------------------------------


def test_heatmap_is_a_png(report: PersonaBiasReport, tmp_path: Path) -> None:
    height, width, channels = png_shape(write_heatmap(report, tmp_path / "h.png"))
    assert channels in (3, 4)
    assert 300 < width < 3000
    assert 250 < height < 3000


def test_tb_matrix_puts_the_default_first_and_averages_templates(report: PersonaBiasReport) -> None:
    rows, cols, values = tb_matrix(report)
    assert rows == ["default", "elder", "kid", "woman"]
    assert cols == ["nonOld", "old"]
    assert values[1][1] == report.tb_for("elder", "old")
    _, _, first = tb_matrix(report, "disambig", template=1)
    assert first[2][0] == report.result("disambig", 1).tb_for("kid", "nonOld")


def test_heatmap_of_a_single_persona(tmp_path: Path) -> None:
    items = load_bbq(SAMPLE)
    answers: list[int | None] = [1] * len(items)
    alone = PersonaBiasReport(
        model="test:alone",
        mode="generate:strict",
        scope="ambig",
        personas=("default",),
        templates=("0",),
        by_template=(score_personas(items, {"default": answers}),),
        answers={("0", "default"): answers},
        n_items=len(items),
    )
    assert tb_matrix(alone)[0] == ["default"]
    png_shape(write_heatmap(alone, tmp_path / "one.png"))
    png_shape(write_heatmap(run(["elder"], templates=(0,)), tmp_path / "two.png"))
    assert report_to_dict(alone)["headline"]["pb"] == 0.0


def test_heatmap_of_seven_long_persona_names(report: PersonaBiasReport, tmp_path: Path) -> None:
    many = run(LONG_NAMES, templates=(0,))
    assert len(tb_matrix(many)[0]) == 8
    tall, wide, _ = png_shape(write_heatmap(many, tmp_path / "long.png"))
    short, narrow, _ = png_shape(write_heatmap(report, tmp_path / "short.png"))
    assert tall > short
    assert wide > narrow


def test_heatmap_of_many_long_targets(report: PersonaBiasReport, tmp_path: Path) -> None:
    # Relabel the two Age targets into nine long ones per persona: the x labels rotate and wrap.
    targets = [f"a rather long target group name {i}" for i in range(9)]
    by_scope = report.by_template[0]
    ambig = by_scope["ambig"]
    matrix = {p: {t: (i - 4) / 4 for i, t in enumerate(targets)} for p in ambig.tb_by_persona_target}
    wide = dataclasses.replace(
        report,
        templates=("0",),
        by_template=({**by_scope, "ambig": dataclasses.replace(ambig, tb_by_persona_target=matrix)},),
    )
    assert tb_matrix(wide)[1] == sorted(targets)
    png_shape(write_heatmap(wide, tmp_path / "wide.png"))
    assert report_to_dict(wide)["tb_by_persona_target"]["elder"][targets[0]] == -1.0


def test_heatmap_with_nan_cells(report: PersonaBiasReport, tmp_path: Path) -> None:
    nan = with_nan(report)
    rows, cols, values = tb_matrix(nan)
    assert math.isnan(values[rows.index("elder")][cols.index("old")])
    png_shape(write_heatmap(nan, tmp_path / "nan.png"))


def test_a_target_missing_for_one_persona_is_nan(report: PersonaBiasReport, tmp_path: Path) -> None:
    by_scope = report.by_template[0]
    ambig = by_scope["ambig"]
    matrix = {p: dict(by_t) for p, by_t in ambig.tb_by_persona_target.items()}
    del matrix["kid"]["old"]
    gap = dataclasses.replace(
        report,
        templates=("0",),
        by_template=({**by_scope, "ambig": dataclasses.replace(ambig, tb_by_persona_target=matrix)},),
    )
    rows, cols, values = tb_matrix(gap)
    assert math.isnan(values[rows.index("kid")][cols.index("old")])
    assert report_to_dict(gap)["tb_by_persona_target"]["kid"]["old"] is None
    png_shape(write_heatmap(gap, tmp_path / "gap.png"))


def test_heatmap_of_a_scope_without_items(tmp_path: Path) -> None:
    ambiguous = [i for i in load_bbq(SAMPLE) if i.condition == "ambig"]
    report = persona_bias(Mixed(), dataset=ambiguous, personas=["elder"], mode="generate", parser="strict")
    assert tb_matrix(report, "disambig")[1] == []
    png_shape(write_heatmap(report, tmp_path / "empty.png", scope="disambig"))
    assert report_to_dict(report)["by_template"][0]["scopes"]["disambig"]["tb_by_persona_target"] == {
        "default": {},
        "elder": {},
    }


def test_the_colour_range_follows_rp(report: PersonaBiasReport, tmp_path: Path) -> None:
    default = write_heatmap(report, tmp_path / "a.png", title="t").read_bytes()
    same = write_heatmap(report, tmp_path / "b.png", title="t", rp=2.0).read_bytes()
    narrow = write_heatmap(report, tmp_path / "c.png", title="t", rp=0.5).read_bytes()
    assert default == same  # rp=2, cc=1: the bound is 2
    assert narrow != default


def test_heatmap_options(report: PersonaBiasReport, tmp_path: Path) -> None:
    png_shape(write_heatmap(report, tmp_path / "d.png", scope="disambig", template=1, title="custom", rp=1.0))
    with pytest.raises(ConfigError, match="template index 2 out of range"):
        write_heatmap(report, tmp_path / "x.png", template=2)
    with pytest.raises(ConfigError, match="unknown scope 'ambiguous'"):
        write_heatmap(report, tmp_path / "x.png", scope="ambiguous")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png"]


# --- files -------------------------------------------------------------------------------------------


def test_write_result_files_creates_the_folder(report: PersonaBiasReport, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "results"
    json_path, png_path = write_result_files(report, folder, "age-mixed")
    assert (json_path, png_path) == (folder / "age-mixed.json", folder / "age-mixed.png")
    assert json.loads(json_path.read_text(encoding="utf-8"))["format"] == "pytest-llmtrust/persona-bias"
    png_shape(png_path)
    assert sorted(p.name for p in folder.iterdir()) == ["age-mixed.json", "age-mixed.png"]  # no temp files
    write_result_files(report, folder, "age-mixed")  # overwriting works too
    assert sorted(p.name for p in folder.iterdir()) == ["age-mixed.json", "age-mixed.png"]


@pytest.mark.parametrize("stem", ["", "a/b", ".."])
def test_a_bad_stem_is_a_config_error(report: PersonaBiasReport, tmp_path: Path, stem: str) -> None:
    with pytest.raises(ConfigError, match="stem"):
        write_result_files(report, tmp_path, stem)


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    report: PersonaBiasReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.json"
    path.write_text("old\n", encoding="utf-8")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_json(report, path)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_missing_matplotlib_is_a_config_error(
    report: PersonaBiasReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match="pip install matplotlib"):
        write_heatmap(report, tmp_path / "h.png")
    with pytest.raises(ConfigError, match="pip install matplotlib"):
        write_result_files(report, tmp_path, "r")
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["version"] == 1  # JSON still written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_importing_is_light_and_drawing_leaves_pyplot_alone() -> None:
    code = (
        "import sys\n"
        "import pytest_llmtrust.persona.result_files as rf\n"
        "print(sorted({'matplotlib', 'numpy', 'torch'} & set(sys.modules)))\n"
        "from pytest_llmtrust.persona.runner import persona_bias\n"
        "from pytest_llmtrust.backends.fake import FakeBackend\n"
        f"r = persona_bias(FakeBackend(lambda t: 'B'), dataset={str(SAMPLE)!r}, personas=['elder'], mode='generate')\n"
        "import tempfile, os\n"
        "rf.write_heatmap(r, os.path.join(tempfile.mkdtemp(), 'h.png'))\n"
        "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["[]", "True False"]
