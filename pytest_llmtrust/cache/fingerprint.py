"""Model and steering fingerprints: what a cached answer depends on, worked out without loading anything.

A fingerprint must be known *before* the model is loaded, so that a fully cached run never loads
it (and never imports torch). It covers:

- ``smollm2``: the packaged GGUF file (size and first and last 4 MiB, which hold its metadata and
  chat template) and the dtype;
- ``hf:`` with a local folder or ``.gguf`` file: the sha256 of every weights file and of the
  tokenizer and chat-template files, and the dtype; a weights file is hashed once per
  (size, mtime) and the digest remembered in the store;
- ``hf:`` with a hub id: the commit the revision points to in the local hub cache (a 40-hex
  ``revision`` is used as it is), and the dtype; a hub model that was never downloaded has no
  fingerprint until it is loaded (then transformers' commit hash is used);
- ``openai:``: the model name, the base URL and ``top_logprobs`` (the server's weights are not
  visible; a server that swaps models behind one name needs ``--llmtrust-cache=off`` or a new name);
- ``fake:``: the spec itself.

The dtype is the one the backend will choose: an explicit ``dtype``, or for ``auto`` float32 on
CPU, bfloat16 on a CUDA GPU and float16 on Apple MPS. Whether a GPU is there is read without
importing torch (the torch build's CUDA version and the NVIDIA driver files); when the loaded
model turns out to differ, :func:`after_load` gives the corrected fingerprint.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.backends.registry import ModelSpec, parse_spec
from pytest_llmtrust.cache.key import digest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pytest_llmtrust.cache.store import Store

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
TOKENIZER_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
)
DTYPE_ALIASES = {"bf16": "bfloat16", "fp32": "float32", "float": "float32", "fp16": "float16", "half": "float16"}
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_BLOCK = 1 << 20


def file_sha256(path: Path, store: Store | None = None) -> str:
    """sha256 of a file, remembered in ``store`` per (size, mtime) so it is read once per version."""
    stat = path.stat()
    if store is not None:
        known = store.file_digest(path.resolve(), stat.st_size, stat.st_mtime_ns)
        if known is not None:
            return known
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            sha.update(block)
    value = sha.hexdigest()
    if store is not None:
        store.remember_digest(path.resolve(), stat.st_size, stat.st_mtime_ns, value)
    return value


def _torch_has_cuda() -> bool:
    """Whether the installed torch is a CUDA build, read from ``torch/version.py`` without importing torch."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    for location in spec.submodule_search_locations:
        version = Path(location) / "version.py"
        if version.is_file():
            text = version.read_text(encoding="utf-8", errors="replace")
            return re.search(r"^cuda\s*[:=][^\n]*['\"]\d", text, re.MULTILINE) is not None
    return False


def _gpu_present() -> bool:
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return False
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()


def predicted_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``mps``: where ``device`` (maybe ``auto``) will run, without importing torch."""
    name = device.strip().lower()
    if name != "auto":
        return "cuda" if name.startswith("cuda") else name
    torch = sys.modules.get("torch")
    if torch is not None:  # already imported: ask it
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if _torch_has_cuda() and _gpu_present():
        return "cuda"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def predicted_dtype(options: Mapping[str, str]) -> str:
    """The dtype an ``hf:``/``smollm2`` backend will resolve its ``dtype`` option to."""
    requested = str(options.get("dtype", "auto")).strip().lower()
    requested = DTYPE_ALIASES.get(requested, requested)
    if requested != "auto":
        return requested
    device = predicted_device(str(options.get("device", "auto")))
    return {"cuda": "bfloat16", "mps": "float16"}.get(device, "float32")


def _hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface") / "hub"


def hub_commit(repo: str, revision: str | None) -> str | None:
    """The commit ``revision`` (default ``main``) points to in the local hub cache, or None."""
    if revision and _COMMIT.match(revision):
        return revision
    ref = _hub_cache() / f"models--{repo.replace('/', '--')}" / "refs" / (revision or "main")
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return commit if _COMMIT.match(commit) else None


def _folder_files(folder: Path, gguf_file: str | None, store: Store | None) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        weights = path.suffix.lower() in WEIGHT_SUFFIXES
        if weights and gguf_file and path.suffix.lower() == ".gguf" and path.name != gguf_file:
            continue
        if weights or path.name in TOKENIZER_FILES:
            files[path.name] = file_sha256(path, store)
    return files


def _hf_source(target: str, options: Mapping[str, str], store: Store | None) -> Any:
    path = Path(target).expanduser()
    if path.is_file():
        return {"files": {path.name: file_sha256(path, store)}}
    if path.is_dir():
        return {"files": _folder_files(path, options.get("gguf_file"), store)}
    commit = hub_commit(target, options.get("revision"))
    if commit is None:
        return None
    return {"hub": target, "commit": commit, "gguf_file": options.get("gguf_file")}


def model_fingerprint(
    spec: str | ModelSpec, defaults: Mapping[str, str] | None = None, store: Store | None = None
) -> str | None:
    """The fingerprint of the model a spec names, or None when it cannot be known before loading."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    options = {**(defaults or {}), **parsed.options}
    if parsed.kind == "fake":
        return f"fake:{ModelSpec(parsed.kind, parsed.target, parsed.options)}"
    if parsed.kind == "openai":
        base_url = options.get("base_url") or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return "openai:" + digest(
            {"model": parsed.target, "base_url": base_url, "top_logprobs": options.get("top_logprobs")}
        )
    if parsed.kind == "smollm2":
        from pytest_llmtrust.backends import smollm2
        from pytest_llmtrust.errors import BackendUnavailable

        try:
            source = smollm2.fingerprint(smollm2.gguf_path())
        except (BackendUnavailable, OSError):
            return None
        return "smollm2:" + digest({"gguf": source, "dtype": predicted_dtype(options)})
    if parsed.kind == "hf":
        described = _hf_source(parsed.target, options, store)
        if described is None:
            return None
        return "hf:" + digest({"source": described, "dtype": predicted_dtype(options)})
    return None


def after_load(
    spec: str | ModelSpec, defaults: Mapping[str, str] | None, backend: Any, store: Store | None = None
) -> str | None:
    """The fingerprint of a loaded backend: as predicted, but with the dtype it really runs in.

    A hub model that was not in the local cache before loading gets transformers' commit hash.
    """
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    actual = getattr(backend, "dtype", None)
    options = dict(defaults or {})
    if isinstance(actual, str):
        options["dtype"] = actual
    known = model_fingerprint(parsed, options, store)
    if known is not None or parsed.kind != "hf":
        return known
    commit = getattr(getattr(getattr(backend, "model", None), "config", None), "_commit_hash", None)
    if not isinstance(commit, str) or not commit:
        return None
    return "hf:" + digest({"source": {"hub": parsed.target, "commit": commit}, "dtype": options.get("dtype")})


def steer_fingerprint(steer: str | None) -> str | None:
    """The fingerprint of a steering spec ``PATH[?alpha=..&layers=..]``, or None when it cannot be read.

    It covers the artefact's JSON file (which holds the sha256 of its tensors) and the options.
    """
    if not steer:
        return None
    path, _, query = steer.partition("?")
    from pytest_llmtrust.steering.paths import artefact_paths

    _, meta = artefact_paths(path)
    try:
        data = meta.read_bytes()
    except OSError:
        return None
    return "steer:" + digest({"json": hashlib.sha256(data).hexdigest(), "options": query})
