"""The ``trust``, ``bias`` and ``llmtrust`` markers: registration and validation.

``from pytest_llmtrust import trust, bias`` gives validating constructors:
``@trust("safety", "violence")`` fails at import with a "did you mean" when a
name is wrong, and stores canonical keyword arguments, so both
``-m trust`` and ``-m "trust(category='safety')"`` select.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from pytest_llmtrust import taxonomy
from pytest_llmtrust.backends.base import GenerationParams, Prompt
from pytest_llmtrust.config import SETTING_KEYS
from pytest_llmtrust.errors import ConfigError, did_you_mean

MARKER_LINES = (
    "trust(category, subcategory=None): the Trustworthy-LLM category (and sub-category) a test covers",
    "bias(persona=None, target=None): persona(s) and target group(s) a persona-bias test covers",
    "llmtrust(**settings): per-test settings: model, judge, steer, max_new_tokens, temperature, top_p, seed, stop, "
    "confidence",
    "prompts(*prompts, **generation): prompts the test will generate for (answered in batches before tests run); "
    "keyword arguments: max_new_tokens, temperature, top_p, seed, stop",
    "report_only(reason=None): a non-gating test: a missed threshold or baseline regression is reported as xfailed "
    "(an error still fails)",
)
PROMPT_OVERRIDES = ("max_new_tokens", "temperature", "top_p", "seed", "stop")
BIAS_KWARGS = ("persona", "target")
CONFIG_SETTINGS = tuple(k for k in SETTING_KEYS if k not in ("dtype", "device", "batch_size"))


def register(config: pytest.Config) -> None:
    """Declare the markers (so --strict-markers accepts them)."""
    for line in MARKER_LINES:
        config.addinivalue_line("markers", line)


def trust_kwargs(*args: Any, **kwargs: Any) -> dict[str, str]:
    """Validate trust marker arguments; return canonical ``category``/``subcategory`` kwargs."""
    names = ("category", "subcategory")
    if len(args) > 2:
        raise ConfigError(f"trust() takes at most 2 positional arguments (category, subcategory), got {len(args)}")
    for key in kwargs:
        if key not in names:
            raise ConfigError(f"trust() got an unknown argument {key!r}{did_you_mean(key, names)}")
    values = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key in values:
            raise ConfigError(f"trust() got {key!r} twice")
        values[key] = value
    if values.get("category") is None:
        raise ConfigError("trust() needs a category, e.g. @trust('safety')")
    cat = taxonomy.category(str(values["category"]))
    out = {"category": cat}
    if values.get("subcategory") is not None:
        out["subcategory"] = taxonomy.subcategory(cat, str(values["subcategory"]))
    return out


def _names(key: str, value: Any) -> tuple[str, ...]:
    items: Iterable[Any] = (value,) if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise ConfigError(f"bias({key}=...) must be a string or a list of strings, got {value!r}")
    out = tuple(items)
    if not out or not all(isinstance(v, str) and v.strip() for v in out):
        raise ConfigError(f"bias({key}=...) must be a non-empty string or list of non-empty strings, got {value!r}")
    return out


def bias_kwargs(*args: Any, **kwargs: Any) -> dict[str, str | tuple[str, ...]]:
    """Validate bias marker arguments; a single name stays a string (so ``-m "bias(persona='x')"`` matches)."""
    if args:
        raise ConfigError("bias() takes keyword arguments only, e.g. @bias(persona='elder', target='nonOld')")
    for key in kwargs:
        if key not in BIAS_KWARGS:
            raise ConfigError(f"bias() got an unknown argument {key!r}{did_you_mean(key, BIAS_KWARGS)}")
    out: dict[str, str | tuple[str, ...]] = {}
    for key, value in kwargs.items():
        if value is not None:
            names = _names(key, value)
            out[key] = names[0] if len(names) == 1 else names
    return out


def trust(category: str, subcategory: str | None = None) -> pytest.MarkDecorator:
    """Mark a test with its Trustworthy-LLM category, validated now."""
    return pytest.mark.trust(**trust_kwargs(category, subcategory))


def bias(persona: str | Sequence[str] | None = None, target: str | Sequence[str] | None = None) -> pytest.MarkDecorator:
    """Mark a persona-bias test with its persona(s) and target group(s), validated now."""
    return pytest.mark.bias(**bias_kwargs(persona=persona, target=target))


def prompts_kwargs(*args: Any, **kwargs: Any) -> tuple[list[Prompt], dict[str, Any]]:
    """Validate ``prompts`` marker arguments; return the prompts and the generation overrides.

    Prompts are strings or message lists, given one per argument or as one list.
    """
    for key in kwargs:
        if key not in PROMPT_OVERRIDES:
            raise ConfigError(
                f"prompts() got an unknown argument {key!r}{did_you_mean(key, PROMPT_OVERRIDES)}; "
                f"generation arguments: {', '.join(PROMPT_OVERRIDES)}"
            )
    items: list[Any] = list(args)
    if len(args) == 1 and isinstance(args[0], (list, tuple)) and not _is_messages(args[0]):
        items = list(args[0])
    if not items:
        raise ConfigError("prompts() needs at least one prompt, e.g. @prompts('How do I pick a lock?')")
    for i, prompt in enumerate(items):
        if not (isinstance(prompt, str) or _is_messages(prompt)):
            raise ConfigError(
                f"prompts(): prompt {i} must be a string or a list of {{'role': ..., 'content': ...}} messages, "
                f"got {prompt!r:.80}"
            )
    try:
        GenerationParams().replace(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"prompts(): {exc}") from None
    return items, dict(kwargs)


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(
            isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value
        )
    )


def prompts(*prompts: Prompt | Sequence[Prompt], **generation: Any) -> pytest.MarkDecorator:
    """Declare the prompts a test will generate for, validated now; they are answered in batches before tests run.

    The test still calls ``llm.generate(...)`` itself (with the same generation arguments) and gets
    the prepared answers.
    """
    prompts_kwargs(*prompts, **generation)
    mark: pytest.MarkDecorator = pytest.mark.prompts(*prompts, **generation)
    return mark


def item_trust(item: pytest.Item) -> list[dict[str, str]]:
    """Canonical trust kwargs of every trust marker on an item (raises ConfigError on bad ones)."""
    return [trust_kwargs(*m.args, **m.kwargs) for m in item.iter_markers("trust")]


def item_settings(item: pytest.Item) -> dict[str, Any]:
    """Settings from ``llmtrust(...)`` markers; the closest marker wins per key."""
    merged: dict[str, Any] = {}
    for mark in item.iter_markers("llmtrust"):
        if mark.args:
            raise ConfigError("llmtrust() takes keyword arguments only, e.g. @pytest.mark.llmtrust(model='smollm2')")
        for key in mark.kwargs:
            if key not in CONFIG_SETTINGS:
                raise ConfigError(
                    f"llmtrust() got an unknown setting {key!r}{did_you_mean(key, CONFIG_SETTINGS)}; "
                    f"settings: {', '.join(CONFIG_SETTINGS)}"
                )
        for key, value in mark.kwargs.items():
            merged.setdefault(key, value)
    return merged


def validate_item(item: pytest.Item) -> None:
    """Check every llmtrust-related marker on an item."""
    item_trust(item)
    for mark in item.iter_markers("bias"):
        bias_kwargs(*mark.args, **mark.kwargs)
    for mark in item.iter_markers("prompts"):
        prompts_kwargs(*mark.args, **mark.kwargs)
    item_settings(item)


def matches(trusts: Sequence[Mapping[str, str]], selectors: Sequence[tuple[str, str | None]]) -> bool:
    """Whether any of an item's trust markers matches any ``(category, subcategory)`` selector."""
    for cat, sub in selectors:
        for t in trusts:
            if t.get("category") == cat and (sub is None or t.get("subcategory") == sub):
                return True
    return False


REPORT_ONLY_KEY = "llmtrust_report_only"
"""Attribute set on items that never gate (see :func:`make_report_only`)."""


def make_report_only(item: pytest.Item, reason: str | None = None) -> None:
    """Make ``item`` non-gating, the pytest way: a missed gate (an AssertionError) is reported as xfailed.

    Other errors (a broken suite, a model that cannot load) still fail. Passing stays passing
    (non-strict, whatever ``xfail_strict`` says).
    """
    text = f"report-only: {reason}" if reason else "report-only: this test never gates"
    item.add_marker(pytest.mark.xfail(reason=text, raises=AssertionError, strict=False))
    setattr(item, REPORT_ONLY_KEY, True)


def apply_report_only(items: Sequence[pytest.Item]) -> None:
    """Turn ``@report_only`` markers on Python tests into non-strict xfail marks."""
    for item in items:
        mark = item.get_closest_marker("report_only")
        if mark is None or getattr(item, REPORT_ONLY_KEY, False):
            continue
        if len(mark.args) > 1 or set(mark.kwargs) - {"reason"}:
            example = "report_only('tracking only')"
            raise ConfigError(f"{item.nodeid}: report_only() takes one optional reason, e.g. {example}")
        reason = mark.kwargs.get("reason", mark.args[0] if mark.args else None)
        make_report_only(item, None if reason is None else str(reason))


def is_report_only(item: pytest.Item) -> bool:
    """Whether ``item`` was made non-gating."""
    return bool(getattr(item, REPORT_ONLY_KEY, False))


report_only = pytest.mark.report_only
"""``@report_only`` / ``@report_only("why")``: the test is reported but never gates."""
