"""The RunPod boundary against the simulated RunPod over real HTTP: calls, errors, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rpdevd.api import (
    AuthError,
    NoFreeGPUs,
    PodNotFound,
    RetryPolicy,
    RunPodAPI,
    SpotResumeMisuse,
    StopUnsupported,
    TransientAPIError,
)
from rpdevd.models import Endpoint, Pod
from rpdevd.sim.server import SimRunPod
from rpdevd.sim.sshd import KeyPair

KEY = "sim-test-key"
# Retries without waits; an answer is waited for long enough for a loaded machine (a retried
# request would break the tests that count requests).
FAST = RetryPolicy(
    attempts=3, base_delay=0.01, max_delay=0.05, attempt_timeout=20, total_timeout=45
)


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
    client = RunPodAPI(KEY, policy=FAST)
    try:
        yield client
    finally:
        await client.aclose()


async def test_list_pods_is_one_request_for_all_pods(sim: SimRunPod, api: RunPodAPI) -> None:
    running = await sim.add_pod(name="trainer", gpu_count=2, cost_per_hr=5.98)
    stopped = await sim.add_pod(name="archive", status="EXITED", sshd=False)
    sim.set_gpu_util(running.id, [90, 10])
    sim.set_cpu(running.id, 55)
    pods = {p.id: p for p in await api.list_pods()}
    assert sim.requests == 1 and len(sim.calls_of("pods")) == 1
    trainer, archive = pods[running.id], pods[stopped.id]
    assert trainer.name == "trainer" and trainer.desired_status == "RUNNING"
    assert trainer.gpu_count == 2 and trainer.cost_per_hr == 5.98
    assert trainer.gpu_display_name == "NVIDIA H100 80GB HBM3"
    assert trainer.ssh_endpoint == Endpoint("127.0.0.1", running.port or 0)
    assert trainer.volume_mount_path == str(running.workspace)
    assert trainer.pod_host_id == running.host_id
    assert trainer.runtime is not None
    assert [g.util for g in trainer.runtime.gpus] == [90.0, 10.0]
    assert trainer.runtime.container is not None and trainer.runtime.container.cpu_percent == 55
    assert archive.desired_status == "EXITED" and archive.runtime is None
    assert archive.ssh_endpoint is None


async def test_get_pod_and_unknown_pod(sim: SimRunPod, api: RunPodAPI) -> None:
    pod = await sim.add_pod(name="one", sshd=False)
    assert (await api.get_pod(pod.id)).name == "one"
    with pytest.raises(PodNotFound):
        await api.get_pod("doesnotexist00")
    with pytest.raises(PodNotFound):
        await api.stop_pod("doesnotexist00")


async def test_stop_then_resume_gives_a_new_port(sim: SimRunPod, api: RunPodAPI) -> None:
    simpod = await sim.add_pod(name="trainer")
    first = (await api.get_pod(simpod.id)).ssh_endpoint
    await api.stop_pod(simpod.id)
    stopped = await api.get_pod(simpod.id)
    assert stopped.desired_status == "EXITED" and stopped.ssh_endpoint is None
    await api.resume_pod(stopped)
    resumed = await api.get_pod(simpod.id)
    assert resumed.desired_status == "RUNNING"
    assert resumed.ssh_endpoint is not None and resumed.ssh_endpoint != first
    assert sim.calls_of("podResume") == [{"podId": simpod.id, "gpuCount": 1}]
    assert sim.calls_of("podBidResume") == []


async def test_spot_pods_resume_with_a_bid(sim: SimRunPod, api: RunPodAPI) -> None:
    simpod = await sim.add_pod(name="spot", spot=True, bid_per_gpu=0.35, gpu_count=2)
    await sim.interrupt(simpod.id)
    sim.set_lowest_bid(simpod.id, 0.31)
    pod = await api.get_pod(simpod.id)
    assert pod.is_spot and pod.desired_status == "EXITED"
    assert pod.bid_per_gpu == pytest.approx(0.35) and pod.lowest_bid_to_resume == 0.31
    await api.resume_pod(pod)
    assert sim.calls_of("podBidResume") == [{"podId": simpod.id, "bidPerGpu": 0.31, "gpuCount": 2}]
    assert sim.calls_of("podResume") == []
    assert (await api.get_pod(simpod.id)).desired_status == "RUNNING"


async def test_a_spot_pod_resumed_as_on_demand_is_refused(sim: SimRunPod, api: RunPodAPI) -> None:
    simpod = await sim.add_pod(name="spot", spot=True, status="EXITED", sshd=False)
    mislabelled = Pod.from_api({"id": simpod.id, "podType": "RESERVED", "gpuCount": 1})
    with pytest.raises(SpotResumeMisuse) as info:
        await api.resume_pod(mislabelled)
    assert "Cannot resume a spot pod as an on demand pod." in info.value.message
    assert len(sim.calls_of("podResume")) == 1  # a definite error: not retried


async def test_a_pod_with_a_network_volume_cannot_be_stopped(
    sim: SimRunPod, api: RunPodAPI
) -> None:
    simpod = await sim.add_pod(name="nv", network_volume=True, sshd=False)
    with pytest.raises(StopUnsupported) as info:
        await api.stop_pod(simpod.id)
    assert "terminated" in info.value.hint
    assert (await api.get_pod(simpod.id)).desired_status == "RUNNING"


async def test_no_free_gpus_is_reported_not_retried(sim: SimRunPod, api: RunPodAPI) -> None:
    simpod = await sim.add_pod(name="trainer", status="EXITED", sshd=False)
    pod = await api.get_pod(simpod.id)
    sim.no_free_gpus(simpod.id, times=1)
    with pytest.raises(NoFreeGPUs) as info:
        await api.resume_pod(pod)
    assert "wait" in info.value.hint
    assert len(sim.calls_of("podResume")) == 1
    await api.resume_pod(pod)  # the machine has GPUs again
    assert (await api.get_pod(simpod.id)).desired_status == "RUNNING"


async def test_a_wrong_key_is_one_request_and_an_auth_error(sim: SimRunPod) -> None:
    client = RunPodAPI("wrong-key", policy=FAST)
    try:
        with pytest.raises(AuthError):
            await client.list_pods()
    finally:
        await client.aclose()
    assert sim.requests == 1


async def test_get_user_returns_the_accounts_keys(
    sim: SimRunPod, api: RunPodAPI, client_key: KeyPair
) -> None:
    user = await api.get_user()
    assert user.pub_key == client_key.public and user.id


@pytest.mark.parametrize(
    "inject",
    [
        lambda s: s.http_errors(500, times=2),
        lambda s: s.http_errors(502, times=2, body="json"),
        lambda s: s.http_errors(429, times=2, retry_after=0),
        lambda s: s.malformed_json(times=2),
        lambda s: s.graphql_error("Something went wrong. Please try again later.", times=2),
    ],
    ids=["500-html", "502-json", "429", "malformed", "generic-error"],
)
async def test_transient_faults_are_retried(sim: SimRunPod, api: RunPodAPI, inject) -> None:
    await sim.add_pod(name="one", sshd=False)
    inject(sim)
    assert [p.name for p in await api.list_pods()] == ["one"]
    assert sim.requests == 3


async def test_persistent_faults_give_up_after_bounded_attempts(
    sim: SimRunPod, api: RunPodAPI
) -> None:
    sim.http_errors(503, times=50)
    with pytest.raises(TransientAPIError) as info:
        await api.list_pods()
    assert sim.requests == FAST.attempts
    assert "503" in info.value.message and info.value.hint


async def test_a_slow_answer_times_out_and_is_retried(sim: SimRunPod) -> None:
    await sim.add_pod(name="one", sshd=False)
    sim.slow(4, times=1)
    # Time enough for an answer on a loaded machine, far less than the slow one takes.
    policy = RetryPolicy(
        attempts=3, base_delay=0.01, max_delay=0.05, attempt_timeout=1.5, total_timeout=15
    )
    client = RunPodAPI(KEY, policy=policy)
    try:
        assert [p.name for p in await client.list_pods()] == ["one"]
    finally:
        await client.aclose()
    assert sim.requests == 2


async def test_runtime_is_null_for_a_while_after_a_start(sim: SimRunPod, api: RunPodAPI) -> None:
    simpod = await sim.add_pod(name="trainer", status="EXITED", sshd=False)
    sim.runtime_null_for(3)  # a while that the next look falls inside, even on a loaded machine
    await api.resume_pod(await api.get_pod(simpod.id))
    starting = await api.get_pod(simpod.id)
    assert starting.desired_status == "RUNNING" and starting.runtime is None
    assert starting.ssh_endpoint is None
    later = starting
    for _ in range(300):  # then awaited to end
        if later.runtime is not None:
            break
        await asyncio.sleep(0.1)
        later = await api.get_pod(simpod.id)
    assert later.ssh_endpoint == Endpoint("127.0.0.1", simpod.port or 0)


async def test_terminated_pods_refuse_operations(sim: SimRunPod, api: RunPodAPI) -> None:
    simpod = await sim.add_pod(name="gone", status="TERMINATED", sshd=False)
    assert (await api.get_pod(simpod.id)).desired_status == "TERMINATED"
    with pytest.raises(PodNotFound):
        await api.stop_pod(simpod.id)


async def test_two_hundred_pods_in_one_call(sim: SimRunPod, api: RunPodAPI) -> None:
    for i in range(200):
        await sim.add_pod(name=f"pod-{i}", sshd=False, status="RUNNING" if i % 2 else "EXITED")
    pods = await api.list_pods()
    assert len(pods) == 200 and sim.requests == 1
    assert sum(p.ssh_endpoint is not None for p in pods) == 100
