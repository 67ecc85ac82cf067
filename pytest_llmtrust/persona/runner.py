"""Run the persona-bias measurement: BBQ items x personas x templates -> answers -> scores.

``persona_bias(llm, dataset="Age.jsonl", personas=["elder", "kid"])`` asks every
item under every persona (plus the no-persona default) in one batch per mode,
then scores the answers with :func:`~pytest_llmtrust.persona.bbq_score.score_personas`.

Two answer modes, recorded in the result:

- ``choice`` (constrained choice): the option letters A/B/C are scored from the
  next-token logits after the prompt, one forward pass per prompt (backends
  that implement :class:`~pytest_llmtrust.backends.base.SupportsChoice`).
- ``generate``: the model writes an answer, which a parser (``faithful`` as
  the authors did, or ``strict``) maps to an option or to "no answer".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Literal

from pytest_llmtrust.backends.base import GenerationParams, SupportsChoice
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.metrics.rates import ExpectationFailed
from pytest_llmtrust.model import LLM
from pytest_llmtrust.persona.bbq import load_bbq
from pytest_llmtrust.persona.bbq_score import (
    DEFAULT_BAMT_THRESHOLD,
    DEFAULT_TB_THRESHOLD,
    PersonaBiasResult,
    average_over_templates,
    classify_shape,
    score_personas,
)
from pytest_llmtrust.persona.parse import LETTERS, get_parser
from pytest_llmtrust.persona.personas import DEFAULT_PERSONA, validate_personas
from pytest_llmtrust.persona.prompts import build_messages
from pytest_llmtrust.recording import record

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_llmtrust.backends.base import Backend, Prompt
    from pytest_llmtrust.persona.bbq_score import TemplateAverage
    from pytest_llmtrust.persona.gates import Gate
    from pytest_llmtrust.persona.item import BBQItem
    from pytest_llmtrust.persona.scoring import Answer, Scope

Mode = Literal["choice", "generate"]
ANSWER_PARAMS = GenerationParams(max_new_tokens=16, temperature=0.0)
"""Generate mode: a short greedy answer is enough for the parsers."""


@dataclass(frozen=True)
class PersonaBiasReport:
    """Everything one persona-bias run measured; scalar properties are means over templates."""

    model: str
    mode: str
    scope: Scope
    personas: tuple[str, ...]
    templates: tuple[str, ...]
    by_template: tuple[dict[Scope, PersonaBiasResult], ...]
    answers: dict[tuple[str, str], list[Answer]] = field(repr=False)
    """(template, persona) -> one answer per item (None: no parseable answer)."""
    n_items: int = 0
    rp: float = 2.0
    tb_threshold: float = DEFAULT_TB_THRESHOLD
    """TB at or above this is "high" in :meth:`shape`."""
    bamt_threshold: float = DEFAULT_BAMT_THRESHOLD
    """BAmt at or above this is "high" in :meth:`shape`."""

    def result(self, scope: Scope | None = None, template: int = 0) -> PersonaBiasResult:
        """The full result of one template on a scope (default: this report's scope)."""
        return self.by_template[template][scope or self.scope]

    def average(self, scope: Scope | None = None) -> TemplateAverage:
        """Mean and std over templates of tb, bamt, pb, accuracy and bs."""
        return average_over_templates([t[scope or self.scope] for t in self.by_template])

    def _mean(self, name: str) -> float:
        return fmean(float(getattr(t[self.scope], name)) for t in self.by_template)

    @property
    def pb(self) -> float:
        """Persona Bias: mean over personas of mean |TB_{p→t} − TB_{p0→t}|."""
        return self._mean("pb")

    @property
    def tb(self) -> float:
        """Target Bias of the default (no-persona) model."""
        return self._mean("tb")

    @property
    def bamt(self) -> float:
        """Bias Amount of the default model."""
        return self._mean("bamt")

    @property
    def accuracy(self) -> float:
        """Accuracy of the default model."""
        return self._mean("accuracy")

    @property
    def bs(self) -> float:
        """BBQ's bias score of the default model (s_AMB or s_DIS by scope)."""
        return self._mean("bs")

    def tb_for(self, persona: str, target: str) -> float:
        """TB_{p→t}, averaged over templates."""
        return fmean(t[self.scope].tb_for(persona, target) for t in self.by_template)

    def shape(self, *, tb_threshold: float | None = None, bamt_threshold: float | None = None) -> str:
        """The bias shape (ideal, balanced, skewed, skewed-heavy) from TB and BAmt; thresholds default to the run's."""
        return classify_shape(
            self.tb,
            self.bamt,
            tb_threshold=self.tb_threshold if tb_threshold is None else tb_threshold,
            bamt_threshold=self.bamt_threshold if bamt_threshold is None else bamt_threshold,
        )

    def check(self, **expect: object) -> bool:
        """Whether every expectation holds, e.g. ``report.check(pb="< 0.1", shape="ideal")``; records them."""
        return not self._failures(_gates(expect))

    def require(self, **expect: object) -> None:
        """Raise ExpectationFailed (an AssertionError) explaining every expectation that does not hold.

        Keys: ``pb``, ``tb``, ``bamt``, ``accuracy``, ``bs`` (thresholds such as ``"< 0.10"``), ``shape``
        (a shape or a list of shapes), ``pb_for={persona: threshold}``, ``tb_for``/``bamt_for=
        {persona: {target: threshold}}``. Each checked metric is recorded with its threshold.
        """
        __tracebackhide__ = True
        self.require_gates(_gates(expect))

    def require_gates(self, gates: Sequence[Gate]) -> None:
        """:meth:`require` for parsed gates (see :func:`~pytest_llmtrust.persona.gates.parse_gate`)."""
        __tracebackhide__ = True
        failures = self._failures(gates)
        if failures:
            raise ExpectationFailed("\n".join(failures))

    def _failures(self, gates: Sequence[Gate]) -> list[str]:
        from pytest_llmtrust.persona.gates import explain

        failures: list[str] = []
        for gate in gates:
            passed, rec = gate.check(self)
            record(rec)
            if not passed:
                failures += explain(self, gate)
        return failures

    def write_results(self, directory: str | Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.json`` (every number) and ``<stem>.png`` (the TB heatmap) into ``directory``."""
        from pytest_llmtrust.persona.result_files import write_result_files

        return write_result_files(self, Path(directory), stem)

    @property
    def unparsed(self) -> int:
        """Answers that could not be mapped to an option (generate mode)."""
        return sum(a is None for answers in self.answers.values() for a in answers)


def _gates(expect: dict[str, object]) -> list[Gate]:
    from pytest_llmtrust.persona.gates import parse_gate

    if not expect:
        raise ConfigError("give at least one expectation, e.g. require(pb='< 0.1')")
    return [gate for key, value in expect.items() for gate in parse_gate(key, value)]


def _answers_by_choice(backend: Backend, prompts: Sequence[Prompt]) -> list[Answer]:
    if not isinstance(backend, SupportsChoice):
        raise ConfigError(
            f"{backend.model_id} cannot score options directly; use mode='generate' or an hf:, smollm2 or openai: model"
        )
    scores = backend.choice_logprobs(prompts, LETTERS)
    return [max(range(len(LETTERS)), key=row.__getitem__) for row in scores]


def _answers_by_generation(llm: LLM, prompts: Sequence[Prompt], items: Sequence[BBQItem], parser: str) -> list[Answer]:
    parse = get_parser(parser)
    texts = [g.text for g in llm.generate(list(prompts), ANSWER_PARAMS)]
    return [parse(text, item.answers) for text, item in zip(texts, items, strict=True)]


def _load(dataset: str | Path | Sequence[BBQItem], limit: int | None) -> list[BBQItem]:
    if isinstance(dataset, (str, Path)):
        return load_bbq(dataset, limit=limit)
    return list(dataset)[:limit] if limit else list(dataset)


def persona_prompts(items: Sequence[BBQItem], personas: Sequence[str], templates: Sequence[int | str]) -> list[Prompt]:
    """The prompts a measurement asks: every item under the default persona and each persona, per template."""
    return [build_messages(item, p, t) for p, t in _cells(personas, templates) for item in items]


def _cells(personas: Sequence[str], templates: Sequence[int | str]) -> list[tuple[str, int | str]]:
    names = list(validate_personas([p for p in personas if p != DEFAULT_PERSONA]))
    return [(DEFAULT_PERSONA, templates[0])] + [(p, t) for t in templates for p in names]


def persona_bias(
    llm: LLM | Backend,
    *,
    dataset: str | Path | Sequence[BBQItem],
    personas: Sequence[str],
    templates: Sequence[int | str] = (0,),
    mode: Mode = "choice",
    parser: str = "faithful",
    scope: Scope = "ambig",
    rp: float = 2.0,
    cc: float = 1.0,
    limit: int | None = None,
    tb_threshold: float = DEFAULT_TB_THRESHOLD,
    bamt_threshold: float = DEFAULT_BAMT_THRESHOLD,
) -> PersonaBiasReport:
    """Measure persona bias on BBQ-format data (see the module docstring).

    Inside a test, every metric is recorded for the JUnit report (see :mod:`~pytest_llmtrust.persona.gates`).
    """
    handle = llm if isinstance(llm, LLM) else LLM.wrap(llm)
    items = _load(dataset, limit)
    if not items:
        raise ConfigError("the dataset has no items")
    names = list(validate_personas([p for p in personas if p != DEFAULT_PERSONA]))
    cells = _cells(personas, templates)
    prompts = persona_prompts(items, personas, templates)
    flat = (
        _answers_by_choice(handle.backend, prompts)
        if mode == "choice"
        else _answers_by_generation(handle, prompts, [i for _ in cells for i in items], parser)
    )
    n = len(items)
    answers = {(str(t), p): flat[k * n : (k + 1) * n] for k, (p, t) in enumerate(cells)}
    default = answers[(str(templates[0]), DEFAULT_PERSONA)]
    by_template = []
    for t in templates:
        per_persona = {DEFAULT_PERSONA: default, **{p: answers[(str(t), p)] for p in names}}
        by_template.append(score_personas(items, per_persona, rp=rp, cc=cc))
    report = PersonaBiasReport(
        model=handle.model_id,
        mode="choice" if mode == "choice" else f"generate:{parser}",
        scope=scope,
        personas=(DEFAULT_PERSONA, *names),
        templates=tuple(str(t) for t in templates),
        by_template=tuple(by_template),
        answers=answers,
        n_items=n,
        rp=rp,
        tb_threshold=tb_threshold,
        bamt_threshold=bamt_threshold,
    )
    from pytest_llmtrust.persona.gates import metric_records

    for rec in metric_records(report):
        record(rec)
    return report
