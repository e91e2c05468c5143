"""Reading ahead of the bulk stream's sender, where the files are not in memory yet.

The sender reads one file after another. Where a tree is not in the page cache (a first sync
after a reboot, a tree not touched for a while), each small file is a wait on the disk, one at
a time: 100,000 files of 4 KB took 7.8 s to read so on this machine's virtual disk. Told in
advance which files come next (`posix_fadvise(WILLNEED)`, which queues their reads and returns),
the disk serves many at once: 1.75 s for the same files with 512 of them ahead.

Where the files are in memory (the usual case) the advice only costs: the same read took 0.6 s
alone and 1.0 s beside a thread giving it. So the sender asks first: every `EVERY`th file it
opens is probed with a read that must not wait (`RWF_NOWAIT`: it fails where the data is not in
memory), and only a probe that would have waited starts the thread (`Readahead.probe`). The
thread keeps at most `FILES` files and `BYTES` bytes ahead of the sender, and stops once
`WARM` files in a row were in memory already; a later probe starts it again.

Advice is only advice: a file that vanished or cannot be opened is skipped (the sender reports
it), and nothing here changes what is sent or how. Files are opened as the sender opens them,
through their directories without following a symlink (`localdirs`). Where the system has
neither call (macOS), nothing reads ahead.
"""

from __future__ import annotations

import collections
import errno
import os
import threading
from collections.abc import Sequence

from rpdevd.sync.localdirs import Below, Swapped
from rpdevd.sync.model import LocalEntry

EVERY = 16  # the sender probes one file in this many
FILES = 512  # at most this many files ahead of the sender
BYTES = 64 << 20  # and this many bytes (of what was advised)
PER_FILE = 8 << 20  # advised of one file at most: the kernel reads ahead within a file itself
WARM = 256  # this many files in memory in a row: the thread stops

_NOWAIT = getattr(os, "RWF_NOWAIT", None)
_WILLNEED = getattr(os, "POSIX_FADV_WILLNEED", None)
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def supported() -> bool:
    return _NOWAIT is not None and _WILLNEED is not None and hasattr(os, "preadv")


def in_memory(fd: int, buf: bytearray) -> bool | None:
    """Whether the file's first page is in memory (None: the system cannot tell)."""
    try:
        os.preadv(fd, [buf], 0, _NOWAIT)  # type: ignore[arg-type]
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            return None
        return True  # the read itself fails: the sender finds out, nothing to read ahead
    return True


class Readahead:
    """Reads ahead of a sender that takes `files` (relative to `root`, as `planned` by the
    scan: their sizes bound what is advised) in order. The sender tells it where it is (`at`)
    and probes as it goes (`probe`); `close` stops the thread."""

    def __init__(
        self, root: str, files: Sequence[str], planned: Sequence[LocalEntry | None]
    ) -> None:
        self.root = root
        self.files = files
        self.planned = planned
        self.at = 0  # the file the sender is on
        self.enabled = supported()
        self.started = 0  # times the thread was started (for tests and figures)
        self._buf = bytearray(1)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def probe(self, fd: int, n: int) -> None:
        """The sender opened file `n` (as `fd`), one in EVERY: see whether it had to wait."""
        self.at = n
        if not self.enabled or not self.size(n):
            return
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        cached = in_memory(fd, self._buf)
        if cached is None:
            self.enabled = False
        elif not cached:
            self._start(n + 1)

    def size(self, n: int) -> int:
        """What is advised of file `n`: its size as scanned, up to PER_FILE (where the scan's
        entry is not given, PER_FILE)."""
        e = self.planned[n] if n < len(self.planned) else None
        return PER_FILE if e is None else min(e.size, PER_FILE)

    def _start(self, first: int) -> None:
        self.started += 1
        self._thread = threading.Thread(
            target=self._run, args=(first,), name="rpdev-readahead", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(1.0)  # a thread stuck in an open (a hung mount) is left: it only advises

    def _run(self, i: int) -> None:
        # Through the files' directories as the sender opens them (`localdirs`): a directory
        # swapped for a symlink leads this thread nowhere else either.
        below = Below(self.root)
        try:
            self._ahead(i, below)
        finally:
            below.close()

    def _ahead(self, i: int, below: Below) -> None:
        files = self.files
        buf = bytearray(1)
        lead: collections.deque[tuple[int, int]] = collections.deque()  # (file, bytes advised)
        lead_bytes = 0
        warm = 0
        while i < len(files) and warm < WARM and not self._stop.is_set():
            at = self.at
            while lead and lead[0][0] <= at:
                lead_bytes -= lead.popleft()[1]
            if i <= at:  # the sender got here first: go on from where it is
                i = at + 1
                continue
            if i - at > FILES or lead_bytes > BYTES:
                self._stop.wait(0.002)
                continue
            size = self.size(i)
            try:
                where, name = below.parent(files[i])
                fd = os.open(name, _FLAGS, dir_fd=where)
            except (OSError, Swapped):
                i += 1
                continue
            try:
                if size and in_memory(fd, buf) is False:
                    warm = 0
                    os.posix_fadvise(fd, 0, size, _WILLNEED)  # type: ignore[arg-type]
                    lead.append((i, size))
                    lead_bytes += size
                else:
                    warm += 1
            except OSError:
                pass
            finally:
                os.close(fd)
            i += 1
