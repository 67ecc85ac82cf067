"""The Hugging Face transformers backend: any causal LM, in-process.

Specs::

    hf:HuggingFaceTB/SmolLM2-135M-Instruct          # a hub id
    hf:./models/my-model?dtype=float32&batch_size=4 # a local folder
    hf:./models/model.Q4_K_M.gguf                   # a GGUF file (converted by transformers)

Generation is batch-first. Prompts are rendered with the tokenizer's chat
template (or a plain ``role: content`` join when it has none), sorted by token
length so each batch pads little, left-padded, generated, and put back in
input order. Greedy decoding (``temperature == 0``) is deterministic; in
float32 on CPU (the default there) it is also batch-invariant: a prompt gets
the same text alone or in any batch. Seeded sampling reseeds torch
before every batch, so a sample depends on the seed *and* on which prompts
share its batch: the same prompt list with the same batch size reproduces
exactly, a different list may not.

This module imports torch and transformers at import time; the registry
imports it only when an ``hf:`` or ``smollm2`` spec is loaded.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import transformers
from tqdm.auto import tqdm

from pytest_llmtrust.backends.base import (
    FinishReason,
    Generation,
    GenerationParams,
    Prompt,
    cut_at_stop,
    to_messages,
)
from pytest_llmtrust.backends.spec_options import check_known, opt_bool, opt_int, opt_str
from pytest_llmtrust.errors import BackendUnavailable, ConfigError, GenerationError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_DTYPE",
    "OPTIONS",
    "HFBackend",
    "from_spec",
    "resolve_device",
    "resolve_dtype",
]

log = logging.getLogger(__name__)

DEFAULT_DTYPE = "auto"
"""``auto``: float32 on CPU, bfloat16 (or float16) on a GPU; see :func:`resolve_dtype`."""
DEFAULT_BATCH_SIZE = 8
DEFAULT_CHOICE_BATCH_SIZE = 16
"""Constrained choice runs no generation loop, so it takes bigger batches (measured: 16 beats 8 by 1.4x on CPU)."""
OPTIONS: tuple[str, ...] = (
    "dtype",
    "device",
    "batch_size",
    "choice_batch_size",
    "share_prefix",
    "gguf_file",
    "revision",
    "progress",
)

DTYPE_ALIASES: dict[str, str] = {
    "auto": "auto",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}
TORCH_DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float16": torch.float16,
}
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


# ----------------------------------------------------------------------------------------------- options


def resolve_device(device: str) -> str:
    """Check a device name and resolve ``auto`` (CUDA, then Apple MPS, then CPU)."""
    name = device.strip().lower()
    if not _DEVICE_RE.match(name):
        raise ConfigError(f"device={device!r} is not one of cpu, cuda, cuda:N, mps or auto")
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendUnavailable(
                f"device={device} was asked for but this torch build sees no CUDA GPU "
                f"(torch {torch.__version__}); use device=cpu or install a CUDA build of torch"
            )
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise BackendUnavailable(
                f"device={device} was asked for but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    if name == "mps" and not torch.backends.mps.is_available():
        raise BackendUnavailable("device=mps was asked for but MPS is not available; use device=cpu")
    return name


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matmuls in hardware (AVX512-BF16 or AMX)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for probe in probes:
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and bool(check()):
                return True
        except RuntimeError:  # pragma: no cover - depends on the torch build
            continue
    return False


def resolve_dtype(dtype: str, device: str) -> str:
    """Canonical dtype name for a requested one on a resolved device.

    ``auto`` means float32 on CPU, bfloat16 on a CUDA GPU that supports it (else
    float16), and float16 on Apple MPS. float32 is the CPU default because greedy
    output is then the same whether a prompt runs alone or in a batch; in
    bfloat16 SmolLM2 changed 6 of 12 answers between the two, so a verdict could
    flip when an unrelated case joins the suite. bfloat16 (``dtype=bf16``) is
    about 2x faster at batch 8 on CPUs with native bfloat16 (AVX512-BF16/AMX),
    no faster at batch 1, and 2-3x slower on CPUs without it; see
    ``docs/backends-hf.md``.
    """
    name = DTYPE_ALIASES.get(dtype.strip().lower())
    if name is None:
        raise ConfigError(f"dtype={dtype!r} is not one of bfloat16 (bf16), float32 (fp32), float16 (fp16) or auto")
    if name != "auto":
        return name
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "float32"


@dataclass(frozen=True)
class _Source:
    """Where the weights come from: what to hand to ``from_pretrained``."""

    path: str
    gguf_file: str | None
    local: bool


def _looks_like_path(target: str) -> bool:
    if target.startswith((".", "/", "~", "\\")) or target.lower().endswith(".gguf"):
        return True
    if re.match(r"^[A-Za-z]:[\\/]", target):  # a Windows drive letter
        return True
    return not _HUB_ID_RE.match(target)


def _locate(target: str, gguf_file: str | None) -> _Source:
    """Decide whether ``target`` is a local folder, a GGUF file or a hub id."""
    path = Path(target).expanduser()
    if path.is_file():
        if gguf_file is not None:
            raise ConfigError(f"gguf_file={gguf_file!r} was given but {target!r} is already a file")
        if path.suffix.lower() != ".gguf":
            raise ConfigError(
                f"{target!r} is a file but not a .gguf file; give a model folder, a .gguf file or a hub id"
            )
        return _Source(str(path.parent), path.name, local=True)
    if path.is_dir():
        if gguf_file is not None and not (path / gguf_file).is_file():
            raise BackendUnavailable(f"no GGUF file {gguf_file!r} in model folder {str(path)!r}")
        return _Source(str(path), gguf_file, local=True)
    if _looks_like_path(target):
        raise BackendUnavailable(
            f"model path {target!r} does not exist; give an existing folder or .gguf file, or a hub id ORG/NAME"
        )
    return _Source(target, gguf_file, local=False)


# ----------------------------------------------------------------------------------------------- loading


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_failure(target: str, source: _Source, exc: Exception) -> BackendUnavailable:
    """Turn a ``from_pretrained`` failure into one line that says what to do."""
    if source.local:
        hint = "check that the folder holds a transformers causal LM (config.json, weights, tokenizer)"
    else:
        hint = (
            "check the hub id and your network; offline, download it first or point hf: at a local "
            "folder (HF_HUB_OFFLINE=1 uses only the local cache and skips the network retries)"
        )
    return BackendUnavailable(f"cannot load model {target!r}: {_first_line(exc)}; {hint}")


def _load_tokenizer(source: _Source, revision: str | None, local_files_only: bool) -> Any:
    kwargs: dict[str, Any] = {"revision": revision, "local_files_only": local_files_only}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    tokenizer = transformers.AutoTokenizer.from_pretrained(source.path, **kwargs)
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise BackendUnavailable(
                f"the tokenizer of {source.path!r} has neither a pad nor an eos token; batching needs one"
            )
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def dtype_kwargs(dtype: torch.dtype) -> dict[str, Any]:
    """``from_pretrained``'s dtype argument: ``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    from packaging.version import Version

    new = Version(transformers.__version__).release >= (4, 56)
    return {"dtype" if new else "torch_dtype": dtype}


def _load_model(source: _Source, revision: str | None, dtype: str, device: str, local_files_only: bool) -> Any:
    kwargs: dict[str, Any] = {
        "revision": revision,
        "local_files_only": local_files_only,
        **dtype_kwargs(TORCH_DTYPES[dtype]),
    }
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    model: Any = transformers.AutoModelForCausalLM.from_pretrained(source.path, **kwargs)
    model.to(device)
    model.eval()
    return model


# ----------------------------------------------------------------------------------------------- backend


@dataclass(frozen=True)
class _Encoded:
    """One prompt, tokenized, with its position in the caller's list."""

    index: int
    ids: list[int]


class HFBackend:
    """A transformers causal LM that generates in batches.

    Attributes:
        model: the loaded ``PreTrainedModel`` (in eval mode, on :attr:`device`).
        tokenizer: its tokenizer, left-padding, with a pad token.
        device: the resolved device name, e.g. ``cpu`` or ``cuda:0``.
        dtype: the resolved dtype name, e.g. ``bfloat16``.
        batch_size: prompts per forward batch.
        choice_batch_size: prompts per forward batch in constrained choice.
        share_prefix: constrained choice computes a prefix shared by many prompts once.
    """

    def __init__(
        self,
        target: str,
        *,
        dtype: str = DEFAULT_DTYPE,
        device: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        choice_batch_size: int = DEFAULT_CHOICE_BATCH_SIZE,
        share_prefix: bool = True,
        gguf_file: str | None = None,
        revision: str | None = None,
        progress: bool | None = None,
        model_id: str | None = None,
        local_files_only: bool = False,
    ) -> None:
        """Load a model from a hub id, a local folder or a ``.gguf`` file.

        Args:
            target: hub id (``ORG/NAME``), model folder, or path of a ``.gguf`` file.
            dtype: ``bfloat16``/``bf16``, ``float32``/``fp32``, ``float16``/``fp16`` or ``auto``.
            device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
            batch_size: prompts per forward batch (>= 1).
            choice_batch_size: prompts per forward batch in constrained choice (>= 1).
            share_prefix: in constrained choice, compute the key/value cache of a prefix that many
                prompts share once (see :mod:`pytest_llmtrust.backends.hf_choice`).
            gguf_file: name of a GGUF file inside the folder or hub repo ``target``.
            revision: hub branch, tag or commit.
            progress: show a progress bar; ``None`` shows one only when stderr is a terminal.
            model_id: identity for reports and cache keys; derived from the other arguments if omitted.
            local_files_only: never touch the network (same as ``HF_HUB_OFFLINE=1`` for this load).

        Raises:
            ConfigError: a bad dtype, device or batch size.
            BackendUnavailable: the model cannot be found or loaded.
        """
        for name, size in (("batch_size", batch_size), ("choice_batch_size", choice_batch_size)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {size!r}")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.choice_batch_size = choice_batch_size
        self.share_prefix = share_prefix
        self.progress = progress
        self.target = target
        self.revision = revision
        source = _locate(target, gguf_file)
        try:
            self.tokenizer: Any = _load_tokenizer(source, revision, local_files_only)
            self.model: Any = _load_model(source, revision, self.dtype, self.device, local_files_only)
        except ImportError as exc:  # e.g. a .gguf target without the gguf package
            raise BackendUnavailable(
                f"loading {target!r} needs a package that is not installed ({exc.name or _first_line(exc)}); "
                "pip install 'pytest-llmtrust[hf]'"
            ) from exc
        except (OSError, ValueError, KeyError) as exc:
            raise _load_failure(target, source, exc) from exc
        self._model_id = model_id or self._default_model_id(gguf_file)

    def _default_model_id(self, gguf_file: str | None) -> str:
        name = self.target + (f"/{gguf_file}" if gguf_file else "")
        revision = f"@{self.revision}" if self.revision else ""
        return f"hf:{name}{revision}?dtype={self.dtype}"

    @property
    def model_id(self) -> str:
        """``hf:<target>[@revision]?dtype=<dtype>``; the dtype changes outputs, so it is part of it."""
        return self._model_id

    def __repr__(self) -> str:
        """Show what was loaded and how it runs."""
        return f"HFBackend({self.model_id!r}, device={self.device!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------------------------------------- prompts

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for a prompt (chat template, or a plain ``role: content`` join)."""
        messages = to_messages(prompt)
        if getattr(self.tokenizer, "chat_template", None):
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join([*lines, "assistant:"])

    def choice_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
        """Constrained choice: log-probabilities over option labels from one forward pass per batch."""
        from pytest_llmtrust.backends.hf_choice import choice_logprobs

        return choice_logprobs(self, prompts, labels)

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of the rendered prompt (a chat template already carries its special tokens)."""
        text = self.render(prompt)
        templated = bool(getattr(self.tokenizer, "chat_template", None))
        ids = self.tokenizer(text, add_special_tokens=not templated)["input_ids"]
        return [int(i) for i in ids]

    def _batches(self, prompts: Sequence[Prompt]) -> list[list[_Encoded]]:
        """Tokenize, sort longest first (memory errors show up at once), cut into batches."""
        encoded = [_Encoded(i, self.encode(p)) for i, p in enumerate(prompts)]
        encoded.sort(key=lambda e: (-len(e.ids), e.index))
        return [encoded[i : i + self.batch_size] for i in range(0, len(encoded), self.batch_size)]

    # ------------------------------------------------------------------------------------------- generate

    def _eos_ids(self) -> list[int]:
        ids: set[int] = set()
        configured = self.model.generation_config.eos_token_id
        if isinstance(configured, int):
            ids.add(configured)
        elif configured is not None:
            ids.update(int(i) for i in configured)
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return sorted(ids)

    def _generation_config(self, params: GenerationParams) -> Any:
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = params.max_new_tokens
        config.max_length = None
        config.min_new_tokens = None
        config.min_length = 0
        config.num_beams = 1
        config.num_return_sequences = 1
        config.pad_token_id = self.tokenizer.pad_token_id
        config.eos_token_id = self._eos_ids()
        config.stop_strings = None  # see _stop_criteria
        if params.greedy:
            config.do_sample = False
            config.temperature = None
            config.top_p = None
            config.top_k = None
        else:
            config.do_sample = True
            config.temperature = float(params.temperature)
            config.top_p = float(params.top_p)
            config.top_k = 0  # no top-k cut: the same sampler as OpenAI-style APIs
        return config

    def _stop_criteria(self, stop: tuple[str, ...]) -> Any:
        """Let generation end early at a stop string; the text is cut afterwards either way.

        transformers' ``StopStringCriteria`` cannot read every tokenizer's vocabulary (word-level ones
        fail); then generation just runs on to EOS or ``max_new_tokens`` and the cut alone applies.
        """
        criteria = transformers.StoppingCriteriaList()
        if not stop:
            return criteria
        try:
            early = transformers.StopStringCriteria(tokenizer=self.tokenizer, stop_strings=list(stop))
            criteria.append(early)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            log.debug("%s: no early exit at stop strings (%s); cutting after generation", self.model_id, exc)
        return criteria

    def _seeded(self, params: GenerationParams) -> AbstractContextManager[Any]:
        """Reseed torch for one batch without touching the caller's global RNG state."""
        if params.greedy or params.seed is None:
            return nullcontext()
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        return _forked_rng(devices, params.seed)

    def _show_progress(self, n_prompts: int) -> bool:
        if n_prompts <= self.batch_size or self.progress is False:
            return False
        return bool(self.progress) or sys.stderr.isatty()

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """Return exactly one Generation per prompt, in input order.

        Raises:
            GenerationError: the model failed on a batch (e.g. out of memory); names the first prompt.
        """
        if not prompts:
            return []
        config = self._generation_config(params)
        results: list[Generation | None] = [None] * len(prompts)
        bar = tqdm(
            total=len(prompts),
            desc=self.model_id,
            unit="prompt",
            file=sys.stderr,
            disable=not self._show_progress(len(prompts)),
            leave=False,
        )
        with bar, torch.inference_mode():
            for batch in self._batches(prompts):
                for item, generation in zip(batch, self._generate_batch(prompts, batch, config, params), strict=True):
                    results[item.index] = generation
                bar.update(len(batch))
        done = [r for r in results if r is not None]
        if len(done) != len(prompts):  # pragma: no cover - a bug, not a model failure
            raise GenerationError(f"{self.model_id} made {len(done)} generations for {len(prompts)} prompts")
        return done

    def _generate_batch(
        self, prompts: Sequence[Prompt], batch: list[_Encoded], config: Any, params: GenerationParams
    ) -> Iterator[Generation]:
        input_ids, attention_mask = _left_pad([e.ids for e in batch], int(self.tokenizer.pad_token_id))
        extra: dict[str, Any] = {"stopping_criteria": self._stop_criteria(params.stop)}
        try:
            with self._seeded(params):
                output = self.model.generate(
                    input_ids=input_ids.to(self.device),
                    attention_mask=attention_mask.to(self.device),
                    generation_config=config,
                    **extra,
                )
        except (RuntimeError, ValueError) as exc:
            first = prompts[batch[0].index]
            raise GenerationError(
                f"{self.model_id} failed on a batch of {len(batch)} starting with prompt {first!r:.80}: "
                f"{_first_line(exc)}; try a smaller batch_size or max_new_tokens"
            ) from exc
        new_tokens = output[:, input_ids.shape[1] :].tolist()
        pad = self.tokenizer.pad_token_id
        for item, tokens in zip(batch, new_tokens, strict=True):
            text, finish = self._finish(tokens, params)
            yield Generation(
                prompt=prompts[item.index],
                text=text,
                finish_reason=finish,
                prompt_tokens=len(item.ids),
                completion_tokens=sum(1 for t in tokens if t != pad),
            )

    def _finish(self, tokens: list[int], params: GenerationParams) -> tuple[str, FinishReason]:
        """Decode one row of new tokens; say whether it stopped (EOS, stop string) or ran out of length."""
        eos = set(self._eos_ids())
        pad = self.tokenizer.pad_token_id
        end = next((i for i, t in enumerate(tokens) if t in eos), None)
        hit_eos = end is not None
        kept = tokens[:end] if end is not None else tokens
        # generate pads a row that met a stop string while the rest of its batch goes on
        padded_tail = bool(params.stop) and bool(kept) and kept[-1] == pad
        while kept and kept[-1] == pad:
            kept = kept[:-1]
        text = str(self.tokenizer.decode(kept, skip_special_tokens=True))
        text, hit_stop = cut_at_stop(text, params.stop)
        ran_out = len(tokens) >= params.max_new_tokens and not (hit_eos or hit_stop or padded_tail)
        return text, "length" if ran_out else "stop"


@contextmanager
def _forked_rng(devices: list[int], seed: int) -> Iterator[None]:
    """Seed torch inside the block; restore the previous RNG state (CPU and the given GPUs) after it."""
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token rows to one length; return ``(input_ids, attention_mask)``."""
    width = max(len(r) for r in rows)
    ids = [[pad_id] * (width - len(r)) + list(r) for r in rows]
    mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    return torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long)


# ----------------------------------------------------------------------------------------------- spec


def backend_kwargs(options: Mapping[str, str]) -> dict[str, Any]:
    """The keyword arguments shared by ``hf:`` and ``smollm2`` specs (dtype, device, batch size, progress)."""
    return {
        "dtype": opt_str(options, "dtype", DEFAULT_DTYPE),
        "device": opt_str(options, "device", "auto"),
        "batch_size": opt_int(options, "batch_size", DEFAULT_BATCH_SIZE),
        "choice_batch_size": opt_int(options, "choice_batch_size", DEFAULT_CHOICE_BATCH_SIZE),
        "share_prefix": bool(opt_bool(options, "share_prefix", True)),
        "progress": opt_bool(options, "progress", None),
    }


def from_spec(target: str, options: Mapping[str, str]) -> HFBackend:
    """Build the backend for ``hf:TARGET?dtype=...&device=...&batch_size=...``.

    Options: ``dtype`` (bfloat16, float32, float16 or auto; default auto), ``device``
    (cpu, cuda, cuda:N, mps or auto; default auto), ``batch_size`` (default 8),
    ``choice_batch_size`` (default 16), ``share_prefix`` (default true), ``gguf_file`` (a file inside
    the folder or repo), ``revision`` and ``progress``.
    """
    check_known("hf", options, OPTIONS)
    return HFBackend(
        target,
        gguf_file=opt_str(options, "gguf_file"),
        revision=opt_str(options, "revision"),
        **backend_kwargs(options),
    )
