"""Never destroy work: conflicts, an emptied root, the deletion cap, no half-written files."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD
from rpdevd.sync.engine import SyncStopped
from rpdevd.sync.scan import LocalRootError
from tests.integration.test_sync_once import Rig, make_tree, snapshot


@pytest.fixture
def rig(tmp_path: Path, pod_sshd: PodSSHD, client_key: KeyPair) -> Rig:
    return Rig(tmp_path, pod_sshd, client_key)


async def test_pod_edit_then_local_edit_keeps_the_pods_version(rig: Rig) -> None:
    (rig.local / "train.py").write_text("v1")
    await rig.once()
    (rig.remote / "train.py").write_text("edited on the pod")
    (rig.local / "train.py").write_text("v2 local")
    report = await rig.once()
    assert (rig.remote / "train.py").read_text() == "v2 local"
    assert len(report.conflicts) == 1
    copy = rig.remote / report.conflicts[0]
    assert copy.name.startswith("train.py.rpdev-conflict-")
    assert copy.read_text() == "edited on the pod"
    assert any(ev.kind == "sync.conflict" for ev in rig.events)
    # The conflict copy is the user's now: later syncs leave it alone.
    (rig.local / "train.py").unlink()
    (rig.local / "other").write_text("o")
    await rig.once()
    assert copy.exists() and not (rig.remote / "train.py").exists()


async def test_pod_edit_alone_is_kept_and_reported(rig: Rig) -> None:
    (rig.local / "a.txt").write_text("local")
    await rig.once()
    (rig.remote / "a.txt").write_text("pod side, longer")
    report = await rig.once()
    assert (rig.remote / "a.txt").read_text() == "pod side, longer"
    assert report.notes


async def test_emptied_or_missing_root_deletes_nothing(rig: Rig) -> None:
    make_tree(rig.local, files=30)
    await rig.once()
    before = snapshot(rig.remote)
    for child in rig.local.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    with pytest.raises(SyncStopped, match="empty"):
        await rig.once()
    shutil.rmtree(rig.local)
    with pytest.raises(LocalRootError):
        await rig.once()
    assert snapshot(rig.remote) == before
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "rpdevd.cli",
            "sync",
            "once",
            str(rig.local),
            rig.dest,
            "-i",
            str(rig.key.private),
            *rig.ssh_options(),
            "--db",
            str(rig.db),
        ],
        capture_output=True,
        text=True,
        timeout=50,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 1 and "does not exist" in res.stderr
    assert snapshot(rig.remote) == before


async def test_deletions_above_the_cap_wait_for_a_yes(rig: Rig) -> None:
    for i in range(30):
        (rig.local / f"f{i}").write_text(str(i))
    (rig.local / "keep").write_text("k")
    await rig.once()
    for i in range(30):
        (rig.local / f"f{i}").unlink()
    report = await rig.once(max_delete=10)
    assert report.held == 30 and report.deleted == 0
    assert len(list(rig.remote.iterdir())) == 31
    assert any(ev.kind == "sync.held" for ev in rig.events)
    res = rig.cli("once", "--max-delete", "10", check=False)
    assert res.returncode == 3 and "held" in res.stderr
    asked: list[int] = []

    async def yes(held: list) -> bool:  # noqa: ANN001
        asked.append(len(held))
        return True

    report = await rig.once(max_delete=10, confirm=yes)
    assert asked == [30] and report.deleted == 30
    assert [p.name for p in rig.remote.iterdir()] == ["keep"]


@pytest.fixture
def shm_rig(tmp_path: Path, rig: Rig) -> Iterator[Rig]:
    """The same rig with both trees in memory where /dev/shm exists: ten thousand file
    creations on a busy disk cost more than the sync under test."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        yield rig
        return
    base = Path(tempfile.mkdtemp(dir=shm, prefix="rpdev-test-"))
    try:
        fast = Rig(base, rig.pod, rig.key)
        fast.db = rig.db
        yield fast
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
async def test_ten_thousand_deletions_are_held_until_confirmed(shm_rig: Rig) -> None:
    rig = shm_rig
    for d in range(100):
        sub = rig.local / f"d{d:03d}"
        sub.mkdir()
        for i in range(100):
            (sub / f"{i}").write_bytes(b"")
    (rig.local / "keep").write_text("k")
    await rig.once()
    for d in range(100):
        shutil.rmtree(rig.local / f"d{d:03d}")
    report = await rig.once()
    assert report.held == 10_100 and report.deleted == 0
    assert sum(1 for _ in rig.remote.rglob("*")) == 10_101
    out = rig.cli("once", "--yes", "--json")
    assert '"deleted": 10100' in out.stdout
    assert [p.name for p in rig.remote.iterdir()] == ["keep"]


@pytest.mark.slow
async def test_a_partly_written_file_is_never_visible(rig: Rig) -> None:
    big = os.urandom(25 << 20)
    (rig.local / "weights.bin").write_bytes(big)
    (rig.local / "small").write_text("s")
    seen: list[int] = []
    stop = asyncio.Event()

    def watch_remote() -> None:
        target = rig.remote / "weights.bin"
        while not stop.is_set():
            try:
                size = target.stat().st_size
            except OSError:
                continue
            seen.append(size)

    watcher = asyncio.get_running_loop().run_in_executor(None, watch_remote)
    try:
        report = await rig.once()  # the SFTP path: two files, below the bulk threshold
        (rig.local / "weights.bin").write_bytes(big[::-1])
        for i in range(20):
            (rig.local / f"more{i}").write_text("m")
        await rig.once()  # the bulk path
    finally:
        stop.set()
        await watcher
    assert report.sent == 2
    assert seen and set(seen) == {len(big)}
    assert (rig.remote / "weights.bin").read_bytes() == big[::-1]
    assert any(
        ev.kind == "sync.progress" and ev.data["bytes_total"] >= len(big) for ev in rig.events
    )
