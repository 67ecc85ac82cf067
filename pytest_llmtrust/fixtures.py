"""Fixtures: ``llm``, ``steered_llm``, ``judge``, ``persona_bias``, ``llmtrust_config``, ``llmtrust_settings``.

Override ``llmtrust_config`` in a conftest to set defaults for a directory::

    @pytest.fixture
    def llmtrust_config():
        return {"model": "openai:gpt-4o-mini", "max_new_tokens": 64}
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.errors import ConfigError, LLMTrustError
from pytest_llmtrust.markers import bias_kwargs, item_settings
from pytest_llmtrust.stash import SESSION

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_llmtrust.config import Settings
    from pytest_llmtrust.judges.base import Judge
    from pytest_llmtrust.model import LLM
    from pytest_llmtrust.persona.runner import PersonaBiasReport
    from pytest_llmtrust.session import LLMTrustSession


def get_session(config: pytest.Config) -> LLMTrustSession:
    """The run's LLMTrustSession."""
    return config.stash[SESSION]


@pytest.fixture
def llmtrust_config() -> dict[str, Any]:
    """Settings for the tests in scope; override in a conftest (below CLI, markers and suites)."""
    return {}


@contextmanager
def as_test_failure() -> Iterator[None]:
    """Turn our own errors into a clean test failure (message only, no traceback)."""
    try:
        yield
    except LLMTrustError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


def beside_test(request: pytest.FixtureRequest, path: str | Path, suffix: str = "") -> Path | None:
    """``path`` next to the requesting test file, if it is relative and exists there (with ``suffix``)."""
    if Path(path).is_absolute():
        return None
    beside = Path(request.path).parent / path
    return beside if beside.with_name(beside.name + suffix).exists() else None


@pytest.fixture
def llmtrust_settings(request: pytest.FixtureRequest, llmtrust_config: dict[str, Any]) -> Settings:
    """The resolved settings of this test: CLI > marker > fixture > env > ini > defaults."""
    with as_test_failure():
        return get_session(request.config).settings(marker=item_settings(request.node), fixture=llmtrust_config)


@pytest.fixture
def llm(request: pytest.FixtureRequest, llmtrust_settings: Settings) -> LLM:
    """The model under test; loaded on first use and shared by the whole session."""
    with as_test_failure():
        return get_session(request.config).llm(llmtrust_settings)


@pytest.fixture
def steered_llm(request: pytest.FixtureRequest, llmtrust_settings: Settings) -> LLM:
    """The model under test edited by the configured steering artefact (``--llmtrust-steer``, marker, ini).

    A relative artefact path is looked up next to the test file first, then in the working directory.
    A model without activations to edit (an API or fake model) skips the test, saying so.
    """
    from pytest_llmtrust.backends.registry import parse_spec
    from pytest_llmtrust.session import LOCAL_KINDS

    settings = llmtrust_settings
    with as_test_failure():
        kind = parse_spec(settings.model).kind
    if kind not in LOCAL_KINDS:
        pytest.skip(
            f"steered_llm needs a transformers model (hf: or smollm2) whose activations can be edited; "
            f"the model under test is {settings.model!r}"
        )
    if settings.steer:
        stem, sep, query = settings.steer.partition("?")
        beside = beside_test(request, stem, suffix=".json")
        if beside is not None:
            settings = dataclasses.replace(settings, steer=f"{beside}{sep}{query}")
    with as_test_failure():
        return get_session(request.config).steered_llm(settings)


@pytest.fixture
def judge(request: pytest.FixtureRequest, llmtrust_settings: Settings) -> Judge:
    """The judge: the offline refusal detector unless a model spec makes it an LLM judge."""
    with as_test_failure():
        return get_session(request.config).judge(llmtrust_settings)


class PersonaBiasRun:
    """The ``persona_bias`` fixture: :func:`~pytest_llmtrust.persona.runner.persona_bias` bound to one test.

    Call it as ``persona_bias(llm=None, *, dataset, personas=None, **options)``.

    Defaults come from the test: the model is the ``llm`` fixture's, the personas are those of
    the test's ``@bias(persona=...)`` marker, and a relative ``dataset`` path is looked up next
    to the test file first. The targets of ``@bias(target=...)`` must occur in the data. The
    report's JSON and TB heatmap are written to the results folder (``--llmtrust-results``).
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        """Bind to the requesting test."""
        self.request = request
        self.calls = 0

    def _marker(self, key: str) -> tuple[str, ...]:
        for mark in self.request.node.iter_markers("bias"):
            value = bias_kwargs(*mark.args, **mark.kwargs).get(key)
            if value is not None:
                return (value,) if isinstance(value, str) else tuple(value)
        return ()

    def _dataset(self, dataset: Any) -> Any:
        if isinstance(dataset, (str, Path)) and not str(dataset).startswith("hf:"):
            return beside_test(self.request, dataset) or dataset
        return dataset

    def __call__(self, llm: Any = None, *, dataset: Any, personas: Any = None, **options: Any) -> PersonaBiasReport:
        """Run the measurement (see :func:`pytest_llmtrust.persona.runner.persona_bias`)."""
        __tracebackhide__ = True
        from pytest_llmtrust.persona.runner import persona_bias
        from pytest_llmtrust.results import save_persona_results

        chosen = list(personas) if personas is not None else list(self._marker("persona"))
        if not chosen:
            raise ConfigError("persona_bias() needs personas=[...] or a @bias(persona=...) marker on the test")
        model = llm if llm is not None else self.request.getfixturevalue("llm")
        with as_test_failure():
            report = persona_bias(model, dataset=self._dataset(dataset), personas=chosen, **options)
            targets = set(report.result().tb_by_persona_target[report.result().default])
            missing = [t for t in self._marker("target") if t not in targets]
            if missing:
                raise ConfigError(
                    f"@bias(target=...) names {', '.join(map(repr, missing))}, which the data does not have; "
                    f"targets: {', '.join(sorted(targets))}"
                )
        self.calls += 1
        stem = self.request.node.nodeid + (f"-{self.calls}" if self.calls > 1 else "")
        save_persona_results(self.request.node, report, stem)
        return report


@pytest.fixture
def persona_bias(request: pytest.FixtureRequest) -> PersonaBiasRun:
    """Measure persona bias in a test; call it as ``persona_bias(dataset="Age.jsonl", personas=["kid"])``."""
    return PersonaBiasRun(request)
