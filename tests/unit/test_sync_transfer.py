"""The bulk transfer's edges, against the real receiver run locally by /bin/sh: a receiver that
stops part-way fails the batch (its intents stay), and a cancelled transfer ends the channel, so
nothing written afterwards is ever read as the rest of a file."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from rpdevd.sync import podops
from rpdevd.sync.bulkstream import bulk_job
from rpdevd.sync.child import Child
from rpdevd.sync.model import LocalEntry, RemoteEntry
from rpdevd.sync.plan import Op
from rpdevd.sync.scan import stat_one
from rpdevd.sync.sshpipe import PipeProcess
from rpdevd.sync.transfer import OpResult, PodSession, TransferError, _Results, bulk_apply


def tree(src: Path, sizes: dict[str, int]) -> list[Op]:
    src.mkdir()
    ops = []
    for name, size in sizes.items():
        (src / name).write_bytes(name.encode() * size)
        entry = stat_one(src, name)
        assert entry is not None
        ops.append(Op("put", name, entry))
    return ops


def pod_session(pod: Path, before_receiver: str = "") -> Child:
    """A stand-in for `ssh pod sh -c SCRIPT`: takes the `bulk STAGE` line, then runs the
    receiver (behind `before_receiver`, e.g. a pipe that cuts the stream)."""
    pod.mkdir(exist_ok=True)
    receiver = f"{shlex.quote(sys.executable)} -c {shlex.quote(podops.RECEIVER)}"
    script = (
        f"cd {shlex.quote(str(pod))} && IFS= read -r cmd && "
        f'{before_receiver} exec {receiver} "${{cmd#bulk }}"'
    )
    return Child(["/bin/sh", "-c", script])


async def test_a_receiver_that_stops_part_way_fails_the_batch(tmp_path: Path) -> None:
    ops = tree(tmp_path / "src", {"a": 100_000, "b": 100_000, "c": 100_000})
    job = bulk_job(tmp_path / "src", ops)
    # The link drops after 150 kB: the receiver sees the stream end inside b.
    proc = await PipeProcess.wrap(pod_session(tmp_path / "pod", "head -c 150000 |"))
    try:
        with pytest.raises(TransferError, match="stopped after 1 of 3"):
            await bulk_apply(proc, job, ops)
    finally:
        proc.close()
    assert sorted(os.listdir(tmp_path / "pod")) == ["a"]  # what landed, whole; nothing else


async def test_a_cancelled_transfer_ends_the_channel(tmp_path: Path) -> None:
    ops = tree(tmp_path / "src", {"big": 8 << 20})
    job = bulk_job(tmp_path / "src", ops)
    # The pod side reads nothing for a while: the pipe fills and the writer blocks.
    child = pod_session(tmp_path / "pod", "sleep 30;")
    proc = await PipeProcess.wrap(child)
    session = PodSession(proc)
    task = asyncio.ensure_future(session.bulk(job, ops))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 15)
    assert child.poll() is not None  # stopped and reaped: the writer thread could end
    await session.finish()
    assert not (tmp_path / "pod" / "big").exists()


class _Recorder:
    """Records what a session writes after its stream (a channel whose far side is gone)."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.stdin = self

    def write(self, data: bytes) -> None:
        self.written += data

    def write_eof(self) -> None:
        pass

    async def wait(self) -> Any:
        return None

    def close(self) -> None:
        pass


async def test_finish_after_a_stream_writes_nothing_into_it() -> None:
    rec = _Recorder()
    session = PodSession(rec)
    session.streamed = True
    await session.finish()
    assert rec.written == b""
    fresh = PodSession(_Recorder())
    await fresh.finish()
    assert fresh.proc.written == b"done\n"


async def test_results_are_handed_over_as_they_come_in_the_batchs_order(tmp_path: Path) -> None:
    ops = tree(tmp_path / "src", {f"f{i}": 1000 + i for i in range(40)})
    job = bulk_job(tmp_path / "src", ops)
    proc = await PipeProcess.wrap(pod_session(tmp_path / "pod"))
    got: list[OpResult] = []
    try:
        kept = await bulk_apply(proc, job, ops, on_result=got.append)
    finally:
        proc.close()
    assert kept == []  # handed over, not kept
    assert [r.op.path for r in got] == [op.path for op in ops]
    assert all(r.status == "ok" and r.sent == r.op.local and not r.torn for r in got)
    assert [r.remote.size for r in got if r.remote] == [op.local.size for op in ops if op.local]


def test_a_files_result_waits_until_the_sender_is_done_with_it(tmp_path: Path) -> None:
    """The pod can report a file before the sender has checked it for changes (it checks after
    the bytes are out): the result waits, so a file changed while read is never recorded as
    sent whole."""
    ops = tree(tmp_path / "src", {"a": 10, "b": 10})
    ops.insert(0, Op("mkdir", "d", LocalEntry("dir", mode=0o755)))
    job = bulk_job(tmp_path / "src", ops)
    got: list[OpResult] = []
    results = _Results(ops, job, got.append)
    landed = RemoteEntry("file", 10, 0, 0o644)
    results.take([("ok", "d", RemoteEntry("dir", mode=0o755), ""), ("ok", "a", landed, "")], False)
    assert [r.op.path for r in got] == ["d"]  # "a" waits: the sender is still on it
    results.take([("ok", "b", landed, "")], False)
    assert [r.op.path for r in got] == ["d"]  # and what follows it waits behind it
    job.torn.add("a")
    job.sent["a"] = ops[1].local  # type: ignore[assignment]
    results.take([], False)
    assert [(r.op.path, r.torn) for r in got] == [("d", False), ("a", True)]
    results.finish()  # the stream ended: the last one goes too
    assert [r.op.path for r in got] == ["d", "a", "b"]
    assert results.count == 3


def test_results_read_back_whatever_the_chunks() -> None:
    """A result cut by a chunk's end is read whole with the next chunk."""
    data = b"".join(
        b"ok\x00p%d\x00f\x00%d\x00%d\x00420\x00\x00\x00" % (i, i, 1_700_000_000 + i)
        for i in range(50)
    )
    whole = list(podops.parse_results(data))
    for size in (1, 7, 64, 1000):
        reader = podops.ResultReader()
        got = []
        for i in range(0, len(data), size):
            got += reader.feed(data[i : i + size])
        assert got == whole and not reader.pending
    assert len(whole) == 50 and whole[3] == (
        "ok",
        "p3",
        RemoteEntry("file", 3, 1_700_000_003, 0o644),
        "",
    )
