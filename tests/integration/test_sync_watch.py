"""`watch`: creates, edits, deletes and renames arrive; ignored files never leave; a restarted
pod (new port, new host key) is caught up by itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD
from rpdevd.sync.engine import SyncEngine, SyncStopped
from rpdevd.sync.live import LiveSync
from tests.integration.test_sync_once import Rig, snapshot


@pytest.fixture
def rig(tmp_path: Path, pod_sshd: PodSSHD, client_key: KeyPair) -> Rig:
    return Rig(tmp_path, pod_sshd, client_key)


def crash_pod(pod: PodSSHD) -> None:
    """SIGKILL the pod's sshd and every connection it serves. sshd's per-connection processes
    start their own sessions, so killing the listener's process group leaves them running."""
    victims = {pod.pid} if pod.pid else set()
    grew = True
    while grew:
        grew = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in victims:
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid in victims:
                victims.add(int(entry))
                grew = True
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def until(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


class Live:
    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self.live = LiveSync(engine)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.live.run(self.stop))
        self.closed = False

    async def close(self) -> None:
        self.stop.set()
        try:
            await asyncio.wait_for(self.task, 10)
        finally:
            await self.engine.close()
            if not self.closed:
                self.engine.baseline.close()
                self.closed = True


@pytest.fixture
async def live(rig: Rig) -> AsyncIterator[Callable[..., Live]]:
    started: list[Live] = []

    def start(**spec: object) -> Live:
        lv = Live(rig.engine(rescan_interval=600, **spec))
        started.append(lv)
        return lv

    yield start
    for lv in started:
        with contextlib.suppress(SyncStopped):
            await lv.close()


def same(rig: Rig) -> Callable[[], bool]:
    return lambda: (
        rig.remote.is_dir()
        and snapshot(rig.remote) == snapshot(rig.local, lambda rel: rel.endswith(".log"))
    )


async def test_creates_edits_deletes_renames_arrive(rig: Rig, live: Callable[..., Live]) -> None:
    (rig.local / "a.py").write_text("a")
    (rig.local / ".gitignore").write_text("*.log\n")
    lv = live()
    await until(same(rig))
    (rig.local / "b.py").write_text("new")
    (rig.local / "a.py").write_text("edited")
    (rig.local / "debug.log").write_text("never leaves")
    await until(same(rig))
    os.rename(rig.local / "b.py", rig.local / "c.py")
    (rig.local / "pkg" / "sub").mkdir(parents=True)
    for i in range(5):
        (rig.local / "pkg" / "sub" / f"m{i}.py").write_text(str(i))
    os.symlink("pkg/sub", rig.local / "link")
    os.chmod(rig.local / "a.py", 0o755)
    await until(same(rig))
    shutil.rmtree(rig.local / "pkg")
    (rig.local / "a.py").unlink()
    await until(same(rig))
    assert not (rig.remote / "debug.log").exists()
    assert lv.engine.take_edit_count() > 0 and lv.engine.take_edit_count() == 0
    assert lv.live.status()["state"] in ("watching", "syncing", "scanning")
    await lv.close()


async def test_watch_stops_when_the_root_is_emptied(rig: Rig, live: Callable[..., Live]) -> None:
    for i in range(3):
        (rig.local / f"f{i}").write_text(str(i))
    lv = live()
    await until(same(rig))
    for i in range(3):
        (rig.local / f"f{i}").unlink()
    with pytest.raises(SyncStopped):
        await asyncio.wait_for(lv.task, 15)
    assert sorted(p.name for p in rig.remote.iterdir()) == ["f0", "f1", "f2"]


async def test_pod_restart_on_a_new_port_resumes_by_itself(
    rig: Rig, live: Callable[..., Live]
) -> None:
    (rig.local / "a").write_text("1")
    lv = live()
    await until(same(rig))
    crash_pod(rig.pod)
    await rig.pod.stop()
    (rig.local / "a").write_text("written while the pod was down")
    (rig.local / "b").write_text("also")
    await until(lambda: lv.live.state == "disconnected", timeout=30)
    await rig.pod.start()  # a new port and a new host key, as after a RunPod resume
    await until(same(rig), timeout=30)
    kinds = [ev.kind for ev in rig.events]
    assert "sync.disconnected" in kinds and "sync.reconnected" in kinds
    await lv.close()


async def test_reconnect_hands_in_a_new_connection(rig: Rig) -> None:
    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.destination import connect, parse_destination
    from rpdevd.sync.engine import SyncSpec

    (rig.local / "a").write_text("1")
    conn = await connect(parse_destination(rig.dest), rig.opts())
    spec = SyncSpec(rig.local, str(rig.remote), "daemon-pair", rescan_interval=600)
    eng = SyncEngine(spec, baseline=Baseline(rig.db), conn=conn)
    lv = Live(eng)
    await until(same(rig))
    crash_pod(rig.pod)
    await rig.pod.stop()
    await rig.pod.start()
    conn.close()
    (rig.local / "b").write_text("after restart")
    await asyncio.sleep(0.3)
    new = await connect(parse_destination(rig.dest), rig.opts())
    await lv.live.reconnect(new)
    await until(same(rig), timeout=30)
    await lv.close()
    # The connection was handed in (shared with the daemon's other work): still open.
    assert (await new.run("echo still-open", check=True)).stdout == "still-open\n"
    new.close()
