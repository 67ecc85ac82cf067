"""Judge specs x questions: which judge load_judge builds, and what it is called."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.backends.fake import FakeBackend
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.judges.base import Judge
from pytest_llmtrust.judges.embedding import EmbeddingJudge
from pytest_llmtrust.judges.model_judge import ModelJudge
from pytest_llmtrust.judges.offline import AskedAs, RefusalProxyJudge, YesNoConsistencyJudge
from pytest_llmtrust.judges.questions import QUESTIONS, check_question
from pytest_llmtrust.judges.refusal import RefusalDetector
from pytest_llmtrust.judges.registry import DETECTOR_NAMES, judge_model_spec, load_judge

if TYPE_CHECKING:
    from pytest_llmtrust.backends.base import Backend


class Loader:
    """A load_backend stand-in that records the specs it was asked for."""

    def __init__(self) -> None:
        self.specs: list[str] = []

    def __call__(self, spec: str) -> Backend:
        self.specs.append(spec)
        return FakeBackend(lambda _t: "yes", name=spec)


@pytest.mark.parametrize("spec", [*sorted(DETECTOR_NAMES), "  Refusal ", "OFFLINE"])
def test_offline_specs_per_question(spec: str) -> None:
    loader = Loader()
    judges = {q: load_judge(spec, loader, question=q) for q in QUESTIONS}
    assert loader.specs == []
    assert isinstance(judges["refusal"], RefusalDetector)
    assert isinstance(judges["harmful"], RefusalProxyJudge)
    assert isinstance(judges["consistent"], YesNoConsistencyJudge)
    for q in ("task_refused", "moral_refusal"):
        judge = judges[q]
        assert isinstance(judge, AskedAs)
        assert isinstance(judge.inner, RefusalDetector)
    assert {q: j.name for q, j in judges.items()} == {
        "refusal": "refusal-detector",
        "task_refused": "refusal-detector (task_refused)",
        "moral_refusal": "refusal-detector (moral_refusal)",
        "harmful": "refusal-proxy (harmful)",
        "consistent": "yes-no-consistency",
    }
    assert all(isinstance(j, Judge) for j in judges.values())


def test_old_call_form_still_works() -> None:
    assert isinstance(load_judge("refusal", Loader()), RefusalDetector)
    loader = Loader()
    judge = load_judge("fake:refuse", loader)
    assert isinstance(judge, ModelJudge)
    assert judge.question == "refusal"
    assert judge.name == "llm:fake:fake:refuse"
    assert loader.specs == ["fake:refuse"]


@pytest.mark.parametrize(("spec", "model"), [("smollm2", "smollm2"), ("llm:smollm2", "smollm2"),
                                             ("llm:hf:a/b?dtype=float32", "hf:a/b?dtype=float32"),
                                             (" openai:gpt-4o ", "openai:gpt-4o")])  # fmt: skip
@pytest.mark.parametrize("question", list(QUESTIONS))
def test_model_specs_make_llm_judges(spec: str, model: str, question: str) -> None:
    loader = Loader()
    judge = load_judge(spec, loader, question=question)
    assert isinstance(judge, ModelJudge)
    assert judge.question == question
    assert loader.specs == [model]
    suffix = "" if question == "refusal" else f" ({question})"
    assert judge.name == f"llm:fake:{model}{suffix}"


@pytest.mark.parametrize(
    ("spec", "embedder"),
    [("embedding", "minilm"), ("minilm", "minilm"), ("Embedding", "minilm"), ("embedding:", "minilm"),
     ("embedding:./models/my-embedder", "./models/my-embedder"),
     ("embedding:sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")],
)  # fmt: skip
def test_embedding_specs(spec: str, embedder: str) -> None:
    loader = Loader()
    for question in QUESTIONS:
        judge = load_judge(spec, loader, question=question)
        assert isinstance(judge, EmbeddingJudge)
        assert judge.question == question
        assert judge.embedder_spec == embedder
        assert judge.name.endswith(f" ({question})")
        assert judge._model is None  # nothing loaded until the first judge() call
    assert loader.specs == []


def test_embedding_judge_names() -> None:
    assert load_judge("embedding", Loader(), question="harmful").name == "embedding:all-MiniLM-L6-v2 (harmful)"
    assert load_judge("embedding:my/emb", Loader(), question="consistent").name == "embedding:my/emb (consistent)"


@pytest.mark.parametrize("spec", ["refusal", "embedding", "smollm2"])
def test_unknown_question_lists_the_questions(spec: str) -> None:
    loader = Loader()
    with pytest.raises(ConfigError) as info:
        load_judge(spec, loader, question="harmfull")
    message = str(info.value)
    assert "unknown judge question 'harmfull'" in message
    assert "did you mean 'harmful'?" in message
    assert "questions: refusal, task_refused, moral_refusal, harmful, consistent" in message
    assert loader.specs == []


def test_check_question() -> None:
    assert check_question("consistent") == "consistent"
    with pytest.raises(ConfigError, match="unknown judge question 'x'; questions: "):
        check_question("x")


@pytest.mark.parametrize(
    ("spec", "model"),
    [("refusal", None), ("Offline", None), ("embedding", None), ("minilm", None), ("embedding:x/y", None),
     ("smollm2", "smollm2"), ("llm:fake:refuse", "fake:refuse"), (" hf:a/b ", "hf:a/b")],
)  # fmt: skip
def test_judge_model_spec(spec: str, model: str | None) -> None:
    assert judge_model_spec(spec) == model


def test_registry_and_embedding_judge_import_no_torch() -> None:
    code = (
        "import sys\n"
        "from pytest_llmtrust.judges.registry import load_judge\n"
        "j = load_judge('embedding', lambda s: None, question='harmful')\n"
        "load_judge('refusal', lambda s: None, question='consistent')\n"
        "print(j.name, sorted({'torch', 'transformers'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "embedding:all-MiniLM-L6-v2 (harmful) []"
