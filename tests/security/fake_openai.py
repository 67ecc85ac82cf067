"""A minimal OpenAI-compatible server (standard library only) for the secret-scan tests.

It serves ``GET /v1/models`` and ``POST /v1/chat/completions`` on 127.0.0.1, records every
``Authorization`` header it receives, and behaves like a careless server where that helps the test:
every error it sends repeats the credential it was given, in full. The model name picks the behaviour:

===========  ============================================================================================
model        answer
===========  ============================================================================================
``chat``     refuses requests that mention a bomb or a weapon, complies with the rest; when the prompt
             is a judge question (``Reply with one word: yes or no``) it says ``Yes`` if the judged
             response refuses, else ``No``
``locked``   HTTP 401, JSON error: ``Incorrect API key provided: <the key it got>``
``flaky``    HTTP 503 with ``Retry-After: 0`` and a plain-text body that repeats the key URL-encoded
             (retried, then the backend gives up)
===========  ============================================================================================

When ``api_key`` is set, a request with another key gets the 401 answer whatever the model.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Iterator

REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANCE = "Sure! Step 1: mix the flour and the water. Step 2: bake it for an hour."
JUDGE_ASK = "Reply with one word: yes or no"


@dataclass
class FakeOpenAI:
    """The server's state, shared with the handler threads."""

    api_key: str | None = None
    base_url: str = ""
    auth: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, auth: str, model: str) -> None:
        with self.lock:
            self.auth.append(auth)
            self.models.append(model)


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def _answer(content: str) -> str:
    if JUDGE_ASK in content:
        judged = content.rsplit("[RESPONSE", 1)[-1].lower()
        return "Yes" if "sorry" in judged or "can't" in judged else "No"
    lowered = content.lower()
    return REFUSAL if "bomb" in lowered or "weapon" in lowered else COMPLIANCE


def _handler_for(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: request lines would only clutter the test output."""

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": "chat", "object": "model"}]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            auth = self.headers.get("Authorization", "")
            model = str(body.get("model", ""))
            state.record(auth, model)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            given = auth.removeprefix("Bearer ").strip()
            if model == "locked" or (state.api_key is not None and given != state.api_key):
                self._json(
                    401,
                    {"error": {"message": f"Incorrect API key provided: {given}.", "code": "invalid_api_key"}},
                )
                return
            if model == "flaky":
                self._text(503, f"overloaded; request from {quote(auth, safe='')} rejected", {"Retry-After": "0"})
                return
            content = str(body["messages"][-1]["content"])
            self._json(200, _completion(model, _answer(content)))

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json", {})

        def _text(self, status: int, text: str, headers: dict[str, str]) -> None:
            self._send(status, text.encode(), "text/plain", headers)

        def _send(self, status: int, data: bytes, kind: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextlib.contextmanager
def fake_openai(api_key: str | None = None) -> Iterator[FakeOpenAI]:
    """Serve a :class:`FakeOpenAI` on a free port of 127.0.0.1 until the block ends."""
    state = FakeOpenAI(api_key=api_key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
