"""The baseline in SQLite: WAL mode, exact round trip of odd names, intents."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rpdevd.sync.baseline import Baseline
from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry
from rpdevd.sync.plan import Op
from rpdevd.sync.podops import encode_manifest
from rpdevd.sync.recordsets import MAX_TOLD, Seen, Sets, Told


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


@given(st.integers(16, 90), st.integers(0, 40), st.integers(0, 40))
@example(limit=16, written=0, removed=40)  # removals over two statements and more
@example(limit=16, written=40, removed=0)
@settings(max_examples=25, deadline=None)
def test_rows_written_and_removed_many_to_a_statement_are_each_written_once(
    limit: int, written: int, removed: int
) -> None:
    """A commit writes and removes its rows many to a statement, within SQLite's limit on
    values a statement however low: every row lands once, every removal is made, nothing of
    another pair is touched, and the sets read back are the rows'."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        db = Baseline(Path(tmp) / "s.db")
        db._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        rec = BaseRecord(LocalEntry("file", 1, 2, 0o644, 3), RemoteEntry("file", 1, 0, 0o644))
        paths = [f"d/f{i}" for i in range(removed + 3)]
        new = [f"e/g{i}" for i in range(written)]
        db.commit("other", {"d/f0": rec}, [])
        db.commit("p", {p: rec for p in paths}, [])
        db.commit("p", {p: rec for p in new}, paths[:removed])
        left = set(new) | set(paths[removed:])
        assert set(db.load("p")) == left and set(db.load("other")) == {"d/f0"}
        sets = db.record_sets("p")
        assert sets is not None and len(sets.local) == len(sets.pod) == len(left)
        db.close()


def test_a_commit_while_the_sets_are_not_kept_whole_leaves_them_so(tmp_path: Path) -> None:
    """Sets dropped by a removal are read from the rows next time: a commit in between adds no
    chunk that would mark them whole with its own rows alone."""
    db = Baseline(tmp_path / "s.db")
    rec = BaseRecord(LocalEntry("file", 1, 2, 0o644, 3), RemoteEntry("file", 1, 0, 0o644))
    db.commit("p", {"a": rec, "b": rec}, [])
    db.commit("p", {}, ["b"])  # a removal: the sets are dropped
    db.commit("p", {"c": rec}, [])
    sets = db.record_sets("p")
    assert sets is not None
    assert sorted(r.split(b"\0", 1)[0] for r in sets.local) == [b"a", b"c"]
    db.close()


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


def test_a_big_batchs_intents_are_kept_in_rows_of_whole_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest made in parts (a first sync's) is kept as several rows, each of whole parts
    and of at most INTENTS_ROW bytes where a part is not bigger: read back, the same intents
    as the manifest in one row."""
    from rpdevd.sync import baseline as baseline_mod
    from rpdevd.sync.bulkstream import JobParts
    from rpdevd.sync.podops import manifest_intents

    monkeypatch.setattr(baseline_mod, "INTENTS_ROW", 300)
    parts = JobParts(tmp_path)
    for n in range(6):  # parts of 1, 2, ... 6 puts
        parts.add(
            [Op("put", f"d{n}/f{i}", LocalEntry("file", i, n * 10**9, 0o644)) for i in range(n + 1)]
        )
    job = parts.job()
    db = Baseline(tmp_path / "s.db")
    db.add_intents("p", job.manifest, job.cuts)
    rows = [m for (m,) in db._db.execute("SELECT manifest FROM sync_intents ORDER BY rowid")]
    assert db.load_intents("p") == manifest_intents(bytes(job.manifest))
    assert b"".join(rows) == job.manifest and len(rows) > 2
    bounds = [0, *job.cuts]
    at = 0
    for row in rows:  # each ends where a part does; one longer than 300 bytes is one part
        first, at = bounds.index(at), at + len(row)
        assert at in bounds
        assert len(row) <= 300 or bounds.index(at) == first + 1
    db.close()


def test_a_commit_tells_the_sets_generation_and_the_pods_half_is_read_alone(
    tmp_path: Path,
) -> None:
    """What a first sync keeps its walk's digest with (the generation its last commit made),
    and what a resync whose scan is told reads (the pod's half of the sets alone)."""
    db = Baseline(tmp_path / "s.db")
    db.start_sets("p")
    rec = BaseRecord(LocalEntry("file", 1, 2, 0o644, 3), RemoteEntry("file", 1, 0, 0o644))
    made = db.commit("p", {"a": rec, "b": rec}, [])
    seen = db.seen("p")
    assert made is not None and seen is not None and made == seen.nonce
    assert db.commit("p", {}, []) == made  # nothing written: the same generation
    whole, pods = db.record_sets("p"), db.record_sets("p", local_too=False)
    assert whole is not None and pods is not None
    assert pods.pod == whole.pod and len(pods.pod) == 2 and pods.nonce == whole.nonce == made
    assert pods.local == set() and len(whole.local) == 2
    assert db.commit("p", {}, ["a"]) is None  # a removal drops the sets: no generation
    db.close()


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


# ----- the kept record sets -----------------------------------------------------------------

odd = os.fsdecode(b"bad-\xff\nname")

_PATHS = st.sampled_from(["a", "b", "d/c", "d/e", odd])
_SIZES = st.integers(0, 3)


def _record(size: int) -> BaseRecord:
    return BaseRecord(
        LocalEntry("file", size, size * 10**9, 0o644, 7), RemoteEntry("file", size, size, 0o644)
    )


_OPS = st.one_of(
    st.tuples(st.just("commit"), st.dictionaries(_PATHS, _SIZES), st.lists(_PATHS)),
    st.tuples(st.just("start"), st.none(), st.none()),
    st.tuples(st.just("read"), st.none(), st.none()),
    st.tuples(st.just("other program"), _PATHS, _SIZES),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_OPS, max_size=25))
def test_the_kept_record_sets_never_miss_a_row(tmp_path_factory: Any, ops: list[Any]) -> None:
    """Whatever is committed, removed, or written to the rows by another program (an older
    rpdev), the record sets a full pass compares hold every row's records and name no path
    without a row: a change may be planned once too often, never go unseen."""
    db = Baseline(tmp_path_factory.mktemp("sets") / "db.sqlite")
    try:
        for op, x, y in ops:
            if op == "commit":
                removals = [p for p in y if p not in x]
                db.commit("pair", {p: _record(n) for p, n in x.items()}, removals)
                db.commit("other pair", {"a": _record(3)}, [])
            elif op == "start":
                db.start_sets("pair")
            elif op == "read":
                db.record_sets("pair")
            else:  # a row replaced behind the baseline's back
                db._db.execute(
                    "UPDATE sync_baseline SET l_size = ?, l_rec = NULL WHERE pair = 'pair' "
                    "AND path = ?",
                    (y + 10, db._key(x)),
                )
            sets = db.record_sets("pair")
            assert sets is not None
            rows_local, rows_pod = set(db.local_records("pair")), set(db.pod_records("pair"))
            assert rows_local <= sets[0] and rows_pod <= sets[1]
            assert {r.split(b"\0", 1)[0] for r in sets[0]} == {
                r.split(b"\0", 1)[0] for r in rows_local
            }
            assert {r[:-1].rsplit(b"\0", 1)[1] for r in sets[1]} == {
                r[:-1].rsplit(b"\0", 1)[1] for r in rows_pod
            }
    finally:
        db.close()


def test_a_first_sync_keeps_its_sets_as_it_commits(tmp_path: Path) -> None:
    """After a first sync, the first resync reads the sets from their chunks, not from the
    rows; a removal, or a row another program changed, makes them read from the rows again."""
    db = Baseline(tmp_path / "db.sqlite")
    db.start_sets("pair")
    for i in range(3):
        db.commit("pair", {f"f{i}.{j}": _record(j) for j in range(3)}, [])
    assert db._sets_marked("pair")
    chunks = db._db.execute("SELECT count(*) FROM sync_sets WHERE pair = 'pair'").fetchone()
    assert chunks == (4,)  # the mark and one chunk per commit
    sets = db.record_sets("pair")
    assert sets is not None and len(sets[0]) == len(sets[1]) == 9
    db.commit("pair", {}, ["f0.0"])
    assert not db._sets_marked("pair")
    sets = db.record_sets("pair")  # from the rows, and kept again
    assert sets is not None and len(sets[0]) == 8 and db._sets_marked("pair")
    db._db.execute(
        "INSERT INTO sync_baseline (pair, path, l_kind, r_kind) VALUES ('pair', 'x', 'file', 'file')"
    )
    assert not db._sets_marked("pair")  # an older rpdev's write: the triggers saw it
    db.start_sets("pair")  # rows exist: not a first sync, nothing marked
    assert not db._sets_marked("pair")
    db.forget("pair")
    assert db._db.execute("SELECT count(*) FROM sync_sets").fetchone() == (0,)
    db.close()


_ODD_PATHS = st.one_of(
    _PATHS,
    st.binary(min_size=1, max_size=12)
    .filter(lambda b: b"\0" not in b and b"/" not in b)
    .map(lambda b: b.decode("utf-8", "surrogateescape")),
)
_KINDS = st.sampled_from(["file", "dir", "symlink", "other"])
_TARGETS = st.one_of(st.just(""), _ODD_PATHS, _ODD_PATHS.map(lambda p: "/" + p))


@given(
    st.lists(
        st.tuples(
            _ODD_PATHS,
            st.builds(
                LocalEntry,
                _KINDS,
                st.integers(-(2**63), 2**63),
                st.integers(-(2**63), 2**63),
                st.integers(0, 0o7777),
                st.integers(0, 2**64),
                _TARGETS,
            ),
            st.builds(
                RemoteEntry,
                _KINDS,
                st.integers(0, 2**40),
                st.integers(-(2**40), 2**40),
                st.integers(0, 0o7777),
                _TARGETS,
            ),
        ),
        max_size=8,
    )
)
def test_records_joined_in_a_chunk_split_back_exactly(rows: list[Any]) -> None:
    """Whatever the names, kinds and link targets (empty ones, a kind no lister prints), the
    records a chunk joins come back, one for one, from a single split."""
    from rpdevd.sync.model import local_record
    from rpdevd.sync.recordsets import SEP
    from rpdevd.sync.remote import expected_record

    for recs in (
        [local_record(p, lo) for p, lo, _ in rows],
        [expected_record(p, re) for p, _, re in rows],
    ):
        assert (SEP.join(recs).split(SEP) if recs else []) == recs


def _two(sets: Sets | None) -> tuple[set[bytes], set[bytes]] | None:
    return None if sets is None else (sets.local, sets.pod)


def test_sets_kept_by_an_older_rpdev_in_another_form_are_read_from_the_rows(
    tmp_path: Path,
) -> None:
    db = Baseline(tmp_path / "db.sqlite")
    db.commit("pair", {"a": _record(1), "b": _record(2)}, [])
    expected = db.record_sets("pair")
    assert expected is not None
    # An older rpdev's chunk (local records each followed by a NUL) under its empty mark.
    db._db.execute("DELETE FROM sync_sets")
    db._db.execute(
        "INSERT INTO sync_sets VALUES ('pair', 1, ?, ?)",
        (b"\0".join(expected[0]) + b"\0", b"".join(expected[1])),
    )
    db._db.execute("INSERT INTO sync_sets VALUES ('pair', 0, x'', x'')")
    assert not db._sets_marked("pair")
    assert _two(db.record_sets("pair")) == _two(expected)  # from the rows, not misread
    assert db._sets_marked("pair") and _two(db.record_sets("pair")) == _two(expected)
    # And the other way: what this rpdev keeps carries no mark an older one reads its own by.
    assert db._db.execute("SELECT * FROM sync_sets WHERE seq = 0").fetchall() == []
    db._db.execute("UPDATE sync_baseline SET l_size = 5 WHERE path = ?", (db._key("a"),))
    assert not db._sets_marked("pair")  # a row written behind its back drops the mark


def test_whole_sets_are_read_from_their_chunks_not_the_rows(
    tmp_path: Path, monkeypatch: Any
) -> None:
    db = Baseline(tmp_path / "db.sqlite")
    db.start_sets("pair")
    db.commit("pair", {"a": _record(1)}, [])
    db.commit("pair", {"b": _record(2)}, [])
    expected = ({r for r in db.local_records("pair")}, {r for r in db.pod_records("pair")})

    def no_rows(pair: str) -> Any:
        raise AssertionError("read row by row")

    monkeypatch.setattr(db, "local_records", no_rows)
    monkeypatch.setattr(db, "pod_records", no_rows)
    assert _two(db.record_sets("pair")) == expected


def test_a_row_without_a_record_on_either_side_gives_no_sets(tmp_path: Path) -> None:
    for side in ("l_size", "r_size"):
        db = Baseline(tmp_path / f"{side}.sqlite")
        db.commit("pair", {"a": _record(1), "b": _record(2)}, [])
        # A row an older rpdev wrote without this side's size (and no record kept with it).
        db._db.execute(
            f"UPDATE sync_baseline SET {side} = NULL, l_rec = NULL, r_rec = NULL WHERE path = ?",
            (db._key("a"),),
        )
        assert db.record_sets("pair") is None


def test_the_sets_stay_whole_up_to_their_chunk_limit(tmp_path: Path) -> None:
    from rpdevd.sync.recordsets import MAX_SET_CHUNKS

    db = Baseline(tmp_path / "db.sqlite")
    db.start_sets("pair")
    for i in range(MAX_SET_CHUNKS):
        db.commit("pair", {f"f{i}": _record(i)}, [])
    assert db._sets_marked("pair")  # the mark and 64 chunks
    assert db._db.execute("SELECT count(*) FROM sync_sets").fetchone() == (MAX_SET_CHUNKS + 1,)
    db.commit("pair", {"one more": _record(1)}, [])
    assert not db._sets_marked("pair")  # read from the rows next time, in one chunk
    sets = db.record_sets("pair")
    assert sets is not None and len(sets[0]) == MAX_SET_CHUNKS + 1
    assert db._db.execute("SELECT count(*) FROM sync_sets").fetchone() == (2,)


# What a scan's comparison was told (nothing changed), and a listing's (two paths, one of them
# not UTF-8, with a newline).
_L = Told(b"l" * 32)
_P = Told(b"p" * 32, frozenset({"a", os.fsdecode(b"d/\xff\nb")}))


def test_digests_are_kept_for_the_generation_of_the_sets_they_agreed_with(tmp_path: Path) -> None:
    """A digest is kept only with the generation of the sets it was compared with, and goes
    with it: a commit, a removal, another program's write, a forgotten pair."""
    db = Baseline(tmp_path / "db.sqlite")
    assert db.seen("pair") is None  # nothing kept
    db.commit("pair", {"a": _record(1)}, [])
    sets = db.record_sets("pair")
    assert sets is not None
    assert db.seen("pair") == Seen(sets.nonce)
    db.remember("pair", sets.nonce, _L, None)
    db.remember("pair", sets.nonce, None, _P)
    assert db.seen("pair") == Seen(sets.nonce, _L, _P)
    again = db.record_sets("pair")  # read again: the same generation
    assert again is not None and again.nonce == sets.nonce
    db.remember("pair", sets.nonce, Told(b"m" * 32), None)  # one side, the other kept
    assert db.seen("pair") == Seen(sets.nonce, Told(b"m" * 32), _P)
    most = Told(b"n" * 32, frozenset(f"f{i}" for i in range(MAX_TOLD)))
    db.remember("pair", sets.nonce, most, None)  # as many paths as are kept
    assert db.seen("pair") == Seen(sets.nonce, most, _P)
    many = Told(b"n" * 32, frozenset(f"f{i}" for i in range(MAX_TOLD + 1)))
    db.remember("pair", sets.nonce, many, None)  # too many paths to keep: the scan's dropped
    assert db.seen("pair") == Seen(sets.nonce, None, _P)
    db.remember("pair", sets.nonce, Told(b"m" * 32), None)

    db.commit("pair", {"b": _record(2)}, [])  # the sets change: a new generation, no digests
    now = db.seen("pair")
    assert now is not None and now.nonce != sets.nonce and now.local is now.pod is None
    db.remember("pair", sets.nonce, _L, _P)  # compared with the old sets: not kept
    assert db.seen("pair") == now

    db.remember("pair", now.nonce, _L, _P)
    db._db.execute("UPDATE sync_baseline SET l_size = 5 WHERE path = ?", (db._key("a"),))
    assert db.seen("pair") is None  # another program's write: gone with the mark
    fresh = db.record_sets("pair")
    assert fresh is not None and db.seen("pair") == Seen(fresh.nonce)
    db.remember("pair", fresh.nonce, _L, _P)
    db.commit("pair", {}, ["a"])  # a removal drops the sets, and the digests
    assert db.seen("pair") is None
    db.record_sets("pair")
    db.remember("pair", db.seen("pair").nonce, _L, _P)  # type: ignore[union-attr]
    db.forget("pair")
    assert db.seen("pair") is None
    db.close()


def test_sets_marked_without_a_generation_are_read_from_the_rows(tmp_path: Path) -> None:
    """A mark an rpdev without generations wrote (empty) is none: no digest is told by it, and
    the sets are read from the rows once, and kept in a generation of their own."""
    db = Baseline(tmp_path / "db.sqlite")
    db.start_sets("pair")
    db.commit("pair", {"a": _record(1)}, [])
    db._db.execute("UPDATE sync_sets SET local = x'', pod = ? WHERE seq = -1", (b"l" + _L.digest,))
    assert not db._sets_marked("pair") and db.seen("pair") is None
    db.remember("pair", b"", _L, _P)
    assert db.seen("pair") is None
    sets = db.record_sets("pair")
    assert sets is not None and len(sets.local) == 1 and db.seen("pair") == Seen(sets.nonce)
    db.close()


def test_reading_the_sets_waits_for_no_writer(tmp_path: Path) -> None:
    """The daemon may be in the middle of a commit while `sync once` reads the sets: the read
    sees the last committed generation at once (a snapshot), without waiting for the writer."""
    db = Baseline(tmp_path / "db.sqlite")
    db.start_sets("pair")
    db.commit("pair", {"a": _record(1)}, [])
    before = db.seen("pair")
    writer = sqlite3.connect(tmp_path / "db.sqlite", timeout=0, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "INSERT INTO sync_baseline (pair, path, l_kind, r_kind) VALUES ('pair', 'b', 'file', 'file')"
    )
    db._db.execute("PRAGMA busy_timeout = 0")  # a wait would fail at once, not in 10 s
    sets = db.record_sets("pair")
    assert sets is not None and before is not None and sets.nonce == before.nonce
    assert len(sets.local) == 1
    writer.execute("ROLLBACK")
    writer.close()
    db.close()


def test_what_is_kept_with_a_digest_is_read_back_or_left_out_never_misread(
    tmp_path: Path,
) -> None:
    """Kept bytes cut short, or of an unknown side, give nothing of that side (compared again),
    never another digest or other paths."""
    from rpdevd.sync.recordsets import _read_told, _told_bytes

    both = _told_bytes(b"l", _L) + _told_bytes(b"p", _P)
    assert _read_told(both) == {b"l": _L, b"p": _P}
    for cut in range(len(both)):
        read = _read_told(both[:cut])
        assert read in ({}, {b"l": _L})
    assert _read_told(_told_bytes(b"x", _L) + _told_bytes(b"p", _P)) == {b"p": _P}
