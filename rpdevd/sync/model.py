"""Plain data shared by the sync modules: what a path is locally, on the pod, and in the baseline.

Paths are POSIX-style, relative to the sync root, never empty, never `.`/`..` components; names
that are not valid UTF-8 are carried as `str` with surrogate escapes (`os.fsdecode`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    import hashlib

Kind = Literal["file", "dir", "symlink", "other"]

# Names rpdev itself leaves on the pod (never reported as user work, cleaned up when stale).
STAGE_PREFIX = ".rpdev-stage-"
TMP_MARK = ".rpdev-tmp-"
CONFLICT_MARK = ".rpdev-conflict-"


# Named tuples, not dataclasses: a full pass builds and compares tens of thousands of these, and a
# tuple is built and compared in C (the baseline of 4000 files loads in a third of the time).
class LocalEntry(NamedTuple):
    kind: Kind
    size: int = 0
    mtime_ns: int = 0
    mode: int = 0  # permission bits only (0o777)
    ino: int = 0
    target: str = ""  # symlink target, as written

    @property
    def mtime_s(self) -> int:
        """The mtime rpdev sets on the pod: whole seconds (what SFTP v3 and ustar carry)."""
        return self.mtime_ns // 1_000_000_000


class RemoteEntry(NamedTuple):
    kind: Kind
    size: int = 0
    mtime_s: int = 0
    mode: int = 0
    target: str = ""

    def same_content(self, other: RemoteEntry) -> bool:
        """Whether two observations of a pod path show the same content (mode aside: a chmod on
        the pod is not work worth a conflict copy)."""
        if self.kind != other.kind:
            return False
        if self.kind == "dir":
            return True
        if self.kind == "symlink":
            return self.target == other.target
        return self.size == other.size and self.mtime_s == other.mtime_s


def remote_entry(kind: Kind, size: int, mtime_s: int, mode: int, target: str = "") -> RemoteEntry:
    """An observation of a pod path. A directory's size and mtime change with its entries and
    are never compared: they are kept as 0 (which is also what the pod's listers print)."""
    if kind == "dir":
        return RemoteEntry("dir", 0, 0, mode & 0o777)
    return RemoteEntry(kind, size, mtime_s, mode & 0o777, target)


class BaseRecord(NamedTuple):
    """What rpdev last wrote at a path: the local state it copied and the pod state it produced."""

    local: LocalEntry
    remote: RemoteEntry


def expected_remote(entry: LocalEntry) -> RemoteEntry:
    """The pod entry that copying `entry` produces."""
    if entry.kind == "file":
        return RemoteEntry("file", entry.size, entry.mtime_s, entry.mode)
    if entry.kind == "symlink":
        return RemoteEntry(
            "symlink",
            len(entry.target.encode("utf-8", "surrogateescape")),
            entry.mtime_s,
            0o777,
            entry.target,
        )
    return RemoteEntry(entry.kind, 0, 0, entry.mode)


def local_record(path: str, entry: LocalEntry) -> bytes:
    """`path` and `entry` as one bytes object (about 100 bytes), for comparing a whole scan with
    the baseline as sets. `Baseline.local_records` builds the same bytes in SQL."""
    return b"%s\0%s\0%d\0%d\0%d\0%d\0%s" % (
        path.encode("utf-8", "surrogateescape"),
        entry.kind.encode(),
        entry.size,
        entry.mtime_ns,
        entry.mode,
        entry.ino,
        entry.target.encode("utf-8", "surrogateescape"),
    )


def local_record_path(record: bytes) -> str:
    """The path a `local_record` names."""
    return record.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


_LOCAL_KINDS: dict[bytes, Kind] = {b"file": "file", b"dir": "dir", b"symlink": "symlink"}


def entry_from_record(record: bytes) -> tuple[str, LocalEntry]:
    """The path and entry a `local_record` holds (a symlink's target may hold NUL-free bytes
    only, as every path does, so the split is exact)."""
    path, kind, size, mtime_ns, mode, ino, target = record.split(b"\0", 6)
    return path.decode("utf-8", "surrogateescape"), LocalEntry(
        _LOCAL_KINDS.get(kind, "other"),
        int(size),
        int(mtime_ns),
        int(mode),
        int(ino),
        target.decode("utf-8", "surrogateescape"),
    )


def local_unchanged(now: LocalEntry, then: LocalEntry) -> bool:
    """Whether a local path still holds what rpdev copied (a false 'changed' only re-sends)."""
    return now == then


def is_rpdev_temp(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return TMP_MARK in name or (name.startswith(STAGE_PREFIX) and "/" not in path)


def hasher() -> hashlib._Hash:
    """What a digest of records is taken with (`ScanResult.digest`, `ListingRecords.digest`):
    equal digests, the same records in the same order (a collision is out of reach: SHA-256,
    32 bytes). Kept in the baseline beside the sets, with what comparing them told
    (`Baseline.remember`). SHA-256 rather than BLAKE2b: where the CPU has SHA instructions
    (x86 since 2017-2019, every 64-bit ARM Mac), OpenSSL's is three times as fast (a 5.8 MB
    listing of 100,000 files: 3 ms against 10), and every resync digests its walk and its
    listing."""
    import hashlib  # here: `rpdev sync once` forks its walk before it needs it

    return hashlib.sha256()
