"""Prompt files: ``.txt`` (one per line, ``#`` comments), ``.jsonl`` and ``.yaml``.

Each reader yields ``(id, prompt, line)``; an id is the file's stem plus the
line number unless the entry names one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.backends.base import Prompt
from pytest_llmtrust.errors import SuiteError
from pytest_llmtrust.suite import yamlsafe

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Entry = tuple[str, Prompt, int]
SUFFIXES = (".txt", "", ".jsonl", ".yaml", ".yml")
"""The file types a prompts file may have (compared in lower case)."""


def _entry(path: Path, value: Any, line: int) -> Entry:
    default_id = f"{path.stem}-{line}"
    if isinstance(value, str) and value.strip():
        return default_id, value, line
    if isinstance(value, dict):
        unknown = set(value) - {"id", "prompt", "messages", "system"}
        if unknown:
            raise SuiteError(
                path,
                f"unknown key {sorted(unknown)[0]!r}; entries take id, prompt, system, messages",
                line=line,
            )
        pid = str(value.get("id") or default_id)
        if isinstance(value.get("prompt"), str) and value["prompt"].strip():
            if isinstance(value.get("system"), str):
                return (
                    pid,
                    [
                        {"role": "system", "content": value["system"]},
                        {"role": "user", "content": value["prompt"]},
                    ],
                    line,
                )
            return pid, value["prompt"], line
        messages = value.get("messages")
        if (
            isinstance(messages, list)
            and messages
            and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages
            )
        ):
            return pid, [{"role": m["role"], "content": m["content"]} for m in messages], line
    raise SuiteError(
        path,
        f"expected a prompt string or a mapping with 'prompt' or 'messages', got {value!r:.80}",
        line=line,
    )


def _txt(path: Path, text: str) -> Iterator[Entry]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield f"{path.stem}-{number}", line, number


def _jsonl(path: Path, text: str) -> Iterator[Entry]:
    for number, raw in enumerate(text.split("\n"), start=1):  # not splitlines(): JSON strings may hold U+2028
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SuiteError(path, f"invalid JSON: {exc.msg}", line=number, column=exc.colno) from None
        except (ValueError, RecursionError) as exc:  # a number too long for Python; nesting too deep
            reason = str(exc).split(";")[0] if isinstance(exc, ValueError) else "nested too deeply"
            raise SuiteError(path, f"invalid JSON: {reason}", line=number) from None
        yield _entry(path, value, number)


def _yaml(path: Path) -> Iterator[Entry]:
    data, root = yamlsafe.load(path)
    if not isinstance(data, list):
        raise SuiteError(path, "a YAML prompts file must be a list of prompts", line=1)
    for i, value in enumerate(data):
        line, _ = yamlsafe.locate(root, (i,))
        yield _entry(path, value, line or 0)


def read(path: Path) -> list[Entry]:
    """Read every prompt of a prompts file."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return list(_yaml(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line, column = yamlsafe.decode_position(exc)
        message = f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        raise SuiteError(path, message, line=line, column=column) from None
    except OSError as exc:
        raise SuiteError(path, f"cannot read the file: {exc.strerror}") from None
    if suffix == ".jsonl":
        return list(_jsonl(path, text))
    if suffix in (".txt", ""):
        return list(_txt(path, text))
    raise SuiteError(path, f"unknown prompts file type {suffix!r}; use .txt, .jsonl or .yaml")
