"""Command-line options and ini keys (``--llmtrust-*``, ``llmtrust_*``)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_llmtrust.budget import Caps
from pytest_llmtrust.cache.mode import DEFAULT_MODE, CacheMode, parse_mode
from pytest_llmtrust.config import ENV_VARS, check_confidence
from pytest_llmtrust.errors import ConfigError

# setting name -> (option flag, ini key, value parser, help)
Parser = Callable[[str], Any]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _confidence(text: str) -> float:
    try:
        level = check_confidence(text, "value")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert level is not None
    return level


SETTINGS: dict[str, tuple[str, Parser, str]] = {
    "model": (
        "--llmtrust-model",
        str,
        "Model under test, e.g. smollm2, hf:ORG/NAME, openai:MODEL (default: smollm2)",
    ),
    "judge": (
        "--llmtrust-judge",
        str,
        "Judge: 'refusal' (offline judges, default), 'embedding' (all-MiniLM-L6-v2) or a model spec for an LLM judge",
    ),
    "max_new_tokens": (
        "--llmtrust-max-new-tokens",
        _positive_int,
        "Tokens to generate per prompt (default: 128)",
    ),
    "temperature": ("--llmtrust-temperature", _float, "Sampling temperature; 0 is greedy (default: 0)"),
    "top_p": ("--llmtrust-top-p", _float, "Nucleus sampling top_p (default: 1.0)"),
    "seed": ("--llmtrust-seed", _int, "Seed for sampled decoding"),
    "confidence": (
        "--llmtrust-confidence",
        _confidence,
        "Gate on the Wilson interval bound at this level (e.g. 0.95) instead of the point estimate",
    ),
    "steer": (
        "--llmtrust-steer",
        str,
        "Steering artefact for steered_llm and steered suites: PATH[?alpha=A&layers=L1,L2] (PATH without suffix)",
    ),
    "dtype": ("--llmtrust-dtype", str, "dtype for local hf models: bfloat16, float32, float16 or auto"),
    "device": ("--llmtrust-device", str, "Device for local hf models: cpu, cuda, cuda:N or auto"),
    "batch_size": ("--llmtrust-batch-size", _positive_int, "Batch size for local hf models"),
}


def add_to(parser: pytest.Parser) -> None:
    """Register the llmtrust option group and ini keys."""
    group = parser.getgroup("llmtrust", "LLM behaviour tests (pytest-llmtrust)")
    for name, (flag, kind, text) in SETTINGS.items():
        group.addoption(flag, dest=f"llmtrust_{name}", type=kind, default=None, help=text)
        parser.addini(f"llmtrust_{name}", f"{text} (ini)", default=None)
    group.addoption(
        "--llmtrust-trust",
        dest="llmtrust_trust",
        action="append",
        default=[],
        metavar="CATEGORY[/SUB]",
        help="Run only tests of this trust category or sub-category (repeatable), e.g. safety/violence",
    )
    group.addoption(
        "--llmtrust-results",
        dest="llmtrust_results",
        default=None,
        metavar="DIR",
        help="Folder for result files (persona-bias JSON and heatmaps); 'off' writes none (default: llmtrust-results)",
    )
    parser.addini("llmtrust_results", "Folder for result files, relative to the rootdir (ini)", default=None)
    group.addoption(
        "--llmtrust-cache",
        dest="llmtrust_cache",
        default=None,
        metavar="MODE",
        help="Generation cache: off, read (use, never store), write (use and store; default) or replay "
        "(only the cache answers; a miss is an error and the model is never loaded). Env: LLMTRUST_CACHE",
    )
    parser.addini("llmtrust_cache", "Generation cache mode: off, read, write or replay (ini)", default=None)
    group.addoption(
        "--llmtrust-cache-path",
        dest="llmtrust_cache_path",
        default=None,
        metavar="FILE",
        help=f"SQLite file of the generation cache (default: {DEFAULT_CACHE_FILE} in the rootdir)",
    )
    parser.addini(
        "llmtrust_cache_path", "SQLite file of the generation cache, relative to the rootdir (ini)", default=None
    )
    group.addoption(
        "--llmtrust-examples",
        dest="llmtrust_examples",
        type=_int,
        default=3,
        help="Worst examples shown in a failure message (default: 3)",
    )
    _add_report_options(group, parser)
    _add_budget_options(group, parser)


DEFAULT_RESULTS_DIR = "llmtrust-results"
DEFAULT_CACHE_FILE = ".llmtrust_cache/generations.sqlite"
_OFF = ("off", "none", "no", "false", "0")


def results_dir(config: pytest.Config) -> Path | None:
    """Where result files go; None when set to ``off``.

    ``--llmtrust-results`` is relative to the working directory, the ini key to the rootdir;
    the default is ``llmtrust-results`` in the rootdir.
    """
    cli = config.getoption("llmtrust_results")
    raw = cli if cli is not None else config.getini("llmtrust_results") or None
    if raw is not None and str(raw).strip().lower() in _OFF:
        return None
    if cli is not None:
        return Path(cli).resolve()
    return config.rootpath / (str(raw).strip() if raw else DEFAULT_RESULTS_DIR)


def cli_layer(config: pytest.Config) -> dict[str, Any]:
    """Settings given on the command line."""
    return {name: config.getoption(f"llmtrust_{name}") for name in SETTINGS}


def ini_layer(config: pytest.Config) -> dict[str, Any]:
    """Settings from the ini file, parsed with the same rules as the options."""
    layer: dict[str, Any] = {}
    for name, (_flag, kind, _text) in SETTINGS.items():
        raw = config.getini(f"llmtrust_{name}")
        if raw in (None, "", []):
            continue
        try:
            layer[name] = kind(str(raw).strip())
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"ini key llmtrust_{name} = {raw!r}: {exc}") from None
    return layer


def env_layer() -> dict[str, Any]:
    """Settings from LLMTRUST_* environment variables."""
    return {name: os.environ[var] for var, name in ENV_VARS.items() if os.environ.get(var)}


def cache_mode(config: pytest.Config) -> CacheMode:
    """``--llmtrust-cache``, else ``LLMTRUST_CACHE``, else the ini key, else ``write``."""
    for where, raw in (
        ("--llmtrust-cache", config.getoption("llmtrust_cache")),
        ("LLMTRUST_CACHE", os.environ.get("LLMTRUST_CACHE")),
        ("ini llmtrust_cache", config.getini("llmtrust_cache") or None),
    ):
        if raw is not None and str(raw).strip():
            return parse_mode(str(raw), where)
    return DEFAULT_MODE


def cache_path(config: pytest.Config) -> Path:
    """The cache file.

    ``--llmtrust-cache-path`` (relative to the working directory), else the ini key (relative to
    the rootdir), else ``.llmtrust_cache/generations.sqlite`` in the rootdir.
    """
    cli = config.getoption("llmtrust_cache_path")
    if cli:
        return Path(cli).expanduser().resolve()
    raw = config.getini("llmtrust_cache_path")
    return config.rootpath / (str(raw).strip() if raw else DEFAULT_CACHE_FILE)


def _add_report_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """Options of the results document, the HTML report and baselines."""
    group.addoption(
        "--llmtrust-json",
        dest="llmtrust_json",
        default=None,
        metavar="FILE",
        help="JSON results file of every test, metric, interval and example; 'off' writes none "
        "(default: results.json in the results folder)",
    )
    group.addoption(
        "--llmtrust-html",
        dest="llmtrust_html",
        default=None,
        metavar="FILE",
        help="Self-contained HTML report with plots; 'off' writes none (default: report.html in the results folder)",
    )
    group.addoption(
        "--llmtrust-save-baseline",
        dest="llmtrust_save_baseline",
        default=None,
        metavar="FILE",
        help="Save every metric (value, n, interval, per-prompt verdicts) as a baseline for later runs",
    )
    group.addoption(
        "--llmtrust-baseline",
        dest="llmtrust_baseline",
        default=None,
        metavar="FILE",
        help="Compare with a saved baseline: a test fails when a metric got significantly worse",
    )
    parser.addini("llmtrust_baseline", "Baseline file to compare with, relative to the rootdir (ini)", default=None)
    group.addoption(
        "--llmtrust-baseline-alpha",
        dest="llmtrust_baseline_alpha",
        type=_alpha,
        default=None,
        metavar="ALPHA",
        help="Significance level of the baseline comparison (default: 0.05)",
    )
    parser.addini("llmtrust_baseline_alpha", "Significance level of the baseline comparison (ini)", default=None)


DEFAULT_ALPHA = 0.05


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"alpha must lie in (0, 1), e.g. 0.05; got {value}")
    return value


def report_path(config: pytest.Config, option: str, default_name: str, *, by_default: bool = True) -> Path | None:
    """Where a report file goes.

    ``--llmtrust-json``/``--llmtrust-html`` (relative to the working directory), else ``default_name`` in the
    results folder when ``by_default``; None when set to ``off`` or when result files are off.
    """
    raw = config.getoption(option)
    if raw is not None:
        return None if str(raw).strip().lower() in _OFF else Path(raw).expanduser().resolve()
    folder = results_dir(config) if by_default else None
    return None if folder is None else folder / default_name


def baseline_settings(config: pytest.Config) -> tuple[Path | None, float]:
    """The baseline to compare with (option, else ini relative to the rootdir) and the test's alpha."""
    cli = config.getoption("llmtrust_baseline")
    raw_ini = config.getini("llmtrust_baseline")
    path = Path(cli).expanduser().resolve() if cli else (config.rootpath / str(raw_ini).strip() if raw_ini else None)
    alpha = config.getoption("llmtrust_baseline_alpha")
    if alpha is None:
        ini = config.getini("llmtrust_baseline_alpha")
        try:
            alpha = _alpha(str(ini).strip()) if ini else DEFAULT_ALPHA
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"ini key llmtrust_baseline_alpha = {ini!r}: {exc}") from None
    return path, float(alpha)


def _positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be > 0")
    return value


# budget cap -> (option flag, value parser, help); the ini key is llmtrust_max_<cap>
BUDGET_OPTIONS: dict[str, tuple[str, Parser, str]] = {
    "requests": ("--llmtrust-max-requests", _positive_int, "Stop spending after N model requests this session"),
    "tokens": ("--llmtrust-max-tokens", _positive_int, "Stop spending after N prompt+completion tokens this session"),
    "seconds": ("--llmtrust-max-seconds", _positive_float, "Stop spending S seconds after the first model call"),
}


def _add_budget_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """Session budget caps and the dry run."""
    for cap, (flag, kind, text) in BUDGET_OPTIONS.items():
        group.addoption(flag, dest=f"llmtrust_max_{cap}", type=kind, default=None, metavar="N", help=text)
        parser.addini(f"llmtrust_max_{cap}", f"{text} (ini)", default=None)
    group.addoption(
        "--llmtrust-dry-run",
        dest="llmtrust_dry_run",
        action="store_true",
        default=False,
        help="Print, per model, the generations and tokens the selected tests would ask for, then stop; "
        "loads no model and runs no test",
    )


def budget_caps(config: pytest.Config) -> Caps | None:
    """The session's budget caps: options, else ini keys; None when no cap is set."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for cap, (flag, kind, _text) in BUDGET_OPTIONS.items():
        value = config.getoption(f"llmtrust_max_{cap}")
        source = flag
        raw = config.getini(f"llmtrust_max_{cap}")
        if value is None and raw not in (None, ""):
            source = f"llmtrust_max_{cap} in the ini file"
            try:
                value = kind(str(raw).strip())
            except argparse.ArgumentTypeError as exc:
                raise pytest.UsageError(f"ini key llmtrust_max_{cap} = {raw!r}: {exc}") from None
        if value is not None:
            values[cap], sources[cap] = value, source
    return Caps("session", sources=sources, **values) if values else None
