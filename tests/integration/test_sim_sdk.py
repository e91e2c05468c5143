"""The runpod SDK's own functions work against the simulated RunPod (its real query texts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rpdevd.sim.server import SimRunPod
from rpdevd.sim.sshd import KeyPair

KEY = "sim-test-key"


@pytest.fixture
async def sim(
    tmp_path: Path, client_key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SimRunPod]:
    import runpod

    s = SimRunPod(tmp_path / "sim", KEY, client_key.public)
    monkeypatch.setenv("RUNPOD_API_BASE_URL", await s.start())
    monkeypatch.setattr(runpod, "api_key", KEY)  # stop/resume use only the global key
    try:
        yield s
    finally:
        await s.stop()


async def sdk(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call a blocking SDK function off the loop that serves the simulator."""
    import runpod

    return await asyncio.to_thread(getattr(runpod, name), *args, **kwargs)


async def test_get_pods_and_get_pod(sim: SimRunPod) -> None:
    a = await sim.add_pod(name="trainer", sshd=False)
    await sim.add_pod(name="archive", status="EXITED", sshd=False)
    pods = await sdk("get_pods")
    assert sorted(p["name"] for p in pods) == ["archive", "trainer"]
    one = await sdk("get_pod", a.id)
    assert one["desiredStatus"] == "RUNNING" and one["machine"]["gpuDisplayName"]
    ssh = [p for p in one["runtime"]["ports"] if p["privatePort"] == 22]
    assert ssh == [
        {
            "ip": "127.0.0.1",
            "isIpPublic": True,
            "privatePort": 22,
            "publicPort": a.port,
            "type": "tcp",
        }
    ]


async def test_stop_resume_terminate(sim: SimRunPod) -> None:
    a = await sim.add_pod(name="trainer", sshd=False)
    assert (await sdk("stop_pod", a.id))["desiredStatus"] == "EXITED"
    resumed = await sdk("resume_pod", a.id, 1)
    assert resumed["desiredStatus"] == "RUNNING" and resumed["machine"]["podHostId"] == a.host_id
    await sdk("terminate_pod", a.id)
    assert (await sdk("get_pod", a.id))["desiredStatus"] == "TERMINATED"


async def test_resuming_a_spot_pod_on_demand_fails_with_runpods_message(sim: SimRunPod) -> None:
    from runpod.error import QueryError

    spot = await sim.add_pod(name="spot", spot=True, status="EXITED", sshd=False)
    with pytest.raises(QueryError, match="Cannot resume a spot pod as an on demand pod."):
        await sdk("resume_pod", spot.id, 1)


async def test_user_and_pubkey_update(sim: SimRunPod, client_key: KeyPair) -> None:
    user = await sdk("get_user", api_key=KEY)
    assert user["pubKey"] == client_key.public and user["networkVolumes"] == []
    both = client_key.public + "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample other"
    assert (await sdk("update_user_settings", both, api_key=KEY))["pubKey"] == both
    assert sim.pub_key == both


async def test_a_wrong_key_is_an_authentication_error(sim: SimRunPod) -> None:
    from runpod.error import AuthenticationError

    with pytest.raises(AuthenticationError):
        await sdk("get_pods", api_key="wrong")
