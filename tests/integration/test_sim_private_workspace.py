"""A simulated pod's `/workspace` is its own folder for every tool (ssh, sftp, `rpdev sync once`),
and nothing of it is written to this machine's `/`: the demo's pods run so (issue 13, item 6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rpdevd.sim.pods import SimPod
from rpdevd.sim.private_root import unavailable_reason
from rpdevd.sim.server import SimRunPod
from rpdevd.sim.sshd import KeyPair

pytestmark = pytest.mark.sshd
WHY_NOT = unavailable_reason(os.geteuid(), shutil.which("unshare"))
needs_namespace = pytest.mark.skipif(
    WHY_NOT is not None, reason=f"no private /workspace here: {WHY_NOT}"
)

HOST_WORKSPACE = Path("/workspace")


def mounts_under(folder: Path) -> list[str]:
    """This machine's mounts (as this process sees them) at or below `folder`."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line for line in lines if line.split()[4].startswith(str(folder))]


@pytest.fixture
async def sim(home: Path, tmp_path: Path, client_key: KeyPair) -> AsyncIterator[SimRunPod]:
    s = SimRunPod(tmp_path / "sim", "sim-key", client_key.public, private_workspace=True)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def ssh_config(path: Path, key: KeyPair, pods: dict[str, SimPod]) -> Path:
    assert all(p.sshd is not None for p in pods.values())
    path.write_text(
        "".join(
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {pod.port}\n"
            f"  User {pod.sshd.user if pod.sshd else ''}\n  IdentityFile {key.private}\n"
            "  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
            for alias, pod in pods.items()
        )
    )
    return path


def ssh(config: Path, alias: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", str(config), alias, command],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


@needs_namespace
async def test_each_pod_sees_its_own_folder_as_workspace_and_the_host_is_untouched(
    sim: SimRunPod, tmp_path: Path, client_key: KeyPair
) -> None:
    host_had_workspace = HOST_WORKSPACE.exists()
    a = await sim.add_pod(name="a")
    b = await sim.add_pod(name="b")
    assert a.state()["private_workspace"] and b.state()["private_workspace"], a.state()
    (a.workspace / "only-on-a.txt").write_text("a\n")
    (b.workspace / "only-on-b.txt").write_text("b\n")
    config = ssh_config(tmp_path / "ssh_config", client_key, {"a.runpod": a, "b.runpod": b})

    seen_a = ssh(config, "a.runpod", "ls /workspace")
    seen_b = ssh(config, "b.runpod", "ls /workspace")
    assert seen_a.returncode == 0, seen_a.stderr
    assert seen_a.stdout.split() == ["only-on-a.txt"]
    assert seen_b.stdout.split() == ["only-on-b.txt"], seen_b.stderr

    # sftp, as editors and `scp` use it.
    sftp = subprocess.run(
        ["sftp", "-F", str(config), "-b", "-", "a.runpod"],
        input="ls /workspace\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert sftp.returncode == 0 and "only-on-a.txt" in sftp.stdout, sftp.stderr

    # `rpdev sync once` to alias:/workspace/proj lands in the pod's own folder.
    local = tmp_path / "proj"
    local.mkdir()
    (local / "train.py").write_text("print('hi')\n")
    res = subprocess.run(
        [sys.executable, "-m", "rpdevd.cli", "sync", "once", "-F", str(config)]
        + [str(local), "a.runpod:/workspace/proj"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (a.workspace / "proj" / "train.py").read_text() == "print('hi')\n"
    assert not (b.workspace / "proj").exists()
    assert not Path("/workspace/proj").exists()
    assert HOST_WORKSPACE.exists() == host_had_workspace

    # A stopped pod leaves no mount behind on this machine.
    await sim.stop_pod(a.id)
    await sim.stop_pod(b.id)
    assert mounts_under(tmp_path) == []
    assert HOST_WORKSPACE.exists() == host_had_workspace


@needs_namespace
async def test_a_restarted_pod_keeps_its_workspace_private(
    sim: SimRunPod, tmp_path: Path, client_key: KeyPair
) -> None:
    pod = await sim.add_pod(name="a")
    (pod.workspace / "kept.txt").write_text("kept\n")
    await sim.restart(pod.id)
    assert pod.state()["private_workspace"]
    config = ssh_config(tmp_path / "ssh_config", client_key, {"a.runpod": pod})
    seen = ssh(config, "a.runpod", "cat /workspace/kept.txt; echo $RPDEV_SIM")
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.split() == ["kept", "1"]


async def test_without_the_option_the_pod_says_workspace_is_not_its_own(
    home: Path, tmp_path: Path, client_key: KeyPair
) -> None:
    async with SimRunPod(tmp_path / "sim", "sim-key", client_key.public) as s:
        pod = await s.add_pod(name="a")
        assert pod.state()["private_workspace"] is False
        assert pod.state()["workspace_note"] == "not asked for"


@needs_namespace
async def test_a_refused_mount_starts_the_pod_as_before_and_says_why(
    tmp_path: Path, client_key: KeyPair
) -> None:
    """The namespace cannot be set up (here: the folder to bind is missing): the pod still
    starts, without a private /workspace, and its note says what failed."""
    from rpdevd.sim.sshd import PodSSHD

    server = PodSSHD(
        tmp_path / "pod",
        authorized_keys=client_key.public,
        workspace=tmp_path / "missing",
        private_workspace=True,
    )
    await server.start()
    try:
        assert server.running and not server.workspace_private
        assert "no private /workspace" in server.workspace_note
        res = subprocess.run(
            ["ssh", *server.ssh_args(client_key.private), "true"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        assert res.returncode == 0, res.stderr
    finally:
        await server.stop()
    assert mounts_under(tmp_path) == []


def test_why_a_private_workspace_cannot_be_tried() -> None:
    assert unavailable_reason(0, "/usr/bin/unshare") is None
    assert unavailable_reason(1000, "/usr/bin/unshare") == "the simulator does not run as root"
    assert unavailable_reason(0, None) == "`unshare` is not installed"
