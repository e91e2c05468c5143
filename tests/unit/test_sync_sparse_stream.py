"""A sparse file keeps its holes: only its data goes on the wire, and the pod's copy is sparse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rpdevd.sync import podops
from rpdevd.sync.bulkstream import bulk_job, data_extents
from rpdevd.sync.plan import Op
from tests.unit.bulkstreams import entry, stream

MIB = 1 << 20


def make_sparse(path: Path, size: int, data: dict[int, bytes]) -> None:
    with path.open("wb") as fh:
        fh.truncate(size)
        for offset, chunk in data.items():
            fh.seek(offset)
            fh.write(chunk)
    st = path.stat()
    if st.st_blocks * 512 >= st.st_size:
        pytest.skip("this file system does not keep holes")


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


@pytest.mark.parametrize("via_send", [False, True], ids=["chunks", "sendfile"])
def test_holes_stay_holes(tmp_path: Path, via_send: bool) -> None:
    src = tmp_path / "src"
    src.mkdir()
    head, middle = os.urandom(3 * MIB), b"m" * 5000
    make_sparse(src / "disk.img", 256 * MIB, {0: head, 100 * MIB: middle})  # a hole at the end
    make_sparse(src / "holes-only", 64 * MIB, {})
    (src / "dense").write_bytes(b"d" * (2 * MIB))
    names = ("disk.img", "holes-only", "dense")
    job = bulk_job(src, [Op("put", name, entry(src / name)) for name in names])
    data = stream(job, via_send, tmp_path)
    assert len(data) < 6 * MIB  # the data, not the 320 MiB of holes

    pod = tmp_path / "pod"
    pod.mkdir()
    res = subprocess.run(
        [sys.executable, "-c", podops.RECEIVER, job.stage], input=data, cwd=pod, capture_output=True
    )
    assert res.returncode == 0, res.stderr
    assert [st for st, *_ in podops.parse_results(res.stdout)] == ["ok", "ok", "ok"]
    for name in names:
        a, b = src / name, pod / name
        assert (b.stat().st_size, b.stat().st_mtime_ns // 10**9) == (
            a.stat().st_size,
            a.stat().st_mtime_ns // 10**9,
        )
    img = pod / "disk.img"
    with img.open("rb") as fh:
        assert fh.read(len(head)) == head
        fh.seek(100 * MIB)
        assert fh.read(len(middle)) == middle
        fh.seek(200 * MIB)
        assert fh.read(MIB) == bytes(MIB)
    assert allocated(img) < 16 * MIB
    assert allocated(pod / "holes-only") < MIB
    assert (pod / "dense").read_bytes() == b"d" * (2 * MIB)


def test_a_file_without_holes_goes_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(os.urandom(MIB))
    fd = os.open(path, os.O_RDONLY)
    try:
        assert data_extents(fd, os.fstat(fd)) is None
    finally:
        os.close(fd)
