"""What the bulk stream's tests share: a file's entry as the scan gives it, and a job's whole
stream by either of the sender's paths (`chunks`, or `send` into a file: sendfile)."""

from __future__ import annotations

import os
from pathlib import Path

from rpdevd.sync.bulkstream import BulkJob, chunks, send
from rpdevd.sync.model import LocalEntry


def entry(path: Path) -> LocalEntry:
    st = path.lstat()
    return LocalEntry("file", st.st_size, st.st_mtime_ns, st.st_mode & 0o777, st.st_ino)


def stream(job: BulkJob, via_send: bool, tmp_path: Path) -> bytes:
    if not via_send:
        return b"".join(chunks(job))
    out = tmp_path / "stream.bin"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        send(job, fd)
    finally:
        os.close(fd)
    return out.read_bytes()
