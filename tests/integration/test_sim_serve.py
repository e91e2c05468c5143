"""`python -m rpdevd.sim serve` and the HTTP controls that another process drives it with."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rpdevd.api import RetryPolicy, RunPodAPI
from rpdevd.sim.client import SimControlError, control
from rpdevd.sim.server import SimRunPod
from rpdevd.sim.sshd import KeyPair

KEY = "sim-test-key"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def served(tmp_path: Path, client_key: KeyPair) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    pubkey = tmp_path / "pubkey"
    pubkey.write_text(client_key.public + "\n")
    port_file = tmp_path / "sim.port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rpdevd.sim",
            "serve",
            "--root",
            str(tmp_path / "sim"),
            "--pubkey-file",
            str(pubkey),
            "--demo",
            "--port-file",
            str(port_file),
        ],
        env={**os.environ, "RPDEV_SIM_API_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        assert proc.stdout is not None and proc.stdout.readline().decode().strip() == url
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


async def test_the_demo_server_serves_pods_and_controls(
    served: tuple[str, subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, proc = served
    monkeypatch.setenv("RUNPOD_API_BASE_URL", url)
    api = RunPodAPI(KEY, policy=RetryPolicy(attempts=2, base_delay=0.01))
    try:
        pods = {p.name: p for p in await api.list_pods()}
        assert set(pods) == {"trainer", "notebook", "spot-runner", "archive"}
        assert pods["spot-runner"].is_spot and pods["archive"].desired_status == "EXITED"
        trainer = pods["trainer"]
        assert trainer.ssh_endpoint is not None and port_open(trainer.ssh_endpoint.port)

        state = await asyncio.to_thread(
            control, url, KEY, "interrupt", pod_id=pods["spot-runner"].id
        )
        assert state["status"] == "EXITED"
        assert (await api.get_pod(pods["spot-runner"].id)).desired_status == "EXITED"
        await asyncio.to_thread(control, url, KEY, "set_gpu_util", pod_id=trainer.id, util=[5.0])
        runtime = (await api.get_pod(trainer.id)).runtime
        assert runtime is not None and runtime.gpus[0].util == 5.0
        calls = await asyncio.to_thread(control, url, KEY, "calls")
        assert ["pods", {}] in calls["calls"] and calls["requests"] == 3
    finally:
        await api.aclose()
    # SIGTERM stops every pod's sshd with the server.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert not port_open(trainer.ssh_endpoint.port)


@pytest.fixture
async def sim(tmp_path: Path, client_key: KeyPair) -> AsyncIterator[SimRunPod]:
    s = SimRunPod(tmp_path / "sim", KEY, client_key.public)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def test_controls_need_the_key_and_a_known_action(sim: SimRunPod) -> None:
    assert sim.base_url
    with pytest.raises(SimControlError, match="401"):
        await asyncio.to_thread(control, sim.base_url, "wrong", "state")
    with pytest.raises(SimControlError, match="404"):
        await asyncio.to_thread(control, sim.base_url, KEY, "__init__")
    with pytest.raises(SimControlError, match="400"):
        await asyncio.to_thread(control, sim.base_url, KEY, "restart", pod_id="nope")
    with pytest.raises(SimControlError, match="400"):
        await asyncio.to_thread(control, sim.base_url, KEY, "slow", bogus=1)


async def test_faults_over_http(sim: SimRunPod) -> None:
    assert sim.base_url
    pod = await asyncio.to_thread(control, sim.base_url, KEY, "add_pod", name="x", sshd=False)
    assert len(pod["id"]) == 14 and pod["status"] == "RUNNING"
    await asyncio.to_thread(control, sim.base_url, KEY, "http_errors", status=503, times=1)
    await asyncio.to_thread(control, sim.base_url, KEY, "no_free_gpus", pod_id=pod["id"])
    state = await asyncio.to_thread(control, sim.base_url, KEY, "state")
    assert state["faults"]["http"] == 1 and state["faults"]["no_free_gpus"] == {pod["id"]: 1}
    await asyncio.to_thread(control, sim.base_url, KEY, "remove_pod", pod_id=pod["id"])
    assert (await asyncio.to_thread(control, sim.base_url, KEY, "state"))["pods"] == []


async def test_graphql_endpoint_rejects_garbage(sim: SimRunPod) -> None:
    assert sim.base_url

    def post(body: bytes, key: str = KEY) -> tuple[int, dict[str, object]]:
        req = urllib.request.Request(
            f"{sim.base_url}/graphql",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    assert (await asyncio.to_thread(post, b"{}", "bad"))[0] == 401
    assert (await asyncio.to_thread(post, b"not json"))[0] == 400
    status, body = await asyncio.to_thread(
        post, json.dumps({"query": "{ myself { pods { bogusField } } }"}).encode()
    )
    assert status == 400 and "bogusField" in str(body["errors"])
    # Variables work too, as graphql clients other than the SDK send them.
    status, body = await asyncio.to_thread(
        post,
        json.dumps(
            {
                "query": "query($id: String) { pod(input: {podId: $id}) { id } }",
                "variables": {"id": "nope"},
            }
        ).encode(),
    )
    assert status == 200 and body == {"data": {"pod": None}}
