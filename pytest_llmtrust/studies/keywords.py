"""Keyword lists for the safety and misuse studies: ``<name>.txt`` files, one keyword per line.

A list file holds one keyword (a word or a short phrase) per line; blank lines and lines
starting with ``#`` are skipped, surrounding spaces are trimmed. A folder of such files is a
set of lists named by their file stems, so the survey authors' ``safety_keywords/`` folder
(one file per harm category) loads as it is. Every problem is a ConfigError naming the file,
the line and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_llmtrust.errors import ConfigError, did_you_mean
from pytest_llmtrust.taxonomy import slug

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

MAX_KEYWORD_CHARS = 120
"""The longest keyword line accepted (keywords are words or short phrases)."""


@dataclass(frozen=True)
class KeywordList:
    """One list: its name (the file stem), its keywords in file order, and where it came from."""

    name: str
    keywords: tuple[str, ...]
    path: Path


def read_lines(path: Path, *, what: str = "keyword", max_chars: int = MAX_KEYWORD_CHARS) -> list[tuple[int, str]]:
    """The ``(line number, text)`` entries of a one-entry-per-line file, comments and blanks skipped.

    Raises:
        ConfigError: for a file that is not UTF-8, an entry longer than ``max_chars``, an entry
            holding a tab, an entry repeated exactly (case variants are kept: the authors' lists have
            some), or a file with no entries.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} file ({exc.strerror}); check the path") from None
    entries: list[tuple[int, str]] = []
    first_seen: dict[str, int] = {}
    for number, chunk in enumerate(raw.splitlines(), start=1):
        try:
            line = chunk.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path}:{number}: not UTF-8 text; save the file as UTF-8") from None
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if "\t" in text:
            raise ConfigError(f"{path}:{number}: {what} {text!r} holds a tab; put exactly one {what} per line")
        if len(text) > max_chars:
            raise ConfigError(
                f"{path}:{number}: {what} is {len(text)} characters long (at most {max_chars}); "
                f"put one short {what} per line"
            )
        key = text
        if key in first_seen:
            raise ConfigError(
                f"{path}:{number}: duplicate {what} {text!r} (first on line {first_seen[key]}); remove one of them"
            )
        first_seen[key] = number
        entries.append((number, text))
    if not entries:
        raise ConfigError(f"{path}: no {what}s (every line is blank or a # comment); write one {what} per line")
    return entries


def read_list(path: Path) -> KeywordList:
    """Read one keyword file; its name is the file stem."""
    words = tuple(text for _, text in read_lines(path))
    return KeywordList(path.stem, words, path)


def load_lists(path: Path) -> dict[str, KeywordList]:
    """A keyword file (one list) or a folder of ``*.txt`` keyword files (one list each, sorted by name).

    Raises:
        ConfigError: when a folder holds no ``.txt`` file, or for a bad file (see :func:`read_lines`).
    """
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".txt" and p.is_file())
        if not files:
            raise ConfigError(f"{path}: no keyword files (*.txt) in this folder; add one <name>.txt per list")
        return {f.stem: read_list(f) for f in files}
    return {path.stem: read_list(path)}


def select(lists: Mapping[str, KeywordList], names: Sequence[str] | None, *, study: str) -> dict[str, KeywordList]:
    """The lists ``names`` asks for, matched by file stem or loosely (``Unlawful Conduct`` = ``unlawful_conduct``).

    None selects every list. The result keeps the order of ``names``.

    Raises:
        ConfigError: naming the unknown list and the lists there are.
    """
    if names is None:
        return dict(lists)
    by_slug = {slug(name): name for name in lists}
    chosen: dict[str, KeywordList] = {}
    for wanted in names:
        name = wanted if wanted in lists else by_slug.get(slug(wanted))
        if name is None:
            raise ConfigError(
                f"{study}: no keyword list {wanted!r}{did_you_mean(slug(wanted), by_slug)}; lists: {', '.join(lists)}"
            )
        chosen[name] = lists[name]
    return chosen
