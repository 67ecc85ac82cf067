"""``--llmtrust-dry-run``: what the selected tests would ask of each model, worked out without loading one.

Each selected item's declared requests (:func:`~pytest_llmtrust.prefetch.item_requests`) are grouped
per model and deduplicated like the real run does (two expectations of one suite share one
generation). Answers the generation cache already holds are counted when the model's fingerprint
is known without loading it (everything but a hub model that was never downloaded); the cache file
is only read. Items that declare nothing (study suites, Python tests without ``@prompts``) are
listed as not planned. Then the session ends without running a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.backends.base import GenerationParams, Prompt, to_messages
from pytest_llmtrust.budget import prompt_tokens
from pytest_llmtrust.cache.key import cacheable, canonical, choice_key, generation_key, sample_indices
from pytest_llmtrust.cache.mode import CacheMode
from pytest_llmtrust.errors import LLMTrustError, SuiteError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from pytest_llmtrust.budget import Caps
    from pytest_llmtrust.cache.cached import CachedBackend
    from pytest_llmtrust.prefetch import Request
    from pytest_llmtrust.session import LLMTrustSession

MODEL_FIXTURES = frozenset({"llm", "steered_llm", "judge", "persona_bias", "trust_study"})
SHOWN = 5
"""Item ids listed by name before "and N more"."""

Ident = tuple[Any, ...]


@dataclass
class _Ask:
    prompt: Prompt
    completion: int
    key: str | None
    """The cache key once the fingerprint is known; None for answers that are never cached."""


@dataclass
class ModelPlan:
    """What one model (and steering) would be asked."""

    spec: str
    backend: CachedBackend
    items: set[str] = field(default_factory=set)
    asks: dict[Ident, _Ask] = field(default_factory=dict)
    found: set[Ident] | None = None
    """Asks the cache already answers; None when that cannot be known without loading the model."""

    def add(self, request: Request) -> dict[Ident, _Ask]:
        """Add one request's asks (deduplicated); return them."""
        added: dict[Ident, _Ask] = {}
        fp = self.backend.fingerprint or ""
        steer = self.backend.steer
        if request.params is not None:
            params: GenerationParams = request.params
            keep = cacheable(params)
            for prompt, sample in zip(request.prompts, sample_indices(list(request.prompts), params), strict=True):
                key = generation_key(fp, steer, params, prompt, sample) if keep else None
                ident: Ident = ("generate", params, canonical(to_messages(prompt)), sample)
                added[ident] = _Ask(prompt, params.max_new_tokens, key)
        if request.labels is not None:
            labels = list(request.labels)
            for prompt in request.prompts:
                ident = ("choice", tuple(labels), canonical(to_messages(prompt)))
                added[ident] = _Ask(prompt, 1, choice_key(fp, steer, prompt, labels))
        self.asks.update(added)
        return added

    def look_up(self) -> None:
        """Find the asks the cache holds (read only; never loads the model)."""
        store, fp = self.backend.store, self.backend.fingerprint
        if store is None:
            self.found = set()
            return
        if fp is None:
            self.found = None
            return
        keyed = {ask.key: ident for ident, ask in self.asks.items() if ask.key is not None}
        self.found = {keyed[key] for key in store.get_many(list(keyed))}


@dataclass
class Totals:
    """Counts over a set of asks."""

    generations: int = 0
    choices: int = 0
    cached: int | None = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def to_run(self) -> int:
        """Requests the model would be sent."""
        return self.generations + self.choices - (self.cached or 0)


def totals(asks: dict[Ident, _Ask], found: set[Ident] | None) -> Totals:
    """Count ``asks``; tokens are those of the asks not in ``found``."""
    out = Totals(cached=None if found is None else len(found & asks.keys()))
    for ident, ask in asks.items():
        if ident[0] == "generate":
            out.generations += 1
        else:
            out.choices += 1
        if found is None or ident not in found:
            out.prompt_tokens += prompt_tokens(ask.prompt)
            out.completion_tokens += ask.completion
    return out


@dataclass
class Plan:
    """The dry run's findings."""

    models: dict[str, ModelPlan] = field(default_factory=dict)
    suites: dict[str, tuple[Caps, ModelPlan, dict[Ident, _Ask]]] = field(default_factory=dict)
    undeclared: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    no_model: int = 0
    sampled: dict[str, str] = field(default_factory=dict)
    """Per sampled suite whose early stopping decides how many rounds follow the planned ones: a note."""


def make_plan(items: Iterable[pytest.Item], session: LLMTrustSession) -> Plan:
    """Plan every item's declared requests per model; look up the cache."""
    from pytest_llmtrust.cache.cached import CachedBackend
    from pytest_llmtrust.prefetch import item_requests

    plan = Plan()
    for item in items:
        error = getattr(item, "error", None)
        if isinstance(error, SuiteError):
            plan.broken.append(str(error))
            continue
        requests = item_requests(item, session)
        if not requests:
            if hasattr(item, "suite") or MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
                plan.undeclared.append(item.nodeid)
            else:
                plan.no_model += 1
            continue
        suite = getattr(item, "suite", None)
        caps = getattr(suite, "budget", None)
        _note_sampling(plan, suite)
        for request in requests:
            try:
                backend = request.llm.backend  # the cache-fronted handle: nothing loads here
            except LLMTrustError:
                continue
            if not isinstance(backend, CachedBackend):
                continue
            model = plan.models.setdefault(backend.spec, ModelPlan(backend.spec, backend))
            model.items.add(item.nodeid)
            added = model.add(request)
            if caps is not None:
                plan.suites.setdefault(str(item.path), (caps, model, {}))[2].update(added)
    for model in plan.models.values():
        model.look_up()
    return plan


def _note_sampling(plan: Plan, suite: Any) -> None:
    """A suite with ``samples:`` and early stopping plans only the rounds always taken: say how many more may follow."""
    sampling = getattr(suite, "sampling", None)
    n, first = getattr(sampling, "n", None), getattr(sampling, "first_rounds", None)
    if isinstance(n, int) and isinstance(first, int) and n > first:
        more = (n - first) * len(getattr(suite, "prompts", ()))
        plan.sampled[str(suite.path)] = (
            f"suite {suite.name!r} samples up to {n} rounds: planned are the {first} always taken; early stopping "
            f"decides the other {n - first} (up to {more:,} more generations)"
        )


def read_only(mode: CacheMode, path: Path | None) -> CacheMode:
    """The cache mode of a dry run: ``read`` where the run would write; ``off`` when there is no cache file yet."""
    if path is None or not path.is_file():
        return CacheMode.OFF
    return CacheMode.READ if mode is CacheMode.WRITE else mode


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool:
    """Print the plan instead of running the tests (registered only under ``--llmtrust-dry-run``)."""
    from pytest_llmtrust.dryrun_report import plan_lines
    from pytest_llmtrust.stash import SESSION

    failed = session.testsfailed
    if failed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{failed} error{'s' if failed != 1 else ''} during collection")
    llm_session = session.config.stash[SESSION]
    lines = plan_lines(make_plan(session.items, llm_session), llm_session)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "llmtrust dry run: no test was run")
        for line in lines:
            reporter.write_line(line)
    return True
