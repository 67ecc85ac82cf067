"""Per-run state: settings layers, loaded backends and judges, and what was measured."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.backends.registry import load_backend, parse_spec
from pytest_llmtrust.cache.cached import CachedBackend, CacheStats
from pytest_llmtrust.cache.mode import CacheMode
from pytest_llmtrust.config import BACKEND_OPTION_KEYS, Layer, Settings, resolve
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.model import LLM

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from pytest_llmtrust.backends.base import Backend
    from pytest_llmtrust.budget import Budget, Caps
    from pytest_llmtrust.cache.store import Store
    from pytest_llmtrust.judges.base import Judge
    from pytest_llmtrust.studies.base import StudyResult

LOCAL_KINDS = frozenset({"hf", "smollm2"})


@dataclass
class ModelLoad:
    """A backend the session loaded, and how long that took."""

    spec: str
    model_id: str
    seconds: float


@dataclass
class LLMTrustSession:
    """Holds what a pytest run shares: one backend per spec, loaded lazily and once."""

    cli: Layer = field(default_factory=dict)
    env: Layer = field(default_factory=dict)
    ini: Layer = field(default_factory=dict)
    backends: dict[str, Backend] = field(default_factory=dict)
    judges: dict[str, Judge] = field(default_factory=dict)
    loads: list[ModelLoad] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    """Results shared between items, e.g. one suite's generations for all its expectations."""
    cache_mode: CacheMode = CacheMode.OFF
    """How the generation cache is used (``--llmtrust-cache``); off outside pytest unless set."""
    cache_path: Path | None = None
    """The SQLite file of the generation cache (``--llmtrust-cache-path``)."""
    cached: dict[str, CachedBackend] = field(default_factory=dict)
    """The cache-fronted handle of each model (and steered model) asked for."""
    budget: Budget | None = None
    """The session's budget (``--llmtrust-max-*``), charged for every answer a model makes; None: no caps."""
    _store: Store | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def settings(
        self,
        *,
        marker: Layer | None = None,
        suite: Layer | None = None,
        fixture: Layer | None = None,
    ) -> Settings:
        """Resolve settings: CLI > marker > suite > fixture > env > ini > defaults."""
        layers: Sequence[tuple[str, Layer]] = [
            ("command line", self.cli),
            ("llmtrust marker", marker or {}),
            ("suite", suite or {}),
            ("llmtrust_config fixture", fixture or {}),
            ("environment", self.env),
            ("ini", self.ini),
        ]
        return resolve(layers)

    def backend_defaults(self, spec: str, settings: Settings) -> Mapping[str, str]:
        """Options that apply to this spec's kind (dtype/device/batch size for local models)."""
        if parse_spec(spec).kind in LOCAL_KINDS:
            return {k: v for k, v in settings.backend_options.items() if k in BACKEND_OPTION_KEYS}
        return {}

    def backend(self, spec: str, defaults: Mapping[str, str] | None = None) -> Backend:
        """The loaded backend for a spec (loaded on first request, then reused)."""
        key = spec + "|" + "&".join(f"{k}={v}" for k, v in sorted((defaults or {}).items()))
        with self._lock:
            if key not in self.backends:
                start = time.perf_counter()
                backend = load_backend(spec, defaults)
                self.backends[key] = backend
                self.loads.append(ModelLoad(spec, backend.model_id, time.perf_counter() - start))
            return self.backends[key]

    def store(self) -> Store | None:
        """The generation cache's store, opened on first use; None when the cache is off."""
        if self.cache_mode is CacheMode.OFF or self.cache_path is None:
            return None
        with self._lock:
            if self._store is None:
                from pytest_llmtrust.cache.store import Store

                self._store = Store(self.cache_path)
                ignore = self.cache_path.parent / ".gitignore"
                if self.cache_path.parent.name == ".llmtrust_cache" and not ignore.exists():
                    ignore.write_text("# created by pytest-llmtrust: the generation cache\n*\n", encoding="utf-8")
            return self._store

    def close_store(self) -> None:
        """Close the cache file (everything stored is already committed)."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def cached_backend(
        self, spec: str, defaults: Mapping[str, str] | None = None, steer: str | None = None
    ) -> CachedBackend:
        """The model of ``spec`` (steered by ``steer``) behind the generation cache; one per spec and session.

        Nothing is loaded here: the model loads on the first request the cache cannot answer.
        """
        from pytest_llmtrust.cache import fingerprint

        defaults = dict(defaults or {})
        key = f"{spec}|{steer or ''}|" + "&".join(f"{k}={v}" for k, v in sorted(defaults.items()))
        with self._lock:
            if key in self.cached:
                return self.cached[key]
            store = self.store()
            if store is None and self.cache_mode is not CacheMode.REPLAY:
                model_fp: str | None = f"run:{key}"  # answers live for this run only: the spec is identity enough
                refine = None
            else:
                digests = store if self.cache_mode.writes else None  # read and replay modes write nothing

                model_fp = fingerprint.model_fingerprint(spec, defaults, digests)

                def refine(backend: Backend) -> str | None:
                    return fingerprint.after_load(spec, defaults, backend, digests)

            steer_fp = None
            if steer:
                steer_fp = fingerprint.steer_fingerprint(steer) or f"unread:{steer}"
            self.cached[key] = CachedBackend(
                (lambda: self._steered(spec, defaults, steer)) if steer else (lambda: self.backend(spec, defaults)),
                spec=spec if not steer else f"{spec}+steer:{steer}",
                fingerprint=model_fp,
                refine=refine,
                steer=steer_fp,
                store=store,
                mode=self.cache_mode,
                budget=self.budget,
            )
            return self.cached[key]

    def suite_budget(self, suite: str, caps: Caps) -> Budget:
        """The budget of the suite file ``suite`` under ``caps``: one per suite and session."""
        from pytest_llmtrust.budget import Budget

        with self._lock:
            return self.memo.setdefault(("budget", suite), Budget(caps))  # type: ignore[no-any-return]

    def cache_stats(self) -> CacheStats:
        """What the cache did in this run, over every model."""
        total = CacheStats()
        for backend in self.cached.values():
            total.add(backend.stats)
        return total

    def _steered(self, spec: str, defaults: Mapping[str, str], steer_spec: str) -> Backend:
        from pytest_llmtrust.steering.steered import SteeredBackend, parse_steer_spec

        key = f"{spec}|{steer_spec}|" + "&".join(f"{k}={v}" for k, v in sorted(defaults.items()))
        with self._lock:
            if key not in self.backends:
                vectors, name = parse_steer_spec(steer_spec)
                self.backends[key] = SteeredBackend(self.backend(spec, defaults), vectors, name)
            return self.backends[key]

    def llm(self, settings: Settings) -> LLM:
        """A lazy handle on the settings' model, behind the generation cache."""
        spec = settings.model
        defaults = self.backend_defaults(spec, settings)
        parse_spec(spec)  # fail early on a malformed spec, before any test body runs
        return LLM(spec, lambda: self.cached_backend(spec, defaults), settings.params, confidence=settings.confidence)

    def steered_llm(self, settings: Settings) -> LLM:
        """A lazy handle on the settings' model steered by ``settings.steer`` (loaded once per pair)."""
        if not settings.steer:
            raise ConfigError(
                "no steering artefact is configured: pass --llmtrust-steer PATH, set llmtrust_steer in the ini file, "
                "@pytest.mark.llmtrust(steer=PATH), or 'steer:' in the suite (build one with "
                "pytest_llmtrust.steering.build.build_steering and save it with .save(PATH))"
            )
        spec, steer_spec = settings.model, settings.steer
        defaults = self.backend_defaults(spec, settings)
        parse_spec(spec)
        return LLM(
            f"{spec}+steer:{steer_spec}",
            lambda: self.cached_backend(spec, defaults, steer_spec),
            settings.params,
            confidence=settings.confidence,
        )

    def judge(self, settings: Settings, question: str = "refusal") -> Judge:
        """The settings' judge for a yes/no ``question`` (built once per spec and question)."""
        from pytest_llmtrust.judges.registry import load_judge

        key = settings.judge if question == "refusal" else f"{settings.judge}|{question}"
        with self._lock:
            if key not in self.judges:
                self.judges[key] = load_judge(
                    settings.judge,
                    lambda spec: self.cached_backend(spec, self.backend_defaults(spec, settings)),
                    question=question,
                )
            return self.judges[key]

    def run_study(self, kind: str, settings: Settings, options: Any, *, base: Path | None = None) -> StudyResult:
        """Run study ``kind`` with validated ``options`` on the settings' model and judge."""
        from pytest_llmtrust.studies.base import StudyContext
        from pytest_llmtrust.studies.registry import get_study

        def load_model(spec: str) -> LLM:
            return self.llm(dataclasses.replace(settings, model=spec))

        ctx = StudyContext(
            llm=self.llm(settings),
            judge=lambda question: self.judge(settings, question),
            load_model=load_model,
            base=base,
            confidence=settings.confidence,
        )
        return get_study(kind).run(ctx, options)
