r"""Causal-reasoning study (survey §11.8): is event A a cause of event B, and does B's sentiment hinge on A?

Each pair ``[event_a, event_b, type]`` is asked two questions with the survey authors' templates: Q1 "Is A a
cause of B?" and Q2 "If we change B to flip the sentiment of the sentence, is it necessary to change A for
consistency?", both answered ``A) Yes`` / ``B) No``. Gold answers by type: 1 unrelated (B, B), 2 causal (A, A),
3 causal with a neutral outcome (A, B). In ``mode: generate`` (default) a reply is read with the authors' regex
``\b[AB]\)`` and must hold exactly one match, else it is "not understood" (the authors' "C"): it counts as
wrong and lowers ``q1_understood``/``q2_understood``. ``limit`` keeps the first N pairs in file order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.studies import choice
from pytest_llmtrust.studies.base import Case, Measure, StudyResult, StudySpec, rate
from pytest_llmtrust.studies.data import resolve
from pytest_llmtrust.studies.options import StudyOptions

if TYPE_CHECKING:
    from pytest_llmtrust.studies.base import StudyContext

STUDY = "causal"
DEFAULT_DATA = "pairs.jsonl"
Question = Literal["q1", "q2"]

_ASK = "\nA) Yes\nB) No\nYou must answer the question with A) or B).\nAnswer:"
Q1_TEMPLATE = "Context: After [Event_A], [Event_B].\nQuestion: Is [Event_A] a cause of [Event_B]?" + _ASK
"""Q1, the text of the survey authors' ``prompt_q1.txt``; ``[Event_A]`` and ``[Event_B]`` are filled in."""
Q2_TEMPLATE = (
    "Context: After [Event_A], [Event_B].\nQuestion: If we change [Event_B] to flip the sentiment of the sentence, "
    "is it necessary to change [Event_A] for consistency?" + _ASK
)
"""Q2, as in the survey authors' ``prompt_q2.txt``."""
PLACEHOLDERS = ("[Event_A]", "[Event_B]")
GOLD: dict[int, dict[Question, str]] = {1: {"q1": "B", "q2": "B"}, 2: {"q1": "A", "q2": "A"}, 3: {"q1": "A", "q2": "B"}}
"""Gold letter per pair type and question (A = Yes, B = No)."""


@dataclass(frozen=True, slots=True)
class EventPair:
    """Two events and their type (1 unrelated, 2 causal, 3 causal with a neutral outcome), with their source."""

    event_a: str
    event_b: str
    type: int
    source: str = ""


_FORMATS = 'JSON lines ({"event_a": ..., "event_b": ..., "type": 1|2|3}) or the authors\' {"data": [[a, b, type], ...]}'


def load_pairs(path: Path) -> list[EventPair]:
    """Pairs from our JSON-lines file or the authors' ``causal.json`` (``{"data": [[a, b, type], ...]}``)."""
    text = path.read_text(encoding="utf-8")
    whole: Any = None
    broken: json.JSONDecodeError | None = None
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as exc:
        broken = exc
    if isinstance(whole, dict) and "data" in whole:
        rows = whole["data"]
        if not isinstance(rows, list):
            raise ConfigError(f"{path}: 'data' must be a list of [event_a, event_b, type]")
        pairs = [_pair(row, f"{path} data[{i}]") for i, row in enumerate(rows)]
    else:
        pairs = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                # a broken first line of a file that is not JSON as a whole: report where the document breaks
                where, msg = (broken.lineno, broken.msg) if broken is not None and not pairs else (lineno, exc.msg)
                raise ConfigError(f"{path}:{where}: not valid JSON ({msg}); write {_FORMATS}") from None
            pairs.append(_pair(row, f"{path}:{lineno}"))
    if not pairs:
        raise ConfigError(f"{path}: no event pairs; write {_FORMATS}")
    return pairs


def _pair(row: Any, where: str) -> EventPair:
    if isinstance(row, dict):
        values = [row.get("event_a"), row.get("event_b"), row.get("type")]
    elif isinstance(row, list) and len(row) == 3:
        values = list(row)
    else:
        raise ConfigError(f"{where}: expected an object with event_a, event_b, type or a list [a, b, type]")
    a, b, kind = values
    if not isinstance(a, str) or not a.strip() or not isinstance(b, str) or not b.strip():
        raise ConfigError(f"{where}: event_a and event_b must be non-empty strings")
    if isinstance(kind, bool) or kind not in GOLD:
        raise ConfigError(
            f"{where}: type must be 1 (unrelated), 2 (causal) or 3 (causal, neutral outcome), got {kind!r}"
        )
    return EventPair(a, b, int(kind), where)


class CausalOptions(StudyOptions):
    """Options of the causal study (besides ``data``, ``limit`` and ``seed``)."""

    questions: tuple[Question, ...] = ("q1", "q2")
    """Which questions to ask each pair."""
    mode: choice.Mode = "generate"
    """``generate``: read ``A)``/``B)`` from the reply, as the authors did; ``choice``: constrained choice."""
    max_new_tokens: int = Field(default=50, ge=1)
    """Reply length in generate mode (the authors' max_tokens was 50); overrides the suite's generation setting."""
    q1_template: str | None = None
    """A Q1 template file (e.g. the authors' ``prompt_q1.txt``) instead of the built-in one."""
    q2_template: str | None = None
    """A Q2 template file instead of the built-in one."""

    @field_validator("questions")
    @classmethod
    def _distinct(cls, value: tuple[Question, ...]) -> tuple[Question, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("list q1, q2 or both, each once")
        return value


def load_template(value: str | None, base: Path | None, question: Question) -> str:
    """The built-in template of ``question``, or the file ``value`` (relative to ``base``) with both placeholders."""
    if value is None:
        return Q1_TEMPLATE if question == "q1" else Q2_TEMPLATE
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise ConfigError(f"causal {question}_template: no file at {value!r}; give a path relative to the suite file")
    text = path.read_text(encoding="utf-8")
    missing = [p for p in PLACEHOLDERS if p not in text]
    if missing:
        raise ConfigError(f"{path}: template lacks {' and '.join(missing)}; mark where the events go with both")
    return text


def fill(template: str, pair: EventPair) -> str:
    """The template with the events put in, as the authors did: periods dropped from events, result stripped."""
    text = template.replace("[Event_A]", pair.event_a.replace(".", ""))
    return text.replace("[Event_B]", pair.event_b.replace(".", "")).strip()


_LETTER = re.compile(r"\b([AB])\)")


def parse_letter(text: str) -> str | None:
    """``A`` or ``B`` when the reply holds exactly one ``A)``/``B)``, else None (the authors' "C", not understood)."""
    found = _LETTER.findall(text)
    return str(found[0]) if len(found) == 1 else None


def _score(
    q: Question, pairs: list[EventPair], prompts: list[str], got: list[choice.Answer]
) -> tuple[list[bool], list[Case]]:
    """Per pair whether question ``q`` was answered right, and the judged cases."""
    right, cases = [], []
    for pair, prompt, answer in zip(pairs, prompts, got, strict=True):
        gold = GOLD[pair.type][q]
        ok = answer.letter == gold
        right.append(ok)
        if answer.letter is None:
            outcome = f"{q}, type {pair.type}: not understood (no single A) or B) in the reply); gold {gold})"
        else:
            outcome = f"{q}, type {pair.type}: answered {answer.letter}), gold {gold})"
        good = None if answer.letter is None else ok
        tags = frozenset({f"{q}_accuracy", f"{q}_understood", "accuracy"})
        cases.append(Case(prompt, answer.text, outcome, good, answer.prob, metrics=tags))
    return right, cases


def run(ctx: StudyContext, opts: CausalOptions) -> StudyResult:
    """Ask the chosen questions of every pair and return per-question accuracy and understood rates."""
    templates = {
        "q1": load_template(opts.q1_template, ctx.base, "q1"),
        "q2": load_template(opts.q2_template, ctx.base, "q2"),
    }
    pairs = load_pairs(resolve(opts.data, ctx.base, STUDY, DEFAULT_DATA))[: opts.limit]
    n = len(pairs)
    prompts = [fill(templates[q], pair) for q in opts.questions for pair in pairs]
    answers = choice.ask(
        ctx.llm, prompts, mode=opts.mode, max_new_tokens=opts.max_new_tokens, parse=parse_letter, study=STUDY
    )
    measures: dict[str, Measure] = {}
    cases: list[Case] = []
    all_right, any_missing = [True] * n, [False] * n
    by_type: dict[str, dict[str, float]] = {str(t): {"n": sum(p.type == t for p in pairs)} for t in GOLD}
    for i, q in enumerate(opts.questions):
        got = answers[i * n : (i + 1) * n]
        right, q_cases = _score(q, pairs, prompts[i * n : (i + 1) * n], got)
        cases += q_cases
        missing = [a.letter is None for a in got]
        measures[f"{q}_accuracy"] = rate(f"{q}_accuracy", sum(right), n, unparsed=sum(missing))
        measures[f"{q}_understood"] = rate(f"{q}_understood", n - sum(missing), n, unparsed=sum(missing))
        all_right = [a and b for a, b in zip(all_right, right, strict=True)]
        any_missing = [a or b for a, b in zip(any_missing, missing, strict=True)]
        for t, row in by_type.items():
            hits = [ok for p, ok in zip(pairs, right, strict=True) if str(p.type) == t]
            row[f"{q}_accuracy"] = sum(hits) / len(hits) if hits else float("nan")
    if len(opts.questions) == 2:
        measures["accuracy"] = rate("accuracy", sum(all_right), n, unparsed=sum(any_missing))
    letters = [a.letter for a in answers]
    details = {
        "mode": opts.mode,
        "questions": list(opts.questions),
        "max_new_tokens": opts.max_new_tokens if opts.mode == "generate" else None,
        "data": "packaged" if opts.data is None else opts.data,
        "answers": {"A": letters.count("A"), "B": letters.count("B"), "not_understood": letters.count(None)},
        "by_type": by_type,
    }
    judge = "constrained choice" if opts.mode == "choice" else "answer parsing"
    return StudyResult(STUDY, ctx.llm.model_id, judge, measures, cases, ctx.confidence, details)


SPEC = StudySpec(
    name=STUDY,
    title="Causal reasoning: cause or not, and does the outcome hinge on it (survey §11.8)",
    trust=(("explainability_and_reasoning", "limited_causal_reasoning"),),
    metrics={
        "q1_accuracy": "share of pairs answered right on Q1 (is A a cause of B?); not understood counts as wrong",
        "q2_accuracy": "share of pairs answered right on Q2 (must A change if B's sentiment flips?)",
        "q1_understood": "share of Q1 replies holding exactly one A) or B)",
        "q2_understood": "share of Q2 replies holding exactly one A) or B)",
        "accuracy": "share of pairs answered right on both questions (only when both are asked)",
    },
    rate_metrics=frozenset({"q1_accuracy", "q2_accuracy", "q1_understood", "q2_understood", "accuracy"}),
    options=CausalOptions,
    run=run,
)
