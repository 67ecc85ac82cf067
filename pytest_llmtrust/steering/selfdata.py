r"""AlignEZ step 1: the model under test writes its own preference pairs.

For every query and objective (a POS/NEG keyword pair), the model is asked twice, as the
authors' v2 script does (re-typed from ``docs/methods.md`` §2.1):

1. **Characteristics** (50 new tokens)::

       "{query}\nYou are a {POS} assistant. Your answer to this query should: "
       "{query}\nPretend you are a {NEG} assistant. Your response to this query should: "

2. **Responses** (200 new tokens by default), conditioned on those characteristics::

       "You are a {POS} assistant. Your answer should {pos_characteristics}.\n{query} "
       "Pretend you are a {NEG} assistant. Your answer should {neg_characteristics}.\n{query}"

   A response is cut at ``"Human:"`` (the model starting a new turn).

The texts that get embedded are ``"Human: {query}\nAssistant:{response}"``. Every prompt is
sent as one user message through any backend (the authors used the HH-RLHF plain-text
template; a chat model gets its own template here). Greedy decoding by default.

Results are written as JSONL, one record per (query, objective) with the four prompts used,
and cached: a file named after a hash of the model, queries, objectives, templates and
decoding settings is reused instead of generating again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.atomic import atomic_write
from pytest_llmtrust.backends.base import GenerationParams
from pytest_llmtrust.errors import ConfigError, did_you_mean
from pytest_llmtrust.model import LLM

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pytest_llmtrust.backends.base import Backend

FORMAT = "pytest-llmtrust/alignez-pairs"
VERSION = 1


@dataclass(frozen=True)
class Objective:
    """A preference: the assistant the model should be (``pos``) and the one it should not (``neg``)."""

    name: str
    pos: str
    neg: str


OBJECTIVES: dict[str, Objective] = {
    "helpful": Objective("helpful", "helpful", "useless"),
    "harmless": Objective("harmless", "safety-first", "malicious"),
    "humor": Objective("humor", "humorous", "dull and boring"),
}
"""The paper's keyword pairs; pass :class:`Objective` objects for your own."""

CHARACTERISTICS_POS = "{query}\nYou are a {pos} assistant. Your answer to this query should: "
CHARACTERISTICS_NEG = "{query}\nPretend you are a {neg} assistant. Your response to this query should: "
RESPONSE_POS = "You are a {pos} assistant. Your answer should {characteristics}.\n{query} "
RESPONSE_NEG = "Pretend you are a {neg} assistant. Your answer should {characteristics}.\n{query}"
EMBED = "Human: {query}\nAssistant:{response}"
TURN_MARKER = "Human:"


@dataclass(frozen=True)
class PreferencePair:
    """One self-generated pair, with the prompts that produced it."""

    query: str
    objective: str
    pos: str
    neg: str
    pos_characteristics: str
    neg_characteristics: str
    pos_response: str
    neg_response: str
    prompts: dict[str, str]

    @property
    def help_text(self) -> str:
        """The text whose activations stand for the preferred response."""
        return EMBED.format(query=self.query, response=self.pos_response)

    @property
    def harm_text(self) -> str:
        """The text whose activations stand for the dispreferred response."""
        return EMBED.format(query=self.query, response=self.neg_response)


def objective(value: str | Objective) -> Objective:
    """An :class:`Objective` from a name (``helpful``, ``harmless``, ``humor``) or itself."""
    if isinstance(value, Objective):
        if not value.pos.strip() or not value.neg.strip():
            raise ConfigError(f"objective {value.name!r} needs non-empty pos and neg keywords")
        return value
    if value not in OBJECTIVES:
        raise ConfigError(
            f"unknown objective {value!r}{did_you_mean(value, OBJECTIVES)}; "
            f"known: {', '.join(OBJECTIVES)}, or pass Objective(name, pos, neg)"
        )
    return OBJECTIVES[value]


def _clean(text: str) -> str:
    cut = text.split(TURN_MARKER, 1)[0]
    return cut.strip()


def _characteristics(text: str) -> str:
    """The characteristics as one clause: first paragraph, no trailing full stop."""
    first = _clean(text).split("\n\n", 1)[0].strip()
    return first.rstrip(".").strip() or "address the query"


def cache_key(model_id: str, queries: Sequence[str], objectives: Sequence[Objective], params: Mapping[str, Any]) -> str:
    """A short hash of everything that decides the pairs."""
    blob = json.dumps(
        {
            "model": model_id,
            "queries": list(queries),
            "objectives": [asdict(o) for o in objectives],
            "templates": [CHARACTERISTICS_POS, CHARACTERISTICS_NEG, RESPONSE_POS, RESPONSE_NEG],
            "params": dict(params),
            "version": VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def generate_pairs(
    llm: LLM | Backend,
    queries: Sequence[str],
    objectives: Sequence[str | Objective] = ("harmless",),
    *,
    characteristics_tokens: int = 50,
    response_tokens: int = 200,
    cache_dir: str | Path | None = None,
) -> list[PreferencePair]:
    """Self-generate preference pairs (see the module docstring); reuse a cached file when one matches.

    Args:
        llm: the model under test (any backend).
        queries: the queries to write pairs for (non-empty strings).
        objectives: keyword pairs by name or as :class:`Objective`.
        characteristics_tokens: new tokens for step 1 (the authors: 50).
        response_tokens: new tokens for step 2 (the authors: 200).
        cache_dir: where to keep ``alignez-pairs-<hash>.jsonl``; ``None`` never caches.

    Returns:
        One pair per query and objective, queries in order within each objective.
    """
    handle = llm if isinstance(llm, LLM) else LLM.wrap(llm)
    if not queries or not all(isinstance(q, str) and q.strip() for q in queries):
        raise ConfigError("generate_pairs needs a non-empty list of non-empty query strings")
    chosen = [objective(o) for o in objectives]
    if not chosen:
        raise ConfigError("give at least one objective, e.g. objectives=['harmless']")
    params = {"characteristics_tokens": characteristics_tokens, "response_tokens": response_tokens}
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"alignez-pairs-{cache_key(handle.model_id, queries, chosen, params)}.jsonl"
        if path.is_file():
            return read_pairs(path)
    step1 = GenerationParams(max_new_tokens=characteristics_tokens, temperature=0.0, stop=(TURN_MARKER,))
    step2 = GenerationParams(max_new_tokens=response_tokens, temperature=0.0, stop=(TURN_MARKER,))
    jobs = [(o, q) for o in chosen for q in queries]
    first = [CHARACTERISTICS_POS.format(query=q, pos=o.pos) for o, q in jobs]
    first += [CHARACTERISTICS_NEG.format(query=q, neg=o.neg) for o, q in jobs]
    traits = [_characteristics(g.text) for g in handle.backend.generate(first, step1)]
    n = len(jobs)
    second = [RESPONSE_POS.format(pos=o.pos, characteristics=traits[i], query=q) for i, (o, q) in enumerate(jobs)] + [
        RESPONSE_NEG.format(neg=o.neg, characteristics=traits[n + i], query=q) for i, (o, q) in enumerate(jobs)
    ]
    answers = [_clean(g.text) for g in handle.backend.generate(second, step2)]
    pairs = [
        PreferencePair(
            query=q,
            objective=o.name,
            pos=o.pos,
            neg=o.neg,
            pos_characteristics=traits[i],
            neg_characteristics=traits[n + i],
            pos_response=answers[i],
            neg_response=answers[n + i],
            prompts={
                "pos_characteristics": first[i],
                "neg_characteristics": first[n + i],
                "pos_response": second[i],
                "neg_response": second[n + i],
            },
        )
        for i, (o, q) in enumerate(jobs)
    ]
    if path is not None:
        write_pairs(path, pairs, model=handle.model_id, params=params)
    return pairs


def write_pairs(path: str | Path, pairs: Sequence[PreferencePair], **header: Any) -> Path:
    """Write pairs as JSONL: a header line (format, version, and ``header``), then one pair per line; atomic."""
    lines = [json.dumps({"format": FORMAT, "version": VERSION, **header}, ensure_ascii=False)]
    lines += [json.dumps(asdict(p), ensure_ascii=False) for p in pairs]
    return atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"))


def read_pairs(path: str | Path) -> list[PreferencePair]:
    """Read a file written by :func:`write_pairs`; a bad line is a ConfigError naming file and line."""
    source = Path(path)
    lines = source.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ConfigError(f"{source}: empty file; regenerate it with generate_pairs(...)")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:1: not a pairs file ({exc.msg}); regenerate it") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ConfigError(f"{source}:1: not a version-{VERSION} {FORMAT} file; regenerate it with generate_pairs(...)")
    pairs = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            pairs.append(PreferencePair(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigError(f"{source}:{number}: malformed pair ({exc}); delete the file to regenerate it") from None
    return pairs
