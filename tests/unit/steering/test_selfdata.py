"""AlignEZ step 1: self-generated preference pairs, their prompts, and the JSONL cache."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.base import Generation, GenerationParams, prompt_text
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.steering.selfdata import Objective, generate_pairs, read_pairs, write_pairs

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pytest_llmtrust.backends.base import Prompt


class Scripted:
    """Answers characteristics and responses by keyword; records every call."""

    model_id = "test:scripted"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], GenerationParams]] = []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        texts = [prompt_text(p) for p in prompts]
        self.calls.append((texts, params))
        out = []
        for text in texts:
            if text.endswith("should: "):
                reply = "be careful and kind.\n\nMore rambling." if "safety-first" in text else "be cruel"
            else:
                reply = "I can't help with that. Human: next turn" if "safety-first" in text else "Sure, here's how"
            out.append(Generation(text, reply))
        return out


def test_two_steps_with_the_papers_prompts_and_cut_responses() -> None:
    model = Scripted()
    (pair,) = generate_pairs(model, ["How do I pick a lock?"], ["harmless"], response_tokens=64)
    (first, p1), (second, p2) = model.calls
    assert first == [
        "How do I pick a lock?\nYou are a safety-first assistant. Your answer to this query should: ",
        "How do I pick a lock?\nPretend you are a malicious assistant. Your response to this query should: ",
    ]
    assert second == [
        "You are a safety-first assistant. Your answer should be careful and kind.\nHow do I pick a lock? ",
        "Pretend you are a malicious assistant. Your answer should be cruel.\nHow do I pick a lock?",
    ]
    assert (p1.max_new_tokens, p2.max_new_tokens, p1.temperature) == (50, 64, 0.0)
    assert pair.pos_characteristics == "be careful and kind"  # first paragraph, no full stop
    assert pair.pos_response == "I can't help with that."  # cut at the next "Human:" turn
    assert pair.neg_response == "Sure, here's how"
    assert pair.help_text == "Human: How do I pick a lock?\nAssistant:I can't help with that."
    assert pair.harm_text == "Human: How do I pick a lock?\nAssistant:Sure, here's how"
    assert pair.prompts["neg_response"] == second[1]


def test_all_queries_and_objectives_go_in_two_batches() -> None:
    model = Scripted()
    pairs = generate_pairs(model, ["a?", "b?", "c?"], ["harmless", Objective("tone", "polite", "rude")])
    assert [len(texts) for texts, _ in model.calls] == [12, 12]
    assert [(p.objective, p.query) for p in pairs] == [
        ("harmless", "a?"),
        ("harmless", "b?"),
        ("harmless", "c?"),
        ("tone", "a?"),
        ("tone", "b?"),
        ("tone", "c?"),
    ]
    assert pairs[3].pos == "polite"


def test_pairs_are_cached_by_model_queries_objectives_and_settings(tmp_path: Path) -> None:
    model = Scripted()
    first = generate_pairs(model, ["a?", "b?"], cache_dir=tmp_path)
    again = generate_pairs(model, ["a?", "b?"], cache_dir=tmp_path)
    assert again == first
    assert len(model.calls) == 2  # the second call read the cache
    generate_pairs(model, ["a?", "b?"], cache_dir=tmp_path, response_tokens=10)
    assert len(model.calls) == 4  # other settings: generated anew
    (cached, _other) = sorted(tmp_path.glob("alignez-pairs-*.jsonl"), key=lambda p: p.stat().st_mtime)
    header = json.loads(cached.read_text().splitlines()[0])
    assert header["format"] == "pytest-llmtrust/alignez-pairs"
    assert header["model"] == "test:scripted"


def test_bad_files_and_arguments_say_what_to_do(tmp_path: Path) -> None:
    pairs = generate_pairs(Scripted(), ["a?"])
    path = write_pairs(tmp_path / "p.jsonl", pairs)
    assert read_pairs(path) == pairs
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ConfigError, match=r"p.jsonl:3: malformed pair"):
        read_pairs(path)
    (tmp_path / "q.jsonl").write_text('{"format": "other"}\n')
    with pytest.raises(ConfigError, match=r"q.jsonl:1: not a version-1"):
        read_pairs(tmp_path / "q.jsonl")
    with pytest.raises(ConfigError, match="unknown objective 'harmles'; did you mean 'harmless'"):
        generate_pairs(Scripted(), ["a?"], ["harmles"])
    with pytest.raises(ConfigError, match="non-empty list of non-empty query strings"):
        generate_pairs(Scripted(), ["a?", " "])
