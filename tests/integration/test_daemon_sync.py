"""[[sync]] roots inside the daemon: edits reach the pod's /workspace, count as activity, and a
root can be paused, added and removed at run time."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpdevd.client import Client
from tests.integration.harness import SimThread, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(120)


def call(method: str, params: dict | None = None):  # type: ignore[no-untyped-def]
    with Client(timeout=20) as c:
        return c.call(method, params or {})


@pytest.fixture
def synced(sim: SimThread, home: Path, client_key, user: str, tmp_path: Path):
    pod = sim.run(sim.sim.add_pod(name="dev"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('v1')\n")
    (project / ".gitignore").write_text("*.ckpt\n")
    (project / "big.ckpt").write_text("ignored")
    write_config(
        home,
        'poll_interval = "1s"\nprobe_interval = "1s"\n'
        '[[pod]]\nname = "dev"\npolicy = "idle-stop"\nidle_timeout = "30m"\n'
        f'[[sync]]\npod = "dev"\nlocal = "{project}"\nremote = "/workspace/project"\n'
        + ssh_config_lines(client_key.private, user),
    )
    return pod, project, sim.sim.pods[pod.id].workspace / "project"


def test_edits_reach_the_pod_and_count_as_activity(synced, start_daemon) -> None:
    pod, project, remote = synced
    start_daemon()
    states: list[tuple[str, str | None]] = []

    def synced_once() -> bool:
        # Until the pod is polled and its endpoint confirmed, the root waits: not an error.
        states.extend((r["state"], r["last_error"]) for r in call("sync.list")["roots"])
        return (remote / "train.py").exists()

    wait_until(synced_once, 30, what="first sync")
    assert not [s for s in states if s[0] == "error" or s[1]], states
    assert not (remote / "big.ckpt").exists()  # ignored files never leave the machine
    (project / "train.py").write_text("print('v2')\n")
    wait_until(lambda: (remote / "train.py").read_text() == "print('v2')\n", 30, what="edit")
    wait_until(
        lambda: any(
            (p.get("last_sample") or {}).get("local_edits", 0) > 0
            or p.get("idle_state") == "busy: live edits"
            for p in call("status")["pods"]
        ),
        20,
        what="edits seen as activity",
    )
    roots = call("sync.list")["roots"]
    assert len(roots) == 1 and roots[0]["state"] in ("watching", "scanning", "syncing")
    view = call("status")["pods"][0]
    assert view["sync"] and view["sync"][0]["local"] == str(project)


def test_pause_and_runtime_roots(synced, start_daemon, tmp_path: Path, sim: SimThread) -> None:
    pod, project, remote = synced
    start_daemon()
    wait_until(lambda: (remote / "train.py").exists(), 30, what="first sync")
    rid = call("sync.list")["roots"][0]["id"]
    assert call("sync.pause", {"id": rid, "paused": True})["state"] == "paused"
    (project / "later.py").write_text("x = 1\n")
    import time

    time.sleep(2)
    assert not (remote / "later.py").exists()
    call("sync.pause", {"id": rid, "paused": False})
    wait_until(lambda: (remote / "later.py").exists(), 20, what="resumed sync")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("a")
    added = call("sync.add", {"pod": "dev", "local": str(other), "remote": "/workspace/notes"})
    target = sim.sim.pods[pod.id].workspace / "notes" / "a.txt"
    wait_until(target.exists, 30, what="runtime root synced")
    assert call("sync.remove", {"id": added["id"]})["removed"] == added["id"]
    with pytest.raises(Exception, match="config.toml"):
        call("sync.remove", {"id": rid})
