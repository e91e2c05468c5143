"""What a simulated pod has of a real one for code running on it: a pod-scoped key in
RUNPOD_API_KEY that the simulated API accepts for that pod only, and `runpodctl` first on the
PATH of its SSH sessions (non-interactive commands and login shells alike)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from rpdevd.sim.server import SimRunPod
from rpdevd.sim.sshd import KeyPair

KEY = "sim-account-key"
pytestmark = pytest.mark.sshd


@pytest.fixture
async def sim(tmp_path: Path, client_key: KeyPair) -> AsyncIterator[SimRunPod]:
    s = SimRunPod(tmp_path / "sim", KEY, client_key.public)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def on_pod(sim: SimRunPod, pod_id: str, key: KeyPair, command: str) -> tuple[int, str]:
    """`ssh pod COMMAND` with the real ssh client: stdout and stderr together."""
    pod = sim.pods[pod_id]
    assert pod.sshd is not None and pod.port is not None
    proc = await asyncio.create_subprocess_exec(
        *("ssh", "-p", str(pod.port), "-i", str(key.private), "-o", "IdentitiesOnly=yes"),
        *("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"),
        *("-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"),
        f"{pod.sshd.user}@127.0.0.1",
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def graphql(sim: SimRunPod, key: str, query: str) -> tuple[int, dict]:
    assert sim.base_url is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(
            sim.base_url + "/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {key}"},
        ) as answer:
            return answer.status, await answer.json()


async def test_each_pod_has_its_own_key_and_runpodctl_first_on_its_path(
    sim: SimRunPod, client_key: KeyPair
) -> None:
    a = await sim.add_pod(name="a")
    b = await sim.add_pod(name="b")
    assert a.api_key != b.api_key and KEY not in (a.api_key, b.api_key)
    rc, out = await on_pod(sim, a.id, client_key, 'echo "$RUNPOD_API_KEY"; command -v runpodctl')
    assert rc == 0, out
    key, where = out.split()
    assert key == a.api_key
    assert where == str(a.bindir / "runpodctl")
    # A login shell too (whose /etc/profile resets PATH): the pod's ~/.profile puts it first.
    rc, out = await on_pod(sim, a.id, client_key, "exec bash -lc 'command -v runpodctl'")
    assert rc == 0 and out.strip() == str(a.bindir / "runpodctl"), out


async def test_runpodctl_on_a_pod_gets_and_stops_that_pod_with_its_own_key(
    sim: SimRunPod, client_key: KeyPair
) -> None:
    pod = await sim.add_pod(name="trainer")
    rc, out = await on_pod(sim, pod.id, client_key, 'runpodctl get pod "$RUNPOD_POD_ID"')
    assert rc == 0, out
    header, row = out.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "GPU"] and row.split()[:2] == [pod.id, "trainer"]
    assert row.split()[-1] == "RUNNING"
    # Stopping the pod ends the session that runs runpodctl, as on RunPod: the session may end
    # before the simulator has finished the stop, so wait for it.
    await on_pod(sim, pod.id, client_key, 'runpodctl stop pod "$RUNPOD_POD_ID"')
    for _ in range(300):
        if pod.status == "EXITED":
            break
        await asyncio.sleep(0.1)
    assert pod.status == "EXITED"
    assert sim.calls_of("podStop") == [{"podId": pod.id}]
    assert ("podStop", f"pod:{pod.id}") in sim.key_uses
    assert all(who != "account" for _, who in sim.key_uses)  # never the account's key


async def test_a_pod_key_cannot_touch_another_pod_nor_the_account(
    sim: SimRunPod, client_key: KeyPair
) -> None:
    mine = await sim.add_pod(name="mine")
    other = await sim.add_pod(name="other")
    rc, out = await on_pod(sim, mine.id, client_key, f"runpodctl stop pod {other.id}")
    assert rc == 1 and out.startswith("Error: ") and f"scoped to pod {mine.id}" in out, out
    rc, out = await on_pod(sim, mine.id, client_key, f"runpodctl get pod {other.id}")
    assert rc == 1 and "scoped" in out, out
    rc, out = await on_pod(sim, mine.id, client_key, "runpodctl get pod")  # the whole account
    assert rc == 1 and "scoped" in out, out
    assert other.status == "RUNNING" and sim.calls_of("podStop") == []
    for query in (
        "{ myself { pods { id } } }",
        f'mutation {{ podResume(input: {{podId: "{mine.id}"}}) {{ id }} }}',
        f'mutation {{ podTerminate(input: {{podId: "{mine.id}"}}) }}',
        'mutation { updateUserSettings(input: {pubKey: "x"}) { id } }',
    ):
        status, body = await graphql(sim, mine.api_key, query)
        assert status == 200 and "scoped" in body["errors"][0]["message"], (query, body)
    # The account's key still does everything; a made-up key nothing.
    status, body = await graphql(sim, KEY, "{ myself { pods { id } } }")
    assert status == 200 and len(body["data"]["myself"]["pods"]) == 2
    status, _ = await graphql(sim, "rpa_POD" + "0" * 40, "{ myself { pods { id } } }")
    assert status == 401


async def test_runpodctl_without_a_key_or_with_a_wrong_command_says_so(
    sim: SimRunPod, client_key: KeyPair
) -> None:
    pod = await sim.add_pod(name="p")
    rc, out = await on_pod(sim, pod.id, client_key, "env -u RUNPOD_API_KEY runpodctl get pod x1")
    assert rc == 1 and "RUNPOD_API_KEY" in out, out
    rc, out = await on_pod(sim, pod.id, client_key, "runpodctl create pod")
    assert rc == 1 and "usage: runpodctl" in out, out
