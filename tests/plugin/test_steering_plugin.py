"""The steered model in pytest: ``steered_llm``, ``--llmtrust-steer``, the marker and a suite's ``steer:``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pytest_llmtrust.reporting.junit import junit_properties  # noqa: E402
from pytest_llmtrust.steering.artefact import SteeringVectors  # noqa: E402
from tests.backends.test_hf import build_tiny_model  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A tiny random Llama and a steering artefact for it (random unit directions on both layers)."""
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-steer"))
    gen = torch.Generator().manual_seed(0)
    sets = {layer: torch.nn.functional.normalize(torch.randn(2, 32, generator=gen), dim=1) for layer in (0, 1)}
    artefact = folder / "art"
    SteeringVectors(
        helpful=sets,
        harmful={k: -v for k, v in sets.items()},
        layers=(0, 1),
        alpha_help=40.0,
        alpha_harm=-40.0,
        meta={"name": "art"},
    ).save(artefact)
    return f"--llmtrust-model=hf:{folder}?device=cpu&dtype=float32", artefact


TEST = """
import pytest

PROMPTS = ["hello world", "tell me a story about cats", "one two three"]

@pytest.mark.llmtrust(steer="{artefact}")
def test_steered_differs_and_names_itself(llm, steered_llm):
    assert steered_llm.model_id == llm.model_id + "+steer:art"
    base = [g.text for g in llm.generate(PROMPTS, max_new_tokens=6)]
    steered = [g.text for g in steered_llm.generate(PROMPTS, max_new_tokens=6)]
    assert base != steered
    assert [g.text for g in llm.generate(PROMPTS, max_new_tokens=6)] == base  # the hooks are gone again

@pytest.mark.llmtrust(steer="{artefact}?alpha=0")
def test_alpha_zero_is_the_base_model(llm, steered_llm):
    assert steered_llm.model_id.endswith("+steer:art@alpha=0")
    assert [g.text for g in steered_llm.generate(PROMPTS, max_new_tokens=6)] == [
        g.text for g in llm.generate(PROMPTS, max_new_tokens=6)
    ]
"""


def test_steered_llm_from_the_marker_and_the_option(pytester: pytest.Pytester, tiny: tuple[str, Path]) -> None:
    model, artefact = tiny
    pytester.makepyfile(test_steer=TEST.replace("{artefact}", str(artefact)))
    pytester.runpytest(model).assert_outcomes(passed=2)
    # the command line outranks markers: alpha 40 everywhere, so the alpha=0 test now fails
    result = pytester.runpytest(model, f"--llmtrust-steer={artefact}")
    result.assert_outcomes(passed=1, failed=1)


def test_without_an_artefact_the_fixture_says_how_to_configure_one(
    pytester: pytest.Pytester, tiny: tuple[str, Path]
) -> None:
    pytester.makepyfile("def test_x(steered_llm):\n    steered_llm.generate(['hello'])\n")
    result = pytester.runpytest(tiny[0])
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no steering artefact is configured: pass --llmtrust-steer PATH*"])


def test_a_bad_steer_spec_fails_clearly(pytester: pytest.Pytester, tiny: tuple[str, Path]) -> None:
    pytester.makepyfile("def test_x(steered_llm):\n    steered_llm.generate(['hello'])\n")
    result = pytester.runpytest(tiny[0], f"--llmtrust-steer={tiny[1]}?alpah=2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*unknown option 'alpah=2'; options: alpha=A, layers=L1,L2*"])


SUITE = """\
suite: steered
steer: {steer}
prompts: [hello world, one two three]
generation: {{max_new_tokens: 4}}
expect:
  compliance_rate: ">= 0"
"""


def test_a_suite_runs_on_the_steered_model(pytester: pytest.Pytester, tiny: tuple[str, Path]) -> None:
    model, artefact = tiny
    (pytester.path / "art.json").write_bytes(artefact.with_suffix(".json").read_bytes())
    (pytester.path / "art.safetensors").write_bytes(artefact.with_suffix(".safetensors").read_bytes())
    pytester.makefile(".llmtrust.yaml", steered=SUITE.format(steer="art?alpha=2"))
    result = pytester.runpytest(model, "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    props = {k: v for pairs in junit_properties(pytester.path / "out.xml").values() for k, v in pairs}
    assert str(props["model"]).endswith("+steer:art@alpha=2")

    pytester.makefile(".llmtrust.yaml", steered=SUITE.format(steer="missing"))
    result = pytester.runpytest(model)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*steered.llmtrust.yaml:2:8: steer: no steering artefact 'missing' next to the suite*"]
    )


def test_an_api_or_fake_model_skips_steered_tests_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(steered_llm):\n    pass\n")
    result = pytester.runpytest("--llmtrust-model=fake:comply", "--llmtrust-steer=anything", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*steered_llm needs a transformers model (hf: or smollm2)*'fake:comply'*"])
