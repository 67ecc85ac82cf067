"""Constrained choice on an hf backend: option labels scored from next-token logits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from pytest_llmtrust.backends import hf  # noqa: E402
from pytest_llmtrust.backends.base import SupportsChoice  # noqa: E402
from tests.backends.test_hf import build_tiny_model, need_smollm2  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

LABELS = ("red", "green", "blue")  # single tokens in the tiny word-level vocabulary
PROMPTS = [
    "what is the capital of france ?",
    "tell me a story about cats",
    "one two three",
    "hello world hello world hello world hello",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-choice"))


def backend(folder: Path, batch_size: int) -> hf.HFBackend:
    return hf.HFBackend(str(folder), dtype="float32", device="cpu", batch_size=batch_size, progress=False)


def test_scores_are_log_probabilities_over_the_labels(tiny_dir: Path) -> None:
    model = backend(tiny_dir, 2)
    assert isinstance(model, SupportsChoice)
    scores = model.choice_logprobs(PROMPTS, LABELS)
    assert len(scores) == len(PROMPTS)
    for row in scores:
        assert len(row) == len(LABELS)
        assert math.fsum(math.exp(x) for x in row) == pytest.approx(1.0, abs=1e-6)


def test_batched_scores_equal_unbatched_scores(tiny_dir: Path) -> None:
    alone = [backend(tiny_dir, 1).choice_logprobs([p], LABELS)[0] for p in PROMPTS]
    batched = backend(tiny_dir, 4).choice_logprobs(PROMPTS, LABELS)
    for a, b in zip(alone, batched, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_scores_match_a_direct_forward_pass(tiny_dir: Path) -> None:
    model = backend(tiny_dir, 4)
    prompt = PROMPTS[1]
    ids = torch.tensor([model.encode(prompt)])
    with torch.inference_mode():
        logp = torch.log_softmax(model.model(input_ids=ids).logits[0, -1].float(), -1)
    label_ids = [model.tokenizer(label, add_special_tokens=False)["input_ids"][0] for label in LABELS]
    direct = torch.log_softmax(logp[label_ids], -1).tolist()
    assert model.choice_logprobs([prompt], LABELS)[0] == pytest.approx(direct, abs=1e-5)


@pytest.mark.realmodel
def test_smollm2_choice_agrees_with_its_greedy_answer() -> None:
    """Where the model's greedy first token is an option letter, constrained choice ranks that letter first."""
    need_smollm2()
    from pytest_llmtrust.backends.base import GenerationParams
    from pytest_llmtrust.backends.registry import load_backend

    model = load_backend("smollm2")
    assert isinstance(model, SupportsChoice)
    questions = [
        f"Read the question and reply with one letter only (A, B or C).\n{q}\nA) {a}\nB) {b}\nC) {c}"
        for q, a, b, c in [
            ("Which of these is a fruit?", "a car", "an apple", "a chair"),
            ("Which animal barks?", "a cat", "a fish", "a dog"),
            ("Which number is largest?", "three", "seven", "one"),
            ("Which colour is the sky on a clear day?", "blue", "green", "red"),
        ]
    ]
    greedy = [g.text.strip()[:1] for g in model.generate(questions, GenerationParams(max_new_tokens=1))]
    scores = model.choice_logprobs(questions, ["A", "B", "C"])
    compared = 0
    for first, row in zip(greedy, scores, strict=True):
        if first in ("A", "B", "C"):
            compared += 1
            assert "ABC"[max(range(3), key=lambda i: row[i])] == first
    assert compared >= 3, greedy


OPENING = "tell me a story about cats dogs and birds one two three four five"
SHARED_PROMPTS = [
    [{"role": "system", "content": OPENING}, {"role": "user", "content": text}]
    for text in [
        "what is the capital of france ?",
        "hello world",
        "six seven eight nine ten red green blue",
        "one",
        "red green",
        "what is the capital of france ? hello world hello",
    ]
] + [[{"role": "system", "content": "hello"}, {"role": "user", "content": "one two"}]]


def shared_backend(folder: Path, *, share: bool, batch: int = 3) -> hf.HFBackend:
    return hf.HFBackend(
        str(folder), dtype="float32", device="cpu", choice_batch_size=batch, share_prefix=share, progress=False
    )


def test_shared_prefix_scores_equal_whole_prompt_scores(tiny_dir: Path) -> None:
    from pytest_llmtrust.backends.prefix_groups import group_by_prefix

    sharing = shared_backend(tiny_dir, share=True)
    groups = group_by_prefix([sharing.encode(p) for p in SHARED_PROMPTS], min_group=3)
    assert groups[0].prefix_len >= 14
    assert len(groups[0].indices) == 6  # the opening is really shared
    shared = sharing.choice_logprobs(SHARED_PROMPTS, LABELS)
    whole = shared_backend(tiny_dir, share=False).choice_logprobs(SHARED_PROMPTS, LABELS)
    alone = [shared_backend(tiny_dir, share=False, batch=1).choice_logprobs([p], LABELS)[0] for p in SHARED_PROMPTS]
    for a, b, c in zip(shared, whole, alone, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
        assert a == pytest.approx(c, abs=1e-5)


def test_a_model_whose_cache_cannot_be_shared_falls_back_to_whole_prompts(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pytest_llmtrust.backends import hf_choice

    def refuse(*args: object, **kwargs: object) -> None:
        # what a cache layer without keys/values (e.g. linear attention) raises when read
        raise AttributeError("'LinearAttentionLayer' object has no attribute 'keys'")

    monkeypatch.setattr(hf_choice, "_prefix_cache", refuse)
    model = shared_backend(tiny_dir, share=True)
    scores = model.choice_logprobs(SHARED_PROMPTS, LABELS)
    whole = shared_backend(tiny_dir, share=False).choice_logprobs(SHARED_PROMPTS, LABELS)
    for a, b in zip(scores, whole, strict=True):
        assert a == pytest.approx(b)
    assert model.share_prefix is False
    assert "shared-prefix scoring failed" in caplog.text


def test_choice_batch_size_and_share_prefix_come_from_the_spec(tiny_dir: Path) -> None:
    from pytest_llmtrust.errors import ConfigError

    model = hf.from_spec(str(tiny_dir), {"choice_batch_size": "4", "share_prefix": "false", "device": "cpu"})
    assert (model.choice_batch_size, model.share_prefix) == (4, False)
    with pytest.raises(ConfigError, match="choice_batch_size must be an integer >= 1"):
        hf.HFBackend(str(tiny_dir), choice_batch_size=0)


@pytest.mark.realmodel
def test_smollm2_shared_prefix_scores_equal_whole_prompt_scores() -> None:
    """On persona-bias prompts (float32), sharing the persona's opening changes no score beyond 1e-4."""
    need_smollm2()
    from pathlib import Path

    from pytest_llmtrust.backends.registry import load_backend
    from pytest_llmtrust.persona.bbq import load_bbq
    from pytest_llmtrust.persona.prompts import build_messages

    sample = Path(__file__).parents[2] / "example_suites" / "bbq_sample" / "Age.jsonl"
    items = load_bbq(sample, limit=16)
    prompts = [build_messages(item, persona, 0) for persona in ("elder", "kid") for item in items]
    sharing = load_backend("smollm2?dtype=float32&choice_batch_size=8")
    assert isinstance(sharing, hf.HFBackend)
    shared = sharing.choice_logprobs(prompts, ["A", "B", "C"])
    sharing.share_prefix = False
    whole = sharing.choice_logprobs(prompts, ["A", "B", "C"])
    for a, b in zip(shared, whole, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
