"""Faults: sshd killed mid-transfer, the sync process SIGKILLed mid-sync. Both converge with
nothing lost, no conflict copies, and no rpdev temporaries left on the pod."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD
from tests.integration.test_sync_once import Rig, make_tree, snapshot
from tests.integration.test_sync_watch import Live, crash_pod, until


@pytest.fixture
def rig(tmp_path: Path, pod_sshd: PodSSHD, client_key: KeyPair) -> Rig:
    return Rig(tmp_path, pod_sshd, client_key)


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if ".rpdev-" in p.name]


@pytest.mark.slow
async def test_sshd_killed_mid_transfer_converges(rig: Rig) -> None:
    make_tree(rig.local, files=300, big=2)
    lv = Live(rig.engine(rescan_interval=600))
    try:
        await until(
            lambda: any(
                ev.kind == "sync.progress" and ev.data["bytes_done"] > 0 for ev in rig.events
            ),
            timeout=30,
        )
        crash_pod(rig.pod)
        await rig.pod.stop()
        (rig.local / "edited-while-down.txt").write_text("queued")
        await asyncio.sleep(0.5)
        await rig.pod.start()  # new port, new host key
        await until(
            lambda: rig.remote.is_dir() and snapshot(rig.remote) == snapshot(rig.local), timeout=45
        )
    finally:
        await lv.close()
    assert leftovers(rig.remote) == []
    assert not [ev for ev in rig.events if ev.kind == "sync.conflict"]


@pytest.mark.slow
async def test_sync_process_killed_mid_sync_converges(rig: Rig) -> None:
    make_tree(rig.local, files=500, big=2)
    cmd = [
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
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stage = [p for p in rig.remote.glob(".rpdev-stage-*")] if rig.remote.is_dir() else []
            if stage and any(stage[0].iterdir()):
                break
            await asyncio.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    # Edit a file the killed run had probably sent already, then sync again.
    (rig.local / "pkg00" / "mod0" / "f00020.py").write_text("edited after the crash")
    out = rig.cli("once", "--json")
    assert '"conflicts": []' in out.stdout
    assert snapshot(rig.remote) == snapshot(rig.local)
    assert leftovers(rig.remote) == []
