"""Safe YAML loading that remembers where every value came from.

Only plain YAML types are built (no python tags), duplicate keys are an error,
and :func:`locate` maps a path such as ``("prompts", 3, "id")`` back to its
line and column for error messages.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pytest_llmtrust.errors import SuiteError

if TYPE_CHECKING:
    from pathlib import Path


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first defined on line {first}); remove or rename one of them",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _problem(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "invalid YAML"
    if "could not determine a constructor for the tag" in problem:
        return f"{problem.split('tag', 1)[-1].strip()}: YAML tags are not allowed (plain YAML only)"
    if "found character '\\t'" in problem:
        return f"{problem}; indent with spaces, not tabs"
    if exc.context and "block scalar" in exc.context:
        return f"{exc.problem} ({exc.context}); quote values that start with '>' or '|', e.g. \">= 0.95\""
    if exc.context and exc.problem:
        return f"{exc.problem} ({exc.context})"
    return problem


def load(path: Path) -> tuple[Any, Node | None]:
    """Read a YAML file: return the data and its root node, or raise SuiteError at the bad spot."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8") from None
    except OSError as exc:
        raise SuiteError(path, f"cannot read the file: {exc.strerror}") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        column = None if mark is None else mark.column + 1
        raise SuiteError(path, _problem(exc), line=line, column=column) from None
    except yaml.YAMLError as exc:
        raise SuiteError(path, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, node


def _child(node: Node, part: Any, *, want_key: bool) -> Node | None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == str(part):
                return key_node if want_key else value_node
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: Node = node.value[part]
        return child
    return None


def locate(root: Node | None, loc: Sequence[Any], *, key: bool = False) -> tuple[int | None, int | None]:
    """1-based (line, column) of the value at ``loc`` (or of its key when ``key``); nearest known parent."""
    node = root
    best = root
    for i, part in enumerate(loc):
        if node is None:
            break
        last = i == len(loc) - 1
        node = _child(node, part, want_key=key and last)
        if node is not None:
            best = node
    if best is None:
        return None, None
    return best.start_mark.line + 1, best.start_mark.column + 1
