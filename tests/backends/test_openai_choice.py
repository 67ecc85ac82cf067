"""Tests of constrained choice (``choice_logprobs``) on the OpenAI-compatible backend.

The unit tests reuse the scripted standard-library server of ``test_openai.py``,
answering with hand-written ``top_logprobs``. The ``realmodel`` tests start a real
``llama_cpp.server`` with SmolLM2-135M (which does return ``top_logprobs`` on chat
completions) and skip without it, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmtrust.backends.base import GenerationParams, SupportsChoice
from pytest_llmtrust.backends.openai_choice import (
    DEFAULT_TOP_LOGPROBS,
    check_labels,
    choice_row,
    label_scores,
    log_softmax,
    logsumexp,
    matches_label,
)
from pytest_llmtrust.backends.openai_compat import OpenAIBackend, from_spec
from pytest_llmtrust.errors import ConfigError, GenerationError
from pytest_llmtrust.persona.bbq import load_bbq
from pytest_llmtrust.persona.prompts import build_messages
from pytest_llmtrust.persona.runner import persona_bias
from tests.backends.llama_server import LlamaServer, llama_server
from tests.backends.test_openai import (
    Reply,
    ScriptedServer,
    completion,
    error,
    make,
    require_llama_server,
    serving,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

pytest.importorskip("openai")

ABC = ("A", "B", "C")
AGE = "example_suites/bbq_sample/Age.jsonl"
Top = list[tuple[str, float]]


def top_body(top: Top | None, *, content: bool = True) -> dict[str, Any]:
    """A chat.completion of one token whose ``logprobs`` lists ``top`` (None: no logprobs at all)."""
    body = completion(top[0][0] if top else "A", "length")
    if top is None:
        body["choices"][0]["logprobs"] = None
        return body
    alternatives = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]
    first = {"token": top[0][0], "logprob": top[0][1], "bytes": None, "top_logprobs": alternatives}
    body["choices"][0]["logprobs"] = {"content": [first] if content else [], "refusal": None}
    return body


def answering(top: Top | None) -> Callable[[int, dict[str, Any]], Reply]:
    """A script that answers every request with ``top``."""
    return lambda _n, _body: (200, {}, top_body(top))


def probs(row: Sequence[float]) -> list[float]:
    """Probabilities from a row of log-probabilities."""
    return [math.exp(x) for x in row]


LOG = math.log
SPELLINGS: Top = [
    (" A", LOG(0.3)),
    ("A", LOG(0.1)),
    ("(B", LOG(0.2)),
    ("\nB", LOG(0.1)),
    ("C", LOG(0.05)),
    ("The", -6.0),
]
"""A = 0.3 + 0.1, B = 0.2 + 0.1, C = 0.05: renormalised 0.4/0.75, 0.3/0.75, 0.05/0.75."""


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted OpenAI-compatible server on 127.0.0.1 that answers with SPELLINGS."""
    with serving(ScriptedServer(script=answering(SPELLINGS))) as state:
        yield state


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's OpenAI settings out of these tests."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


# --- scoring (pure functions) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [("A", True), (" A", True), ("\nA", True), ("A ", True), ("(A", True), (" (A", True), ("( A", True)],
)
def test_label_spellings_that_match(token: str, expected: bool) -> None:
    """Surrounding whitespace and one leading parenthesis are ignored."""
    assert matches_label(token, "A") is expected


@pytest.mark.parametrize("token", ["a", " a", "AB", "A)", "A.", "((A", "(", "", "Answer", "B"])
def test_label_spellings_that_do_not_match(token: str) -> None:
    """Case counts, and anything else around the label stops a match."""
    assert not matches_label(token, "A")


def test_logsumexp_adds_probabilities() -> None:
    """Combining spellings adds their probabilities, stably for very small logprobs."""
    assert logsumexp([LOG(0.3), LOG(0.1)]) == pytest.approx(LOG(0.4))
    assert logsumexp([-1000.0, -1000.0]) == pytest.approx(-1000.0 + LOG(2.0))
    assert logsumexp([]) == -math.inf
    assert logsumexp([-math.inf, -math.inf]) == -math.inf


def test_spellings_are_combined_and_renormalised() -> None:
    """' A' and 'A' add up, '(B' and '\\nB' add up, and the row is renormalised over A, B, C."""
    row = choice_row(SPELLINGS, ABC)
    assert row is not None
    assert probs(row) == pytest.approx([0.4 / 0.75, 0.3 / 0.75, 0.05 / 0.75])


def test_renormalised_rows_sum_to_one() -> None:
    """Whatever the listed logprobs, a row sums to 1 in probability space."""
    rng = random.Random(0)
    tokens = ["A", " A", "(B", "B", " C", "the", "(", "x", "D", "\n"]
    for _ in range(200):
        top = [(t, -rng.uniform(0.0, 30.0)) for t in rng.sample(tokens, rng.randint(1, len(tokens)))]
        row = choice_row(top, ABC)
        if row is None:
            assert not any(matches_label(t, label) for t, _ in top for label in ABC)
            continue
        assert all(math.isfinite(x) for x in row)
        assert math.fsum(probs(row)) == pytest.approx(1.0, abs=1e-12)
    assert math.fsum(probs(log_softmax([-1.0, -2.0, -3.0]))) == pytest.approx(1.0)


def test_missing_label_gets_the_lowest_listed_logprob() -> None:
    """A label outside the list is scored as the least likely listed token (an upper bound)."""
    top = [("A", -0.5), (" B", -1.0), ("x", -4.0), ("y", -2.0)]
    assert label_scores(top, ABC) == [-0.5, -1.0, -4.0]
    row = choice_row(top, ABC)
    assert row is not None
    expected = [math.exp(-0.5), math.exp(-1.0), math.exp(-4.0)]
    assert probs(row) == pytest.approx([p / sum(expected) for p in expected])


def test_no_label_listed_gives_no_row() -> None:
    """Without any label in the list there is nothing to renormalise."""
    assert choice_row([("The", -0.1), ("(", -2.0), ("a", -3.0)], ABC) is None
    assert choice_row([], ABC) is None


@pytest.mark.parametrize(
    ("labels", "match"),
    [([], "at least one"), (["A", ""], "non-blank"), (["A", " B"], "surrounding"), (["A", "A"], "distinct")],
)
def test_bad_labels(labels: list[str], match: str) -> None:
    """Labels must be matchable against token text."""
    with pytest.raises(ConfigError, match=match):
        check_labels(labels)


# --- requests through the backend -----------------------------------------------------------------


def test_backend_supports_choice(server: ScriptedServer) -> None:
    """The backend satisfies the SupportsChoice protocol."""
    assert isinstance(make(server), SupportsChoice)


def test_request_asks_for_one_greedy_token_with_top_logprobs(server: ScriptedServer) -> None:
    """max_tokens 1, temperature 0, logprobs and top_logprobs 20 go out; no seed, no stop."""
    rows = make(server).choice_logprobs(["Pick A, B or C."], ABC)
    assert probs(rows[0]) == pytest.approx([0.4 / 0.75, 0.3 / 0.75, 0.05 / 0.75])
    body = server.bodies[0]
    assert body["messages"] == [{"role": "user", "content": "Pick A, B or C."}]
    assert (body["max_tokens"], body["temperature"]) == (1, 0.0)
    assert (body["logprobs"], body["top_logprobs"]) == (True, DEFAULT_TOP_LOGPROBS)
    assert "seed" not in body
    assert "stop" not in body


def test_generate_sends_no_logprobs(server: ScriptedServer) -> None:
    """Plain generation does not ask for logprobs."""
    make(server).generate(["p"], GenerationParams(max_new_tokens=4))
    assert "logprobs" not in server.bodies[0]
    assert "top_logprobs" not in server.bodies[0]


def test_top_logprobs_setting(server: ScriptedServer) -> None:
    """The constructor and the spec option set how many alternatives are asked for."""
    make(server, top_logprobs=5).choice_logprobs(["p"], ABC)
    assert server.bodies[0]["top_logprobs"] == 5
    assert from_spec("m", {"base_url": server.base_url, "top_logprobs": "7"}).top_logprobs == 7
    with pytest.raises(ConfigError, match="top_logprobs"):
        OpenAIBackend("m", base_url=server.base_url, top_logprobs=0)
    with pytest.raises(ConfigError, match="top_logprobs"):
        from_spec("m", {"base_url": server.base_url, "top_logprobs": "0"})


def test_rows_in_input_order_under_concurrency(server: ScriptedServer) -> None:
    """Each prompt gets its own row, in input order, whichever answer comes first."""
    favourites = "ABCCBA" * 2

    def script(_n: int, body: dict[str, Any]) -> Reply:
        label = favourites[int(body["messages"][0]["content"][1:])]
        return 200, {}, top_body([(f" {label}", -0.2), ("A", -3.0), ("B", -3.0), ("C", -3.0)])

    server.script = script
    server.delay = lambda _n, body: 0.002 * (7 * int(body["messages"][0]["content"][1:]) % 5)
    rows = make(server, concurrency=4).choice_logprobs([f"p{i}" for i in range(len(favourites))], ABC)
    assert ["ABC"[max(range(3), key=row.__getitem__)] for row in rows] == list(favourites)
    assert server.max_in_flight <= 4


def test_empty_batch_and_bad_labels_send_nothing(server: ScriptedServer) -> None:
    """No prompts, no requests; bad labels fail before any request."""
    assert make(server).choice_logprobs([], ABC) == []
    with pytest.raises(ConfigError, match="distinct"):
        make(server).choice_logprobs(["p"], ["A", "A"])
    assert server.count == 0


def test_no_label_among_top_logprobs_is_an_error(server: ScriptedServer) -> None:
    """The error names the model, the prompt and the tokens returned, and suggests generate mode."""
    server.script = answering([("The", -0.5), ("(", -1.0), ("Sure", -2.0)])
    backend = make(server)
    with pytest.raises(GenerationError) as info:
        backend.choice_logprobs(["Which one is it?"], ABC)
    message = str(info.value)
    assert backend.model_id in message
    assert "'Which one is it?'" in message
    assert "'The', '(', 'Sure'" in message
    assert "mode='generate'" in message
    assert server.count == 1  # not retried: the answer will not change


@pytest.mark.parametrize("shape", ["null", "missing", "empty content", "empty top_logprobs"])
def test_server_without_logprobs_is_a_config_error(server: ScriptedServer, shape: str) -> None:
    """No logprobs at all (null, absent, empty) says the server lacks them and suggests generate mode."""

    def script(_n: int, _body: dict[str, Any]) -> Reply:
        if shape == "null":
            return 200, {}, top_body(None)
        if shape == "missing":
            return 200, {}, completion("A", "length")
        if shape == "empty content":
            return 200, {}, top_body([("A", -0.1)], content=False)
        body = top_body([("A", -0.1)])
        body["choices"][0]["logprobs"]["content"][0]["top_logprobs"] = []
        return 200, {}, body

    server.script = script
    backend = make(server)
    with pytest.raises(ConfigError) as info:
        backend.choice_logprobs(["p"], ABC)
    message = str(info.value)
    assert backend.model_id in message
    assert server.base_url in message
    assert "top_logprobs" in message
    assert "mode='generate'" in message


def test_429_and_500_are_retried(server: ScriptedServer) -> None:
    """Choice requests go through the same retry path as generate."""

    def script(n: int, _body: dict[str, Any]) -> Reply:
        if n == 0:
            return 429, {"Retry-After": "0"}, error("slow down")
        if n == 1:
            return 500, {}, error("oops")
        return 200, {}, top_body(SPELLINGS)

    server.script = script
    rows = make(server, max_retries=2).choice_logprobs(["p"], ABC)
    assert probs(rows[0]) == pytest.approx([0.4 / 0.75, 0.3 / 0.75, 0.05 / 0.75])
    assert server.count == 3
    assert all(body["top_logprobs"] == DEFAULT_TOP_LOGPROBS for body in server.bodies)


def test_retries_are_bounded_and_4xx_is_not_retried(server: ScriptedServer) -> None:
    """max_retries + 1 attempts for a 503; a 400 (e.g. logprobs rejected) fails at once with its message."""
    server.script = lambda _n, _b: (503, {}, error("loading"))
    with pytest.raises(GenerationError, match=r"after 2 attempt\(s\); last error: HTTP 503: loading"):
        make(server, max_retries=1).choice_logprobs(["p"], ABC)
    assert server.count == 2
    server.script = lambda _n, _b: (400, {}, error("logprobs are not supported"))
    with pytest.raises(GenerationError, match="rejected prompt 'q': HTTP 400: logprobs are not supported"):
        make(server).choice_logprobs(["q"], ABC)
    assert server.count == 3


def test_persona_bias_choice_mode_through_the_backend(server: ScriptedServer) -> None:
    """persona_bias(mode='choice') takes its answers from choice_logprobs (here always B)."""
    server.script = answering([(" B", -0.1), ("A", -3.0), ("C", -4.0)])
    report = persona_bias(make(server), dataset=AGE, personas=["kid"], mode="choice", limit=3)
    assert report.mode == "choice"
    assert server.count == 6  # 3 items x (default + kid)
    assert all(body["max_tokens"] == 1 and body["logprobs"] is True for body in server.bodies)
    assert all(answers == [1, 1, 1] for answers in report.answers.values())


# --- a real llama.cpp server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    """A real llama_cpp.server with SmolLM2-135M on 127.0.0.1 (skipped, or failed under CI)."""
    require_llama_server()
    with llama_server() as running:
        yield running


@pytest.fixture
def real(llama: LlamaServer) -> OpenAIBackend:
    """A backend on the real server."""
    return OpenAIBackend(llama.model_alias, base_url=llama.base_url, concurrency=4, timeout=120.0)


@pytest.mark.realmodel
def test_real_choice_rows_are_distributions(real: OpenAIBackend) -> None:
    """llama-cpp-python returns top_logprobs for chat: finite rows over A/B/C that sum to 1."""
    items = load_bbq(AGE, limit=3)
    prompts = [build_messages(item, "kid", 0) for item in items]
    rows = real.choice_logprobs(prompts, ABC)
    assert len(rows) == len(prompts)
    for row in rows:
        assert len(row) == len(ABC)
        assert all(math.isfinite(x) and x <= 0.0 for x in row)
        assert math.fsum(probs(row)) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.realmodel
def test_real_persona_bias_choice_mode(real: OpenAIBackend) -> None:
    """persona_bias in choice mode runs end to end through the OpenAI backend."""
    report = persona_bias(real, dataset=AGE, personas=["kid"], mode="choice", limit=4)
    assert report.mode == "choice"
    assert report.n_items == 4
    assert report.model == real.model_id
    assert set(report.answers) == {("0", "default"), ("0", "kid")}
    assert all(len(a) == 4 and all(x in (0, 1, 2) for x in a) for a in report.answers.values())
    assert math.isfinite(report.pb)


@pytest.mark.realmodel
def test_real_labels_outside_top_logprobs_fail_clearly(real: OpenAIBackend) -> None:
    """Labels the model would never write as the next token raise, listing what came back."""
    prompt = build_messages(load_bbq(AGE, limit=1)[0], "kid", 0)
    with pytest.raises(GenerationError, match=r"none of the option labels \['Zebra', 'Quokka'\].*mode='generate'"):
        real.choice_logprobs([prompt], ["Zebra", "Quokka"])
