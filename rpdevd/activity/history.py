"""Activity samples kept in SQLite with bounded retention, for `rpdev idle export POD`.

Lives in the daemon's database (pass `Store.db`) or any sqlite3 connection. Bounded two ways: by
age (`max_age`, default 7 days) and by count per pod (`max_per_pod`, default 20 000, two weeks at
one sample a minute), pruned every `prune_every` inserts so an insert stays cheap.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

from rpdevd.activity.samples import Sample

SCHEMA = """
CREATE TABLE IF NOT EXISTS activity_samples (
    pod_id TEXT NOT NULL,
    t REAL NOT NULL,
    sample TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_samples_pod_t ON activity_samples(pod_id, t);
"""


class SampleHistory:
    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        max_age: float = 7 * 86400.0,
        max_per_pod: int = 20_000,
        prune_every: int = 100,
    ) -> None:
        self.db = db
        self.max_age = max_age
        self.max_per_pod = max_per_pod
        self.prune_every = max(1, prune_every)
        self._since_prune: dict[str, int] = {}
        self.db.executescript(SCHEMA)

    def add(self, pod_id: str, sample: Sample) -> None:
        self.db.execute(
            "INSERT INTO activity_samples(pod_id, t, sample) VALUES (?, ?, ?)",
            (pod_id, sample.t, json.dumps(sample.to_json())),
        )
        n = self._since_prune.get(pod_id, 0) + 1
        self._since_prune[pod_id] = n
        if n >= self.prune_every:
            self.prune(pod_id, now=sample.t)
        if self.db.in_transaction:
            self.db.commit()

    def prune(self, pod_id: str, *, now: float) -> None:
        self._since_prune[pod_id] = 0
        self.db.execute(
            "DELETE FROM activity_samples WHERE pod_id = ? AND t < ?", (pod_id, now - self.max_age)
        )
        self.db.execute(
            "DELETE FROM activity_samples WHERE pod_id = ? AND t <= (SELECT t FROM "
            "activity_samples WHERE pod_id = ? ORDER BY t DESC LIMIT 1 OFFSET ?)",
            (pod_id, pod_id, self.max_per_pod),
        )

    def samples(self, pod_id: str, *, since: float | None = None) -> Iterator[Sample]:
        """A pod's samples, oldest first; rows that no longer parse are skipped."""
        rows = self.db.execute(
            "SELECT sample FROM activity_samples WHERE pod_id = ? AND t >= ? ORDER BY t",
            (pod_id, since if since is not None else 0.0),
        )
        for (text,) in rows:
            try:
                yield Sample.from_json(json.loads(text))
            except ValueError:
                continue

    def count(self, pod_id: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM activity_samples WHERE pod_id = ?", (pod_id,)
        ).fetchone()
        return int(row[0])

    def forget(self, pod_id: str) -> None:
        self.db.execute("DELETE FROM activity_samples WHERE pod_id = ?", (pod_id,))
        if self.db.in_transaction:
            self.db.commit()
