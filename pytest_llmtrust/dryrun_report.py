"""The text of ``--llmtrust-dry-run``: a table per model, what is not planned, and the budgets against the plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_llmtrust.budget import plural
from pytest_llmtrust.dryrun import SHOWN, Totals, totals

if TYPE_CHECKING:
    from pytest_llmtrust.budget import Caps
    from pytest_llmtrust.dryrun import Plan
    from pytest_llmtrust.session import LLMTrustSession

HEADER = ("model", "items", "generations", "choices", "in cache", "to run", "prompt tokens~", "max completion tokens")


def _row(name: str, items: int, t: Totals) -> list[str]:
    cached = "?" if t.cached is None else f"{t.cached:,}"
    counts = [f"{n:,}" for n in (t.generations, t.choices)]
    tokens = [f"{n:,}" for n in (t.prompt_tokens, t.completion_tokens)]
    return [name, f"{items:,}", *counts, cached, f"{t.to_run:,}", *tokens]


def _table(rows: list[list[str]]) -> list[str]:
    cells = [list(HEADER), *rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    return ["  ".join(c[0].ljust(widths[0]) if i == 0 else c[i].rjust(widths[i]) for i in range(len(c))) for c in cells]


def _sum(parts: list[Totals]) -> Totals:
    out = Totals()
    for t in parts:
        out.generations += t.generations
        out.choices += t.choices
        out.cached = None if out.cached is None or t.cached is None else out.cached + t.cached
        out.prompt_tokens += t.prompt_tokens
        out.completion_tokens += t.completion_tokens
    return out


def _ids(ids: list[str]) -> str:
    more = f" (and {len(ids) - SHOWN} more)" if len(ids) > SHOWN else ""
    return ", ".join(ids[:SHOWN]) + more


def budget_lines(caps: Caps, planned: Totals, note: str = "") -> list[str]:
    """One line per cap: the plan against it."""
    lines = []
    if caps.requests is not None:
        verdict = "the run would stop at the cap" if planned.to_run > caps.requests else "within the cap"
        lines.append(
            f"{caps.label} budget: {plural(planned.to_run, 'request')} planned{note}; cap {caps.requests:,} "
            f"({caps.source('requests')}): {verdict}"
        )
    if caps.tokens is not None:
        worst = planned.prompt_tokens + planned.completion_tokens
        verdict = "the run may stop at the cap" if worst > caps.tokens else "within the cap"
        lines.append(
            f"{caps.label} budget: up to {worst:,} tokens planned{note}; cap {caps.tokens:,} "
            f"({caps.source('tokens')}): {verdict}"
        )
    if caps.seconds is not None:
        lines.append(
            f"{caps.label} budget: {caps.seconds:g} s ({caps.source('seconds')}): not planned, it depends on the "
            "model's speed"
        )
    return lines


def plan_lines(plan: Plan, session: LLMTrustSession) -> list[str]:
    """The dry run's report."""
    parts = {name: totals(model.asks, model.found) for name, model in plan.models.items()}
    rows = [_row(name, len(plan.models[name].items), t) for name, t in parts.items()]
    everything = _sum(list(parts.values()))
    if len(rows) > 1:
        items = len(set().union(*(m.items for m in plan.models.values())))
        rows.append(_row("total", items, everything))
    lines = _table(rows) if rows else ["no selected test declares its requests"]
    if any(t.cached is None for t in parts.values()):
        lines.append("in cache '?': the model's fingerprint is only known after loading it, so the cache was not read")
    lines.append(
        "to run = requests the model would be sent; tokens are of those: prompt tokens estimated at 4 characters "
        "each, completion tokens at most max_new_tokens per generation"
    )
    if plan.undeclared:
        lines.append(
            f"not planned: {len(plan.undeclared)} item(s) declare no requests (their model calls are made as they "
            f"run; judge-model calls are never planned): {_ids(plan.undeclared)}"
        )
    if plan.no_model:
        lines.append(f"{plan.no_model} item(s) use no model")
    lines += plan.sampled.values()
    for error in plan.broken:
        lines.append(f"broken suite: {error}")
    if session.budget is not None:
        lines += budget_lines(session.budget.caps, everything, " (at least)" if plan.undeclared else "")
    for caps, model, asks in plan.suites.values():
        lines += budget_lines(caps, totals(asks, model.found))
    loaded = ", ".join(load.spec for load in session.loads)
    lines.append(f"loaded: {loaded}" if loaded else "no model was loaded")
    return lines
