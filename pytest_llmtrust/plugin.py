"""pytest entry point for pytest-llmtrust: hooks only; the work lives elsewhere.

Importing this module must stay cheap: no torch, transformers or pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust import markers, options, taxonomy
from pytest_llmtrust.backends.registry import parse_spec
from pytest_llmtrust.budget import Budget, charging
from pytest_llmtrust.errors import ConfigError, LLMTrustError
from pytest_llmtrust.recording import recording
from pytest_llmtrust.report import Row, cache_line, rows_from, write_summary
from pytest_llmtrust.session import LLMTrustSession
from pytest_llmtrust.stash import SESSION

if TYPE_CHECKING:
    from collections.abc import Generator
    from pathlib import Path

    from pytest_llmtrust.reporting.items import ResultsCollector  # noqa: F401 (the RESULTS stash key's type)

pytest_plugins = ["pytest_llmtrust.fixtures", "pytest_llmtrust.study_fixture"]

ROWS = pytest.StashKey[list[Row]]()
SELECTORS = pytest.StashKey[list[tuple[str, str | None]]]()
SUFFIXES = (".llmtrust.yaml", ".llmtrust.yml")
RESULTS = pytest.StashKey["ResultsCollector"]()


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
    caps = options.budget_caps(config)
    config.stash[SESSION] = LLMTrustSession(
        cli=cli, env=env, ini=ini, cache_mode=mode, cache_path=options.cache_path(config)
    )
    config.stash[SESSION].budget = None if caps is None else Budget(caps)
    if config.getoption("llmtrust_dry_run"):
        _configure_dry_run(config)
    config.stash[SELECTORS] = selectors
    config.stash[ROWS] = []
    config.pluginmanager.register(_RowCollector(config.stash[ROWS]), "llmtrust-rows")
    _configure_reports(config)


def _configure_reports(config: pytest.Config) -> None:
    """Load the baseline to compare with, and start collecting the results document."""
    from pytest_llmtrust.reporting.baseline import load_baseline
    from pytest_llmtrust.reporting.gate import BASELINE
    from pytest_llmtrust.reporting.items import ResultsCollector

    path, alpha = options.baseline_settings(config)
    try:
        config.stash[BASELINE] = None if path is None else load_baseline(path, alpha)
    except ConfigError as exc:
        raise pytest.UsageError(f"--llmtrust-baseline: {exc}") from None
    collector = ResultsCollector()
    config.stash[RESULTS] = collector
    config.pluginmanager.register(collector, "llmtrust-results")


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, object, object]:
    """A dry run plans in this process: it turns pytest-xdist's workers off."""
    if config.getoption("llmtrust_dry_run") and getattr(config.option, "numprocesses", None):
        config.option.numprocesses = 0
    return (yield)


def _configure_dry_run(config: pytest.Config) -> None:
    """``--llmtrust-dry-run``: read the generation cache without writing it; print plans instead of running."""
    from pytest_llmtrust import dryrun

    session = config.stash[SESSION]
    session.cache_mode = dryrun.read_only(session.cache_mode, session.cache_path)
    config.pluginmanager.register(dryrun, "llmtrust-dry-run")


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
    """Make ``@report_only`` tests non-gating; apply ``--llmtrust-trust`` selection."""
    try:
        markers.apply_report_only(items)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
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
    planning = config.option.collectonly or config.getoption("llmtrust_dry_run")
    if not planning and not hasattr(config, "workerinput") and session.items:
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
BY_FILE = pytest.StashKey[dict[str, list[pytest.Item]]]()


def _prefetch_file(item: pytest.Item) -> None:
    """Under pytest-xdist: prefetch the requests of the items of this item's file, once per file."""
    done = item.config.stash.setdefault(PREFETCHED, set())
    where = str(item.path)
    if where in done:
        return
    done.add(where)
    from pytest_llmtrust.prefetch import prefetch

    by_file = item.config.stash.get(BY_FILE, None)
    if by_file is None:  # grouped once: scanning every item for every file was quadratic
        by_file = {}
        for selected in item.session.items:
            by_file.setdefault(str(selected.path), []).append(selected)
        item.config.stash[BY_FILE] = by_file
    prefetch(by_file.get(where, [item]), item.config.stash[SESSION])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Record the test's metrics (JUnit properties, report data); fail it on a baseline regression."""
    from pytest_llmtrust.prefetch import item_budget
    from pytest_llmtrust.reporting import gate

    with recording() as records, charging(item_budget(item, item.config.stash[SESSION])):
        try:
            result = yield
        except AssertionError:
            raise
        except LLMTrustError as exc:
            raise pytest.fail.Exception(f"{type(exc).__name__}: {exc}", pytrace=False) from None
        finally:
            gate.finish(item, records)
    gate.raise_regressions(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Hang the item's report data on its reports (plain data, so it reaches the xdist controller)."""
    from pytest_llmtrust.reporting import gate, items

    report = yield
    setattr(report, items.META, items.item_meta(item))
    if report.when == "call":
        records, regressions = gate.report_data(item)
        setattr(report, items.RECORDS, records)
        setattr(report, items.REGRESSIONS, regressions)
    return report


class _RowCollector:
    """Keeps the metric rows of every test report (reports reach the xdist controller too)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.rows.extend(rows_from(report))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """After pytest wrote its JUnit XML: lay it out for its family; write the results, report and baseline."""
    config = session.config
    if hasattr(config, "workerinput") or config.getoption("llmtrust_dry_run"):
        return
    from pytest_llmtrust.reporting.outputs import write_outputs

    try:
        config.stash[WRITTEN] = write_outputs(config, config.stash[RESULTS], config.stash[SESSION])
    except (OSError, ConfigError) as exc:
        config.stash[WRITTEN] = [f"could not write the llmtrust reports: {exc}"]


WRITTEN = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print the table of measured metrics."""
    if hasattr(config, "workerinput"):
        return
    session = config.stash[SESSION]
    cache = None
    dry_run = config.getoption("llmtrust_dry_run")
    if session.cached and not dry_run:
        where = str(session.cache_path) if session.store() is not None else "memory"
        cache = cache_line(session.cache_stats(), session.cache_mode.value, where)
    write_summary(terminalreporter, config.stash[ROWS], session.loads, cache)
    if session.budget is not None and not dry_run:
        terminalreporter.write_line(session.budget.usage())
    for line in config.stash.get(WRITTEN, []):
        terminalreporter.write_line(line)


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
