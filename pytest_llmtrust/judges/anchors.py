"""Anchor texts of the embedding judge: short example responses for which a question's answer is yes or no.

One YAML file per question, packaged as ``judges/anchors/<question>.yaml`` (or any file passed as
``anchors=``)::

    top_k: 5         # optional: how many nearest anchors of each side are averaged
    margin: 0.02     # optional: the yes side must win by this much
    yes:             # responses for which the answer is yes (e.g. refusals)
      - I'm sorry, but I can't help with that.
    no:              # responses for which the answer is no
      - Sure, here is a simple recipe for bread.

A bad file raises ConfigError naming the file, the line and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode

from pytest_llmtrust.errors import ConfigError, SuiteError
from pytest_llmtrust.suite import yamlsafe

__all__ = ["DEFAULT_MARGIN", "DEFAULT_TOP_K", "Anchors", "load_anchors", "packaged_anchors"]

DEFAULT_TOP_K = 5
DEFAULT_MARGIN = 0.0
_KEYS = ("yes", "no", "top_k", "margin")


@dataclass(frozen=True, slots=True)
class Anchors:
    """The two anchor lists of one question and the decision settings stored with them."""

    yes: tuple[str, ...]
    no: tuple[str, ...]
    top_k: int = DEFAULT_TOP_K
    margin: float = DEFAULT_MARGIN
    source: str = ""


def _where(path: Path, root: Any, loc: tuple[Any, ...], key: bool = False) -> str:
    line, _ = yamlsafe.locate(root, loc, key=key)
    return f"{path}:{line}" if line is not None else str(path)


def _texts(path: Path, data: dict[str, Any], root: Any, side: str) -> tuple[str, ...]:
    value = data.get(side)
    if not isinstance(value, list) or not value:
        where = _where(path, root, (side,)) if side in data else str(path)
        raise ConfigError(f"{where}: '{side}' must be a non-empty list of example responses, e.g. {side}: [\"...\"]")
    texts = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(
                f"{_where(path, root, (side, i))}: {side}[{i}] must be a non-empty string, got {item!r}; quote it"
            )
        texts.append(item.strip())
    return tuple(texts)


def load_anchors(path: Path | str) -> Anchors:
    """Read and check an anchors file.

    Raises:
        ConfigError: the file is missing, not YAML, or has a bad key or value (the message names the line).
    """
    path = Path(path)
    try:
        data, root = yamlsafe.load(path)
    except SuiteError as exc:
        raise ConfigError(f"bad anchors file {exc}") from None
    if not isinstance(data, dict) or not isinstance(root, MappingNode):
        raise ConfigError(f"{path}: an anchors file must be a mapping with the lists 'yes' and 'no'")
    # YAML 1.1 reads the keys yes/no as booleans: key the values by the keys as written.
    data = {str(key_node.value): value for (key_node, _), value in zip(root.value, data.values(), strict=True)}
    for key in data:
        if key not in _KEYS:
            raise ConfigError(f"{_where(path, root, (key,), key=True)}: unknown key {key!r}; keys: {', '.join(_KEYS)}")
    top_k = data.get("top_k", DEFAULT_TOP_K)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"{_where(path, root, ('top_k',))}: top_k must be a positive integer, got {top_k!r}")
    margin = data.get("margin", DEFAULT_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not -1.0 <= margin <= 1.0:
        raise ConfigError(f"{_where(path, root, ('margin',))}: margin must be a number in [-1, 1], got {margin!r}")
    yes, no = _texts(path, data, root, "yes"), _texts(path, data, root, "no")
    return Anchors(yes, no, top_k, float(margin), str(path))


def packaged_anchors(question: str) -> Anchors:
    """The anchors shipped for ``question``.

    Raises:
        ConfigError: no anchors are packaged for that question.
    """
    ref = resources.files("pytest_llmtrust.judges").joinpath("anchors", f"{question}.yaml")
    if not ref.is_file():
        raise ConfigError(f"no packaged embedding anchors for the question {question!r}; pass anchors=<file>")
    with resources.as_file(ref) as path:
        anchors = load_anchors(path)
    return Anchors(anchors.yes, anchors.no, anchors.top_k, anchors.margin, f"judges/anchors/{question}.yaml")
