"""The bulk stream: one batch's ops and the bytes of its files, for the pod-side receiver.

    <length>\\n<manifest>          the batch's ops, in order (podops.encode_manifest)
    then, per file put, in manifest order, either
    <size> <mode, octal> <mtime>\\n<size bytes>=<n>\\n   the file as read here; n: its stage name
    <size> <mode, octal> <mtime>\\n<size bytes>!<n>\\n   a read failed part-way: drop it
    <size> <mode, octal> <mtime> <k>\\n then k times <offset> <length>\\n<length bytes>,
        then =<n>\\n or !<n>\\n                        a sparse file: its data, not its holes
    -\\n                                                  not read (vanished, unreadable): skip it

The `=<n>` line after each file lets the receiver check that the bytes ended where the frame
said; a stream out of step (a bug, bytes lost or added in transit) stops it before anything
more lands. A file whose read fails part-way (an I/O error, a mount gone) is padded to its
frame's size and ends with `!<n>`: the receiver drops it, and it is reported as unreadable
(`BulkJob.unreadable`), as is one that cannot be opened. Only a file that is gone is missing.

A sparse file (fewer blocks allocated than its size says) goes as its data extents
(`SEEK_DATA`/`SEEK_HOLE`); the receiver writes each at its offset and sets the size, so its holes
stay holes on the pod and cost neither the wire nor the pod's disk.

The receiver (pod_receiver.py, sent as `podops.RECEIVER`) acts on each op as soon as its bytes
are in, so files land while later ones are still on the wire. Built in a worker thread. Each
file's size, mode and mtime are taken when it is opened; a file that shrinks while it is read is
padded with zeros and reported as torn (sent again on the next pass), one that grows is cut at
the size taken at open.
"""

from __future__ import annotations

import errno
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from rpdevd.sync import podops
from rpdevd.sync.localdirs import SWAPPED, Below, Swapped
from rpdevd.sync.model import STAGE_PREFIX, LocalEntry
from rpdevd.sync.plan import Op
from rpdevd.sync.readahead import EVERY, Readahead
from rpdevd.sync.scan import entry_from_stat

CHUNK = 1 << 20
FLUSH = 256 << 10


@dataclass
class BulkJob:
    """Which local files go into the stream, after which manifest."""

    root: Path
    stage: str  # the receiver's staging directory, relative to the remote root
    files: list[str]  # relative paths, in the order of the manifest's file puts
    manifest: bytes | bytearray  # written as it is, and kept as the batch's intents
    planned: list[LocalEntry | None] = field(default_factory=list)  # per file: as scanned
    sent: dict[str, LocalEntry] = field(default_factory=dict)  # the state actually read
    torn: set[str] = field(default_factory=set)  # changed while read: send again
    missing: set[str] = field(default_factory=set)  # not landed: gone, or unreadable
    unreadable: dict[str, str] = field(default_factory=dict)  # path -> why it could not be read
    bytes_done: int = 0
    files_done: int = 0
    cuts: list[int] = field(default_factory=list)  # where the manifest's parts end (JobParts)


def bulk_job(local_root: Path, ops: list[Op]) -> BulkJob:
    """The job for a batch: file puts staged by number, symlinks by a per-op suffix."""
    parts = JobParts(local_root)
    parts.add(ops)
    return parts.job()


class JobParts:
    """A batch's job made a part of its ops at a time (a first sync's, as its plan is made
    while the tree is walked: `plan.FreshPlan`), the same as `bulk_job` of them all."""

    def __init__(self, local_root: Path) -> None:
        self.root = local_root
        self.ops = 0  # ops added so far
        self._files: list[str] = []
        self._planned: list[LocalEntry | None] = []
        self._manifest = bytearray()
        self._cuts: list[int] = []

    def add(self, ops: list[Op]) -> None:
        """The next ops of the batch, in the order they run."""
        # Numbered as the stream numbers them: file puts in order, on from the parts before.
        podops.encode_into(self._manifest, ops, first_file=len(self._files), first_op=self.ops)
        self._cuts.append(len(self._manifest))
        puts = [op for op in ops if op.kind == "put" and op.local and op.local.kind == "file"]
        self._files += [op.path for op in puts]
        self._planned += [op.local for op in puts]
        self.ops += len(ops)

    def job(self) -> BulkJob:
        """The job of the ops added. Its manifest is the one buffer the parts were written
        into, not a copy (7 MB at 100,000 files): add nothing once it is made."""
        stage = STAGE_PREFIX + secrets.token_hex(6)
        job = BulkJob(self.root, stage, self._files, self._manifest, self._planned)
        job.cuts = self._cuts
        return job


_GONE = (errno.ENOENT, errno.ENOTDIR)
Extents = list[tuple[int, int]]  # (offset, length) of each stretch of data


def data_extents(fd: int, st: os.stat_result) -> Extents | None:
    """Where a sparse file's data lies; None for a file without holes (or where the system
    cannot tell), which goes whole."""
    size = st.st_size
    blocks = getattr(st, "st_blocks", None)
    seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
    if not size or blocks is None or blocks * 512 >= size or seek_data is None or seek_hole is None:
        return None
    out: Extents = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, seek_data)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # nothing but a hole from here to the end
                    break
                raise
            if start >= size:
                break
            end = min(os.lseek(fd, start, seek_hole), size)
            out.append((start, end - start))
            pos = end
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        return None
    return out


def _members(job: BulkJob) -> Iterator[tuple[bytes, int, int, str, int, Extents | None]]:
    """Per file: (frame header, open fd or -1, size, path, number, data extents of a sparse
    file). The consumer writes the body (`_body`) and the end mark (`_mark`) between two
    steps; the file is checked for changes and closed on the next step."""
    root = str(job.root)
    ahead = Readahead(root, job.files, job.planned)
    dirs = Below(root)
    try:
        yield from _opened(job, dirs, ahead)
    finally:
        ahead.close()
        dirs.close()


def _opened(
    job: BulkJob, dirs: Below, ahead: Readahead
) -> Iterator[tuple[bytes, int, int, str, int, Extents | None]]:
    # The hot loop of a first sync (every file of the tree): the scan's entry kept without
    # building another where the file is as scanned.
    # O_NONBLOCK: a path that became a FIFO must not block the open (it is then refused below,
    # as not a file); regular files ignore the flag.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    planned_all = job.planned
    known = len(planned_all)
    every = EVERY
    for n, rel in enumerate(job.files):
        try:
            where, name = dirs.parent(rel)
            fd = os.open(name, flags, dir_fd=where)
        except Swapped:
            job.unreadable[rel] = SWAPPED  # never read through, and said
            job.missing.add(rel)
            yield b"-\n", -1, 0, rel, n, None
            continue
        except OSError as exc:
            if exc.errno not in _GONE:  # there, but not readable: say so, never skip quietly
                job.unreadable[rel] = exc.strerror or type(exc).__name__
            job.missing.add(rel)
            yield b"-\n", -1, 0, rel, n, None
            continue
        try:
            if n % every == 0:
                ahead.probe(fd, n)  # not in memory: the files after it are read ahead
            st = os.fstat(fd)
            size = st.st_size
            planned = planned_all[n] if n < known else None
            if (
                planned is not None
                and S_ISREG(st.st_mode)
                and planned.mtime_ns == st.st_mtime_ns
                and planned.size == size
                and planned.ino == st.st_ino
                and planned.mode == st.st_mode & 0o777
                and planned.kind == "file"
            ):
                entry = planned  # as scanned (the usual case): kept, not built again
            else:
                now = entry_from_stat(st)  # changed since the scan (or not scanned)
                if now is None or now.kind != "file":
                    job.missing.add(rel)
                    yield b"-\n", -1, 0, rel, n, None
                    continue
                entry = now
            header = b"%d %o %d\n" % (size, entry.mode, entry.mtime_ns // 1_000_000_000)
            extents = data_extents(fd, st) if st.st_blocks * 512 < size else None
            if extents is not None:
                header = header[:-1] + b" %d\n" % len(extents)
            yield header, fd, size, rel, n, extents
            if rel in job.unreadable:
                job.missing.add(rel)
                continue
            after = os.fstat(fd)
            if after.st_mtime_ns != st.st_mtime_ns or after.st_size != size:
                job.torn.add(rel)
            job.sent[rel] = entry
            job.files_done += 1
        finally:
            os.close(fd)


def _mark(job: BulkJob, rel: str, n: int) -> bytes:
    """The line after a file's bytes: `=n` when they are the file's, `!n` when a read failed."""
    return b"%s%d\n" % (b"!" if rel in job.unreadable else b"=", n)


def _read_into(job: BulkJob, fd: int, rel: str, size: int) -> Iterator[bytes]:
    """`size` bytes of the open file, padded with zeros if it shrank (torn: sent again) or if a
    read failed (unreadable: the receiver drops it)."""
    left = size
    while left > 0:
        try:
            data = os.read(fd, min(CHUNK, left))
        except OSError as exc:
            job.unreadable[rel] = exc.strerror or type(exc).__name__
            data = b""
        if not data:
            if rel not in job.unreadable:
                job.torn.add(rel)
            while left > 0:
                pad = min(CHUNK, left)
                left -= pad
                yield bytes(pad)
            return
        left -= len(data)
        job.bytes_done += len(data)
        yield data


def _sparse(job: BulkJob, fd: int, rel: str, size: int, extents: Extents) -> Iterator[bytes]:
    """A sparse file's body: each data extent, framed by its offset and length."""
    for offset, length in extents:
        yield b"%d %d\n" % (offset, length)
        os.lseek(fd, offset, os.SEEK_SET)
        yield from _read_into(job, fd, rel, length)
    job.bytes_done += size - sum(length for _, length in extents)  # the holes: done too


def _body(job: BulkJob, fd: int, rel: str, size: int, extents: Extents | None) -> Iterator[bytes]:
    return (
        _read_into(job, fd, rel, size) if extents is None else _sparse(job, fd, rel, size, extents)
    )


def chunks(job: BulkJob) -> Iterator[bytes]:
    """The stream, in chunks of at least FLUSH bytes (blocking reads: run it in a thread)."""
    yield b"%d\n" % len(job.manifest)
    yield bytes(job.manifest)  # a channel's writer takes bytes
    buf = bytearray()
    for header, fd, size, rel, n, extents in _members(job):
        buf += header
        if fd < 0:
            continue
        for data in _body(job, fd, rel, size, extents):
            if len(data) >= FLUSH:
                # Big reads go out as they are: no copy through the buffer.
                if buf:
                    yield bytes(buf)
                    buf.clear()
                yield data
            else:
                buf += data
        buf += _mark(job, rel, n)
        if len(buf) >= FLUSH:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


def _write_all(out: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(out, view) :]


def send(job: BulkJob, out: int, prefix: bytes = b"") -> None:
    """Write `prefix` and the whole stream to the blocking descriptor `out` (a pipe). Bodies of
    FLUSH bytes or more go with sendfile (no copy through this process); smaller ones are
    gathered into one write."""
    _write_all(out, prefix + b"%d\n" % len(job.manifest))
    _write_all(out, job.manifest)  # as it is: no copy of a manifest of 10 MB
    buf = bytearray()
    for header, fd, size, rel, n, extents in _members(job):
        buf += header
        if fd < 0:
            continue
        if extents is not None:  # sparse: its data extents, read and written
            for data in _sparse(job, fd, rel, size, extents):
                if len(data) >= FLUSH:
                    _write_all(out, buf)
                    buf.clear()
                    _write_all(out, data)
                else:
                    buf += data
        elif size < FLUSH:
            # One read takes a small file whole (the usual case); what a short or failed read
            # leaves, the careful loop reads, pads and reports.
            try:
                whole = os.read(fd, size)
            except OSError:
                whole = b""
            buf += whole
            job.bytes_done += len(whole)
            if len(whole) < size:
                for data in _read_into(job, fd, rel, size - len(whole)):
                    buf += data
        else:
            _write_all(out, buf)
            buf.clear()
            offset = _sendfile(job, out, fd, rel, size) if _SENDFILE else 0
            if offset < size:  # no sendfile here: read and write the rest
                os.lseek(fd, offset, os.SEEK_SET)
                for data in _read_into(job, fd, rel, size - offset):
                    _write_all(out, data)
        buf += _mark(job, rel, n)
        if len(buf) >= FLUSH:
            _write_all(out, buf)
            buf.clear()
    _write_all(out, buf)


# sendfile into a pipe is a Linux feature (macOS sends only to sockets).
_SENDFILE = sys.platform.startswith("linux")
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK}


def _sendfile(job: BulkJob, out: int, fd: int, rel: str, size: int) -> int:
    """Send what sendfile will of the file's `size` bytes; returns how far it got (the caller
    sends the rest another way). A file that shrank is padded and marked torn."""
    global _SENDFILE
    offset = 0
    while offset < size:
        try:
            n = os.sendfile(out, fd, offset, size - offset)
        except OSError as exc:
            if exc.errno in _NO_SENDFILE:
                _SENDFILE = False
            # Otherwise the file's read or the pipe's write failed: the caller goes on with a
            # plain read and write, whose error then says which of the two it was.
            return offset
        if n == 0:  # it shrank while being read: pad it, send it again later
            job.torn.add(rel)
            while offset < size:
                _write_all(out, bytes(min(CHUNK, size - offset)))
                offset += CHUNK
            return size
        offset += n
        job.bytes_done += n
    return size
