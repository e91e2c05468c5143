"""A tar stream of local files, built in a worker thread, for the bulk path.

Members are regular files only, named by number inside the staging directory; the real names,
modes and mtimes travel in the manifest (the last member), which the pod-side mover applies. So
member names never need long-name extensions, and odd names (newlines, non-UTF-8 bytes) cost
nothing. Each file's size is taken when it is opened; a file that shrinks while it is read is
padded and reported as changed, so it is sent again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rpdevd.sync.model import LocalEntry
from rpdevd.sync.scan import entry_from_stat

BLOCK = 512
CHUNK = 1 << 20
FLUSH = 256 << 10


def _octal(value: int, width: int) -> bytes:
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, value)
    # GNU base-256 for sizes of 8 GiB and more.
    return bytes([0x80]) + value.to_bytes(width - 1, "big")


def ustar_header(name: bytes, size: int, mode: int, mtime: int, typeflag: bytes = b"0") -> bytes:
    if len(name) > 100:
        raise ValueError("member name too long")
    mtime = max(0, min(mtime, 8**11 - 1))
    head = b"".join(
        [
            name.ljust(100, b"\0"),
            _octal(mode & 0o7777, 8),
            _octal(0, 8),
            _octal(0, 8),
            _octal(size, 12),
            _octal(mtime, 12),
            b" " * 8,
            typeflag,
            b"\0" * 100,
            b"ustar\x0000",
            b"\0" * 32,
            b"\0" * 32,
            _octal(0, 8),
            _octal(0, 8),
            b"\0" * 155,
        ]
    )
    head = head.ljust(BLOCK, b"\0")
    chk = b"%06o\0 " % sum(head)
    return head[:148] + chk + head[156:]


def _pad(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


@dataclass
class TarJob:
    """Which local files go into the stream and under which member names."""

    root: Path
    stage: str  # the staging directory's name on the pod, relative to the remote root
    files: list[tuple[str, str]]  # (relative path, member name inside the stage)
    manifest: Callable[[dict[str, LocalEntry]], bytes]  # built last, from what was really sent
    sent: dict[str, LocalEntry] = field(default_factory=dict)
    torn: set[str] = field(default_factory=set)  # changed while read: send again
    missing: set[str] = field(default_factory=set)
    bytes_done: int = 0
    files_done: int = 0


def tar_chunks(job: TarJob) -> Iterator[bytes]:
    """The stream, in chunks of at least FLUSH bytes (blocking reads: run in a thread)."""
    buf = bytearray()
    stage = job.stage.encode()
    buf += ustar_header(stage + b"/", 0, 0o700, 0, b"5")
    for rel, member in job.files:
        try:
            fd = os.open(os.path.join(job.root, rel), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            job.missing.add(rel)
            continue
        try:
            st = os.fstat(fd)
            entry = entry_from_stat(st)
            if entry is None or entry.kind != "file":
                job.missing.add(rel)
                continue
            size = st.st_size
            buf += ustar_header(stage + b"/" + member.encode(), size, entry.mode, entry.mtime_s)
            left = size
            while left > 0:
                data = os.read(fd, min(CHUNK, left))
                if not data:
                    buf += b"\0" * left
                    job.torn.add(rel)
                    break
                left -= len(data)
                job.bytes_done += len(data)
                if len(data) >= FLUSH:
                    # Big reads go out as they are: no copy through the buffer.
                    if buf:
                        yield bytes(buf)
                        buf.clear()
                    yield data
                    continue
                buf += data
                if len(buf) >= FLUSH:
                    yield bytes(buf)
                    buf.clear()
            buf += _pad(size)
            after = os.fstat(fd)
            if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                job.torn.add(rel)
            job.sent[rel] = entry
            job.files_done += 1
        finally:
            os.close(fd)
        if len(buf) >= FLUSH:
            yield bytes(buf)
            buf.clear()
    manifest = job.manifest(job.sent)
    buf += ustar_header(stage + b"/manifest", len(manifest), 0o600, 0)
    buf += manifest + _pad(len(manifest))
    buf += b"\0" * (BLOCK * 2)
    yield bytes(buf)
