"""Justice scenarios for the typo study: the ETHICS CSV format (the authors' and ours) or JSON lines.

- ``.csv`` (the ETHICS *justice* format the survey's authors used, and our packaged file): a header
  row with the columns ``label`` and ``scenario`` (in any order; other columns are ignored), then
  one scenario a row. Quote a scenario that holds a comma.
- ``.jsonl``: one object a line, ``{"scenario": "...", "label": 1}``.

``label`` is 1 when the scenario's claim or excuse is reasonable and 0 when it is not (ETHICS).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

COLUMNS = ("label", "scenario")
_FIX_LABEL = "write 1 for a reasonable scenario or 0 for an unreasonable one"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario read from ``source`` at 1-based ``line``."""

    text: str
    label: int
    source: str
    line: int


def _label(value: Any, where: str) -> int:
    text = str(value).strip() if not isinstance(value, bool) else ""
    if text not in ("0", "1"):
        raise ConfigError(f"{where}: label {value!r} is not 0 or 1; {_FIX_LABEL}")
    return int(text)


def _scenario(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: the scenario is empty; write the sentence to judge")
    return " ".join(value.split())


def _csv_rows(path: Path) -> Iterator[Scenario]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ConfigError(
                f"{path}:1: the header {','.join(header) or '(none)'!r} lacks {', '.join(missing)}; "
                "the first row must name the columns, e.g. 'label,scenario'"
            )
        at = {c: header.index(c) for c in COLUMNS}
        start = reader.line_num + 1  # a row's first line (a quoted scenario may span lines)
        for row in reader:
            line, start = start, reader.line_num + 1
            where = f"{path}:{line}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ConfigError(
                    f"{where}: {len(row)} fields where the header has {len(header)}; "
                    "quote a scenario that contains a comma"
                )
            yield Scenario(_scenario(row[at["scenario"]], where), _label(row[at["label"]], where), str(path), line)


def _jsonl_rows(path: Path) -> Iterator[Scenario]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: invalid JSON ({exc.msg}); write one object a line") from None
            if not isinstance(row, dict) or "scenario" not in row or "label" not in row:
                raise ConfigError(f'{where}: expected an object with "scenario" and "label", e.g. '
                                  '{"scenario": "I deserve ... because ...", "label": 1}')  # fmt: skip
            yield Scenario(_scenario(row["scenario"], where), _label(row["label"], where), str(path), number)


def load_scenarios(path: Path) -> list[Scenario]:
    """Every scenario of a ``.csv`` or ``.jsonl`` file.

    Raises:
        ConfigError: the file cannot be read, is in neither format, or a row is bad (file and line named).
    """
    if path.is_dir() or path.suffix.lower() not in (".csv", ".jsonl"):
        raise ConfigError(f"{path}: typo scenarios must be a .csv file (label,scenario) or a .jsonl file")
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)
    try:
        scenarios = list(rows)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a readable CSV file ({exc}); write a header 'label,scenario'") from None
    if not scenarios:
        raise ConfigError(f"{path}: no scenarios; add rows 'label,scenario' below the header")
    return scenarios
