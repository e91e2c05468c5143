"""Every restart gives a full idle_timeout (issue 13.2), against a real daemon and the simulated
RunPod's real sshd pods: a stop and resume by rpdev seconds apart, and a restart between two polls
that only RunPod's uptime shows. The assertions are lower bounds on when the stop comes, so a slow machine
can only make them pass later, never fail them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rpdevd.client import Client
from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

IDLE_TIMEOUT, WARN_BEFORE = 20.0, 4.0  # seconds


def events(kind: str) -> list[dict]:
    with Client(timeout=10) as c:
        return [e for e in c.call("events", {"limit": 1000})["events"] if e["kind"] == kind]


@pytest.fixture
def idle_pod(sim: SimThread, home: Path, client_key, user: str):
    pod = sim.run(sim.sim.add_pod(name="idler"))
    sim.call(sim.sim.set_gpu_util, pod.id, [0.0], [0.0])
    write_config(
        home,
        'poll_interval = "1s"\nprobe_interval = "1s"\n'
        f'[[pod]]\nname = "idler"\npolicy = "idle-stop"\nidle_timeout = "{IDLE_TIMEOUT:.0f}s"\n'
        f'warn_before = "{WARN_BEFORE:.0f}s"\n' + ssh_config_lines(client_key.private, user),
    )
    return pod


def wait_idle_for(seconds: float) -> None:
    """Until the daemon has counted the pod idle for `seconds` (its countdown shows it)."""

    def counted() -> bool:
        with Client(timeout=10) as c:
            pod = next((p for p in c.call("status")["pods"] if p["name"] == "idler"), {})
        deadline = pod.get("idle_deadline")
        return bool(deadline) and deadline - time.time() <= IDLE_TIMEOUT - seconds

    wait_until(counted, timeout=60, interval=0.5, what=f"{seconds:.0f}s of idle time")


def the_stop() -> dict:
    return wait_until(lambda: events("idle.stop"), timeout=90, interval=0.5, what="the stop")[0]


def test_a_stop_and_resume_seconds_apart_give_a_full_timeout(
    idle_pod, sim: SimThread, start_daemon
) -> None:
    start_daemon()
    wait_idle_for(10)
    assert cli("stop", "idler").returncode == 0
    resumed = time.time()  # taken before the resume: a lower bound that load cannot break
    assert cli("resume", "idler").returncode == 0
    # A full idle_timeout from the resume, after a warning.
    stop = the_stop()
    assert stop["t"] >= resumed + IDLE_TIMEOUT - 0.5, stop
    assert [w for w in events("idle.warn") if resumed < w["t"] < stop["t"]]


def test_a_restart_between_two_polls_seen_only_by_uptime_gives_a_full_timeout(
    idle_pod, sim: SimThread, start_daemon
) -> None:
    start_daemon()
    wait_idle_for(10)
    restarted = time.time()
    # EXITED and back in one call, as a reset from RunPod's console: a poll may see the pod
    # stopped, or only its uptime starting over.
    sim.run(sim.sim.restart(idle_pod.id))
    stop = the_stop()
    assert stop["t"] >= restarted + IDLE_TIMEOUT - 0.5, stop
    assert [w for w in events("idle.warn") if restarted < w["t"] < stop["t"]]
