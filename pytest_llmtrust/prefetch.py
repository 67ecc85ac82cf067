"""Collect-then-batch: answer the selected tests' requests before the tests run.

After collection, every selected item that can say what it will ask (a YAML suite's prompts, a
persona-bias suite's questions, a Python test's ``@prompts(...)`` marker) contributes its
requests. They are grouped per model, deduplicated, sorted by length and sent as a few large
batches through the generation cache (:meth:`~pytest_llmtrust.cache.cached.CachedBackend.prefetch`);
the tests then find their answers ready. A test that calls the model in its body without
declaring its prompts still gets its own call batched.

Under pytest-xdist a worker does not know in advance which items it will run, so it prefetches
one test file at a time (at that file's first item); ``--dist loadfile`` keeps a file on one worker.

A request that cannot be planned (a fixture the plan cannot evaluate, a model that fails to load)
is simply left out: the test then makes it itself, and reports any error as its own.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.errors import LLMTrustError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import pytest

    from pytest_llmtrust.backends.base import GenerationParams, Prompt
    from pytest_llmtrust.budget import Budget
    from pytest_llmtrust.model import LLM
    from pytest_llmtrust.session import LLMTrustSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """What one test will ask a model: prompts with generation params, or prompts scored over labels."""

    llm: LLM
    prompts: Sequence[Prompt]
    params: GenerationParams | None = None
    labels: Sequence[str] | None = None


def fixture_layer(item: pytest.Item) -> dict[str, Any] | None:
    """The ``llmtrust_config`` fixture's value for an item without running the item's setup.

    The built-in fixture gives ``{}``; an override that takes no arguments and is a plain function
    is called; anything else (arguments, a generator, params) gives None: not knowable in advance.
    """
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.get("llmtrust_config") if info is not None else None
    if not defs:
        return {}
    definition = defs[-1]
    func = definition.func
    if getattr(func, "__module__", "") == "pytest_llmtrust.fixtures":
        return {}
    if definition.argnames or definition.params or not inspect.isfunction(func) or inspect.isgeneratorfunction(func):
        return None
    try:
        value = func()
    except Exception:  # a fixture that needs its context: leave the item to make its own requests
        return None
    return value if isinstance(value, dict) else None


def item_requests(item: pytest.Item, session: LLMTrustSession) -> list[Request]:
    """The requests an item declares (none when it declares nothing or they cannot be known)."""
    plan = getattr(item, "llmtrust_requests", None)
    try:
        if callable(plan):
            return list(plan(session))
        return _marked_requests(item, session)
    except LLMTrustError:
        return []  # the item reports the problem itself when it runs


def item_budget(item: pytest.Item, session: LLMTrustSession) -> Budget | None:
    """The item's own budget (a suite's ``budget:``), charged besides the session's; None when it has none."""
    own = getattr(item, "llmtrust_budget", None)
    return own(session) if callable(own) else None


def _marked_requests(item: pytest.Item, session: LLMTrustSession) -> list[Request]:
    from pytest_llmtrust.markers import item_settings, prompts_kwargs

    mark = item.get_closest_marker("prompts")
    fixtures = set(getattr(item, "fixturenames", ()))
    if mark is None or not fixtures & {"llm", "steered_llm"}:
        return []
    layer = fixture_layer(item)
    if layer is None:
        return []
    prompts, overrides = prompts_kwargs(*mark.args, **mark.kwargs)
    settings = session.settings(marker=item_settings(item), fixture=layer)
    params = settings.params.replace(**overrides)
    requests = []
    if "llm" in fixtures:
        requests.append(Request(session.llm(settings), prompts, params))
    if "steered_llm" in fixtures and settings.steer and _steer_is_absolute(settings.steer):
        requests.append(Request(session.steered_llm(settings), prompts, params))
    return requests


def _steer_is_absolute(steer: str) -> bool:
    from pathlib import Path

    return Path(steer.partition("?")[0]).is_absolute()


def _asked(request: Request) -> tuple[object, ...]:
    """What a request asks, as a hashable value: equal for requests that ask the very same prompts the same way."""
    from pytest_llmtrust.backends.base import to_messages
    from pytest_llmtrust.cache.key import canonical

    prompts = tuple(p if isinstance(p, str) else (canonical(to_messages(p)),) for p in request.prompts)
    return request.params, None if request.labels is None else tuple(request.labels), prompts


def prefetch(items: Iterable[pytest.Item], session: LLMTrustSession) -> int:
    """Answer the items' declared requests in batches, per model; return how many prompts were planned."""
    from pytest_llmtrust.budget import charging
    from pytest_llmtrust.cache.cached import CachedBackend

    # per model and budget: a suite with its own budget is prefetched apart, charged to that budget
    plans: dict[tuple[int, int], tuple[CachedBackend, Budget | None, list[Request]]] = {}
    seen: set[tuple[object, ...]] = set()
    for item in items:
        budget = item_budget(item, session)
        for request in item_requests(item, session):
            try:
                backend = request.llm.backend  # the cache-fronted handle; nothing is loaded here
            except LLMTrustError:  # e.g. an unreadable cache file: the item reports it
                continue
            if isinstance(backend, CachedBackend):
                same = (id(backend), id(budget), *_asked(request))
                if same in seen:  # e.g. the other expectations of one suite: nothing new to answer, or to key
                    continue
                seen.add(same)
                plans.setdefault((id(backend), id(budget)), (backend, budget, []))[2].append(request)
    planned = 0
    for backend, budget, requests in plans.values():
        generations = [(r.prompts, r.params) for r in requests if r.params is not None]
        choices = [(r.prompts, r.labels) for r in requests if r.labels is not None]
        planned += sum(len(r.prompts) for r in requests)
        try:
            with charging(budget):
                backend.prefetch(generations, choices)
        except LLMTrustError as exc:  # the model cannot load, a budget is too small: each test reports it
            log.info("prefetch for %s skipped: %s", backend.spec, exc)
    return planned
