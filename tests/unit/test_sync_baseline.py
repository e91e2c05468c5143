"""The baseline in SQLite: WAL mode, exact round trip of odd names, intents."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from rpdevd.sync.baseline import Baseline
from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry
from rpdevd.sync.plan import Op
from rpdevd.sync.podops import encode_manifest


def test_round_trip_and_pairs_are_separate(tmp_path: Path) -> None:
    db = Baseline(tmp_path / "state.sqlite3")
    odd = os.fsdecode(b"bad-\xff\nname")
    rec = BaseRecord(
        LocalEntry("symlink", 3, 5, 0o777, 7, os.fsdecode(b"t\xfe")),
        RemoteEntry("symlink", 3, 0, 0o777, os.fsdecode(b"t\xfe")),
    )
    db.commit("a", {odd: rec, "x": rec}, [])
    db.commit("b", {"y": rec}, [])
    db.commit("a", {}, ["x"])
    db.close()
    db = Baseline(tmp_path / "state.sqlite3")
    assert db.load("a") == {odd: rec}
    assert set(db.load("b")) == {"y"}
    mode = sqlite3.connect(tmp_path / "state.sqlite3").execute("PRAGMA journal_mode").fetchone()
    assert mode[0] == "wal"


def test_intents_cleared_by_commit(tmp_path: Path) -> None:
    db = Baseline(tmp_path / "s.db")
    lo = LocalEntry("file", 1, 2 * 10**9, 0o644)
    db.add_intents("p", encode_manifest([Op("put", "f", lo)], {"f": "0"}))
    db.add_intents("p", encode_manifest([Op("mkdir", "d", LocalEntry("dir", mode=0o755))], {}))
    assert db.load_intents("p") == {
        "f": RemoteEntry("file", 1, 2, 0o644),
        "d": RemoteEntry("dir", 0, 0, 0o755),
    }
    assert db.load_intents("other") == {}
    db.commit("p", {}, [], clear_intents=False)
    assert db.load_intents("p")
    db.commit("p", {}, [])
    assert db.load_intents("p") == {}


def test_default_path_is_the_shared_database(home: Path) -> None:
    from rpdevd import paths

    db = Baseline()
    db.set_pair("p", "/l", "d", "/r", last_sync=1.0)
    assert db.path == paths.database_file() and db.pairs()[0]["pair"] == "p"
    db.close()


def test_a_pairs_records_are_looked_up_in_the_database_path_by_path(tmp_path: Path) -> None:
    """The live sync asks for a batch's few paths and for what lies below a directory, without
    the whole baseline in memory: only the paths below it, whatever sorts next to it."""
    from rpdevd.sync.baseline import PairRecords

    odd = os.fsdecode(b"a/\xff")
    rec = BaseRecord(LocalEntry("file", 1, 2, 0o644, 3), RemoteEntry("file", 1, 0, 0o644))
    db = Baseline(tmp_path / "db.sqlite")
    paths = ["a", "a/b", "a/b/c", odd, "a.b", "a0", "ab", "b"]
    db.commit("p", dict.fromkeys(paths, rec), [])
    db.commit("q", {"a/x": rec}, [])
    known = PairRecords(db, "p")
    assert sorted(known.under("a")) == sorted(["a/b", "a/b/c", odd])
    assert known.under("a/b") == ["a/b/c"] and known.under("b") == []
    assert "a/b" in known and "a/x" not in known and known[odd] == rec
    assert len(known) == len(paths) and sorted(known) == sorted(paths)
    db.close()
