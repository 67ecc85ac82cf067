"""pytest entry point for pytest-llmtrust: hooks only; the work lives elsewhere.

Importing this module must stay cheap: no torch, transformers or pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust import markers, options, taxonomy
from pytest_llmtrust.backends.registry import parse_spec
from pytest_llmtrust.errors import ConfigError, LLMTrustError
from pytest_llmtrust.recording import recording
from pytest_llmtrust.report import Row, cache_line, rows_from, write_summary
from pytest_llmtrust.session import LLMTrustSession
from pytest_llmtrust.stash import SESSION

if TYPE_CHECKING:
    from collections.abc import Generator
    from pathlib import Path

pytest_plugins = ["pytest_llmtrust.fixtures", "pytest_llmtrust.study_fixture"]

ROWS = pytest.StashKey[list[Row]]()
SELECTORS = pytest.StashKey[list[tuple[str, str | None]]]()
SUFFIXES = (".llmtrust.yaml", ".llmtrust.yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--llmtrust-*`` options and ``llmtrust_*`` ini keys."""
    options.add_to(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and set up the run's session."""
    markers.register(config)
    cli, env, ini = options.cli_layer(config), options.env_layer(), options.ini_layer(config)
    try:
        for where, layer in (("--llmtrust-model", cli), ("LLMTRUST_MODEL", env), ("ini llmtrust_model", ini)):
            if layer.get("model"):
                _check_spec(where, str(layer["model"]))
        selectors = [taxonomy.parse_selector(s) for s in config.getoption("llmtrust_trust")]
        mode = options.cache_mode(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SESSION] = LLMTrustSession(
        cli=cli, env=env, ini=ini, cache_mode=mode, cache_path=options.cache_path(config)
    )
    config.stash[SELECTORS] = selectors
    config.stash[ROWS] = []
    config.pluginmanager.register(_RowCollector(config.stash[ROWS]), "llmtrust-rows")


def _check_spec(where: str, spec: str) -> None:
    try:
        parse_spec(spec)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect ``*.llmtrust.yaml`` suite files."""
    if file_path.name.endswith(SUFFIXES):
        from pytest_llmtrust.suite.collect import SuiteFile

        return SuiteFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply ``--llmtrust-trust`` selection."""
    selectors = config.stash[SELECTORS]
    if not selectors:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        try:
            trusts = markers.item_trust(item)
        except ConfigError:
            keep.append(item)  # reported as an error at setup
            continue
        (keep if markers.matches(trusts, selectors) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Collect-then-batch: answer every declared request of the selected items before they run."""
    config = session.config
    if not config.option.collectonly and not hasattr(config, "workerinput") and session.items:
        from pytest_llmtrust.prefetch import prefetch

        prefetch(session.items, config.stash[SESSION])
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test whose llmtrust markers are invalid, with the fix; under xdist, prefetch its file."""
    try:
        markers.validate_item(item)
    except ConfigError as exc:
        raise pytest.fail.Exception(f"{item.nodeid}: {exc}", pytrace=False) from None
    if hasattr(item.config, "workerinput"):
        _prefetch_file(item)


PREFETCHED = pytest.StashKey[set[str]]()


def _prefetch_file(item: pytest.Item) -> None:
    """Under pytest-xdist: prefetch the requests of the items of this item's file, once per file."""
    done = item.config.stash.setdefault(PREFETCHED, set())
    where = str(item.path)
    if where in done:
        return
    done.add(where)
    from pytest_llmtrust.prefetch import prefetch

    prefetch([i for i in item.session.items if str(i.path) == where], item.config.stash[SESSION])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Record metrics measured during the test into its JUnit properties."""
    with recording() as records:
        try:
            return (yield)
        except AssertionError:
            raise
        except LLMTrustError as exc:
            raise pytest.fail.Exception(f"{type(exc).__name__}: {exc}", pytrace=False) from None
        finally:
            for rec in records:
                item.user_properties.extend(rec.properties())
            examples = int(item.config.getoption("llmtrust_examples"))
            failed = ["\n".join(rec.explain(examples)) for rec in records if rec.passed is False and rec.explain]
            if failed:
                item.add_report_section("call", "llmtrust", "\n\n".join(failed))


class _RowCollector:
    """Keeps the metric rows of every test report (reports reach the xdist controller too)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.rows.extend(rows_from(report))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print the table of measured metrics."""
    if hasattr(config, "workerinput"):
        return
    session = config.stash[SESSION]
    cache = None
    if session.cached:
        where = str(session.cache_path) if session.store() is not None else "memory"
        cache = cache_line(session.cache_stats(), session.cache_mode.value, where)
    write_summary(terminalreporter, config.stash[ROWS], session.loads, cache)


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    """Explain a failed ``assert result >= 0.95`` with value, interval, n, model, judge and examples."""
    from pytest_llmtrust.metrics.rates import RateResult

    if isinstance(left, RateResult) and isinstance(right, (int, float)) and op in (">=", ">", "<=", "<"):
        examples = int(config.getoption("llmtrust_examples"))
        return left.explain(f"{op} {float(right)!r}", examples=examples)
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close backends that hold resources (HTTP clients, servers)."""
    session = config.stash.get(SESSION, None)
    if session is None:
        return
    for backend in session.backends.values():
        close = getattr(backend, "close", None)
        if callable(close):
            close()
    session.close_store()
