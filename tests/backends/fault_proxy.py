"""A fault-injecting HTTP proxy for tests of the ``openai:`` backend against a real server.

Usage::

    with llama_server() as server, fault_proxy(server.base_url, first_attempts(RATE_LIMIT)) as proxy:
        backend = OpenAIBackend("smollm2", base_url=proxy.base_url, max_retries=2)
        backend.generate(prompts, params)
        assert max(proxy.attempts().values()) <= 3

The proxy listens on 127.0.0.1 on a free port and forwards to the upstream server (standard
library only, one thread per connection). Every ``POST .../chat/completions`` is handed to a
*plan*, which picks what happens to it:

* ``pass``: forwarded, and the upstream answer relayed as it is;
* ``429``: answered ``429 Too Many Requests`` with ``Retry-After: <retry_after>``, not forwarded;
* ``500``: answered ``500 Internal Server Error``, not forwarded;
* ``reset``: the connection is reset (RST, via ``SO_LINGER`` 0) without an answer, not forwarded;
* ``hangup``: the connection is closed (FIN) without an answer, not forwarded;
* ``slow``: forwarded, then the answer is dribbled out over ``slow_seconds`` (headers at once,
  the body in small pieces, so no single read waits long but the whole answer takes long);
* ``truncate``: forwarded, then the answer's JSON body is cut in half and sent with headers that
  match the cut body (``200``, ``Content-Length`` of the cut part): a well-formed HTTP answer
  whose JSON does not parse;
* ``cut``: forwarded, then the headers announce the whole body but the connection is closed
  halfway through it.

Other requests (``GET /v1/models``) are always passed through. Each chat request is recorded
(:class:`Record`): its number, the prompt (the last message's content), which attempt at that
prompt it was, what was done, the status sent and whether the upstream server generated an
answer for it, so tests can check that retries were bounded and that nothing was generated twice.
A plan is any callable ``(Request) -> fault``; :func:`first_attempts`, :func:`for_prompts`,
:func:`seeded` and :func:`always` build the usual ones, and ``proxy.plan`` may be swapped while
the proxy runs.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import http.client
import json
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

PASS = "pass"
RATE_LIMIT = "429"
SERVER_ERROR = "500"
RESET = "reset"
HANGUP = "hangup"
SLOW = "slow"
TRUNCATE = "truncate"
CUT = "cut"
FAULTS: tuple[str, ...] = (RATE_LIMIT, SERVER_ERROR, RESET, HANGUP, SLOW, TRUNCATE, CUT)
"""Every fault kind (everything a plan may return except ``pass``)."""
FORWARDED = frozenset({PASS, SLOW, TRUNCATE, CUT})
"""Kinds that reach the upstream server (it generates an answer that may then be spoiled)."""


@dataclass(frozen=True)
class Request:
    """What a plan sees of one chat request.

    Attributes:
        number: Chat requests before this one (from 0).
        prompt: The content of the request's last message.
        attempt: Earlier chat requests with the same prompt (0 for the first).
    """

    number: int
    prompt: str
    attempt: int


@dataclass
class Record:
    """What the proxy did with one chat request.

    Attributes:
        number: As in :class:`Request`.
        prompt: As in :class:`Request`.
        attempt: As in :class:`Request`.
        fault: The kind applied (``pass`` or one of :data:`FAULTS`).
        started: ``time.monotonic()`` when the request arrived.
        seconds: Seconds until the proxy was done with it (answer sent, or connection closed).
        status: The status sent to the client; None when no status line was sent.
        generated: Whether the upstream server answered 200 to it (an answer was generated).
        delivered: Whether the whole of an upstream 200 answer was sent, unspoiled, to a client
            still connected (one that gave up meanwhile, e.g. a cancelled request, gets nothing).
    """

    number: int
    prompt: str
    attempt: int
    fault: str
    started: float
    seconds: float = 0.0
    status: int | None = None
    generated: bool = False
    delivered: bool = False


@dataclass
class FaultProxy:
    """A running proxy; see the module docstring.

    Attributes:
        upstream: The upstream API root (``http://127.0.0.1:PORT/v1``).
        plan: Picks the fault for each chat request; may be replaced while running.
        retry_after: The ``Retry-After`` value sent with a ``429`` (seconds, as text).
        slow_seconds: How long a ``slow`` answer takes in all.
        base_url: The proxy's own API root (set when it starts).
        records: One :class:`Record` per chat request, in arrival order.
    """

    upstream: str
    plan: Callable[[Request], str]
    retry_after: str = "1"
    slow_seconds: float = 5.0
    base_url: str = ""
    records: list[Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def attempts(self) -> collections.Counter[str]:
        """Chat requests per prompt."""
        with self.lock:
            return collections.Counter(r.prompt for r in self.records)

    def faults(self) -> collections.Counter[str]:
        """Chat requests per fault kind applied (``pass`` included)."""
        with self.lock:
            return collections.Counter(r.fault for r in self.records)

    def delivered(self) -> collections.Counter[str]:
        """Per prompt, how many generated answers reached the client whole."""
        with self.lock:
            return collections.Counter(r.prompt for r in self.records if r.delivered)

    def generated(self) -> int:
        """Chat requests the upstream server generated an answer for (spoiled ones included)."""
        with self.lock:
            return sum(r.generated for r in self.records)

    def snapshot(self) -> list[Record]:
        """A copy of the records so far."""
        with self.lock:
            return list(self.records)

    def clear(self) -> None:
        """Forget the records (attempt numbers start again from 0)."""
        with self.lock:
            self.records.clear()

    def begin(self, prompt: str) -> Record:
        """Record a new chat request and pick its fault from the plan."""
        with self.lock:
            number = len(self.records)
            attempt = sum(1 for r in self.records if r.prompt == prompt)
            request = Request(number, prompt, attempt)
            record = Record(number, prompt, attempt, PASS, time.monotonic())
            self.records.append(record)
        fault = self.plan(request)
        if fault != PASS and fault not in FAULTS:
            raise ValueError(f"the plan returned {fault!r}; expected 'pass' or one of {FAULTS}")
        record.fault = fault
        return record


# --- plans ----------------------------------------------------------------------------------------


def always(fault: str) -> Callable[[Request], str]:
    """Every request gets ``fault`` (``always(PASS)``: a plain proxy)."""
    return lambda _request: fault


def first_attempts(fault: str, times: int = 1) -> Callable[[Request], str]:
    """A transient fault: the first ``times`` attempts at each prompt get ``fault``, later ones pass."""
    return lambda request: fault if request.attempt < times else PASS


def for_prompts(fault: str, needles: Iterable[str]) -> Callable[[Request], str]:
    """A persistent fault: every attempt at a prompt containing one of ``needles`` gets ``fault``."""
    wanted = tuple(needles)
    return lambda request: fault if any(n in request.prompt for n in wanted) else PASS


def seeded(rate: float, faults: Iterable[str], seed: int = 0) -> Callable[[Request], str]:
    """Random but reproducible: each attempt fails with probability ``rate``, with a fault drawn from ``faults``.

    The draw hashes ``(seed, prompt, attempt)``, so it does not depend on the order in which
    concurrent requests arrive: the same prompts give the same faults on every run.
    """
    kinds = tuple(faults)

    def plan(request: Request) -> str:
        digest = hashlib.sha256(f"{seed}\0{request.prompt}\0{request.attempt}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2.0**64
        if draw >= rate:
            return PASS
        return kinds[int.from_bytes(digest[8:16], "big") % len(kinds)]

    return plan


# --- the server -----------------------------------------------------------------------------------


HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"})


def _prompt_of(body: bytes) -> str:
    try:
        messages = json.loads(body).get("messages") or [{}]
        return str(messages[-1].get("content", ""))
    except (ValueError, AttributeError, TypeError, IndexError):
        return ""


def _handler_for(
    proxy: FaultProxy, upstream_host: str, upstream_port: int, upstream_path: str
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = self._read_body()
            self._relay(*self._forward("GET", body))

        def do_POST(self) -> None:
            body = self._read_body()
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._relay(*self._forward("POST", body))
                return
            record = proxy.begin(_prompt_of(body))
            try:
                self._fault(record, body)
            finally:
                record.seconds = time.monotonic() - record.started

        # --- faults -------------------------------------------------------------------------------

        def _fault(self, record: Record, body: bytes) -> None:
            fault = record.fault
            if fault == RATE_LIMIT:
                record.status = 429
                self._send_json(429, {"Retry-After": proxy.retry_after}, _error("rate limited (fault proxy)"))
            elif fault == SERVER_ERROR:
                record.status = 500
                self._send_json(500, {}, _error("internal error (fault proxy)"))
            elif fault in (RESET, HANGUP):
                self._drop(reset=fault == RESET)
            else:
                status, headers, payload = self._forward("POST", body)
                record.generated = status == 200
                record.status = status
                if fault == PASS:
                    if self._client_gone():
                        self.close_connection = True
                        return
                    record.delivered = self._relay(status, headers, payload) and record.generated
                elif fault == SLOW:
                    record.delivered = self._dribble(status, headers, payload) and record.generated
                elif fault == TRUNCATE:
                    self._relay(status, headers, payload[: len(payload) // 2])
                    self.close_connection = True
                else:  # CUT
                    self._head(status, headers, len(payload))
                    self._write(payload[: len(payload) // 2])
                    self._drop(reset=False)

        def _dribble(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> bool:
            """Send the answer in ~20 pieces spread over ``slow_seconds``; False when the client left."""
            self._head(status, headers, len(payload))
            pieces = 20
            step = max(1, -(-len(payload) // pieces))
            for start in range(0, len(payload), step):
                if proxy.stopping.wait(proxy.slow_seconds / pieces) or not self._write(payload[start : start + step]):
                    self.close_connection = True
                    return False
            return True

        def _drop(self, *, reset: bool) -> None:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                self.connection.close()
            self.close_connection = True

        # --- plumbing -----------------------------------------------------------------------------

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self, method: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            path = upstream_path + self.path[len("/v1") :] if self.path.startswith("/v1") else self.path
            connection = http.client.HTTPConnection(upstream_host, upstream_port, timeout=600)
            try:
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                connection.request(method, path, body=body or None, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                return response.status, kept, payload
            except OSError as exc:
                return 502, [("Content-Type", "application/json")], json.dumps(_error(f"upstream: {exc}")).encode()
            finally:
                connection.close()

        def _head(self, status: int, headers: list[tuple[str, str]], length: int) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def _write(self, data: bytes) -> bool:
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                self.close_connection = True
                return False
            return True

        def _relay(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> bool:
            self._head(status, headers, len(payload))
            return self._write(payload)

        def _client_gone(self) -> bool:
            """Whether the client closed its end (it timed out or cancelled) while the answer was made."""
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _send_json(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
            self._relay(status, [("Content-Type", "application/json"), *headers.items()], json.dumps(body).encode())

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    return Handler


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error"}}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up on a slow answer are expected; say nothing."""


@contextlib.contextmanager
def fault_proxy(
    upstream: str,
    plan: Callable[[Request], str] | None = None,
    *,
    retry_after: str = "1",
    slow_seconds: float = 5.0,
) -> Iterator[FaultProxy]:
    """Run a fault proxy in front of ``upstream`` (an API root such as ``http://127.0.0.1:PORT/v1``).

    Args:
        upstream: Where requests are forwarded.
        plan: Picks each chat request's fault; pass-through when omitted.
        retry_after: The ``Retry-After`` header value sent with ``429``.
        slow_seconds: How long a ``slow`` answer takes in all.
    """
    parts = urlsplit(upstream)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the fault proxy forwards to plain http only, got {upstream!r}")
    proxy = FaultProxy(upstream, plan or always(PASS), retry_after=retry_after, slow_seconds=slow_seconds)
    handler = _handler_for(proxy, parts.hostname, parts.port or 80, parts.path.rstrip("/") or "/v1")
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    proxy.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
