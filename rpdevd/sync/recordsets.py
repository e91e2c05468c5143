"""A pair's record sets, kept beside its baseline rows in SQLite (table `sync_sets`), and what
comparisons with them told, kept with their generation.

The sets are every row's local record and pod record (`Baseline.local_records`,
`Baseline.pod_records`): what a whole scan and a whole listing are compared with at C speed
(`compare.py`). They are kept as chunks (seq 1, 2, ...) of records under a mark (seq -1) that
says they hold every row's records. Any change to a row drops the mark (the triggers in
`baseline.SCHEMA`, which also see what another program writes); `Baseline.commit` puts it back
with a chunk of what it wrote, while the chunks stay few. (An older rpdev kept its chunks in
another form under a mark at seq 0: neither reads the other's, each reads the sets from the
rows instead, and keeps them in its own form.)

The mark holds a nonce, new each time it is put back (the sets' generation: its `local`
column), and what comparing a scan and a listing with that generation told, with their digests
(its `pod` column: see `Seen`), so that they go with it.

Every function here works inside a transaction its caller holds (`Baseline`'s).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

MAX_SET_CHUNKS = 64  # at most: a commit past them drops the sets (read from the rows, one chunk)
# In a chunk, records are joined by SEP, so that reading them back is one split at C speed.
# No record holds three NULs in a row (its fields hold no NUL, and only one may be empty, or
# two apart: a pod record's type and link), and none ends with more than one: the first SEP
# found is always the one between two records.
SEP = b"\0\0\0/"
_MARK = -1
_SIDES = (b"l", b"p")  # a digest's side in the mark: this one (the scan's), the pod's
_DIGEST = 32  # bytes (`model.hasher`)
MAX_TOLD = 1000  # paths kept with a digest, at most


class Sets(NamedTuple):
    """A pair's record sets (`Baseline.record_sets`), and the generation they were read in."""

    local: set[bytes]
    pod: set[bytes]
    nonce: bytes


class Told(NamedTuple):
    """The digest (`model.hasher`) of a scan or a listing, and the paths its comparison with a
    generation of the sets found (none: it agreed with them everywhere)."""

    digest: bytes
    paths: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Seen:
    """The current generation of a pair's kept sets, and what a scan (`local`) and a listing
    (`pod`) compared with it were told: a scan or a listing with the same digest is told the
    same, and is not compared again (see `remember`)."""

    nonce: bytes
    local: Told | None = None
    pod: Told | None = None


def read(db: sqlite3.Connection, pair: str, local_too: bool) -> Sets | None:
    """The kept sets, while they are whole (None: not kept, or kept without a generation);
    without `local_too`, the pod's alone (the local set left empty)."""
    nonce = generation(db, pair)
    if nonce is None:
        return None
    local: set[bytes] = set()
    pod: set[bytes] = set()
    # A chunk at a time: no copy of them all at once beside the sets they fill.
    for local_chunk, pod_chunk in db.execute(
        f"SELECT {'local' if local_too else 'NULL'}, pod FROM sync_sets WHERE pair = ? AND seq > 0",
        (pair,),
    ):
        if local_chunk:
            local.update(local_chunk.split(SEP))
        if pod_chunk:
            pod.update(pod_chunk.split(SEP))
    return Sets(local, pod, nonce)


def keep(db: sqlite3.Connection, pair: str, local: set[bytes], pod: set[bytes]) -> bytes:
    """Keep the sets read from the rows, in one chunk, in a new generation."""
    db.execute("DELETE FROM sync_sets WHERE pair = ?", (pair,))
    nonce = add_chunk(db, pair, local, pod)
    assert nonce is not None  # one chunk: never past the limit
    return nonce


def start(db: sqlite3.Connection, pair: str) -> None:
    """A first sync's sets: none yet, and whole (each commit adds its chunk)."""
    db.execute("DELETE FROM sync_sets WHERE pair = ?", (pair,))
    _mark(db, pair)


def seen(db: sqlite3.Connection, pair: str) -> Seen | None:
    """The kept sets' generation and what was remembered in it (None: no sets kept, or kept
    by an rpdev that gave them no generation)."""
    row = db.execute(
        "SELECT local, pod FROM sync_sets WHERE pair = ? AND seq = ?", (pair, _MARK)
    ).fetchone()
    if row is None or not row[0]:
        return None
    told = _read_told(bytes(row[1]))
    return Seen(bytes(row[0]), told.get(_SIDES[0]), told.get(_SIDES[1]))


def remember(
    db: sqlite3.Connection, pair: str, nonce: bytes, local: Told | None, pod: Told | None
) -> None:
    """Keep what the comparison of a scan (`local`) and/or of a listing (`pod`) with the sets
    of generation `nonce` was told: only while that generation is the current one (a commit
    since, by any program, made another), and only up to MAX_TOLD paths."""
    now = seen(db, pair)
    if now is None or now.nonce != nonce:
        return
    kept = b"".join(
        _told_bytes(side, told)
        for side, told in zip(_SIDES, (local or now.local, pod or now.pod), strict=True)
        if told is not None and len(told.digest) == _DIGEST and len(told.paths) <= MAX_TOLD
    )
    db.execute("UPDATE sync_sets SET pod = ? WHERE pair = ? AND seq = ?", (kept, pair, _MARK))


def generation(db: sqlite3.Connection, pair: str) -> bytes | None:
    """The kept sets' generation; None where they are not kept whole (or marked by an rpdev
    that gave them none: read from the rows once, and kept with one)."""
    row = db.execute(
        "SELECT local FROM sync_sets WHERE pair = ? AND seq = ?", (pair, _MARK)
    ).fetchone()
    return bytes(row[0]) or None if row is not None else None


def add_chunk(
    db: sqlite3.Connection,
    pair: str,
    local: Collection[bytes],
    pod: Collection[bytes],
    removed: bool = False,
) -> bytes | None:
    """Add a chunk and mark the sets whole (their new generation), or drop them where a row
    was removed (its records would stay in the sets) or the chunks are too many (read from
    the rows again next time, in one chunk)."""
    ((last, count),) = db.execute(
        "SELECT ifnull(max(seq), 0), count(*) FROM sync_sets WHERE pair = ? AND seq > 0",
        (pair,),
    )
    if removed or count >= MAX_SET_CHUNKS:
        db.execute("DELETE FROM sync_sets WHERE pair = ?", (pair,))
        return None
    db.execute(
        "INSERT INTO sync_sets VALUES (?, ?, ?, ?)",
        (pair, last + 1, SEP.join(local), SEP.join(pod)),
    )
    return _mark(db, pair)


def _mark(db: sqlite3.Connection, pair: str) -> bytes:
    """Mark the sets whole, in a new generation (no digest remembered yet)."""
    nonce = os.urandom(16)
    db.execute("INSERT OR REPLACE INTO sync_sets VALUES (?, ?, ?, x'')", (pair, _MARK, nonce))
    return nonce


# What the mark keeps of a comparison: its side (1 byte), its digest (32), the length of its
# paths (4, big-endian), then the paths (NUL between them, none in a path).
def _told_bytes(side: bytes, told: Told) -> bytes:
    paths = b"\0".join(p.encode("utf-8", "surrogateescape") for p in sorted(told.paths))
    return side + told.digest + len(paths).to_bytes(4, "big") + paths


def _read_told(kept: bytes) -> dict[bytes, Told]:
    """What `_told_bytes` wrote, side by side; anything cut short or unknown is left out."""
    out: dict[bytes, Told] = {}
    at = 0
    while at + 1 + _DIGEST + 4 <= len(kept):
        side, digest = kept[at : at + 1], kept[at + 1 : at + 1 + _DIGEST]
        at += 1 + _DIGEST + 4
        size = int.from_bytes(kept[at - 4 : at], "big")
        if at + size > len(kept):
            break
        paths = kept[at : at + size].split(b"\0") if size else []
        at += size
        if side in _SIDES:
            out[side] = Told(digest, frozenset(p.decode("utf-8", "surrogateescape") for p in paths))
    return out
