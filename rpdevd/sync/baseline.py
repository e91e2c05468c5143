"""What rpdev last wrote on the pod, per sync pair, in SQLite (tables prefixed `sync_`).

The baseline is what makes the sync safe: a pod file is rpdev's to replace or delete only while it
still matches the record. Rows are written only after the pod confirmed the write, and an
batch's manifest is recorded as its intents before the batch starts (one row, however many files),
so a crash mid-batch leaves the pod's new files recognisable as rpdev's own on the next run (no
spurious conflict copies).

The database file is shared with the daemon, so it runs in WAL mode with a busy timeout. Beside
the rows, each pair's record sets are kept (`recordsets.py`: the table `sync_sets`, which the
triggers below keep honest), read and kept here in this connection's transactions.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path

from rpdevd.sync import recordsets
from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry, local_record
from rpdevd.sync.recordsets import Seen, Sets, Told
from rpdevd.sync.remote import expected_record

SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_baseline (
    pair TEXT NOT NULL, path BLOB NOT NULL,
    l_kind TEXT NOT NULL, l_size INTEGER, l_mtime_ns INTEGER, l_mode INTEGER, l_ino INTEGER,
    l_target BLOB,
    r_kind TEXT NOT NULL, r_size INTEGER, r_mtime INTEGER, r_mode INTEGER, r_target BLOB,
    l_rec BLOB, r_rec BLOB,
    PRIMARY KEY (pair, path)
) WITHOUT ROWID;
DROP TABLE IF EXISTS sync_intent;
CREATE TABLE IF NOT EXISTS sync_intents (pair TEXT NOT NULL, manifest BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS sync_intents_pair ON sync_intents (pair);
CREATE TABLE IF NOT EXISTS sync_pair (
    pair TEXT PRIMARY KEY, local TEXT, dest TEXT, remote TEXT,
    last_sync REAL, last_error TEXT, updated REAL
);
CREATE TABLE IF NOT EXISTS sync_sets (
    pair TEXT NOT NULL, seq INTEGER NOT NULL, local BLOB NOT NULL, pod BLOB NOT NULL,
    PRIMARY KEY (pair, seq)
);
-- Any change to a row, by any program, drops the pair's kept sets' mark (see recordsets.py).
CREATE TRIGGER IF NOT EXISTS sync_sets_ins AFTER INSERT ON sync_baseline
    BEGIN DELETE FROM sync_sets WHERE pair = NEW.pair AND seq = 0; END;
CREATE TRIGGER IF NOT EXISTS sync_sets_upd AFTER UPDATE ON sync_baseline
    BEGIN DELETE FROM sync_sets WHERE pair IN (NEW.pair, OLD.pair) AND seq = 0; END;
CREATE TRIGGER IF NOT EXISTS sync_sets_del AFTER DELETE ON sync_baseline
    BEGIN DELETE FROM sync_sets WHERE pair = OLD.pair AND seq = 0; END;
CREATE TRIGGER IF NOT EXISTS sync_sets_ins_2 AFTER INSERT ON sync_baseline
    BEGIN DELETE FROM sync_sets WHERE pair = NEW.pair AND seq < 0; END;
CREATE TRIGGER IF NOT EXISTS sync_sets_upd_2 AFTER UPDATE ON sync_baseline
    BEGIN DELETE FROM sync_sets WHERE pair IN (NEW.pair, OLD.pair) AND seq < 0; END;
CREATE TRIGGER IF NOT EXISTS sync_sets_del_2 AFTER DELETE ON sync_baseline
    BEGIN DELETE FROM sync_sets WHERE pair = OLD.pair AND seq < 0; END;
"""

INTENTS_ROW = 1 << 20  # bytes of a batch's manifest a row of its intents holds, about
ROWS_PER_STATEMENT = 256  # rows written by one statement, at most (see `_per_statement`)
_ROW = "(" + ",".join("?" * 15) + ")"  # a row of sync_baseline's 15 columns


class Baseline:
    """One SQLite connection; not shared across threads."""

    def __init__(self, db_path: Path | None = None) -> None:
        if db_path is None:
            from rpdevd import paths

            db_path = paths.database_file()
            paths.ensure_private_dir(db_path.parent)
        self.path = db_path
        # One user at a time, but not always from one thread: the live sync looks paths up
        # from the worker thread that stats them, while the event loop waits for it.
        self._db = sqlite3.connect(
            str(db_path), timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sync_baseline)")}
        if "l_rec" not in columns:  # a database from before the records were kept
            self._db.execute("ALTER TABLE sync_baseline ADD COLUMN l_rec BLOB")
            self._db.execute("ALTER TABLE sync_baseline ADD COLUMN r_rec BLOB")

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _key(path: str) -> bytes:
        # Paths are stored as their raw bytes, so names that are not UTF-8 round-trip exactly.
        return path.encode("utf-8", "surrogateescape")

    @staticmethod
    def _path(key: bytes) -> str:
        return key.decode("utf-8", "surrogateescape")

    def load(self, pair: str) -> dict[str, BaseRecord]:
        rows = self._db.execute(
            "SELECT path, l_kind, l_size, l_mtime_ns, l_mode, l_ino, l_target,"
            " r_kind, r_size, r_mtime, r_mode, r_target FROM sync_baseline WHERE pair = ?",
            (pair,),
        )
        # Built with tuple.__new__ (a named tuple's own __new__ runs Python code), one kind
        # string per kind and one empty target: 100,000 rows load in a third of the time.
        new = tuple.__new__
        kinds: dict[str, str] = {}
        out = {}
        for path, lk, ls, lm, lmode, ino, lt, rk, rs, rm, rmode, rt in rows:
            lk = kinds.setdefault(lk, lk)
            rk = kinds.setdefault(rk, rk)
            ltarget = lt.decode("utf-8", "surrogateescape") if lt else ""
            rtarget = rt.decode("utf-8", "surrogateescape") if rt else ""
            out[path.decode("utf-8", "surrogateescape")] = new(
                BaseRecord,
                (
                    new(LocalEntry, (lk, ls, lm, lmode, ino, ltarget)),
                    new(RemoteEntry, (rk, rs, rm, rmode, rtarget)),
                ),
            )
        return out

    def get(self, pair: str, path: str) -> BaseRecord | None:
        """One path's record (None: rpdev wrote nothing there), by the primary key."""
        row = self._db.execute(
            "SELECT l_kind, l_size, l_mtime_ns, l_mode, l_ino, l_target,"
            " r_kind, r_size, r_mtime, r_mode, r_target FROM sync_baseline"
            " WHERE pair = ? AND path = ?",
            (pair, self._key(path)),
        ).fetchone()
        if row is None:
            return None
        lk, ls, lm, lmode, ino, lt, rk, rs, rm, rmode, rt = row
        return BaseRecord(
            LocalEntry(lk, ls, lm, lmode, ino, lt.decode("utf-8", "surrogateescape") if lt else ""),
            RemoteEntry(rk, rs, rm, rmode, rt.decode("utf-8", "surrogateescape") if rt else ""),
        )

    def paths_under(self, pair: str, directory: str) -> list[str]:
        """The paths recorded below `directory` (a range of the primary key: '0' follows
        '/')."""
        lo = self._key(directory) + b"/"
        hi = self._key(directory) + b"0"
        return [
            self._path(key)
            for (key,) in self._db.execute(
                "SELECT path FROM sync_baseline WHERE pair = ? AND path >= ? AND path < ?",
                (pair, lo, hi),
            )
        ]

    def paths(self, pair: str) -> Iterator[str]:
        for (key,) in self._db.execute("SELECT path FROM sync_baseline WHERE pair = ?", (pair,)):
            yield self._path(key)

    def load_paths(self, pair: str, paths: Collection[str]) -> dict[str, BaseRecord]:
        """The records of `paths` alone (those rpdev wrote): by key for a few, else the whole
        pair's rows read and filtered."""
        if len(paths) > 2000:
            return {p: b for p, b in self.load(pair).items() if p in paths}
        return {p: b for p in paths if (b := self.get(pair, p)) is not None}

    def has_rows(self, pair: str) -> bool:
        """Whether anything is recorded for the pair."""
        row = self._db.execute("SELECT 1 FROM sync_baseline WHERE pair = ? LIMIT 1", (pair,))
        return row.fetchone() is not None

    def count(self, pair: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM sync_baseline WHERE pair = ?", (pair,))
        return int(row.fetchone()[0])

    def local_records(self, pair: str) -> Iterator[bytes | None]:
        """Every path's local record (`model.local_record`, kept with each row; built by SQLite
        for rows written before), one at a time: for telling at C speed whether a scan still
        equals the baseline, without loading it (a row that cannot be built gives None, which
        no scan holds)."""
        return self._bytes_rows(
            "SELECT ifnull(l_rec, path || x'00' || l_kind || x'00' || l_size || x'00' ||"
            " l_mtime_ns || x'00' || l_mode || x'00' || l_ino || x'00' || ifnull(l_target, x''))"
            " FROM sync_baseline WHERE pair = ?",
            pair,
        )

    def pod_records(self, pair: str) -> Iterator[bytes | None]:
        """Every path's listing record as the pod prints it while it holds what rpdev wrote
        there (`remote.expected_record`, kept with each row; built by SQLite for rows written
        before), one at a time."""
        return self._bytes_rows(
            "SELECT ifnull(r_rec, CASE r_kind WHEN 'file' THEN 'f' WHEN 'dir' THEN 'd'"
            " WHEN 'symlink' THEN 'l' ELSE '' END || x'00' || CASE r_kind WHEN 'dir' THEN '0'"
            " ELSE r_size END || x'00' || printf('%o', r_mode) || x'00' || CASE r_kind"
            " WHEN 'dir' THEN '0' ELSE r_mtime END || x'00' || ifnull(r_target, x'') || x'00'"
            " || path || x'00') FROM sync_baseline WHERE pair = ?",
            pair,
        )

    def _bytes_rows(self, sql: str, pair: str) -> Iterator[bytes | None]:
        # Concatenations are TEXT to SQLite; read as bytes (rows are converted as they are
        # fetched), names that are not UTF-8 survive. Read to the end before other queries.
        self._db.text_factory = bytes
        try:
            for (rec,) in self._db.execute(sql, (pair,)):
                yield rec
        finally:
            self._db.text_factory = str

    def load_intents(self, pair: str) -> dict[str, RemoteEntry]:
        """What unfinished batches were about to write (see `podops.manifest_intents`)."""
        from rpdevd.sync.podops import manifest_intents

        out: dict[str, RemoteEntry] = {}
        for (manifest,) in self._db.execute(
            "SELECT manifest FROM sync_intents WHERE pair = ? ORDER BY rowid", (pair,)
        ):
            out.update(manifest_intents(manifest))
        return out

    def add_intents(self, pair: str, manifest: bytes | bytearray, cuts: Iterable[int] = ()) -> None:
        """Record a batch's manifest before any of it runs, in one transaction. `cuts`: where
        its parts end (each part whole records); a big manifest is kept as several rows of
        whole parts, up to INTENTS_ROW bytes each where the parts allow (SQLite builds each
        row in memory: one row of 7 MB cost `sync once` as much again at its peak)."""
        bounds, start, end = [], 0, 0
        for cut in (*cuts, len(manifest)):
            if cut - start > INTENTS_ROW and end > start:
                bounds.append((start, end))
                start = end
            end = cut
        bounds.append((start, len(manifest)))
        with self._tx(), memoryview(manifest) as view:  # rows bound from it, not copied
            self._db.executemany(
                "INSERT INTO sync_intents VALUES (?, ?)", [(pair, view[a:b]) for a, b in bounds]
            )

    def commit(
        self,
        pair: str,
        upserts: dict[str, BaseRecord],
        removals: Iterable[str],
        clear_intents: bool = True,
    ) -> bytes | None:
        """Record a finished batch in one transaction (and keep the pair's record sets whole:
        a chunk of what it wrote, or, after a removal, none until they are read again).
        Returns the sets' generation after it (None: they are not kept whole)."""
        removals = list(removals)
        with self._tx():
            marked = self._sets_marked(pair)
            rows = [  # a batch at a time (the bulk stream commits every few thousand)
                (
                    pair,
                    self._key(p),
                    b.local.kind,
                    b.local.size,
                    b.local.mtime_ns,
                    b.local.mode,
                    b.local.ino,
                    b.local.target.encode("utf-8", "surrogateescape"),
                    b.remote.kind,
                    b.remote.size,
                    b.remote.mtime_s,
                    b.remote.mode,
                    b.remote.target.encode("utf-8", "surrogateescape"),
                    local_record(p, b.local),
                    expected_record(p, b.remote),
                )
                for p, b in upserts.items()
            ]
            per = self._per_statement(15)
            for at in range(0, len(rows), per):
                part = rows[at : at + per]
                self._db.execute(
                    "INSERT OR REPLACE INTO sync_baseline VALUES " + ",".join([_ROW] * len(part)),
                    [value for row in part for value in row],
                )
            keys = [self._key(p) for p in removals]
            per = self._per_statement(1, also=1)  # and the pair
            for at in range(0, len(keys), per):
                gone = keys[at : at + per]
                marks = ",".join("?" * len(gone))
                self._db.execute(
                    f"DELETE FROM sync_baseline WHERE pair = ? AND path IN ({marks})", [pair, *gone]
                )
            if clear_intents:
                self._db.execute("DELETE FROM sync_intents WHERE pair = ?", (pair,))
            if marked and rows:
                return recordsets.add_chunk(
                    self._db,
                    pair,
                    [r[13] for r in rows],
                    [r[14] for r in rows],
                    removed=bool(removals),
                )
            return recordsets.generation(self._db, pair)

    def _per_statement(self, values: int, also: int = 0) -> int:
        """Rows of `values` values each written by one statement. Many to a statement, not one
        (`executemany`): SQLite is stepped once per statement, and at each step the sqlite3
        module lets go of Python's interpreter lock and takes it back. Beside a thread that
        wants the lock (the bulk stream's sender), each takeback may wait for that thread's
        turn to end: beside a thread busy in Python, 100,000 rows took 546 s at one a row and
        5 s at 256 a statement (400 steps). Within SQLite's limit on values a statement
        (`also`: values of the statement's own)."""
        limit = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - also
        return max(1, min(ROWS_PER_STATEMENT, limit // values))

    # ----- record sets -------------------------------------------------------------------

    def record_sets(self, pair: str, local_too: bool = True) -> Sets | None:
        """Every row's local record and pod record (`local_records`, `pod_records`) as two
        sets, for comparing a whole scan and a whole listing at C speed. Read from the kept
        chunks (a few large reads) while they are whole; otherwise from the rows, and kept
        for the next time. They may also hold records of a row that was changed since (that
        path is planned on each pass, for nothing), never miss one of a row. None when a row
        gives no record. Without `local_too` the local set may come back empty (not read from
        the kept chunks: a scan told by its digest needs none)."""
        with self._tx(read=True):  # the mark and its chunks as of one moment
            kept = recordsets.read(self._db, pair, local_too)
        if kept is not None:
            return kept
        with self._tx():  # rows read and sets kept as one: no write in between
            mine = set(self.local_records(pair))
            theirs = set(self.pod_records(pair))
            if None in mine or None in theirs:
                return None
            nonce = recordsets.keep(self._db, pair, mine, theirs)  # type: ignore[arg-type]
        return Sets(mine, theirs, nonce)  # type: ignore[arg-type]  # no None in either

    def seen(self, pair: str) -> Seen | None:
        """The kept sets' generation and what was remembered in it (None: no sets kept, or
        kept by an rpdev that gave them no generation)."""
        return recordsets.seen(self._db, pair)

    def remember(self, pair: str, nonce: bytes, local: Told | None, pod: Told | None) -> None:
        """Keep what the comparison of a scan (`local`) and/or of a listing (`pod`) with the
        sets of generation `nonce` was told: only while that generation is the current one (a
        commit since, by any program, made another), and only up to MAX_TOLD paths."""
        with self._tx():
            recordsets.remember(self._db, pair, nonce, local, pod)

    def start_sets(self, pair: str) -> None:
        """A first sync of `pair` begins: its (empty) record sets are whole, and each commit
        adds its chunk, so the first resync reads them without reading every row."""
        with self._tx():
            if not self.has_rows(pair):
                recordsets.start(self._db, pair)

    def _sets_marked(self, pair: str) -> bool:
        return recordsets.generation(self._db, pair) is not None

    def forget(self, pair: str) -> None:
        with self._tx():
            for table in ("sync_baseline", "sync_intents", "sync_pair", "sync_sets"):
                self._db.execute(f"DELETE FROM {table} WHERE pair = ?", (pair,))

    def set_pair(
        self,
        pair: str,
        local: str,
        dest: str,
        remote: str,
        last_sync: float | None = None,
        last_error: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO sync_pair VALUES (?,?,?,?,?,?,?) ON CONFLICT(pair) DO UPDATE SET"
            " local=excluded.local, dest=excluded.dest, remote=excluded.remote,"
            " last_sync=COALESCE(excluded.last_sync, sync_pair.last_sync),"
            " last_error=excluded.last_error, updated=excluded.updated",
            (pair, local, dest, remote, last_sync, last_error, time.time()),
        )

    def pairs(self) -> list[dict[str, object]]:
        cur = self._db.execute(
            "SELECT p.pair, p.local, p.dest, p.remote, p.last_sync, p.last_error,"
            " (SELECT COUNT(*) FROM sync_baseline b WHERE b.pair = p.pair)"
            " FROM sync_pair p ORDER BY p.pair"
        )
        keys = ("pair", "local", "dest", "remote", "last_sync", "last_error", "files")
        return [dict(zip(keys, row, strict=True)) for row in cur]

    def _tx(self, read: bool = False) -> _Tx:
        return _Tx(self._db, read)


class PairRecords(Mapping[str, BaseRecord]):
    """One pair's baseline, read from SQLite path by path (nothing of it held in memory): what
    the live sync looks up for the few paths of a batch."""

    def __init__(self, baseline: Baseline, pair: str) -> None:
        self.baseline = baseline
        self.pair = pair

    def __getitem__(self, path: str) -> BaseRecord:
        rec = self.baseline.get(self.pair, path)
        if rec is None:
            raise KeyError(path)
        return rec

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.baseline.get(self.pair, path) is not None

    def __iter__(self) -> Iterator[str]:
        return self.baseline.paths(self.pair)

    def __len__(self) -> int:
        return self.baseline.count(self.pair)

    def under(self, directory: str) -> list[str]:
        """The recorded paths below `directory`."""
        return self.baseline.paths_under(self.pair, directory)


class _Tx:
    """A transaction: a writer's (others wait for it), or a reader's (one snapshot)."""

    def __init__(self, db: sqlite3.Connection, read: bool = False) -> None:
        self.db = db
        self.read = read

    def __enter__(self) -> None:
        self.db.execute("BEGIN" if self.read else "BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
