"""``CachedBackend``: a backend in front of another that answers from the cache when it can.

It is itself a :class:`~pytest_llmtrust.backends.base.Backend` (and scores constrained choice).
A call splits its prompts into answers already known (this run's memory, then the SQLite store)
and the rest; the rest are deduplicated, sorted by length and sent to the model in chunks of a
few batches, and each chunk is stored as soon as it is done (each answer, for a backend that
reports them one by one through ``ANSWER_SINK``), so an interrupted run keeps what it finished.
The model itself is loaded only when something is missing, and the model id for reports comes
from the store, so a fully cached run loads nothing (and never imports torch).

:meth:`CachedBackend.prefetch` is the same machinery for many calls at once: collect-then-batch
hands it every request of the selected tests before they run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_llmtrust import budget as budgets
from pytest_llmtrust.backends.base import (
    ANSWER_SINK,
    Backend,
    Generation,
    GenerationParams,
    Prompt,
    prompt_text,
    to_messages,
)
from pytest_llmtrust.cache.key import cacheable, canonical, choice_key, generation_key, sample_indices
from pytest_llmtrust.cache.mode import CacheMode
from pytest_llmtrust.errors import CacheMiss, ConfigError, GenerationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pytest_llmtrust.backends.base import AnswerSink
    from pytest_llmtrust.budget import Budget
    from pytest_llmtrust.cache.store import Store

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 256
"""Prompts per model call when the backend says nothing of its batch size."""
CHOICE_TOKENS = 1
"""Completion tokens a constrained-choice scoring is counted for (budgets)."""


@dataclass
class CacheStats:
    """What the cache did in a run."""

    hits: int = 0
    """Answers taken from the cache (this run's or an earlier run's)."""
    generated: int = 0
    """Answers the model produced (stored unless the mode is off or read)."""
    uncached: int = 0
    """Answers of unseeded sampling, which is never cached."""
    model_calls: int = 0
    """Chunks sent to the model."""

    def add(self, other: CacheStats) -> None:
        """Add another backend's counts to these."""
        self.hits += other.hits
        self.generated += other.generated
        self.uncached += other.uncached
        self.model_calls += other.model_calls


@dataclass(frozen=True)
class _Ask:
    """One answer to find: its key, the prompt, and where it goes."""

    key: str
    prompt: Prompt


class CachedBackend:
    """See the module docstring. Build it with :meth:`LLMTrustSession.cached_backend` inside pytest."""

    def __init__(
        self,
        load: Callable[[], Backend],
        *,
        spec: str,
        fingerprint: str | None,
        refine: Callable[[Backend], str | None] | None = None,
        steer: str | None = None,
        store: Store | None = None,
        mode: CacheMode = CacheMode.WRITE,
        budget: Budget | None = None,
    ) -> None:
        """Front ``load()`` (called once, on the first miss) with the cache.

        Args:
            load: builds the real backend.
            spec: the model spec, named in errors and used as the model id when nothing better is known.
            fingerprint: the model fingerprint from :mod:`~pytest_llmtrust.cache.fingerprint`; None when it can
                only be known after loading (then ``refine`` gives it).
            refine: the fingerprint of the loaded backend (it may correct the predicted dtype).
            steer: the steering fingerprint, if the model is steered.
            store: the SQLite store; None keeps answers for this run only.
            mode: see :class:`~pytest_llmtrust.cache.mode.CacheMode`.
            budget: the session's budget, charged for every answer the model makes (see :mod:`~pytest_llmtrust.budget`).
        """
        self.spec = spec
        self.fingerprint = fingerprint
        self.steer = steer
        self.store = store if mode.reads else None
        self.mode = mode
        self.stats = CacheStats()
        self.budget = budget
        self._load = load
        self._refine = refine
        self._base: Backend | None = None
        self._memory: dict[str, Any] = {}
        self._fresh: set[str] = set()
        """Keys answered by the model in this run (their later uses are not cache hits)."""

    # ------------------------------------------------------------------------------------- identity

    @property
    def loaded(self) -> bool:
        """Whether the real backend has been loaded."""
        return self._base is not None

    @property
    def base(self) -> Backend:
        """The real backend (loaded on first access)."""
        if self._base is None:
            self._base = self._load()
            refined = self._refine(self._base) if self._refine is not None else None
            if refined is not None and refined != self.fingerprint:
                if self.fingerprint is not None:
                    log.warning("%s: fingerprint after loading differs from the predicted one; using it", self.spec)
                self.fingerprint = refined
            if self.fingerprint is not None and self.store is not None and self.mode.writes:
                self.store.record_model(self._identity(self.fingerprint), self._base.model_id)
        return self._base

    @property
    def model_id(self) -> str:
        """The model's id; from the store when the model was not loaded (never loads in replay mode)."""
        if self._base is not None:
            return self._base.model_id
        if self.fingerprint is not None and self.store is not None:
            known = self.store.model_id(self._identity(self.fingerprint))
            if known is not None:
                return known
        if self.mode is CacheMode.REPLAY:
            return self.spec
        return self.base.model_id

    def _identity(self, fingerprint: str) -> str:
        """What the ``models`` table is keyed by: the model and its steering."""
        return fingerprint if self.steer is None else f"{fingerprint}|{self.steer}"

    def __getattr__(self, name: str) -> Any:
        """Anything else (``model``, ``tokenizer``, ``render``...) comes from the loaded backend."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def __repr__(self) -> str:
        return f"CachedBackend({self.spec!r}, mode={self.mode.value}, loaded={self.loaded})"

    def _known_fingerprint(self) -> str:
        if self.fingerprint is None:
            if self.mode is CacheMode.REPLAY:
                raise CacheMiss(
                    f"{self.spec}: the model's fingerprint is only known after loading it (a hub model not in the "
                    "local hub cache?), and replay mode never loads a model; run once with --llmtrust-cache=write"
                )
            _ = self.base
        if self.fingerprint is None:
            return f"unfingerprinted:{self.base.model_id}"
        return self.fingerprint

    # ------------------------------------------------------------------------------------- calls

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """One Generation per prompt, in order; ``cached=True`` on answers that came from the cache."""
        prompts = list(prompts)
        if not prompts:
            return []
        if not cacheable(params):
            spend = budgets.active(self.budget)
            budgets.admit(spend, len(prompts), budgets.planned_tokens(prompts, params.max_new_tokens))
            self.stats.uncached += len(prompts)
            out = self.base.generate(prompts, params)
            budgets.charge(spend, len(out), sum(budgets.spent_tokens(g) for g in out))
            return out
        samples = sample_indices(prompts, params)

        def keys(fp: str) -> list[_Ask]:
            return [
                _Ask(generation_key(fp, self.steer, params, p, s), p) for p, s in zip(prompts, samples, strict=True)
            ]

        values, hits = self._ensure(
            keys, lambda batch: self._generate_values(batch, params), "generate", params.max_new_tokens
        )
        return [
            Generation(prompt=p, text=str(v["text"]), finish_reason=v["finish_reason"], cached=hit)
            for p, v, hit in zip(prompts, values, hits, strict=True)
        ]

    def choice_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
        """Constrained choice, cached like generations."""
        prompts, labels = list(prompts), list(labels)
        if not prompts:
            return []

        def produce(batch: list[Prompt]) -> tuple[list[Any], int]:
            return self._choose(batch, labels)

        def keys(fp: str) -> list[_Ask]:
            return [_Ask(choice_key(fp, self.steer, p, labels), p) for p in prompts]

        values, _ = self._ensure(keys, produce, "choice", CHOICE_TOKENS)
        return [[float(x) for x in row] for row in values]

    def prefetch(
        self,
        generations: Sequence[tuple[Sequence[Prompt], GenerationParams]] = (),
        choices: Sequence[tuple[Sequence[Prompt], Sequence[str]]] = (),
    ) -> None:
        """Answer many calls ahead of time, as few large batches per parameter set (collect-then-batch).

        Each entry is the argument list of one later :meth:`generate` or :meth:`choice_logprobs` call;
        those calls then find their answers in memory. Unseeded sampling is not prefetched.
        """
        by_params: dict[GenerationParams, list[tuple[Prompt, int]]] = {}
        for prompts, params in generations:
            if cacheable(params):
                by_params.setdefault(params, []).extend(
                    zip(prompts, sample_indices(list(prompts), params), strict=True)
                )
        for params, entries in by_params.items():

            def gen_keys(
                fp: str, entries: list[tuple[Prompt, int]] = entries, params: GenerationParams = params
            ) -> list[_Ask]:
                return [_Ask(generation_key(fp, self.steer, params, p, s), p) for p, s in entries]

            def produce(batch: list[Prompt], params: GenerationParams = params) -> tuple[list[Any], int]:
                return self._generate_values(batch, params)

            self._ensure(gen_keys, produce, "generate", params.max_new_tokens, count_hits=False)
        by_labels: dict[tuple[str, ...], list[Prompt]] = {}
        for prompts, labels in choices:
            by_labels.setdefault(tuple(labels), []).extend(prompts)
        for labels, prompts in by_labels.items():

            def choice_keys(fp: str, prompts: list[Prompt] = prompts, labels: tuple[str, ...] = labels) -> list[_Ask]:
                return [_Ask(choice_key(fp, self.steer, p, labels), p) for p in prompts]

            def choose(batch: list[Prompt], labels: tuple[str, ...] = labels) -> tuple[list[Any], int]:
                return self._choose(batch, list(labels))

            self._ensure(choice_keys, choose, "choice", CHOICE_TOKENS, count_hits=False)

    def _generate_values(self, prompts: list[Prompt], params: GenerationParams) -> tuple[list[Any], int]:
        """The real backend's answers as stored values, and the tokens they took."""
        try:
            generations = self.base.generate(prompts, params)
        except GenerationError as exc:
            done = {i: g for i, g in exc.done.items() if isinstance(g, Generation)}
            values = dict(zip(done, _generation_values(list(done.values())), strict=True))
            raise _Unfinished(exc, values, sum(budgets.spent_tokens(g) for g in done.values())) from None
        return _generation_values(generations), sum(budgets.spent_tokens(g) for g in generations)

    def _choose(self, prompts: list[Prompt], labels: list[str]) -> tuple[list[Any], int]:
        """The real backend's scores, as plain lists, and the (estimated) tokens they took."""
        choose = getattr(self.base, "choice_logprobs", None)
        if choose is None:
            raise ConfigError(f"{self.model_id} cannot score answer options directly")
        try:
            rows = [[float(x) for x in row] for row in choose(prompts, labels)]
        except GenerationError as exc:
            done = {i: [float(x) for x in row] for i, row in exc.done.items() if isinstance(row, list)}
            tokens = budgets.planned_tokens([prompts[i] for i in done if 0 <= i < len(prompts)], CHOICE_TOKENS)
            raise _Unfinished(exc, done, tokens) from None
        return rows, budgets.planned_tokens(prompts, CHOICE_TOKENS)

    # ------------------------------------------------------------------------------------- machinery

    def _lookup(self, asks: list[_Ask]) -> dict[str, Any]:
        found = {a.key: self._memory[a.key] for a in asks if a.key in self._memory}
        if self.store is not None:
            rest = [a.key for a in asks if a.key not in found]
            if rest:
                stored = self.store.get_many(rest)
                self._memory.update(stored)
                found.update(stored)
        return found

    def _ensure(
        self,
        keys: Callable[[str], list[_Ask]],
        produce: Callable[[list[Prompt]], tuple[list[Any], int]],
        op: str,
        completion: int,
        *,
        count_hits: bool = True,
    ) -> tuple[list[Any], list[bool]]:
        """Values for every ask (in order) and whether each was already known; fills the missing ones.

        ``completion`` is the most tokens one answer may take (budgets check the worst case first).
        """
        fingerprint = self._known_fingerprint()
        asks = keys(fingerprint)
        found = self._lookup(asks)
        spend = budgets.active(self.budget)
        if len(found) < len({a.key for a in asks}) and self.mode is not CacheMode.REPLAY:
            todo = list({a.key: a.prompt for a in asks if a.key not in found}.values())
            budgets.admit(spend, len(todo), budgets.planned_tokens(todo, completion))  # before loading anything
            if not self.loaded:
                _ = self.base  # loading may correct the fingerprint
                if self.fingerprint is not None and self.fingerprint != fingerprint:
                    asks = keys(self.fingerprint)
                    found = self._lookup(asks)
        missing = list({a.key: a for a in asks if a.key not in found}.values())
        if missing and self.mode is CacheMode.REPLAY:
            raise CacheMiss(
                f"{self.spec}: {len(missing)} {op} request(s) are not in the cache "
                f"({self.store.path if self.store else 'no cache file'}), "
                f"e.g. prompt {prompt_text(missing[0].prompt)!r:.120}; "
                "replay mode never calls the model: record them first with --llmtrust-cache=write"
            )
        if missing:
            self._fill(missing, produce, spend, completion)
        values = [self._memory[a.key] for a in asks]
        hits = [a.key in found and a.key not in self._fresh for a in asks]
        if count_hits:
            self.stats.hits += sum(hits)
        return values, hits

    def _chunk_size(self) -> int:
        base = self.base
        batch = getattr(base, "batch_size", None)
        if isinstance(batch, int) and batch > 0:
            return max(batch * 8, 32)
        concurrency = getattr(base, "concurrency", None)
        if isinstance(concurrency, int) and concurrency > 0:
            return max(concurrency * 32, 64)
        return DEFAULT_CHUNK

    def _fill(
        self,
        missing: list[_Ask],
        produce: Callable[[list[Prompt]], tuple[list[Any], int]],
        spend: list[Budget],
        completion: int,
    ) -> None:
        """Ask the model for the missing answers, longest prompts first, storing each chunk when done.

        Each chunk is checked against the budgets ``spend`` before it is sent and charged when done.
        A backend that reports answers one by one (through ``ANSWER_SINK``) has each stored as soon as
        it is done, so even ``kill -9`` loses only the answers still in flight. When a chunk fails
        with a GenerationError, the answers the backend did finish before it gave up (reported, or in
        the error's ``done``) are kept and stored all the same, then the error goes on.
        """
        ordered = sorted(missing, key=lambda a: -len(canonical(to_messages(a.prompt))))
        size = self._chunk_size()
        for start in range(0, len(ordered), size):
            chunk = ordered[start : start + size]
            prompts = [a.prompt for a in chunk]
            budgets.admit(spend, len(chunk), budgets.planned_tokens(prompts, completion))
            early: dict[str, Any] = {}
            token = ANSWER_SINK.set(self._sink(chunk, early))
            try:
                values, tokens = produce(prompts)
            except _Unfinished as unfinished:
                kept = {**early, **{chunk[i].key: v for i, v in unfinished.values.items() if 0 <= i < len(chunk)}}
                budgets.charge(spend, len(kept), unfinished.tokens)
                self._keep(kept, stored=early)
                raise unfinished.error from None
            finally:
                ANSWER_SINK.reset(token)
            budgets.charge(spend, len(chunk), tokens)
            if len(values) != len(chunk):  # pragma: no cover - a backend bug
                raise ConfigError(f"{self.spec} returned {len(values)} answers for {len(chunk)} prompts")
            self._keep({a.key: v for a, v in zip(chunk, values, strict=True)}, stored=early)

    def _sink(self, chunk: list[_Ask], early: dict[str, Any]) -> AnswerSink:
        """An ``ANSWER_SINK`` for one chunk: store each reported answer at once, and note it in ``early``."""

        def sink(index: int, prompt: Prompt, answer: object) -> None:
            if not 0 <= index < len(chunk) or chunk[index].prompt != prompt:
                return  # not an answer to this chunk's call (a backend calling another inside)
            value = _stored_value(answer)
            if value is None:
                return
            key = chunk[index].key
            early[key] = value
            if self.store is not None and self.mode.writes:
                self.store.put_many({key: value})

        return sink

    def _keep(self, fresh: dict[str, Any], *, stored: dict[str, Any]) -> None:
        """Remember and store answers the model just made (one model call's worth); ``stored`` are on disk already."""
        self._memory.update(fresh)
        self._fresh.update(fresh)
        if self.store is not None and self.mode.writes:
            self.store.put_many({k: v for k, v in fresh.items() if k not in stored})
        self.stats.generated += len(fresh)
        self.stats.model_calls += 1


class _Unfinished(Exception):
    """A model call failed after finishing some answers.

    It carries the error, those answers (as stored values, by index in the call) and their tokens.
    """

    def __init__(self, error: GenerationError, values: dict[int, Any], tokens: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.values = values
        self.tokens = tokens


def _generation_values(generations: list[Generation]) -> list[Any]:
    return [{"text": g.text, "finish_reason": g.finish_reason} for g in generations]


def _stored_value(answer: object) -> Any:
    """What the cache stores for one reported answer (None: not a kind it stores)."""
    if isinstance(answer, Generation):
        return _generation_values([answer])[0]
    if isinstance(answer, list) and all(isinstance(x, (int, float)) for x in answer):
        return [float(x) for x in answer]
    return None
