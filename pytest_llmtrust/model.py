"""``LLM``: the handle tests get from the ``llm`` fixture.

It carries a model spec and default generation settings, and loads its
backend on first use (the session keeps one backend per spec, so a model is
loaded once however many tests use it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from pytest_llmtrust.backends.base import Backend, Generation, GenerationParams, Prompt

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class LLM:
    """A lazily loaded model plus default generation parameters; itself a Backend."""

    def __init__(
        self,
        spec: str,
        loader: Callable[[], Backend],
        params: GenerationParams,
        *,
        confidence: float | None = None,
    ) -> None:
        """Wrap ``loader`` (called once, on first use) with default ``params``.

        ``confidence`` is the default gate of metrics measured on this handle
        (None: the point estimate), from the test's settings.
        """
        self.spec = spec
        self.params = params
        self.confidence = confidence
        self._loader = loader
        self._backend: Backend | None = None

    @classmethod
    def wrap(cls, backend: Backend, params: GenerationParams | None = None) -> LLM:
        """Wrap an already-built backend."""
        return cls(backend.model_id, lambda: backend, params or GenerationParams())

    @property
    def backend(self) -> Backend:
        """The underlying backend, loaded on first access."""
        if self._backend is None:
            self._backend = self._loader()
        return self._backend

    @property
    def model_id(self) -> str:
        """The backend's identity (loads the model)."""
        return self.backend.model_id

    def generate(
        self,
        prompts: Prompt | Sequence[Prompt],
        params: GenerationParams | None = None,
        **overrides: Any,
    ) -> list[Generation]:
        """Generate one completion per prompt, in order, as one batch.

        A single string is taken as one prompt. ``overrides`` change single
        parameters, e.g. ``llm.generate(prompts, max_new_tokens=32)``.
        """
        if isinstance(prompts, str):
            batch: list[Prompt] = [prompts]
        else:
            batch = list(cast("Sequence[Prompt]", prompts))
        base = params or self.params
        return self.backend.generate(batch, base.replace(**overrides) if overrides else base)

    def complete(self, prompt: Prompt, **overrides: Any) -> str:
        """Return the completion text for one prompt."""
        return self.generate([prompt], **overrides)[0].text

    def with_params(self, **overrides: Any) -> LLM:
        """A handle on the same (shared) backend with other default parameters."""
        return LLM(self.spec, lambda: self.backend, self.params.replace(**overrides), confidence=self.confidence)

    def __repr__(self) -> str:
        return f"LLM({self.spec!r}, loaded={self._backend is not None})"
