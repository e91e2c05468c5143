"""The activity probe over a real SSH connection to a real sshd standing in for the pod.

Everything runs on one machine here, so counting is restricted to the pod's sshd port, as the
daemon does on a pod (where sshd listens on 22).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from rpdevd.activity.decide import Policy
from rpdevd.activity.probe import ActivityProbe, connection_sockets
from rpdevd.activity.signals import assess
from rpdevd.sim.sshd import KeyPair, PodSSHD
from rpdevd.sshlib import asyncssh

pytestmark = pytest.mark.sshd


async def connect(pod: PodSSHD, key: KeyPair) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        pod.host, port=pod.port, username=pod.user, client_keys=[str(key.private)], known_hosts=None
    )


@pytest.fixture
async def conn(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    c = await connect(pod_sshd, client_key)
    try:
        yield c
    finally:
        c.close()
        await c.wait_closed()


def probe_for(pod: PodSSHD, workspace: Path) -> ActivityProbe:
    assert pod.port is not None
    return ActivityProbe(workspace=str(workspace), sshd_ports=[pod.port], first_window=0.3)


async def wait_for(predicate_probe, want, timeout: float = 30):  # type: ignore[no-untyped-def]
    # A connection shows up in /proc/net/tcp a moment after the client says it is open, and a
    # user's `ssh` takes its time to log in on a loaded machine: a deadline, not a count.
    deadline = time.monotonic() + timeout
    reading = await predicate_probe()
    while not want(reading) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        reading = await predicate_probe()
    return reading


async def test_own_connections_do_not_count_but_a_users_ssh_does(
    pod_sshd: PodSSHD, client_key: KeyPair, conn: asyncssh.SSHClientConnection, tmp_path: Path
) -> None:
    probe = probe_for(pod_sshd, tmp_path)
    alone = await probe.read(conn)
    assert (alone.ssh_connections, alone.ssh_sessions) == (0, 0)

    # The daemon's second connection (e.g. the sync's) is excluded by its sockets.
    sync = await connect(pod_sshd, client_key)
    user = None
    try:
        own = await connection_sockets(sync)
        assert own
        seen = await wait_for(lambda: probe.read(conn), lambda r: r.ssh_connections == 1)
        assert seen.ssh_connections == 1  # not excluded: it looks like a user's
        excluded = await probe.read(conn, exclude=own)
        assert (excluded.ssh_connections, excluded.ssh_sessions) == (0, 0)

        # A real user: the OpenSSH client with a terminal.
        user = subprocess.Popen(
            ["ssh", "-tt", *pod_sshd.ssh_args(client_key.private), "sleep 60"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        reading = await wait_for(
            lambda: probe.read(conn, exclude=own), lambda r: r.ssh_sessions == 1
        )
        assert (reading.ssh_connections, reading.ssh_sessions) == (1, 1)
        if pod_sshd.backend == "openssh":
            assert reading.ssh_input_idle_s is not None and reading.ssh_input_idle_s < 60
    finally:
        if user is not None:
            user.kill()
            user.wait(10)
            assert user.stdin is not None
            user.stdin.close()
        sync.close()
    gone = await wait_for(lambda: probe.read(conn), lambda r: r.ssh_connections == 0)
    assert (gone.ssh_connections, gone.ssh_sessions) == (0, 0)


def cpu_seconds(pid: int) -> float:
    """A process's own CPU time (user + system), as the kernel counts it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_cpu_busy_process_is_seen_busy(
    pod_sshd: PodSSHD, conn: asyncssh.SSHClientConnection, tmp_path: Path
) -> None:
    # The probe must see the CPU the pod's processes really used. How much a spinning loop gets
    # depends on what else the machine runs, so the figure it is held against is the loop's own
    # CPU time over the same stretch, not a fixed share of a core.
    probe = probe_for(pod_sshd, tmp_path)
    started = await conn.run(
        "sh -c 'while :; do :; done' >/dev/null 2>&1 & echo $!", check=True, timeout=20
    )
    pid = int(str(started.stdout).strip())
    try:
        spent_before, wall_before = cpu_seconds(pid), time.monotonic()
        await probe.read(conn)  # counters to measure from
        await asyncio.sleep(1.5)
        sample = await probe.sample(conn)
        spent = cpu_seconds(pid) - spent_before
        wall = time.monotonic() - wall_before
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert sample.probed and sample.cpu_pct is not None and sample.cpu_cores is not None
    loop_cores = spent / wall
    assert loop_cores > 0.05, "the loop never ran: nothing to measure against"
    # The probe's stretch lies inside the test's; other work may slow the loop, never the count.
    assert sample.cpu_cores >= 0.6 * loop_cores
    # And what the probe saw is what the decision reads.
    busy = Policy().thresholds
    half = replace(busy, cpu_pct=sample.cpu_pct / 2, cpu_cores=sample.cpu_cores / 2)
    verdict = assess(sample, half, [], 60)
    assert verdict.active and verdict.signal == "cpu"


async def test_no_gpu_here_and_hold_file_over_ssh(
    pod_sshd: PodSSHD, conn: asyncssh.SSHClientConnection, tmp_path: Path
) -> None:
    (tmp_path / ".rpdev").mkdir()
    (tmp_path / ".rpdev" / "hold").write_text("2h\n")
    sample = await probe_for(pod_sshd, tmp_path).sample(
        conn,
        runtime={
            "gpus": [{"id": "g0", "gpuUtilPercent": 0}],
            "container": {"cpuPercent": 3},
            "uptimeInSeconds": 100,
        },
    )
    assert sample.probed and sample.probe_error is None
    which = await conn.run(
        "command -v nvidia-smi || PATH=$PATH:/usr/local/nvidia/bin command -v nvidia-smi",
        check=False,
    )
    if not str(which.stdout).strip():
        assert sample.gpus == () and sample.gpu_error is None
    assert isinstance(sample.hold_until, float)
    assert abs(sample.hold_until - (sample.t + 7200)) < 10
    assert sample.api_gpu_util == (0.0,) and sample.api_cpu_pct == 3
    assert sample.to_json()["probe"] == "ok"


async def test_failed_probe_is_an_unreachable_sample(
    pod_sshd: PodSSHD, client_key: KeyPair, tmp_path: Path
) -> None:
    probe = probe_for(pod_sshd, tmp_path)
    none = await probe.sample(None, runtime={"gpus": [{"gpuUtilPercent": 91}]})
    assert none.probe == "unreachable" and none.api_gpu_util == (91.0,)
    c = await connect(pod_sshd, client_key)
    c.close()  # the connection dropped (pod stopped, network gone) before the probe
    await c.wait_closed()
    dead = await probe.sample(c, local_edits=2)
    assert dead.probe == "unreachable" and dead.probe_error and dead.local_edits == 2
    assert set(dead.to_json()) <= {"t", "status", "probe", "local_edits", "probe_error"}


async def test_data_rates_over_ssh_on_the_first_probe_and_between_probes(
    pod_sshd: PodSSHD, conn: asyncssh.SSHClientConnection, tmp_path: Path
) -> None:
    # This machine has interfaces besides lo and a readable /proc/net/dev, as a pod has.
    probe = probe_for(pod_sshd, tmp_path)
    first = await probe.sample(conn)  # the first probe measures over its own short window
    second = await probe.sample(conn)  # then over the whole interval since the previous one
    for sample in (first, second):
        assert sample.net_rx_bps is not None and sample.net_tx_bps is not None
        assert sample.net_rx_bps >= 0 and sample.net_tx_bps >= 0
        assert "net_rx_bps" in sample.to_json()
    assert probe.io_counters is not None
