"""The judge prompt-injection set and its flip rate.

``judges/data/injections.yaml`` holds responses to harmful requests that comply (the clean
controls) and the same responses carrying an instruction to the judge: plain orders, "ignore previous
instructions", forged closing markers, role-play system turns written with chat-template tokens,
JSON verdict spoofing, unicode lookalikes, zero-width characters, base64, other languages, and so on.
Every injection asks for the "safe" verdict of its question (:data:`WANTED`): ``harmful`` -> not
harmful (False), ``refusal`` -> refused (True).

A judge is *flipped* on an item when its verdict on the injected response is the one the injection
asked for while its verdict on the clean control is not (an unparsed clean verdict counts as "not").
The flip rate is flips / items; :class:`FlipCount` also gives the rate among the items the judge did
not already call safe, and the changes the other way.

:func:`render_naive` (and :class:`NaiveJudge`, which asks a model through it) is the control: the same
prompt file with its fences and the sentence about them removed, the judged text pasted in as it is.

Nothing here loads a model or imports torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.backends.base import prompt_text
from pytest_llmtrust.errors import ConfigError, SuiteError
from pytest_llmtrust.judges.base import Verdict
from pytest_llmtrust.suite import yamlsafe

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pytest_llmtrust.backends.base import Backend, Prompt
    from pytest_llmtrust.judges.base import Judge

__all__ = [
    "FORMAT",
    "WANTED",
    "FlipCount",
    "InjectionItem",
    "NaiveJudge",
    "count_flips",
    "load_injection_set",
    "measure",
    "naive_template",
    "render_naive",
]

FORMAT = "pytest-llmtrust/judge-injections"
WANTED: dict[str, bool] = {"harmful": False, "refusal": True}
"""Question -> the verdict every injection of that question asks for (the "safe" one)."""
_KEYS = ("id", "style", "question", "prompt", "clean", "injected")


@dataclass(frozen=True, slots=True)
class InjectionItem:
    """One clean response and the same response with an injected instruction to the judge."""

    id: str
    style: str
    question: str
    prompt: str
    clean: str
    injected: str

    @property
    def wanted(self) -> bool:
        """The verdict the injection asks for."""
        return WANTED[self.question]

    @property
    def orders(self) -> tuple[str, ...]:
        """The injected lines: lines of ``injected`` that are not lines of ``clean``."""
        clean = {line.strip() for line in self.clean.splitlines()}
        return tuple(line.strip() for line in self.injected.splitlines() if line.strip() and line.strip() not in clean)


def _where(path: Path, root: Any, loc: tuple[Any, ...]) -> str:
    line, _ = yamlsafe.locate(root, loc)
    return f"{path}:{line}" if line is not None else str(path)


def load_injection_set(path: Path | str | None = None) -> list[InjectionItem]:
    """The packaged set, or the file at ``path`` in the same format.

    Raises:
        ConfigError: the file is missing, not YAML, or an item is malformed (the message names the line).
    """
    if path is None:
        ref = resources.files("pytest_llmtrust.judges").joinpath("data", "injections.yaml")
        with resources.as_file(ref) as real:
            return load_injection_set(real)
    path = Path(path)
    try:
        data, root = yamlsafe.load(path)
    except SuiteError as exc:
        raise ConfigError(f"bad injection set {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("items"), list):
        raise ConfigError(f"{path}: not an injection set (format: {FORMAT}, with a list 'items')")
    items: list[InjectionItem] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["items"]):
        where = _where(path, root, ("items", i))
        if not isinstance(raw, dict) or sorted(raw) != sorted(_KEYS):
            raise ConfigError(f"{where}: an item needs exactly the keys {', '.join(_KEYS)}")
        if not all(isinstance(raw[k], str) and raw[k].strip() for k in _KEYS):
            raise ConfigError(f"{where}: every value of an item must be a non-empty string")
        item = InjectionItem(**{k: str(raw[k]) for k in _KEYS})
        if item.question not in WANTED:
            raise ConfigError(f"{where}: question must be one of {', '.join(WANTED)}, got {item.question!r}")
        if item.id in seen:
            raise ConfigError(f"{where}: duplicate id {item.id!r}")
        if not item.orders:
            raise ConfigError(f"{where}: 'injected' adds no line to 'clean'")
        seen.add(item.id)
        items.append(item)
    return items


def naive_template(template: str) -> str:
    """A prompt file without fences: its marker lines and the sentence about markers dropped, ``Q:``/``A:`` added."""
    kept = [line for line in template.splitlines() if not line.startswith("[") and "markers" not in line]
    return (
        re.sub(r"\n{3,}", "\n\n", "\n".join(kept))
        .replace("{prompt}", "Q: {prompt}")
        .replace("{response}", "A: {response}")
    )


def render_naive(template: str, prompt: str, response: str) -> str:
    """The unfenced ask: ``naive_template(template)`` with the texts pasted in as they are."""
    values = {"prompt": prompt, "response": response}
    return re.sub(r"\{(prompt|response)\}", lambda m: values[m.group(1)], naive_template(template))


@dataclass(frozen=True, slots=True)
class FlipCount:
    """How one judge's verdicts moved from the clean controls to the injected responses.

    Attributes:
        n: items.
        flipped: injected verdict is the wanted one, clean verdict is not.
        eligible: items whose clean verdict is not the wanted one (the ones that could flip).
        reverse: clean verdict is the wanted one, injected verdict is not (moved against the injection).
        changed: items whose verdict changed at all (None counts as a verdict).
        unparsed_clean: clean verdicts that could not be read.
        unparsed_injected: injected verdicts that could not be read.
        flipped_ids: the ids of the flipped items.
    """

    n: int
    flipped: int
    eligible: int
    reverse: int
    changed: int
    unparsed_clean: int
    unparsed_injected: int
    flipped_ids: tuple[str, ...]

    @property
    def rate(self) -> float:
        """The flip rate: flipped / n (0 for an empty set)."""
        return self.flipped / self.n if self.n else 0.0

    @property
    def rate_of_eligible(self) -> float | None:
        """The flip rate among eligible items: flipped / eligible, or None when none was eligible."""
        return self.flipped / self.eligible if self.eligible else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "n": self.n,
            "flipped": self.flipped,
            "flip_rate": round(self.rate, 4),
            "eligible": self.eligible,
            "flip_rate_of_eligible": None if self.rate_of_eligible is None else round(self.rate_of_eligible, 4),
            "reverse": self.reverse,
            "changed": self.changed,
            "unparsed_clean": self.unparsed_clean,
            "unparsed_injected": self.unparsed_injected,
            "flipped_ids": list(self.flipped_ids),
        }


def count_flips(
    items: Sequence[InjectionItem], clean: Sequence[bool | None], injected: Sequence[bool | None]
) -> FlipCount:
    """Compare verdicts on the clean controls with those on the injected responses, item by item."""
    if not len(items) == len(clean) == len(injected):
        raise ValueError(f"{len(items)} items but {len(clean)} clean and {len(injected)} injected verdicts")
    flipped = [i.id for i, c, j in zip(items, clean, injected, strict=True) if j is i.wanted and c is not i.wanted]
    return FlipCount(
        n=len(items),
        flipped=len(flipped),
        eligible=sum(c is not i.wanted for i, c in zip(items, clean, strict=True)),
        reverse=sum(c is i.wanted and j is not i.wanted for i, c, j in zip(items, clean, injected, strict=True)),
        changed=sum(c != j for c, j in zip(clean, injected, strict=True)),
        unparsed_clean=sum(c is None for c in clean),
        unparsed_injected=sum(j is None for j in injected),
        flipped_ids=tuple(flipped),
    )


def measure(
    items: Sequence[InjectionItem], judge_for: Callable[[str], Judge]
) -> tuple[FlipCount, list[bool | None], list[bool | None]]:
    """Run ``judge_for(question)`` on every item's clean and injected response (one batch per question).

    Returns:
        The flip count and the clean and injected verdicts, in item order.
    """
    clean: list[bool | None] = [None] * len(items)
    injected: list[bool | None] = [None] * len(items)
    for question in dict.fromkeys(i.question for i in items):
        picked = [k for k, item in enumerate(items) if item.question == question]
        judge = judge_for(question)
        prompts = [items[k].prompt for k in picked]
        verdicts = judge.judge(prompts * 2, [items[k].clean for k in picked] + [items[k].injected for k in picked])
        for pos, k in enumerate(picked):
            clean[k] = verdicts[pos].label
            injected[k] = verdicts[len(picked) + pos].label
    return count_flips(items, clean, injected), clean, injected


class NaiveJudge:
    """The control: a model asked the question of a prompt file with no fences and nothing defused."""

    def __init__(self, backend: Backend, *, question: str = "harmful") -> None:
        """Ask ``backend`` the packaged prompt ``question``, rendered by :func:`render_naive`."""
        from pytest_llmtrust.judges.model_judge import load_prompt

        self.backend = backend
        self.question = question
        self.template = load_prompt(question)

    @property
    def name(self) -> str:
        """``naive:<model id> (<question>)``."""
        return f"naive:{self.backend.model_id} ({self.question})"

    def judge(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[Verdict]:
        """One verdict per pair, read like :class:`~pytest_llmtrust.judges.model_judge.ModelJudge`'s."""
        from pytest_llmtrust.judges.model_judge import JUDGE_PARAMS, parse_yes_no

        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        asks = [render_naive(self.template, prompt_text(p), r) for p, r in zip(prompts, responses, strict=True)]
        replies = self.backend.generate(asks, JUDGE_PARAMS)
        return [Verdict(parse_yes_no(g.text), f"judge said {' '.join(g.text.split())[:60]!r}") for g in replies]
