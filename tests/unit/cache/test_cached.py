"""CachedBackend: answers from the cache, misses to the model in sorted chunks, modes, and no needless loads."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import Generation, GenerationParams, Prompt, prompt_text
from pytest_llmtrust.backends.fake import FakeBackend
from pytest_llmtrust.cache.cached import CachedBackend
from pytest_llmtrust.cache.mode import CacheMode, parse_mode
from pytest_llmtrust.cache.store import Store
from pytest_llmtrust.errors import CacheMiss, ConfigError, GenerationError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

GREEDY = GenerationParams(max_new_tokens=32)
SEEDED = GenerationParams(max_new_tokens=32, temperature=0.8, seed=1)


class Loads:
    """A loader that counts how often the model was loaded."""

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.count = 0

    def __call__(self) -> FakeBackend:
        self.count += 1
        return self.backend


def cached(
    store: Store | None, mode: CacheMode = CacheMode.WRITE, backend: FakeBackend | None = None
) -> tuple[CachedBackend, Loads]:
    loads = Loads(backend or FakeBackend(lambda text: f"echo {text}", name="echo"))
    return CachedBackend(loads, spec="fake:echo", fingerprint="fp", store=store, mode=mode), loads


def test_misses_are_generated_once_in_order_and_hits_come_back_marked(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    first, loads = cached(store)
    out = first.generate(["b", "a", "b", "ccc"], GREEDY)
    assert [g.text for g in out] == ["echo b", "echo a", "echo b", "echo ccc"]
    assert loads.backend.calls == [3]  # "b" asked twice, generated once
    assert not any(g.cached for g in out)
    second, loads2 = cached(store)
    again = second.generate(["ccc", "a"], GREEDY)
    assert [(g.text, g.cached) for g in again] == [("echo ccc", True), ("echo a", True)]
    assert loads2.count == 0  # a full hit never loads the model
    assert second.stats.hits == 2
    assert second.stats.generated == 0


def test_repeated_seeded_samples_are_kept_apart(tmp_path: Path) -> None:
    counter = itertools.count()
    sampler = FakeBackend(lambda text: f"{text}#{next(counter)}", name="sampler")
    backend, _ = cached(Store(tmp_path / "gen.sqlite"), backend=sampler)
    texts = [g.text for g in backend.generate(["p", "p", "p"], SEEDED)]
    assert len(set(texts)) == 3
    assert [g.text for g in backend.generate(["p", "p", "p"], SEEDED)] == texts
    assert sampler.calls == [3]


def test_unseeded_sampling_always_goes_to_the_model(tmp_path: Path) -> None:
    backend, loads = cached(Store(tmp_path / "gen.sqlite"))
    params = GenerationParams(temperature=0.8)
    backend.generate(["p"], params)
    backend.generate(["p"], params)
    assert loads.backend.calls == [1, 1]
    assert backend.stats.uncached == 2


class Chunky(FakeBackend):
    """Fails on the third model call; remembers the prompts of each call."""

    batch_size = 1  # chunks of max(8, 32) = 32 prompts

    def __init__(self) -> None:
        super().__init__(lambda text: f"ok {text}", name="chunky")
        self.seen: list[list[str]] = []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        self.seen.append([prompt_text(p) for p in prompts])
        if len(self.seen) == 3:
            raise GenerationError("the model failed")
        return super().generate(prompts, params)


def test_chunks_are_stored_as_they_finish_so_a_failure_keeps_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    model = Chunky()
    backend, _ = cached(store, backend=model)
    prompts = [("x" * (i % 7)) + str(i) for i in range(100)]
    with pytest.raises(GenerationError):
        backend.generate(prompts, GREEDY)
    assert [len(c) for c in model.seen] == [32, 32, 32]
    lengths = [len(p) for chunk in model.seen for p in chunk]
    assert lengths == sorted(lengths, reverse=True)  # longest first, across chunks
    assert store.count() == 64
    stored = set(model.seen[0] + model.seen[1])
    again, _ = cached(store)
    texts = [g.text for g in again.generate(prompts, GREEDY)]
    assert texts == [f"ok {p}" if p in stored else f"echo {p}" for p in prompts]
    assert again.stats.hits == 64
    assert again.stats.generated == 36


def test_replay_mode_names_the_missing_prompt_and_never_loads(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    cached(store)[0].generate(["known"], GREEDY)
    backend, loads = cached(store, CacheMode.REPLAY)
    assert backend.generate(["known"], GREEDY)[0].text == "echo known"
    with pytest.raises(CacheMiss, match=r"1 generate request.*'never seen'.*--llmtrust-cache=write"):
        backend.generate(["known", "never seen"], GREEDY)
    assert loads.count == 0
    assert backend.model_id == "fake:echo"  # from the spec: replay never loads to ask


def test_read_mode_uses_the_cache_but_stores_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    cached(store)[0].generate(["a"], GREEDY)
    backend, _ = cached(store, CacheMode.READ)
    out = backend.generate(["a", "b"], GREEDY)
    assert [g.cached for g in out] == [True, False]
    assert store.count() == 1


def test_off_mode_still_answers_a_repeated_request_once_per_run() -> None:
    backend, loads = cached(None, CacheMode.OFF)
    backend.generate(["a"], GREEDY)
    backend.generate(["a", "b"], GREEDY)
    assert loads.backend.calls == [1, 1]


def test_the_model_id_comes_from_the_store_without_loading(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    first, _ = cached(store)
    first.generate(["a"], GREEDY)
    second, loads = cached(store)
    assert second.model_id == "fake:echo"
    assert loads.count == 0


def test_constrained_choice_is_cached_too(tmp_path: Path) -> None:
    from pytest_llmtrust.backends.fake import ChoosingBackend

    store = Store(tmp_path / "gen.sqlite")
    chooser = ChoosingBackend(["cat"])
    backend, _ = cached(store, backend=chooser)
    prompt = "Which?\n(A): dog\n(B): cat\n(C): unknown"
    rows = backend.choice_logprobs([prompt, prompt], ["A", "B", "C"])
    assert rows[0] == rows[1]
    assert max(range(3), key=rows[0].__getitem__) == 1
    replay, loads = cached(store, CacheMode.REPLAY)
    assert replay.choice_logprobs([prompt], ["A", "B", "C"]) == [rows[0]]
    assert loads.count == 0


def test_prefetch_answers_many_calls_in_one_model_call_per_parameter_set(tmp_path: Path) -> None:
    backend, loads = cached(Store(tmp_path / "gen.sqlite"))
    short = GREEDY.replace(max_new_tokens=4)
    backend.prefetch([(["a", "b"], GREEDY), (["b", "c"], GREEDY), (["a"], short)])
    assert sorted(loads.backend.calls) == [1, 3]
    backend.generate(["c", "a"], GREEDY)
    backend.generate(["a"], short)
    assert sorted(loads.backend.calls) == [1, 3]


def test_a_mode_typo_gets_a_suggestion() -> None:
    assert parse_mode(" Replay ") is CacheMode.REPLAY
    with pytest.raises(ConfigError, match=r"did you mean 'replay'.*off, read, write, replay"):
        parse_mode("replya", "--llmtrust-cache")
