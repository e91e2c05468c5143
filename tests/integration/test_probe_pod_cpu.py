"""The probe reads a pod's own CPU time, never the machine's: through the pod's cgroup where it
has one (a container; a simulated pod run as root), else, for a simulated pod without one, the
CPU time of its sshd's process tree. A busy loop outside the pod does not show; one inside does.
Counters only, compared with the loops' own CPU time from /proc: no rate, no clock."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rpdevd.activity.probe import script
from rpdevd.sim.sshd import NO_CGROUP_ENV, KeyPair, PodSSHD
from rpdevd.sshlib import asyncssh

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]

TICK = os.sysconf("SC_CLK_TCK")
SPIN = 0.5  # seconds of CPU a loop burns between two readings


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def pod_cpu(conn: asyncssh.SSHClientConnection) -> float:
    """The pod's CPU counter (seconds) from the probe's cpusample line."""
    out = await conn.run("sh -s", input=script(), check=True, timeout=30)
    (line,) = [ln for ln in str(out.stdout).splitlines() if ln.startswith("cpusample ")]
    usage = line.split()[2]
    assert usage != "-", line
    return int(usage) / 1e9


async def spin_until(seconds: float, pid: int) -> None:
    start = cpu_seconds(pid)
    while cpu_seconds(pid) - start < seconds:
        await asyncio.sleep(0.05)


@pytest.fixture(params=["cgroup", "process-tree"])
async def pod(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    client_key: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[PodSSHD, asyncssh.SSHClientConnection]]:
    if request.param == "process-tree":
        monkeypatch.setenv(NO_CGROUP_ENV, "1")
    server = PodSSHD(tmp_path / "pod", authorized_keys=client_key.public)
    await server.start()
    try:
        if request.param == "cgroup" and server.cgroup is None:
            pytest.skip("no writable cgroup filesystem here (not root): the tree case covers it")
        assert (server.cgroup is None) == (request.param == "process-tree")
        known = tmp_path / "known_hosts"
        known.write_text(f"[{server.host}]:{server.port} {server.host_public_key}\n")
        conn = await asyncssh.connect(
            server.host,
            port=server.port,
            username=server.user,
            client_keys=[str(client_key.private)],
            known_hosts=str(known),
        )
        try:
            yield server, conn
        finally:
            conn.close()
            await conn.wait_closed()
    finally:
        await server.stop()


def busy_loop() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True)


async def test_a_busy_loop_outside_the_pod_does_not_count(
    pod: tuple[PodSSHD, asyncssh.SSHClientConnection],
) -> None:
    _, conn = pod
    outside = busy_loop()
    try:
        before = await pod_cpu(conn)
        await spin_until(SPIN, outside.pid)
        after = await pod_cpu(conn)
    finally:
        outside.kill()
        outside.wait()
    # The pod ran only the probe meanwhile: a small part of what the loop outside burnt.
    assert after - before < SPIN / 2, (before, after)


async def test_a_busy_loop_inside_the_pod_counts_in_full(
    pod: tuple[PodSSHD, asyncssh.SSHClientConnection],
) -> None:
    _, conn = pod
    proc = await conn.create_process("echo $$; exec sh -c 'while :; do :; done'")
    try:
        pid = int((await proc.stdout.readline()).strip())
        before = await pod_cpu(conn)
        await spin_until(SPIN, pid)
        after = await pod_cpu(conn)
    finally:
        proc.kill()
        proc.close()
    assert after - before >= SPIN, (before, after)
