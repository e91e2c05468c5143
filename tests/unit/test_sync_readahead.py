"""Reading ahead of the bulk stream's sender: started only where files are not in memory, kept
within its window, stopped where the files are in memory again, and never in the way of what
is sent.

What the reader decides is read off the files it probes and advises the kernel of (`Touched`),
with what its probe answers declared: a real probe starts the read it asks about, so the page
cache is no steady witness. The probe itself, and the advice's effect, are tested on the real
page cache: files are put out of memory with `posix_fadvise(DONTNEED)` after an fsync, which
needs no privilege; a file system that keeps files in memory anyway (tmpfs) cannot show it."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rpdevd.sync import readahead
from rpdevd.sync.bulkstream import BulkJob
from rpdevd.sync.readahead import Readahead
from tests.unit.bulkstreams import entry, stream

pytestmark = pytest.mark.skipif(not readahead.supported(), reason="no RWF_NOWAIT/fadvise here")

SIZE = 8192


def make(root: Path, count: int) -> list[str]:
    root.mkdir()
    names = [f"f{i:04d}" for i in range(count)]
    for i, name in enumerate(names):
        (root / name).write_bytes(bytes([i % 251]) * SIZE)
    return names


_libc = ctypes.CDLL(None, use_errno=True)


def cached(path: Path) -> bool:
    """Whether the file's first page is in memory, told by `mincore` on a mapping of it: a look
    that reads nothing (a probe that must not wait starts the file's read itself)."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), SIZE, access=mmap.ACCESS_COPY) as m:
        addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
        vec = (ctypes.c_ubyte * 2)()
        if _libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(SIZE), vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        del addr
        return bool(vec[0] & 1)


def evict(root: Path, names: list[str]) -> None:
    """Put the files out of memory, every one of them, checked: the kernel passes over a page
    it cannot take at that instant, so a file still in memory is put out again, for up to two
    seconds."""
    left = list(names)
    for _ in range(200):
        for name in left:
            fd = os.open(root / name, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        still = [n for n in left if cached(root / n)]
        if len(still) == len(names):
            pytest.skip("this file system keeps its files in memory")
        if not still:
            return
        left = still
        time.sleep(0.01)
    pytest.skip(f"{len(left)} files stayed in memory however often they were put out")


class Touched:
    """The files the reader ahead looks at, by their real paths (from /proc/self/fd): those it
    probes (`in_memory`) and those it advises the kernel of (`posix_fadvise`, still made).
    With `out`, the probe answers that those files are out of memory and the rest in it, and
    reads nothing. A real probe is no steady witness: a read that must not wait starts the
    file's read itself (the file is in memory after it), and where the disk answers at once it
    may find it done, so a file just put out of memory can look in it (CI saw the sender's
    first probe find so, and no reader start). What the reader decides is then told apart
    from what the disk and the rest of the machine do to the page cache."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, out: list[Path] | None = None) -> None:
        self.paths: list[str] = []  # probed or advised
        self.advised: list[str] = []
        probe, advise = readahead.in_memory, os.posix_fadvise
        gone = None if out is None else {os.path.realpath(p) for p in out}

        def probed(fd: int, buf: bytearray) -> bool | None:
            path = self._path(fd)
            self.paths.append(path)
            return probe(fd, buf) if gone is None else path not in gone

        def advised(fd: int, offset: int, length: int, advice: int) -> None:
            path = self._path(fd)
            advise(fd, offset, length, advice)
            self.paths.append(path)
            self.advised.append(path)

        monkeypatch.setattr(readahead, "in_memory", probed)
        monkeypatch.setattr(os, "posix_fadvise", advised)

    @staticmethod
    def _path(fd: int) -> str:
        return os.readlink(f"/proc/self/fd/{fd}")

    def any_of(self, root: Path, names: list[str]) -> list[str]:
        """Those of `names` (below `root`) it looked at."""
        wanted = {os.path.realpath(root / n): n for n in names}
        return [wanted[p] for p in self.paths if p in wanted]

    def wait_advised(self, path: Path, seconds: float = 20.0) -> bool:
        """Whether the kernel is advised of `path` within `seconds`."""
        real = os.path.realpath(path)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if real in self.advised:
                return True
            time.sleep(0.01)
        return False


def declared(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    count: int,
    out: Callable[[list[str]], list[str]] = list,
    sizes: bool = True,
) -> tuple[Path, list[str], Readahead, Touched]:
    """A tree of `count` files, those `out` picks declared out of memory (all unless told:
    see `Touched`), and a reader ahead through it (told each file's size, or, without `sizes`,
    none)."""
    root = tmp_path / "tree"
    names = make(root, count)
    touched = Touched(monkeypatch, [root / n for n in out(names)])
    planned = [entry(root / n) if sizes else None for n in names]
    return root, names, Readahead(str(root), names, planned), touched


def warm(root: Path, names: list[str]) -> None:
    """Read files into memory again: this machine may have put them out since (memory is
    reclaimed from what was not used for a while)."""
    for name in names:
        (root / name).read_bytes()


def wait_cached(path: Path, seconds: float = 20.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cached(path):
            return True
        time.sleep(0.01)
    return False


def cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> tuple[Path, list[str], Readahead]:
    """A tree of `count` files put out of memory (and so declared to the probes: `Touched`),
    and a reader ahead of a sender through it: what it advises is read into memory."""
    root = tmp_path / "tree"
    names = make(root, count)
    evict(root, names)
    Touched(monkeypatch, [root / n for n in names])
    return root, names, Readahead(str(root), names, [entry(root / n) for n in names])


def opened(ahead: Readahead, root: Path, name: str, n: int) -> None:
    """What the sender does with file n: open it, and let the reader ahead probe one in EVERY."""
    fd = os.open(root / name, os.O_RDONLY)
    try:
        if n % readahead.EVERY == 0:
            ahead.probe(fd, n)
    finally:
        os.close(fd)


def test_the_probe_tells_files_out_of_memory_from_files_in_it(tmp_path: Path) -> None:
    """The probe itself, on the real page cache (every other test declares what it answers):
    of files just put out of memory, it tells some so at least (where the disk answers at
    once, the read it starts may be done before it looks), and of files in memory, each."""
    root = tmp_path / "tree"
    names = make(root, 16)
    buf = bytearray(1)

    def probes() -> list[bool | None]:
        answers = []
        for name in names:
            fd = os.open(root / name, os.O_RDONLY)
            try:
                answers.append(readahead.in_memory(fd, buf))
            finally:
                os.close(fd)
        return answers

    evict(root, names)
    out = probes()
    assert False in out and None not in out
    warm(root, names)
    assert probes() == [True] * len(names)


def test_files_not_in_memory_are_read_ahead_of_the_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, names, ahead = cold(tmp_path, monkeypatch, 64)
    try:
        opened(ahead, root, names[0], 0)
        assert ahead.started == 1
        assert wait_cached(root / names[-1]), "the last file was never read ahead"
        assert all(cached(root / n) for n in names[1:])
    finally:
        ahead.close()


def test_nothing_is_read_ahead_where_the_files_are_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tree"
    names = make(root, 64)
    advised: list[int] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, *a: advised.append(fd))
    ahead = Readahead(str(root), names, [entry(root / n) for n in names])
    warm(root, names)
    for n, name in enumerate(names):
        opened(ahead, root, name, n)
    ahead.close()
    assert ahead.started == 0
    assert advised == []


def test_the_reader_keeps_within_its_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readahead, "FILES", 8)
    root, names, ahead, touched = declared(tmp_path, monkeypatch, 48)
    try:
        opened(ahead, root, names[0], 0)
        assert touched.wait_advised(root / names[8])
        time.sleep(0.2)  # were it not held, it would be far past here by now
        assert touched.any_of(root, names[9:]) == []
        ahead.at = 30  # the sender moves on: so does the reader
        assert touched.wait_advised(root / names[38])
        time.sleep(0.2)
        assert touched.any_of(root, names[9:31]) == []  # what the sender passed: left
        assert touched.any_of(root, names[39:]) == []
    finally:
        ahead.close()


def test_the_reader_keeps_within_its_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readahead, "BYTES", 4 * SIZE)
    root, names, ahead, touched = declared(tmp_path, monkeypatch, 40)
    try:
        opened(ahead, root, names[0], 0)
        assert touched.wait_advised(root / names[5])  # until more than BYTES were ahead
        time.sleep(0.2)
        assert touched.any_of(root, names[6:]) == []
        ahead.at = 10  # what the sender passed no longer counts
        assert touched.wait_advised(root / names[15])
        time.sleep(0.2)
        assert touched.any_of(root, names[16:]) == []
    finally:
        ahead.close()


def test_the_reader_stops_where_the_files_are_in_memory_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readahead, "WARM", 4)
    # Out of memory: files 0-3, and 24 onwards.
    root, names, ahead, touched = declared(
        tmp_path, monkeypatch, 48, lambda names: names[:4] + names[24:]
    )
    opened(ahead, root, names[0], 0)
    assert ahead.started == 1
    thread = ahead._thread
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive()
    # It stopped after four files in memory in a row, long before file 24.
    assert sorted(set(touched.any_of(root, names[1:8]))) == names[1:8]
    assert touched.any_of(root, names[8:]) == []
    for n in range(16, 48):  # the sender's probe at file 16 finds it in memory, at 32 not
        opened(ahead, root, names[n], n)
    ahead.close()
    assert ahead.started == 2


def test_the_reader_goes_on_through_a_few_files_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readahead, "WARM", 4)
    # One in four out of memory: never four in memory in a row.
    root, names, ahead, touched = declared(tmp_path, monkeypatch, 40, lambda names: names[::4])
    try:
        opened(ahead, root, names[0], 0)
        assert touched.wait_advised(root / names[36])
        assert [touched.any_of(root, [n]) != [] for n in names[1:]] == [True] * 39
    finally:
        ahead.close()


def test_files_gone_or_unreadable_are_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tree"
    names = make(root, 40)
    planned = [entry(root / n) for n in names]  # as scanned, before they went
    evict(root, names)
    Touched(monkeypatch, [root / n for n in names])
    (root / names[3]).unlink()
    (root / names[5]).unlink()
    (root / names[5]).symlink_to(names[6])  # never followed
    ahead = Readahead(str(root), names, planned)
    try:
        opened(ahead, root, names[0], 0)
        assert wait_cached(root / names[-1])
        assert cached(root / names[4]) and cached(root / names[6])  # each one after them
    finally:
        ahead.close()


def test_one_reader_at_a_time_and_none_left_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readahead, "FILES", 4)
    root, names, ahead = cold(tmp_path, monkeypatch, 64)
    opened(ahead, root, names[0], 0)
    thread = ahead._thread
    assert thread is not None and thread.daemon  # never keeps the program from ending
    assert thread.name == "rpdev-readahead"  # as a dump of the threads names it
    opened(ahead, root, names[16], 16)  # out of memory too, while the reader waits for it
    assert ahead.started == 1
    ahead.close()
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("errno_", "asked"),
    [
        (errno.EOPNOTSUPP, 1),  # the system cannot tell: asked once, then never again
        (errno.EINVAL, 1),
        (errno.ENOSYS, 1),
        (errno.EIO, 4),  # the probe's read fails: the sender's own read finds the error
    ],
)
def test_a_probe_that_cannot_tell_reads_nothing_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno_: int, asked: int
) -> None:
    root = tmp_path / "tree"
    names = make(root, 64)
    evict(root, names)
    calls: list[int] = []

    def failing(fd: int, *args: object) -> int:
        calls.append(fd)
        raise OSError(errno_, os.strerror(errno_))

    monkeypatch.setattr(os, "preadv", failing)
    ahead = Readahead(str(root), names, [entry(root / n) for n in names])
    for n, name in enumerate(names):
        opened(ahead, root, name, n)
    ahead.close()
    assert ahead.started == 0
    assert len(calls) == asked


def test_files_beyond_what_the_scan_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tree"
    names = make(root, 40)
    evict(root, names)
    Touched(monkeypatch, [root / n for n in names])
    ahead = Readahead(str(root), names, [])  # no entries at all: PER_FILE each
    try:
        opened(ahead, root, names[0], 0)
        assert ahead.started == 1
        assert wait_cached(root / names[1])
    finally:
        ahead.close()


def test_sizes_not_told_count_as_the_most_advised_of_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, names, ahead, touched = declared(tmp_path, monkeypatch, 40, sizes=False)
    try:
        opened(ahead, root, names[0], 0)
        limit = readahead.BYTES // readahead.PER_FILE  # files of PER_FILE each within BYTES
        assert touched.wait_advised(root / names[limit + 1])
        time.sleep(0.2)
        assert touched.any_of(root, names[limit + 2 :]) == []
    finally:
        ahead.close()


@pytest.mark.parametrize("via_send", [False, True], ids=["chunks", "send"])
def test_the_stream_is_the_same_read_ahead_or_not(tmp_path: Path, via_send: bool) -> None:
    root = tmp_path / "tree"
    names = make(root, 100)
    (root / "big").write_bytes(os.urandom(3 << 20))  # through sendfile
    names.append("big")

    def sent() -> bytes:
        job = BulkJob(root, ".stage", names, b"m", [entry(root / n) for n in names])
        data = stream(job, via_send, tmp_path)
        assert not job.torn and not job.missing and not job.unreadable
        return data

    warm = sent()
    evict(root, names)
    assert sent() == warm


def test_a_directory_swapped_for_a_symlink_leads_the_reader_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It opens files as the sender does, through their directories: what a planted symlink
    points at is never opened, not even to advise on it."""
    root = tmp_path / "tree"
    names = make(root, 16) + [f"sub/g{i:04d}" for i in range(16)] + ["z"]
    (root / "sub").mkdir()
    for name in names[16:]:
        (root / name).write_bytes(b"s" * SIZE)
    planned = [entry(root / n) for n in names]
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in names[16:32]:
        (outside / name.split("/")[1]).write_bytes(b"o" * SIZE)
    evict(root, names)
    evict(outside, [n.split("/")[1] for n in names[16:32]])
    for name in names[16:32]:
        (root / name).unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(outside)
    ahead = Readahead(str(root), names, planned)
    touched = Touched(monkeypatch, [root / n for n in names])
    try:
        opened(ahead, root, names[0], 0)
        assert wait_cached(root / "z")  # past the swapped directory
        assert "z" in touched.any_of(root, ["z"])  # looked at, through no symlink
        assert touched.any_of(outside, [n.split("/")[1] for n in names[16:32]]) == []
    finally:
        ahead.close()
