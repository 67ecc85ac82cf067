"""The SQLite store: JSON values, first value kept, located errors, safe across processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from typing import TYPE_CHECKING

import pytest

from pytest_llmtrust.cache.store import Store
from pytest_llmtrust.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


def test_values_round_trip_as_json_and_the_first_value_is_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "c" / "gen.sqlite")
    store.put_many({"k1": {"text": "héllo", "finish_reason": "stop"}, "k2": [0.1, -2.5]})
    store.put_many({"k1": {"text": "other", "finish_reason": "length"}})
    assert store.get_many(["k1", "k2", "missing"]) == {
        "k1": {"text": "héllo", "finish_reason": "stop"},
        "k2": [0.1, -2.5],
    }
    assert store.count() == 2
    store.close()
    assert sqlite3.connect(tmp_path / "c" / "gen.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_many_keys_are_read_in_chunks(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    store.put_many({f"k{i}": i for i in range(1200)})
    assert len(store.get_many([f"k{i}" for i in range(1300)])) == 1200


def test_model_ids_and_file_digests_are_remembered(tmp_path: Path) -> None:
    store = Store(tmp_path / "gen.sqlite")
    assert store.model_id("fp") is None
    store.record_model("fp", "hf:x?dtype=float32")
    assert store.model_id("fp") == "hf:x?dtype=float32"
    store.remember_digest(tmp_path / "w", 10, 99, "abc")
    assert store.file_digest(tmp_path / "w", 10, 99) == "abc"
    assert store.file_digest(tmp_path / "w", 11, 99) is None


def test_a_file_that_is_not_a_database_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "gen.sqlite"
    bad.write_text("not a database at all" * 100)
    with pytest.raises(ConfigError, match=r"gen\.sqlite.*--llmtrust-cache-path"):
        Store(bad)


def _writer(path: str, start: int) -> None:
    store = Store(path)
    for i in range(start, start + 200, 10):
        store.put_many({f"k{j}": j for j in range(i, i + 10)})
    store.close()


def test_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "gen.sqlite")
    Store(path).close()
    workers = [multiprocessing.get_context("spawn").Process(target=_writer, args=(path, n * 200)) for n in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert Store(path).count() == 600
