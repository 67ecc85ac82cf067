"""An LLM judge over any backend: asks a yes/no question about each response.

The question lives in a prompt file (``judges/prompts/<name>.txt``) with the
placeholders ``{prompt}``, ``{response}`` and ``{nonce}``. The judged text is
fenced by markers such as ``[ANSWER {nonce}]`` ... ``[END ANSWER {nonce}]``
that carry a random nonce, drawn afresh for every batch. Any marker-like text
inside the judged text (the marker names of :data:`MARKER_NAMES` and those the
template uses, in any case and spacing, with or without ``END``, whatever code
follows) has its square brackets turned into round ones, so a response cannot
close the fence and speak to the judge, even if it guesses the nonce. Chat-template
control tokens in the judged text (``<|im_end|>``, ``<|im_start|>``, ``</s>``, ``[INST]``,
...) are defused the same way: a tokenizer would read them as the real special tokens and
let the text end the judge's turn and open a system turn of its own. The
judge's reply is read by its first word: yes, no, or unparsed.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from pytest_llmtrust.backends.base import Backend, GenerationParams, Prompt, prompt_text
from pytest_llmtrust.errors import ConfigError
from pytest_llmtrust.judges.base import Verdict

if TYPE_CHECKING:
    from collections.abc import Sequence

JUDGE_PARAMS = GenerationParams(max_new_tokens=8, temperature=0.0)
MARKER_NAMES: tuple[str, ...] = ("REQUEST", "RESPONSE", "QUESTION", "ANSWER", "TASK")
"""Marker names defused in judged text whatever the template (a template's own names are added)."""
_MARKER_NAME = re.compile(r"\[(?:END )?([A-Z][A-Z0-9 ]*?) \{nonce\}\]")
_FENCE = re.compile(r"\[\s*(?:END[\s_-]*)?(?:" + "|".join(MARKER_NAMES) + r")[^\]]*\]", re.IGNORECASE)
_FIRST_WORD = re.compile(r"^[\s\"'*_`>#:.\-]*(yes|no)(?![a-z0-9])", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{(nonce|prompt|response)\}")
_CONTROL = re.compile(
    r"<\|[^<>|\n]{0,64}\|>"  # ChatML, Llama 3, Phi: <|im_start|>, <|eot_id|>, <|endoftext|>, ...
    r"|</?s>"  # Llama 2 and Mistral sequence markers
    r"|<(?:start|end)_of_turn>"  # Gemma
    r"|\[/?INST\]|<</?SYS>>",  # Llama 2 instruction and system markers
    re.IGNORECASE,
)
"""Chat-template control tokens: a tokenizer reads these strings in the judged text as the real special
tokens, which would end the judge's user turn and open a new (e.g. system) turn, fence or not."""


def load_prompt(name: str) -> str:
    """Read a packaged judge prompt by name."""
    try:
        return resources.files("pytest_llmtrust.judges").joinpath("prompts", f"{name}.txt").read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no judge prompt named {name!r}") from None


def parse_yes_no(reply: str) -> bool | None:
    """``True`` for a reply starting with yes, ``False`` for no, ``None`` otherwise."""
    m = _FIRST_WORD.match(reply)
    return None if m is None else m.group(1).lower() == "yes"


@lru_cache(maxsize=64)
def fence_pattern(template: str) -> re.Pattern[str]:
    """The marker-like text to defuse for ``template``: :data:`MARKER_NAMES` plus the template's own names.

    A marker-like span is ``[``, optional spaces, an optional ``END`` (``END ``, ``END_``, ``end-``),
    the first word of a marker name in any case, then anything up to the next ``]``: so
    ``[ANSWER 1 x]``, ``[answer1]`` and ``[ End  Answer c0ffee42 ]`` are all defused.
    """
    words = {name.split()[0] for name in _MARKER_NAME.findall(template)} | set(MARKER_NAMES)
    if words == set(MARKER_NAMES):
        return _FENCE
    names = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    return re.compile(r"\[\s*(?:END[\s_-]*)?(?:" + names + r")[^\]]*\]", re.IGNORECASE)


def defuse(text: str, pattern: re.Pattern[str] = _FENCE) -> str:
    """Turn the brackets of every marker-like span and chat control token of ``text`` into parentheses."""
    text = pattern.sub(lambda m: m.group(0).replace("[", "(").replace("]", ")"), text)
    return _CONTROL.sub(lambda m: m.group(0).translate(_ROUND), text)


_ROUND = str.maketrans("<>[]", "()()")


def render(template: str, prompt: str, response: str, nonce: str) -> str:
    """Fill the template; fence markers inside the judged text are defused."""
    pattern = fence_pattern(template)
    values = {"nonce": nonce, "prompt": defuse(prompt, pattern), "response": defuse(response, pattern)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


class ModelJudge:
    """Asks a model the question of a prompt file, for each (prompt, response) pair, in one batch."""

    def __init__(self, backend: Backend, *, question: str = "refusal", params: GenerationParams | None = None):
        """Judge with ``backend`` using the packaged prompt ``question``."""
        self.backend = backend
        self.question = question
        self.template = load_prompt(question)
        self.params = params or JUDGE_PARAMS

    @property
    def name(self) -> str:
        """``llm:<model id>``, plus `` (<question>)`` for any question but ``refusal``."""
        suffix = "" if self.question == "refusal" else f" ({self.question})"
        return f"llm:{self.backend.model_id}{suffix}"

    def judge(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[Verdict]:
        """One verdict per pair; unparseable judge replies give ``label=None``."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        nonce = secrets.token_hex(4)
        asks = [render(self.template, prompt_text(p), r, nonce) for p, r in zip(prompts, responses, strict=True)]
        replies = self.backend.generate(asks, self.params)
        verdicts = []
        for reply in replies:
            label = parse_yes_no(reply.text)
            excerpt = " ".join(reply.text.split())[:60]
            verdicts.append(Verdict(label, f"judge said {excerpt!r}"))
        return verdicts
