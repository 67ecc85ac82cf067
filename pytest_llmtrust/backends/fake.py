"""A scripted, model-free backend for testing the plugin's own mechanics.

Never a result about a real model. Specs:

- ``fake:refuse``: every reply is a refusal.
- ``fake:comply``: every reply complies.
- ``fake:echo``: every reply repeats the prompt.
- ``fake:keyword?refuse=bomb,malware``: refuses prompts that contain one of
  the words (case-insensitive) and complies with the rest.
- ``fake:fail``: every call raises GenerationError (for fault handling).
- ``fake:random?refuse=0.7``: refuses each answer with probability ``refuse`` (default 0.5), a
  stand-in for stochastic decoding. Greedy decoding gives each prompt one fixed answer; seeded
  sampling draws from the seed, the prompt and its copy number in the batch (reproducible, and
  the same in any batch); unseeded sampling draws afresh.
- ``fake:choose?prefer=grandfather,elderly&otherwise=C``: for multiple-choice prompts with
  ``(A): ...`` option lines, answers the letter of the first option that contains a preferred
  word, else ``otherwise`` (default C); it also scores options directly (constrained choice),
  giving the chosen letter probability 0.9.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence

from pytest_llmtrust.backends.base import Generation, GenerationParams, Prompt, cut_at_stop, prompt_text, to_messages
from pytest_llmtrust.backends.spec_options import check_known, opt_float, opt_str
from pytest_llmtrust.errors import ConfigError, GenerationError

REFUSAL = "I'm sorry, but I can't help with that request."
COMPLIANCE = "Sure! Here is a detailed answer. Step 1: gather what you need. Step 2: follow the plan."

Script = Callable[[str], str]


class FakeBackend:
    """A backend whose replies come from a Python function of the prompt text."""

    def __init__(self, script: Script, *, name: str = "scripted") -> None:
        """Make a fake model that answers ``script(prompt_text)``."""
        self._script = script
        self._name = name
        self.calls: list[int] = []
        """Size of each batch this backend was asked to generate."""

    @property
    def model_id(self) -> str:
        """Identity for reports."""
        return f"fake:{self._name}"

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """Answer every prompt from the script, honouring max_new_tokens (as words) and stop."""
        self.calls.append(len(prompts))
        return [_shaped(prompt, self._script(prompt_text(prompt)), params) for prompt in prompts]


def _shaped(prompt: Prompt, reply: str, params: GenerationParams) -> Generation:
    """``reply`` cut to max_new_tokens (as words) and at the first stop string."""
    words = reply.split(" ")
    text = " ".join(words[: params.max_new_tokens])
    text, hit = cut_at_stop(text, params.stop)
    length = len(words) > params.max_new_tokens and not hit
    return Generation(prompt=prompt, text=text, finish_reason="length" if length else "stop")


class RandomBackend(FakeBackend):
    """A fake sampler: refuses each answer with probability ``refuse`` (see the module docstring)."""

    def __init__(self, refuse: float) -> None:
        """Refuse with probability ``refuse`` (0 to 1)."""
        self.refuse = refuse
        super().__init__(lambda _text: REFUSAL, name=f"random?refuse={refuse:g}")

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """One draw per prompt: fixed per prompt when greedy, from seed and copy number when seeded."""
        self.calls.append(len(prompts))
        copies: dict[str, int] = {}
        out: list[Generation] = []
        for prompt in prompts:
            key = repr(to_messages(prompt))
            copy = copies.get(key, 0)
            copies[key] = copy + 1
            if params.greedy:
                draw = _unit(f"greedy|{key}")
            elif params.seed is None:
                draw = random.random()
            else:
                draw = _unit(f"{params.seed}|{copy}|{key}")
            out.append(_shaped(prompt, REFUSAL if draw < self.refuse else COMPLIANCE, params))
        return out


def _unit(text: str) -> float:
    """A number in [0, 1) fixed by ``text``."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") / 2.0**64


_OPTION = re.compile(r"^\(([A-Z])\):\s*(.*)$", re.MULTILINE)


class ChoosingBackend(FakeBackend):
    """A fake multiple-choice answerer: picks the option naming a preferred word (see the module docstring)."""

    def __init__(self, prefer: Sequence[str], otherwise: str = "C") -> None:
        """Prefer options containing any of ``prefer`` (case-insensitive); else answer ``otherwise``."""
        self.prefer = [w.strip().lower() for w in prefer if w.strip()]
        self.otherwise = otherwise
        super().__init__(self.pick, name=f"choose?prefer={','.join(self.prefer)}&otherwise={otherwise}")

    def pick(self, text: str) -> str:
        """The letter this fake answers for a prompt text."""
        for letter, option in _OPTION.findall(text):
            if any(w in option.lower() for w in self.prefer):
                return str(letter)
        return self.otherwise

    def choice_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[list[float]]:
        """Probability 0.9 on the picked label, the rest shared evenly."""
        out = []
        for prompt in prompts:
            picked = self.pick(prompt_text(prompt))
            rest = 0.1 / max(len(labels) - 1, 1)
            out.append([math.log(0.9 if label == picked else rest) for label in labels])
        return out


def _keyword_script(words: Sequence[str]) -> Script:
    lowered = [w.strip().lower() for w in words if w.strip()]

    def script(text: str) -> str:
        low = text.lower()
        return REFUSAL if any(w in low for w in lowered) else COMPLIANCE

    return script


def _fail(text: str) -> str:
    raise GenerationError(f"fake:fail was asked to answer {text[:60]!r}")


MODES: dict[str, Script] = {
    "refuse": lambda _text: REFUSAL,
    "comply": lambda _text: COMPLIANCE,
    "echo": lambda text: text,
    "fail": _fail,
}


def from_spec(target: str, options: Mapping[str, str]) -> FakeBackend:
    """Build a fake backend from ``fake:MODE?options``."""
    mode = target or "refuse"
    if mode == "keyword":
        check_known("fake", options, ["refuse"])
        words = (opt_str(options, "refuse") or "").split(",")
        return FakeBackend(_keyword_script(words), name=f"keyword?refuse={options.get('refuse', '')}")
    if mode == "choose":
        check_known("fake", options, ["prefer", "otherwise"])
        otherwise = opt_str(options, "otherwise") or "C"
        if not re.fullmatch(r"[A-Z]", otherwise):
            raise ConfigError(f"fake:choose otherwise={otherwise!r} must be one capital letter, e.g. C")
        return ChoosingBackend((opt_str(options, "prefer") or "").split(","), otherwise)
    if mode == "random":
        check_known("fake", options, ["refuse"])
        refuse = opt_float(options, "refuse", 0.5)
        if refuse > 1.0:
            raise ConfigError(f"fake:random refuse={refuse:g} is a probability, from 0 to 1")
        return RandomBackend(refuse)
    if mode not in MODES:
        known = ", ".join([*MODES, "keyword", "choose", "random"])
        raise ConfigError(f"unknown fake mode {mode!r}; modes: {known}")
    check_known("fake", options, [])
    return FakeBackend(MODES[mode], name=mode)
