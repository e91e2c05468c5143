"""The daemon's SQLite state: pods seen, events, per-pod settings made at run time, and small
JSON state blobs that other parts keep across restarts (idle decision state, ledger, ...).

One file (`paths.database_file()`), WAL mode so that the CLI's `sync once` and the daemon can
share it. Writes are small and synchronous; the event loop is never blocked for long.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from rpdevd.protocol import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS pods (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    snapshot TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    pod_id TEXT,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_pod ON events(pod_id, seq);
CREATE TABLE IF NOT EXISTS pod_settings (
    pod_id TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated REAL NOT NULL
);
"""

MAX_EVENTS = 20_000


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        self._inserts = 0

    def close(self) -> None:
        self.db.close()

    # pods -------------------------------------------------------------------------------
    def upsert_pod(self, pod_id: str, name: str, status: str, snapshot: dict[str, Any]) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO pods(id, name, status, first_seen, last_seen, snapshot) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name=excluded.name, "
            "status=excluded.status, last_seen=excluded.last_seen, snapshot=excluded.snapshot",
            (pod_id, name, status, now, now, json.dumps(snapshot)),
        )

    def known_pods(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT id, snapshot FROM pods").fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def forget_pod(self, pod_id: str) -> None:
        self.db.execute("DELETE FROM pods WHERE id = ?", (pod_id,))

    # events -----------------------------------------------------------------------------
    def last_seq(self) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def add_event(self, ev: Event) -> None:
        self.db.execute(
            "INSERT INTO events(seq, t, kind, pod_id, level, message, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ev.seq, ev.t, ev.kind, ev.pod_id, ev.level, ev.message, json.dumps(ev.data)),
        )
        self._inserts += 1
        if self._inserts % 500 == 0:
            self.db.execute("DELETE FROM events WHERE seq <= ?", (ev.seq - MAX_EVENTS,))

    def events(self, limit: int = 100, pod_id: str | None = None, after: int = 0) -> list[Event]:
        if pod_id:
            rows = self.db.execute(
                "SELECT seq, t, kind, pod_id, level, message, data FROM events "
                "WHERE pod_id = ? AND seq > ? ORDER BY seq DESC LIMIT ?",
                (pod_id, after, limit),
            )
        else:
            rows = self.db.execute(
                "SELECT seq, t, kind, pod_id, level, message, data FROM events "
                "WHERE seq > ? ORDER BY seq DESC LIMIT ?",
                (after, limit),
            )
        out = [
            Event(
                seq=r[0],
                t=r[1],
                kind=r[2],
                pod_id=r[3],
                level=r[4],
                message=r[5],
                data=json.loads(r[6]),
            )
            for r in rows
        ]
        out.reverse()
        return out

    # per-pod settings made at run time (policy, hold, managed) ---------------------------
    def pod_settings(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT pod_id, settings FROM pod_settings").fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def set_pod_settings(self, pod_id: str, settings: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO pod_settings(pod_id, settings, updated) VALUES (?, ?, ?) "
            "ON CONFLICT(pod_id) DO UPDATE SET settings=excluded.settings, updated=excluded.updated",
            (pod_id, json.dumps(settings), time.time()),
        )

    # small JSON state for other parts ----------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO kv(key, value, updated) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated=excluded.updated",
            (key, json.dumps(value), time.time()),
        )
