"""What the pull landed here, per pull pair, in the same SQLite file as the push's baseline.

Tables `sync_pulled` (one row per file landed: the pod's size and mtime as listed, the local
mtime after landing) and `sync_pull_pair` (the pair's local folder and its patterns, so that a
push from that folder, `rpdev sync` or the daemon's, leaves the pulled paths out). A row is
written only after the file is in place, so an interrupted pull is simply done again.
`forget` drops a pair's rows (`rpdev pull --forget`); the files stay as they are.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from rpdevd.sync.pullplan import Pulled, push_excludes

SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_pulled (
    pair TEXT NOT NULL, path BLOB NOT NULL,
    pod_size INTEGER NOT NULL, pod_mtime INTEGER NOT NULL,
    local_size INTEGER NOT NULL, local_mtime_ns INTEGER NOT NULL,
    PRIMARY KEY (pair, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_pull_pair (
    pair TEXT PRIMARY KEY, local TEXT NOT NULL, patterns TEXT NOT NULL, updated REAL
);
"""


def _key(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def _patterns(stored: str) -> tuple[str, ...]:
    """A pair's patterns as `set_pair` stored them (none from a row that does not read)."""
    try:
        return tuple(str(p) for p in json.loads(stored))
    except (ValueError, TypeError):
        return ()


class Forgotten(NamedTuple):
    """What `PullBaseline.forget` dropped: the pair, how many landed files it knew, its
    patterns."""

    pair: str
    files: int
    patterns: tuple[str, ...]


class PullBaseline:
    """One SQLite connection; not shared across threads."""

    def __init__(self, db_path: Path | None = None) -> None:
        if db_path is None:
            from rpdevd import paths

            db_path = paths.database_file()
            paths.ensure_private_dir(db_path.parent)
        self.path = db_path
        self._db = sqlite3.connect(str(db_path), timeout=10.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def load(self, pair: str) -> dict[str, Pulled]:
        rows = self._db.execute(
            "SELECT path, pod_size, pod_mtime, local_size, local_mtime_ns FROM sync_pulled"
            " WHERE pair = ?",
            (pair,),
        )
        return {path.decode("utf-8", "surrogateescape"): Pulled(*rec) for path, *rec in rows}

    def record(self, pair: str, landed: Mapping[str, Pulled], forget: Iterable[str] = ()) -> None:
        """Record files landed (or found equal) and drop rows, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO sync_pulled VALUES (?,?,?,?,?,?)",
                [(pair, _key(p), *rec) for p, rec in landed.items()],
            )
            self._db.executemany(
                "DELETE FROM sync_pulled WHERE pair = ? AND path = ?",
                [(pair, _key(p)) for p in forget],
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def set_pair(self, pair: str, local: Path, patterns: Iterable[str]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO sync_pull_pair VALUES (?,?,?,?)",
            (pair, str(local), json.dumps(list(patterns)), time.time()),
        )

    def forget(self, pair: str) -> Forgotten | None:
        """Drop everything remembered of one pull pair: its landed files and its patterns, in
        one transaction. None when nothing was remembered. Files are never touched: only what
        rpdev knows of them goes."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT patterns FROM sync_pull_pair WHERE pair = ?", (pair,)
            ).fetchone()
            files = self._db.execute("DELETE FROM sync_pulled WHERE pair = ?", (pair,)).rowcount
            self._db.execute("DELETE FROM sync_pull_pair WHERE pair = ?", (pair,))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        if row is None and not files:
            return None
        return Forgotten(pair, files, _patterns(row[0]) if row else ())

    def pairs_into(self, local: Path) -> list[tuple[str, tuple[str, ...]]]:
        """(pair, patterns) of every pull remembered as landing in `local`."""
        rows = self._db.execute(
            "SELECT pair, patterns FROM sync_pull_pair WHERE local = ? ORDER BY pair",
            (str(local),),
        )
        return [(pair, _patterns(patterns)) for pair, patterns in rows]

    def excludes_for(self, push_root: Path) -> tuple[str, ...]:
        """Ignore lines for a push from `push_root`: the patterns of every pull that lands in
        it or below it, re-anchored there (see `pullplan.push_excludes`)."""
        root = str(push_root)
        out: list[str] = []
        for local, patterns in self._db.execute(
            "SELECT local, patterns FROM sync_pull_pair ORDER BY pair"
        ):
            rel = os.path.relpath(local, root)
            if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
                continue
            lines = _patterns(patterns)
            if not lines:
                continue
            out += push_excludes(lines, "" if rel == os.curdir else rel.replace(os.sep, "/"))
        return tuple(out)


def push_excludes_for(push_root: Path, db_path: Path | None = None) -> tuple[str, ...]:
    """`PullBaseline.excludes_for` on a connection of its own (empty where no database is)."""
    path = db_path
    if path is None:
        from rpdevd import paths

        path = paths.database_file()
    if not path.exists():
        return ()
    base = PullBaseline(path)
    try:
        return base.excludes_for(push_root)
    finally:
        base.close()
