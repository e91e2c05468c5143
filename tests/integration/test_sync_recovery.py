"""A [[sync]] root after its pod restarts: it reconnects as soon as the new endpoint is confirmed,
not when its backoff ends, and the outage's error clears once it recovers. A root whose pod
leaves the account stops trying and says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rpdevd.client import Client
from tests.integration.harness import SimThread, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(150)


def call(method: str, params: dict | None = None) -> Any:
    with Client(timeout=20) as c:
        return c.call(method, params or {})


def events(kind: str | None = None) -> list[dict[str, Any]]:
    evs = call("events", {"limit": 1000})["events"]
    return [e for e in evs if kind is None or e["kind"] == kind]


def root() -> dict[str, Any]:
    (r,) = call("sync.list")["roots"]
    return r


@pytest.fixture
def synced(sim: SimThread, home: Path, client_key, user: str, tmp_path: Path):
    pod = sim.run(sim.sim.add_pod(name="dev"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('v1')\n")
    write_config(
        home,
        'poll_interval = "1s"\n[[pod]]\nname = "dev"\n'
        f'[[sync]]\npod = "dev"\nlocal = "{project}"\nremote = "/workspace/project"\n'
        + ssh_config_lines(client_key.private, user),
    )
    return pod, project, sim.sim.pods[pod.id].workspace / "project"


def test_a_restarted_pod_is_synced_again_once_confirmed_and_the_error_clears(
    synced, sim: SimThread, start_daemon
) -> None:
    pod, project, remote = synced
    start_daemon()
    wait_until(lambda: (remote / "train.py").exists(), 30, what="first sync")
    sim.run(sim.sim.stop_pod(pod.id))
    # Edits made while the pod is down each wake the engine, whose tries fail: its backoff
    # grows to the longest wait (30 s), as after a long restart.
    n = 0

    def long_backoff() -> dict[str, Any] | None:
        nonlocal n
        n += 1
        (project / f"edit{n % 3}.py").write_text(f"x = {n}\n")
        retries = [e for e in events("sync.retry") if e["data"].get("delay", 0) >= 30]
        return retries[-1] if retries else None

    first = wait_until(long_backoff, 90, interval=0.5, what="a 30 s reconnect backoff")
    (project / "train.py").write_text("print('v2')\n")  # made during the restart
    # That edit woke the engine once more: its try failed, and the next is announced.
    retry = wait_until(
        lambda: [e for e in events("sync.retry") if e["seq"] > first["seq"]][-1:],
        30,
        what="the try after the last edit",
    )[0]
    assert retry["data"]["delay"] >= 30 and root()["last_error"]
    sim.run(sim.sim.resume(pod.id))
    wait_until(
        lambda: (
            (remote / "train.py").exists() and (remote / "train.py").read_text() == "print('v2')\n"
        ),
        60,
        what="the edit on the restarted pod",
    )
    seen = events()
    reconnected = [e for e in seen if e["kind"] == "sync.reconnected" and e["seq"] > retry["seq"]]
    confirmed = [e for e in seen if e["kind"] == "endpoint.confirmed" and e["seq"] > retry["seq"]]
    assert reconnected and confirmed, seen[-30:]
    # Woken by the confirmation, not by its timer: the engine's own next try was due no
    # earlier than 0.8 x 30 s after the last announced one.
    assert reconnected[0]["t"] < retry["t"] + 0.8 * retry["data"]["delay"], seen[-30:]
    assert reconnected[0]["seq"] > confirmed[0]["seq"]
    r = wait_until(lambda: (r := root())["state"] == "watching" and r, 30, what="watching")
    assert r["last_error"] is None  # recovered: the error is gone (events keep it)


def test_a_root_whose_pod_left_the_account_stops_and_says_so(
    synced, sim: SimThread, start_daemon
) -> None:
    pod, project, remote = synced
    start_daemon()
    wait_until(lambda: (remote / "train.py").exists(), 30, what="first sync")
    wait_until(lambda: root()["state"] == "watching", 30, what="watching after the first sync")
    sim.run(sim.sim.remove_pod(pod.id))
    r = wait_until(lambda: (r := root())["state"] == "pod gone" and r, 30, what="pod gone")
    assert "gone from the account" in (r["last_error"] or "")
    (stopped,) = events("sync.stopped")
    # Several polls later it has not tried again.
    polled = call("status")["api"]["last_poll"]
    wait_until(lambda: call("status")["api"]["last_poll"] > polled + 3, 30, what="more polls")
    assert not [e for e in events("sync.retry") if e["seq"] > stopped["seq"]]
    assert root()["state"] == "pod gone"
