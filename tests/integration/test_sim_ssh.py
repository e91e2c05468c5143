"""Simulated pods are real sshd servers: new port and host key on every start, pod env inside."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rpdevd.api import RetryPolicy, RunPodAPI
from rpdevd.models import Endpoint
from rpdevd.sim.server import SimRunPod
from rpdevd.sim.sshd import KeyPair

KEY = "sim-test-key"
pytestmark = pytest.mark.sshd


@pytest.fixture
async def sim(
    tmp_path: Path, client_key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SimRunPod]:
    s = SimRunPod(tmp_path / "sim", KEY, client_key.public)
    monkeypatch.setenv("RUNPOD_API_BASE_URL", await s.start())
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def api(sim: SimRunPod) -> AsyncIterator[RunPodAPI]:
    client = RunPodAPI(KEY, policy=RetryPolicy(attempts=2, base_delay=0.01))
    try:
        yield client
    finally:
        await client.aclose()


async def ssh(
    endpoint: Endpoint, key: KeyPair, command: str, known_hosts: Path | None = None
) -> tuple[int, str]:
    """The real ssh client, as a user would run it."""
    check = (
        ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"]
        if known_hosts
        else ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    )
    proc = await asyncio.create_subprocess_exec(
        "ssh",
        "-p",
        str(endpoint.port),
        "-i",
        str(key.private),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "LogLevel=ERROR",
        *check,
        "-F",
        "/dev/null",
        f"{getpass.getuser()}@{endpoint.host}",
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def endpoint_of(api: RunPodAPI, pod_id: str) -> Endpoint:
    endpoint = (await api.get_pod(pod_id)).ssh_endpoint
    assert endpoint is not None
    return endpoint


async def test_the_endpoint_from_the_api_is_the_pod(
    sim: SimRunPod, api: RunPodAPI, client_key: KeyPair
) -> None:
    simpod = await sim.add_pod(name="trainer", gpu_count=2)
    pod = await api.get_pod(simpod.id)
    assert pod.ssh_endpoint is not None and pod.volume_mount_path
    rc, out = await ssh(
        pod.ssh_endpoint,
        client_key,
        "echo $RUNPOD_POD_ID $RUNPOD_TCP_PORT_22 $RUNPOD_PUBLIC_IP "
        "$RUNPOD_GPU_COUNT $RUNPOD_POD_HOSTNAME; "
        f"echo hello > {pod.volume_mount_path}/from-ssh.txt",
    )
    assert rc == 0, out
    assert out.split() == [simpod.id, str(pod.ssh_endpoint.port), "127.0.0.1", "2", simpod.host_id]
    assert (simpod.workspace / "from-ssh.txt").read_text() == "hello\n"


async def test_restart_gives_a_new_port_and_host_key(
    sim: SimRunPod, api: RunPodAPI, client_key: KeyPair, tmp_path: Path
) -> None:
    simpod = await sim.add_pod(name="trainer")
    assert simpod.sshd is not None
    before = await endpoint_of(api, simpod.id)
    key_before = simpod.sshd.host_public_key
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{before.port} {key_before}\n")
    assert (await ssh(before, client_key, "true", known))[0] == 0
    await sim.restart(simpod.id)
    after = await endpoint_of(api, simpod.id)
    assert after.port != before.port and simpod.sshd.host_public_key != key_before
    assert (await ssh(before, client_key, "true"))[0] != 0  # the old port is gone
    known.write_text(f"[127.0.0.1]:{after.port} {key_before}\n")
    rc, out = await ssh(after, client_key, "true", known)  # the old key is refused
    assert rc != 0 and "host key" in out.lower()
    known.write_text(f"[127.0.0.1]:{after.port} {simpod.sshd.host_public_key}\n")
    assert (await ssh(after, client_key, "echo $RUNPOD_TCP_PORT_22", known)) == (
        0,
        f"{after.port}\n",
    )


async def test_stop_kills_sshd_and_resume_starts_a_new_one(
    sim: SimRunPod, api: RunPodAPI, client_key: KeyPair
) -> None:
    simpod = await sim.add_pod(name="trainer")
    before = await endpoint_of(api, simpod.id)
    await api.stop_pod(simpod.id)
    assert (await ssh(before, client_key, "true"))[0] != 0
    await api.resume_pod(await api.get_pod(simpod.id))
    after = await endpoint_of(api, simpod.id)
    assert after != before
    assert await ssh(after, client_key, "echo $RUNPOD_POD_ID") == (0, f"{simpod.id}\n")


async def test_a_spot_interruption_kills_the_pod(
    sim: SimRunPod, api: RunPodAPI, client_key: KeyPair
) -> None:
    simpod = await sim.add_pod(name="spot", spot=True, bid_per_gpu=0.3)
    before = await endpoint_of(api, simpod.id)
    await sim.interrupt(simpod.id)
    pod = await api.get_pod(simpod.id)
    assert pod.desired_status == "EXITED" and pod.ssh_endpoint is None
    assert (await ssh(before, client_key, "true"))[0] != 0


async def test_stale_ports_point_at_a_closed_port_for_a_while(
    sim: SimRunPod, api: RunPodAPI, client_key: KeyPair
) -> None:
    simpod = await sim.add_pod(name="trainer")
    before = await endpoint_of(api, simpod.id)
    # The while counts from before the new sshd starts, which takes its time on a loaded
    # machine: a few seconds, so the first look falls inside it; then awaited to end.
    sim.stale_ports_for(4)
    await sim.restart(simpod.id)
    stale = await endpoint_of(api, simpod.id)
    assert stale == before and simpod.port != before.port
    assert (await ssh(stale, client_key, "true"))[0] != 0
    fresh = await endpoint_of(api, simpod.id)
    for _ in range(300):
        if fresh != stale:
            break
        await asyncio.sleep(0.1)
        fresh = await endpoint_of(api, simpod.id)
    assert fresh.port == simpod.port
    assert await ssh(fresh, client_key, "echo $RUNPOD_POD_ID") == (0, f"{simpod.id}\n")


async def test_a_stale_port_can_be_answered_by_another_pod(
    sim: SimRunPod, api: RunPodAPI, client_key: KeyPair
) -> None:
    mine = await sim.add_pod(name="mine")
    other = await sim.add_pod(name="other")
    sim.stale_ports_for(30, mode="other")
    await sim.restart(mine.id)
    stale = await endpoint_of(api, mine.id)
    assert stale.port == other.port
    # SSH answers, but inside it is another pod: only an in-pod check can tell.
    assert await ssh(stale, client_key, "echo $RUNPOD_POD_ID") == (0, f"{other.id}\n")


async def test_only_the_accounts_key_gets_in(
    sim: SimRunPod, api: RunPodAPI, tmp_path: Path
) -> None:
    from rpdevd.sim.sshd import generate_keypair

    stranger = generate_keypair(tmp_path / "stranger")
    simpod = await sim.add_pod(name="trainer")
    rc, _ = await ssh(await endpoint_of(api, simpod.id), stranger, "true")
    assert rc != 0
