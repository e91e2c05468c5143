"""A sparse file arrives sparse: `sync once` over a real sshd keeps its holes on the pod."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD
from tests.integration.test_sync_once import Rig

MIB = 1 << 20


@pytest.fixture
def rig(tmp_path: Path, pod_sshd: PodSSHD, client_key: KeyPair) -> Rig:
    return Rig(tmp_path, pod_sshd, client_key)


async def sync(rig: Rig, via: str) -> tuple[bool, int]:
    if via == "bulk":  # `sync once` over the ssh binary: every batch through the receiver
        out = json.loads(rig.cli("once", "--json").stdout)
        return out["ok"], out["sent"]
    report = await rig.once()  # one file over asyncssh: SFTP
    return report.ok, report.sent


@pytest.mark.parametrize("via", ["bulk", "sftp"])
async def test_a_gib_sparse_file_takes_no_gib_on_the_pod(rig: Rig, via: str) -> None:
    data = os.urandom(MIB)
    img = rig.local / "disk.img"
    with img.open("wb") as fh:
        fh.truncate(1 << 30)
        fh.seek(512 * MIB)
        fh.write(data)
    if img.stat().st_blocks * 512 >= img.stat().st_size:
        pytest.skip("this file system does not keep holes")
    assert await sync(rig, via) == (True, 1)
    pod = rig.remote / "disk.img"
    assert pod.stat().st_size == 1 << 30
    assert pod.stat().st_blocks * 512 < 16 * MIB
    with pod.open("rb") as fh:
        fh.seek(512 * MIB)
        assert fh.read(MIB) == data
        assert fh.read(MIB) == bytes(MIB)
    assert await sync(rig, via) == (True, 0)
