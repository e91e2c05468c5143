"""The bulk stream's sender opens each file through its directories as the scan saw them: a
directory swapped for a symlink since the scan (by another user who can write in the tree, or
a race) is never read through, and is said; one removed or become a file is a deletion."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rpdevd.sync.bulkstream import BulkJob, chunks
from rpdevd.sync.model import LocalEntry
from tests.unit.bulkstreams import entry, stream

SECRET = b"outside the tree: never sent\n"


def tree(tmp_path: Path) -> tuple[Path, list[str], list[LocalEntry | None]]:
    root = tmp_path / "tree"
    for rel, data in {
        "a/one.txt": b"one\n",
        "a/b/two.txt": b"two\n",
        "a/b/c/three.txt": b"three\n",
        "d/four.txt": b"four\n",
        "top.txt": b"top\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    files = ["a/b/c/three.txt", "a/b/two.txt", "a/one.txt", "d/four.txt", "top.txt"]
    return root, files, [entry(root / f) for f in files]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """What a planted symlink points at: a directory of the same shape, outside the tree."""
    other = tmp_path / "outside"
    for rel in ("b/c/three.txt", "b/two.txt", "c/three.txt", "two.txt", "four.txt"):
        (other / rel).parent.mkdir(parents=True, exist_ok=True)
        (other / rel).write_bytes(SECRET)
    return other


@pytest.mark.parametrize("via_send", [False, True], ids=["chunks", "send"])
@pytest.mark.parametrize("swapped", ["a", "a/b", "a/b/c", "d"])
def test_a_directory_swapped_for_a_symlink_is_not_read_through(
    tmp_path: Path, outside: Path, via_send: bool, swapped: str
) -> None:
    root, files, planned = tree(tmp_path)
    job = BulkJob(root, ".stage", files, b"m", planned)
    shutil.rmtree(root / swapped)
    target = outside / swapped.split("/", 1)[1] if "/" in swapped else outside
    (root / swapped).symlink_to(target)
    data = stream(job, via_send, tmp_path)
    assert SECRET not in data
    below = [f for f in files if f.startswith(swapped + "/")]
    assert below and set(job.unreadable) == set(below)
    assert all("replaced by a symlink" in job.unreadable[f] for f in below)
    assert set(job.missing) == set(below)
    assert set(job.sent) == set(files) - set(below)  # the rest is sent as it was


@pytest.mark.parametrize("via_send", [False, True], ids=["chunks", "send"])
def test_a_directory_removed_or_become_a_file_is_a_deletion(tmp_path: Path, via_send: bool) -> None:
    root, files, planned = tree(tmp_path)
    job = BulkJob(root, ".stage", files, b"m", planned)
    shutil.rmtree(root / "a" / "b")
    (root / "a" / "b").write_bytes(b"a file now\n")
    shutil.rmtree(root / "d")
    data = stream(job, via_send, tmp_path)
    assert b"a file now" not in data
    assert job.unreadable == {}
    assert job.missing == {"a/b/c/three.txt", "a/b/two.txt", "d/four.txt"}
    assert set(job.sent) == {"a/one.txt", "top.txt"}


def test_files_in_any_order_open_their_own_directories(tmp_path: Path) -> None:
    root, files, planned = tree(tmp_path)
    order = [4, 0, 3, 1, 2, 0]  # back and forth between directories, one twice
    job = BulkJob(root, ".stage", [files[i] for i in order], b"m", [planned[i] for i in order])
    data = stream(job, True, tmp_path)
    for rel in files:
        assert (root / rel).read_bytes() in data
    assert set(job.sent) == set(files) and not job.missing and not job.unreadable


def test_no_directory_is_left_open(tmp_path: Path) -> None:
    root, files, planned = tree(tmp_path)
    fds = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    if fds is None:
        pytest.skip("no /proc/self/fd here")
    job = BulkJob(root, ".stage", files, b"m", planned)
    stream(job, True, tmp_path)
    gen = chunks(BulkJob(root, ".stage", files, b"m", planned))
    next(gen)
    next(gen)
    gen.close()  # a stream given up part-way
    assert set(os.listdir("/proc/self/fd")) <= fds
