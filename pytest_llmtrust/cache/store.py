"""The SQLite store behind the generation cache: JSON values, WAL journal, safe across processes.

Values are only ever read as JSON text (``json.loads``); a row holding anything else (a BLOB such as
a pickle, or text that is not JSON) is ignored with a warning, as if it were missing.

One file holds three tables: ``answers`` (key -> JSON value), ``models`` (fingerprint -> the
model id reported for it, so a fully cached run can name the model without loading it) and
``file_digests`` (path, size, mtime -> sha256, so a weights file is hashed once per version).

Why it survives pytest-xdist and ``kill -9``: every process opens its own connection; the WAL
journal lets readers run beside one writer; writers wait on a busy timeout instead of failing;
each batch of answers is one transaction, so a killed process leaves every committed batch
intact and nothing half-written (SQLite rolls an unfinished transaction back on the next open).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS models (fingerprint TEXT PRIMARY KEY, model_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL
);
"""
log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 60_000
_CHUNK = 500  # keys per SELECT (SQLite's bound-variable limit is 999 on old builds)


_BAD = object()


def _decode(value: object) -> Any:
    """A stored value: JSON text only; anything else (a BLOB such as a pickle, bad JSON) is ``_BAD``."""
    if not isinstance(value, str):
        return _BAD
    try:
        return json.loads(value)
    except ValueError:
        return _BAD


class Store:
    """A key -> JSON value store in one SQLite file (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open (creating if needed) the cache file at ``path``.

        Raises:
            ConfigError: the file cannot be created or is not an SQLite database; names the path.
        """
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                self._db.executescript(SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise ConfigError(
                f"generation cache {self.path}: {exc}; delete the file or choose another with --llmtrust-cache-path"
            ) from None

    def close(self) -> None:
        """Close the connection (committed answers are already on disk)."""
        with self._lock:
            self._db.close()

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored values of those ``keys`` that are present."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk)
                for key, value in rows:
                    decoded = _decode(value)
                    if decoded is _BAD:
                        log.warning(
                            "generation cache %s: the value stored for key %s is not JSON text; ignoring it "
                            "(it is never unpickled or evaluated; delete the file to clear it)",
                            self.path,
                            str(key)[:16],
                        )
                        continue
                    found[key] = decoded
        return found

    def put_many(self, values: Mapping[str, Any]) -> None:
        """Store values in one transaction (a key already present keeps its first value)."""
        if not values:
            return
        now = time.time()
        rows = [(key, json.dumps(value, ensure_ascii=False), now) for key, value in values.items()]
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO answers (key, value, created) VALUES (?, ?, ?)", rows)

    def count(self) -> int:
        """How many answers are stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def model_id(self, fingerprint: str) -> str | None:
        """The model id recorded for a fingerprint, if any."""
        with self._lock:
            row = self._db.execute("SELECT model_id FROM models WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return None if row is None else str(row[0])

    def record_model(self, fingerprint: str, model_id: str) -> None:
        """Remember which model id a fingerprint stands for."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO models (fingerprint, model_id) VALUES (?, ?)", (fingerprint, model_id)
            )

    def file_digest(self, path: Path, size: int, mtime_ns: int) -> str | None:
        """A remembered sha256 of ``path`` if its size and mtime are unchanged."""
        with self._lock:
            row = self._db.execute(
                "SELECT digest FROM file_digests WHERE path = ? AND size = ? AND mtime_ns = ?",
                (str(path), size, mtime_ns),
            ).fetchone()
        return None if row is None else str(row[0])

    def remember_digest(self, path: Path, size: int, mtime_ns: int, digest: str) -> None:
        """Remember the sha256 of one version of a file."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO file_digests (path, size, mtime_ns, digest) VALUES (?, ?, ?, ?)",
                (str(path), size, mtime_ns, digest),
            )
