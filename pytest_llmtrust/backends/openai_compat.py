"""A backend for any OpenAI-compatible chat completions server.

It talks to OpenAI itself, to vLLM (``vllm serve``), to llama.cpp's
``llama-server`` and to ``python -m llama_cpp.server``. The base URL comes
from the ``base_url`` option or ``OPENAI_BASE_URL``; the key only ever comes
from the ``api_key`` argument or ``OPENAI_API_KEY``, never from a spec, and it
is kept out of :attr:`OpenAIBackend.model_id`, reprs, logs and error messages.

Retries are ours, not the client library's: 408, 429, 5xx, timeouts and
connection errors are retried with exponential backoff and jitter, a
``Retry-After`` header is honoured (capped), and after the last attempt a
:class:`~pytest_llmtrust.errors.GenerationError` names the prompt and the last
error. Other 4xx answers fail at once with the server's message.

Constrained choice (:meth:`OpenAIBackend.choice_logprobs`) asks for one token with
``top_logprobs`` through the same retry path and scores the option labels from
them (:mod:`pytest_llmtrust.backends.openai_choice`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import ipaddress
import json
import logging
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast
from urllib.parse import quote, quote_plus, urlsplit

from pytest_llmtrust.backends.base import (
    ANSWER_SINK,
    AnswerSink,
    FinishReason,
    Generation,
    GenerationParams,
    Message,
    Prompt,
    cut_at_stop,
    prompt_text,
    to_messages,
)
from pytest_llmtrust.backends.openai_choice import (
    DEFAULT_TOP_LOGPROBS,
    check_labels,
    choice_row,
    first_token_top_logprobs,
)
from pytest_llmtrust.backends.spec_options import check_known, opt_bool, opt_float, opt_int, opt_str
from pytest_llmtrust.errors import BackendUnavailable, ConfigError, GenerationError

if TYPE_CHECKING:
    from openai import APIStatusError, AsyncOpenAI
    from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

__all__ = ["OpenAIBackend", "RetryPolicy", "backoff_delay", "from_spec", "parse_retry_after"]

log = logging.getLogger(__name__)

T = TypeVar("T")

OPENAI_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "sk-no-key-required"
"""Sent to servers other than api.openai.com when no key is set; keyless servers ignore it."""
MAX_SERVER_STOPS = 4
"""OpenAI accepts at most four stop strings; the rest are applied client-side."""
RETRYABLE_STATUS = frozenset({408, 429})
OPTIONS = ("base_url", "concurrency", "max_retries", "timeout", "progress", "top_logprobs")
CHOICE_PARAMS = GenerationParams(max_new_tokens=1, temperature=0.0)
"""Constrained choice: one greedy token; only its ``top_logprobs`` matter."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed requests are retried.

    Attributes:
        max_retries: Retries after the first attempt (so ``max_retries + 1`` attempts in all).
        backoff_base: Delay before the first retry, in seconds; it doubles on each retry.
        backoff_cap: Upper bound of one backoff delay, in seconds.
        retry_after_cap: Upper bound applied to a server's ``Retry-After``, in seconds.
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    retry_after_cap: float = 60.0

    def __post_init__(self) -> None:
        """Reject negative settings."""
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("backoff_base", "backoff_cap", "retry_after_cap"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: a delay in ``[d/2, d]`` where ``d = min(cap, base * 2**retry)``.

    Args:
        retry: 0 for the first retry, 1 for the second, and so on.
        base: Delay scale in seconds.
        cap: Largest delay in seconds.
        rng: Source of jitter (the module's generator when omitted).
    """
    ceiling = min(cap, base * (2.0 ** min(retry, 32)))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def parse_retry_after(headers: Mapping[str, str], cap: float) -> float | None:
    """Read ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), capped at ``cap``.

    Returns:
        The delay in seconds, or ``None`` when no usable header is present.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    delay: float | None = None
    if "retry-after-ms" in lowered:
        delay = _as_float(lowered["retry-after-ms"])
        delay = None if delay is None else delay / 1000.0
    if delay is None and "retry-after" in lowered:
        raw = lowered["retry-after"].strip()
        delay = _as_float(raw)
        if delay is None:
            delay = _seconds_until(raw)
    if delay is None or delay != delay:  # missing or NaN
        return None
    return min(max(delay, 0.0), cap)


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _seconds_until(http_date: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _excerpt(prompt: Prompt, width: int = 60) -> str:
    text = " ".join(prompt_text(prompt).split())
    return repr(text if len(text) <= width else text[: width - 3] + "...")


class _Failure(Exception):
    """One failed attempt, already described without secrets."""

    def __init__(self, description: str, *, retryable: bool, delay: float | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.retryable = retryable
        self.delay = delay


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server, with bounded concurrency and retries.

    Args:
        model: The model name the server knows (``gpt-4o-mini``, a vLLM model id, any
            name for ``llama_cpp.server`` with one model).
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1``; ``OPENAI_BASE_URL`` or
            OpenAI's own when omitted.
        api_key: The key; ``OPENAI_API_KEY`` when omitted. When neither is set,
            ``api.openai.com`` raises BackendUnavailable and any other server (a local
            llama.cpp or vLLM) gets a placeholder key.
        concurrency: Most requests in flight at once.
        max_retries: Retries per prompt after the first attempt.
        timeout: Seconds one request may take (queueing on the server included).
        progress: Print ``done/total`` lines to stderr while a batch runs.
        backoff_base: Delay before the first retry in seconds (doubles each retry, with jitter).
        backoff_cap: Largest backoff delay in seconds.
        retry_after_cap: Largest wait honoured from a ``Retry-After`` header, in seconds.
        top_logprobs: Alternatives asked for per prompt in :meth:`choice_logprobs` (20, OpenAI's
            maximum; some servers allow more).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 4,
        timeout: float = 120.0,
        progress: bool = False,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        retry_after_cap: float = 60.0,
        top_logprobs: int = DEFAULT_TOP_LOGPROBS,
    ) -> None:
        """Check the settings and resolve the URL and key (see the class docstring)."""
        if not model:
            raise ConfigError("the openai backend needs a model name, e.g. 'openai:gpt-4o-mini'")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        if timeout <= 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout}")
        if top_logprobs < 1:
            raise ConfigError(f"top_logprobs must be >= 1, got {top_logprobs}")
        self.model = model
        self.base_url = _check_url(base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL)
        self._host, self._port = _host_port(self.base_url)
        self._api_key = self._resolve_key(api_key)
        self.concurrency = concurrency
        self.retry = RetryPolicy(max_retries, backoff_base, backoff_cap, retry_after_cap)
        self.timeout = float(timeout)
        self.progress = progress
        self.top_logprobs = top_logprobs

    def _resolve_key(self, api_key: str | None) -> str:
        key = api_key or os.environ.get("OPENAI_API_KEY") or ""
        if key:
            return key
        if self._host.lower() == "api.openai.com":
            raise BackendUnavailable(
                f"{self.model_id} needs an API key: set OPENAI_API_KEY in the environment "
                "(keys are never accepted in a model spec)"
            )
        return PLACEHOLDER_KEY

    @property
    def model_id(self) -> str:
        """``openai:<model>@<host>:<port>``; never the key or the URL path."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"openai:{self.model}@{host}:{self._port}"

    @property
    def max_retries(self) -> int:
        """Retries per prompt after the first attempt."""
        return self.retry.max_retries

    def __repr__(self) -> str:
        """Show where requests go, never the key."""
        return (
            f"OpenAIBackend(model={self.model!r}, base_url={_public_url(self.base_url)!r}, "
            f"concurrency={self.concurrency}, max_retries={self.max_retries}, timeout={self.timeout})"
        )

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """Return exactly one Generation per prompt, in input order.

        Raises:
            GenerationError: A prompt still failed after its retries, or failed with a
                non-retryable answer (the batch stops at the first such prompt).
        """
        batch = list(prompts)
        if not batch:
            return []
        messages = [to_messages(p) for p in batch]

        async def one(client: AsyncOpenAI, prompt: Prompt, chat: list[Message]) -> Generation:
            return self._to_generation(prompt, await self._complete(client, prompt, chat, params), params)

        sink = ANSWER_SINK.get()  # read here: the batch may run in a worker thread
        return _run_coroutine(lambda: self._run_batch(batch, messages, one, sink))

    def choice_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
        """Constrained choice: per prompt, log-probabilities over ``labels`` as the next token, renormalised.

        One request per prompt asks for a single greedy token with ``logprobs=True`` and
        ``top_logprobs``; the labels are scored from that token's alternatives as described in
        :mod:`pytest_llmtrust.backends.openai_choice`. Requests are retried like :meth:`generate`'s.

        Raises:
            ConfigError: The labels are unusable, or the server sent no ``top_logprobs`` (it does
                not support them; use mode='generate').
            GenerationError: A request failed for good, or no label was among a prompt's
                ``top_logprobs``.
        """
        check_labels(labels)
        batch = list(prompts)
        if not batch:
            return []
        messages = [to_messages(p) for p in batch]
        wanted = list(labels)

        async def one(client: AsyncOpenAI, prompt: Prompt, chat: list[Message]) -> list[float]:
            completion = await self._complete(client, prompt, chat, CHOICE_PARAMS, top_logprobs=self.top_logprobs)
            return self._to_choice_row(prompt, completion, wanted)

        sink = ANSWER_SINK.get()
        return _run_coroutine(lambda: self._run_batch(batch, messages, one, sink))

    async def _run_batch(
        self,
        prompts: list[Prompt],
        messages: list[list[Message]],
        work: Callable[[AsyncOpenAI, Prompt, list[Message]], Awaitable[T]],
        sink: AnswerSink | None = None,
    ) -> list[T]:
        """Run ``work`` once per prompt on one client, ``concurrency`` at a time, failing fast, in input order.

        Each result goes to ``sink`` (the generation cache's :data:`~pytest_llmtrust.backends.base.ANSWER_SINK`)
        as soon as it is done, so the cache can store it before the batch ends.
        """
        from openai import AsyncOpenAI

        client = AsyncOpenAI(api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout)
        limit = asyncio.Semaphore(self.concurrency)
        counter = _Progress(len(prompts), self.model_id, enabled=self.progress)

        async def one(index: int, prompt: Prompt, chat: list[Message]) -> T:
            async with limit:
                result = await work(client, prompt, chat)
            counter.tick()
            if sink is not None:
                sink(index, prompt, result)
            return result

        try:
            jobs = [one(i, p, m) for i, (p, m) in enumerate(zip(prompts, messages, strict=True))]
            return await _gather_fail_fast(jobs)
        finally:
            await client.close()

    async def _complete(
        self,
        client: AsyncOpenAI,
        prompt: Prompt,
        chat: list[Message],
        params: GenerationParams,
        *,
        top_logprobs: int | None = None,
    ) -> ChatCompletion:
        """One chat completion, retried per the policy; a GenerationError when it fails for good."""
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                return await self._request(client, chat, params, top_logprobs=top_logprobs)
            except _Failure as failure:
                if not failure.retryable:
                    raise GenerationError(
                        f"{self.model_id} rejected prompt {_excerpt(prompt)}: {failure.description}"
                    ) from None
                if attempt + 1 == attempts:
                    raise GenerationError(
                        f"{self.model_id} failed on prompt {_excerpt(prompt)} after {attempts} "
                        f"attempt(s); last error: {failure.description}"
                    ) from None
                await self._wait_before_retry(failure, attempt, attempts)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_before_retry(self, failure: _Failure, attempt: int, attempts: int) -> None:
        delay = failure.delay
        if delay is None:
            delay = backoff_delay(attempt, self.retry.backoff_base, self.retry.backoff_cap)
        log.info(
            "%s: %s; retrying in %.2fs (attempt %d of %d)",
            self.model_id,
            failure.description,
            delay,
            attempt + 2,
            attempts,
        )
        await asyncio.sleep(delay)

    async def _request(
        self, client: AsyncOpenAI, chat: list[Message], params: GenerationParams, *, top_logprobs: int | None = None
    ) -> ChatCompletion:
        import openai

        stops = [s for s in params.stop if s][:MAX_SERVER_STOPS]
        try:
            # the client's timeout bounds each read, not the whole answer: a server that trickles
            # its body would hold an attempt forever, so the attempt as a whole is bounded here
            completion: object = await asyncio.wait_for(
                client.chat.completions.create(
                    model=self.model,
                    messages=cast("list[ChatCompletionMessageParam]", chat),
                    max_tokens=params.max_new_tokens,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    seed=openai.omit if params.seed is None else params.seed,
                    stop=stops or openai.omit,
                    logprobs=openai.omit if top_logprobs is None else True,
                    top_logprobs=openai.omit if top_logprobs is None else top_logprobs,
                ),
                timeout=self.timeout,
            )
        except openai.APIStatusError as exc:
            raise self._status_failure(exc) from None
        except (openai.APITimeoutError, asyncio.TimeoutError):
            raise _Failure(f"request timed out after {self.timeout:g}s", retryable=True) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise _Failure(self._redact(f"connection error: {cause}"), retryable=True) from None
        except openai.OpenAIError as exc:
            raise _Failure(self._redact(f"{type(exc).__name__}: {exc}"), retryable=False) from None
        except json.JSONDecodeError as exc:  # a 200 whose JSON body was cut short: a transport fault
            raise _Failure(f"malformed JSON in the answer ({exc})", retryable=True) from None
        if not hasattr(completion, "choices"):  # a 200 that is not JSON (an HTML page, plain text)
            raise _Failure(self._redact(f"not a chat completion: {str(completion)[:200]!r}"), retryable=True)
        return cast("ChatCompletion", completion)

    def _status_failure(self, exc: APIStatusError) -> _Failure:
        status = exc.status_code
        detail = self._redact(_server_message(exc))
        description = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        if status == 401:
            description += " (check OPENAI_API_KEY)"
        retryable = status in RETRYABLE_STATUS or status >= 500
        delay = parse_retry_after(dict(exc.response.headers), self.retry.retry_after_cap) if retryable else None
        return _Failure(description, retryable=retryable, delay=delay)

    def _to_generation(self, prompt: Prompt, completion: ChatCompletion, params: GenerationParams) -> Generation:
        if not completion.choices:
            raise GenerationError(f"{self.model_id} returned no choices for prompt {_excerpt(prompt)}")
        choice = completion.choices[0]
        text, hit = cut_at_stop(choice.message.content or "", params.stop)
        finish: FinishReason = "length" if choice.finish_reason == "length" and not hit else "stop"
        usage = completion.usage
        return Generation(
            prompt=prompt,
            text=text,
            finish_reason=finish,
            prompt_tokens=usage.prompt_tokens if usage is not None else None,
            completion_tokens=usage.completion_tokens if usage is not None else None,
        )

    def _to_choice_row(self, prompt: Prompt, completion: ChatCompletion, labels: list[str]) -> list[float]:
        if not completion.choices:
            raise GenerationError(f"{self.model_id} returned no choices for prompt {_excerpt(prompt)}")
        top = first_token_top_logprobs(completion)
        if top is None:
            raise ConfigError(
                f"{self.model_id} (base_url {_public_url(self.base_url)}) returned no top_logprobs for prompt "
                f"{_excerpt(prompt)}, so it cannot score options directly; the server does not support "
                "logprobs on chat completions: use mode='generate'"
            )
        row = choice_row(top, labels)
        if row is None:
            tokens = ", ".join(repr(token) for token, _ in top)
            raise GenerationError(
                self._redact(
                    f"{self.model_id}: none of the option labels {labels!r} was among the {len(top)} most likely "
                    f"next tokens for prompt {_excerpt(prompt)} (got {tokens}); ask for the answer letter only, "
                    "or use mode='generate'"
                )
            )
        return row

    def _redact(self, text: str) -> str:
        """``text`` without the key, also URL-encoded (servers echo it either way in errors)."""
        if self._api_key and self._api_key != PLACEHOLDER_KEY:
            forms = {self._api_key, quote(self._api_key, safe=""), quote_plus(self._api_key)}
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, "***")
        return text


def _server_message(exc: object) -> str:
    """The server's own error text: OpenAI's ``{"error": {"message": ...}}`` or the raw body."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if body.get("detail"):
            return str(body["detail"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return str(getattr(exc, "message", "") or "")


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {_public_url(url)!r}")
    return url.rstrip("/")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"base_url {_public_url(url)!r} has a bad port") from None
    return parts.hostname or "", port or (443 if parts.scheme == "https" else 80)


def _public_url(url: str) -> str:
    """The URL without user info, query or fragment (where secrets could hide).

    Everything up to the last ``@`` goes, not just the parsed user info: a password holding an unencoded
    ``/``, ``?`` or ``#`` would otherwise end the parsed host early and be shown as the path.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    parts = urlsplit("//" + rest.rpartition("@")[2])
    return f"{scheme}://{parts.netloc}{parts.path}"


class _Progress:
    """``done/total`` lines on stderr, at most about one a second."""

    def __init__(self, total: int, label: str, *, enabled: bool) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self.done = 0
        self._last = 0.0

    def tick(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.enabled and (self.done == self.total or now - self._last >= 1.0):
            self._last = now
            print(f"[llmtrust] {self.label}: {self.done}/{self.total}", file=sys.stderr, flush=True)


async def _gather_fail_fast(coroutines: Sequence[Awaitable[T]]) -> list[T]:
    """Like ``gather`` but cancels the rest as soon as one fails, and keeps input order.

    A GenerationError that stops the batch carries the results that did finish in its ``done``
    (by input index), so that the generation cache keeps them.
    """
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [t for t in tasks if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            if isinstance(error, GenerationError):
                error.done = {i: t.result() for i, t in enumerate(tasks) if not t.cancelled() and t.exception() is None}
            raise error
    return [t.result() for t in tasks]


def _run_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion, in a worker thread when this thread already runs a loop."""

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmtrust-openai") as pool:
        return pool.submit(asyncio.run, main()).result()


def from_spec(target: str, options: Mapping[str, str]) -> OpenAIBackend:
    """Build the backend for ``openai:MODEL?base_url=...&concurrency=...``.

    Options: ``base_url``, ``concurrency`` (default 8), ``max_retries`` (default 4),
    ``timeout`` (seconds, default 120), ``progress`` (true/false) and
    ``top_logprobs`` (constrained choice, default 20). The key comes from
    ``OPENAI_API_KEY`` only.
    """
    check_known("openai", options, OPTIONS)
    base_url = opt_str(options, "base_url")
    if base_url is not None:
        parts = urlsplit(base_url)
        if "@" in parts.netloc or parts.query or parts.fragment:
            raise ConfigError(
                "base_url in a model spec must not carry credentials, a query or a fragment (specs are written "
                f"to reports): use {_public_url(base_url)!r} and set OPENAI_API_KEY instead"
            )
    return OpenAIBackend(
        target,
        base_url=base_url,
        concurrency=opt_int(options, "concurrency", 8),
        max_retries=opt_int(options, "max_retries", 4, minimum=0),
        timeout=opt_float(options, "timeout", 120.0, minimum=0.001),
        progress=bool(opt_bool(options, "progress", False)),
        top_logprobs=opt_int(options, "top_logprobs", DEFAULT_TOP_LOGPROBS, minimum=1),
    )
