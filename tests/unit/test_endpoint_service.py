"""The endpoint part wired to the connection pool and the SSH config writer, against a real sshd
pod: a confirmation inside the pod hands the endpoint to the pool (its subscribers told, a
connection to be had at once) and to the generated config; a stop withdraws it from both."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path

from rpdevd.config import Config, PodConfig, SSHSettings
from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.endpoints import EndpointService
from rpdevd.daemon.ssh_config import SshConfigWriter
from rpdevd.daemon.state import PodState
from rpdevd.models import Pod
from rpdevd.sim.sshd import KeyPair, PodSSHD
from rpdevd.sshconfig import files
from tests.daemon_core import Core

POD = "testpod1"


def pod(status: str, port: int | None) -> Pod:
    ports = [{"ip": "127.0.0.1", "isIpPublic": True, "privatePort": 22, "publicPort": port}]
    return Pod.from_api(
        {
            "id": POD,
            "name": "trainer",
            "desiredStatus": status,
            "runtime": {"uptimeInSeconds": 5, "ports": ports} if port else None,
        }
    )


async def test_confirmed_in_the_pod_then_withdrawn_when_it_stops(
    home: Path, pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    config = Config(
        pods=(PodConfig(id=POD),),
        ssh=SSHSettings(user=getpass.getuser(), identity_file=str(client_key.private)),
    )
    core = Core(home / "state.db", config)
    state = PodState(pod=pod("RUNNING", pod_sshd.port), managed=True)
    core.pods[POD] = state
    pool = ConnectionPool()
    told: list[str] = []
    pool.subscribe(told.append)
    service = EndpointService(core, pool, SshConfigWriter(core, core.register))

    service.reconcile()
    assert state.endpoint_state == "confirming" and not pool.is_ready(POD)
    checking = service.attempts[POD].task
    assert checking is not None
    await checking
    assert state.endpoint_state == "confirmed" and pool.is_ready(POD)
    assert told == [POD]
    conn = await pool.get(POD)
    assert conn is not None
    result = await conn.run("echo $RUNPOD_POD_ID", check=True)
    assert str(result.stdout).strip() == POD
    generated = files.generated_path().read_text()
    assert f"Port {pod_sshd.port}" in generated
    assert "ssh.status" in core.methods
    assert core.kinds("endpoint.") == ["endpoint.confirmed"]

    state.pod = pod("EXITED", None)
    service.reconcile()
    await service.writer.write()
    assert state.endpoint_state == "stopped" and not pool.is_ready(POD)
    await asyncio.wait_for(conn.wait_closed(), 10)
    assert await pool.get(POD) is None
    assert f"Port {pod_sshd.port}" not in files.generated_path().read_text()
