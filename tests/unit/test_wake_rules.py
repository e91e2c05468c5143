"""When a connection may resume a stopped pod (wake on connect): only where it is on, and not
soon after rpdev stopped the pod for being idle (an editor reconnecting by itself would keep
it cycling all night)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rpdevd.daemon.server import RequestError
from rpdevd.daemon.ssh_config import SshConfigWriter
from rpdevd.daemon.state import PodState
from rpdevd.daemon.wake import WAKE_COOLDOWN, may_wake
from rpdevd.models import Pod


def stopped_pod(**settings: object) -> PodState:
    pod = Pod.from_api({"id": "abc123", "name": "trainer", "desiredStatus": "EXITED"})
    state = PodState(pod=pod, managed=True, wake_on_connect=True)
    for key, value in settings.items():
        setattr(state, key, value)
    return state


def test_wake_on_connect_off_refuses_and_says_how_to_start_it() -> None:
    with pytest.raises(RequestError) as exc:
        may_wake(stopped_pod(wake_on_connect=False), time.time())
    assert exc.value.code == "wake_off" and "rpdev resume trainer" in str(exc.value.hint)


def test_a_pod_rpdev_just_idle_stopped_is_not_woken_by_a_reconnect() -> None:
    just = stopped_pod(stopped_by_rpdev=True, idle_stopped_at=time.time() - 120)
    with pytest.raises(RequestError) as exc:
        may_wake(just, time.time())
    assert exc.value.code == "recently_idle_stopped"
    assert "2m" in exc.value.message and "rpdev resume trainer" in str(exc.value.hint)


@pytest.mark.parametrize(
    "settings",
    [
        {},  # stopped by the user or RunPod: a connection starts it
        {"stopped_by_rpdev": True, "idle_stopped_at": time.time() - WAKE_COOLDOWN - 60},
        {"stopped_by_rpdev": True},  # stopped by `rpdev stop`, not for idleness
    ],
)
def test_otherwise_a_connection_wakes_it(settings: dict[str, object]) -> None:
    may_wake(stopped_pod(**settings), time.time())


def test_only_a_confirmed_endpoint_reaches_the_ssh_config(tmp_path: Path) -> None:
    """A restarted pod keeps its old address in memory while the new one is confirmed; the
    generated entry must not carry it (it may be another pod's by now)."""
    from tests.daemon_core import Core

    running = Pod.from_api({"id": "abc123", "name": "trainer", "desiredStatus": "RUNNING"})
    state = PodState(pod=running, managed=True, ssh_host="1.2.3.4", ssh_port=40001)
    core = Core(tmp_path / "state.db")
    core.pods[state.id] = state
    svc = SshConfigWriter(core, core.register)
    for endpoint_state, host in (
        ("confirming", None),
        ("starting", None),
        ("confirmed", "1.2.3.4"),
    ):
        state.endpoint_state = endpoint_state
        [entry] = svc.host_entries()
        assert (entry.host, entry.running) == (host, True), endpoint_state
