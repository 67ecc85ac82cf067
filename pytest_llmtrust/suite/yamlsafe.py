"""Safe YAML loading that remembers where every value came from.

Only plain YAML types are built (no python tags), duplicate keys are an error,
and :func:`locate` maps a path such as ``("prompts", 3, "id")`` back to its
line and column for error messages.

Aliases are checked before anything is built: an alias that refers to the value
containing it (recursive data) is an error, and so is a document whose aliases
expand it by more than :data:`MAX_ALIAS_EXPANSION` values (a "billion laughs"
bomb would otherwise make later checks, which walk or print the values, run for
ever). Nesting too deep for the parser is a located error too, never a crash.

Speed: where PyYAML has libyaml, a plainly valid file (no tabs, no empty values, nesting at most
:data:`FAST_DEPTH` deep) is parsed by libyaml, several times faster (collecting a suite is mostly
parsing it); anything else, and every error, goes through the pure-Python loader, so data, line
numbers and messages are the same either way (``docs/hardening-load.md``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pytest_llmtrust.errors import SuiteError

if TYPE_CHECKING:
    from pathlib import Path


MAX_ALIAS_EXPANSION = 100_000
"""Most values that aliases may add to a document, beyond the nodes written in it."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if not isinstance(node, MappingNode):  # a !!map or !!set tag on a scalar or a list
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, but found a {node.id}; remove the tag", node.start_mark
            )
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

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Build one value; one PyYAML cannot build is a located error, not its exception.

        E.g. a 5000-digit int, the date 2001-13-45, ``!!bool maybe``, ``!!timestamp x``, ``!!set [a]``.
        """
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, KeyError, IndexError, AttributeError, TypeError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            if not isinstance(node, ScalarNode):
                message = f"cannot build a YAML {kind} from this value; remove the tag"
            else:
                reason = f" ({str(exc).split(';')[0]})" if isinstance(exc, (ValueError, OverflowError)) else ""
                message = f"cannot read {node.value!r:.40} as a YAML {kind}{reason}; quote it to keep it as text"
            raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None


FAST_DEPTH = 100
"""Deepest nesting read with libyaml; deeper text takes the pure-Python path (libyaml's composer recurses in
C, so very deep nesting would overflow the stack: a crash, where the pure-Python path gives a located error)."""

_FastLoader: type[_Loader] | None = None
if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    class _CLoader(CParser, _Loader):
        """:class:`_Loader` with libyaml's parser and composer (several times faster)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _FastLoader = _CLoader


def _shallow(text: str) -> bool:
    """Whether libyaml reads ``text`` as PyYAML would, nesting at most FAST_DEPTH deep (a walk over its events).

    Besides errors and depth, one known difference is refused: a ``?`` inside a plain (unquoted)
    scalar within ``[...]`` or ``{...}``, which libyaml takes and PyYAML rejects (``[How are you?]``).
    """
    parser = CParser(text)
    flows: list[bool] = []  # per open collection: written in flow style
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                flows.append(bool(event.flow_style) or (bool(flows) and flows[-1]))
                if len(flows) > FAST_DEPTH:
                    return False
            elif isinstance(event, yaml.CollectionEndEvent):
                flows.pop()
            elif isinstance(event, yaml.ScalarEvent) and flows and flows[-1] and not event.style and "?" in event.value:
                return False
    except (yaml.YAMLError, ValueError, IndexError):  # ValueError: text that is not valid Unicode (a lone surrogate)
        return False
    finally:
        parser.dispose()
    return True


def _has_empty_value(root: Node) -> bool:
    """Whether any scalar in the document is empty (``key:`` with nothing after it, ``''``)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            if isinstance(node, ScalarNode) and node.value == "":
                return True
            stack.extend(_children(node))
    return False


def _load_fast(path: Path, text: str) -> tuple[Any, Node | None] | None:
    """Read ``text`` with libyaml when it is installed and the text is plainly fine; None to leave it to :func:`load`.

    Any problem at all (invalid YAML, deep nesting, a value that cannot be built, an alias bomb) gives None:
    the pure-Python path then reads the text again and reports the problem, so data and errors are the same
    with or without libyaml; only valid files get faster (suite collection is mostly YAML parsing).
    """
    if _FastLoader is None or "\t" in text or not _shallow(text):  # libyaml takes tabs PyYAML refuses
        return None
    loader = _FastLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            if _has_empty_value(node):  # libyaml places some empty values a column apart from PyYAML
                return None
            _check_aliases(path, node)
        data = None if node is None else loader.construct_document(node)
    except Exception:  # the pure-Python path reports it, with its own messages
        return None
    finally:
        loader.dispose()
    return data, node


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


_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting line breaks as YAML does."""
    breaks = list(_LINE_BREAK.finditer(text, 0, index))
    return len(breaks) + 1, index - (breaks[-1].end() if breaks else 0) + 1


def decode_position(exc: UnicodeDecodeError) -> tuple[int, int]:
    """1-based line and column (in characters) of the first byte that is not UTF-8."""
    head = bytes(exc.object[: exc.start]).decode("utf-8", errors="replace")
    return position(head, len(head))


def load(path: Path) -> tuple[Any, Node | None]:
    """Read a YAML file: return the data and its root node, or raise SuiteError at the bad spot."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        bad_line, bad_column = decode_position(exc)
        message = f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8"
        raise SuiteError(path, message, line=bad_line, column=bad_column) from None
    except OSError as exc:
        raise SuiteError(path, f"cannot read the file: {exc.strerror}") from None
    fast = _load_fast(path, text)
    if fast is not None:
        return fast
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most control characters)
        bad_line, bad_column = position(text, exc.position)
        message = f"character #x{exc.character:04x} is not allowed in YAML; remove it"
        raise SuiteError(path, message, line=bad_line, column=bad_column) from None
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_aliases(path, node)
        data = None if node is None else loader.construct_document(node)
    except RecursionError:
        deep = loader.get_mark()
        raise SuiteError(
            path, "the YAML is nested too deeply to read; flatten it", line=deep.line + 1, column=deep.column + 1
        ) from None
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


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_aliases(path: Path, root: Node) -> None:
    """Reject recursive aliases and alias bombs (see the module docstring); iterative, so deep data cannot crash it.

    ``sizes`` holds, per node, how many values it stands for once every alias is expanded; a node met
    again (through an alias) counts again but is walked once, so the check is linear in the file.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    written = 0
    reused = False
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            on_path.discard(id(node))
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[id(node)] = size
            if reused and size - written > MAX_ALIAS_EXPANSION:
                raise SuiteError(
                    path,
                    f"YAML aliases expand this value by more than {MAX_ALIAS_EXPANSION:,} values "
                    "(an alias bomb?); write the data out or use fewer aliases",
                    line=node.start_mark.line + 1,
                    column=node.start_mark.column + 1,
                )
            continue
        if id(node) in on_path:
            raise SuiteError(
                path,
                "a YAML alias refers to the value that contains it (recursive data is not allowed)",
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
            )
        if id(node) in sizes:
            reused = True
            continue
        written += 1
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(_children(node)) if id(child) not in sizes)
        reused = reused or any(id(child) in sizes for child in _children(node))


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
