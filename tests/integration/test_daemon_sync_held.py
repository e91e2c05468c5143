"""A [[sync]] root in the daemon whose batch deletes more than `max_delete`: the deletions wait,
the user is told once (one `sync.held` event, with the command that confirms them), and a
confirmation runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rpdevd.client import Client
from tests.integration.harness import SimThread, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(120)


def call(method: str, params: dict[str, Any] | None = None) -> Any:
    with Client(timeout=20) as c:
        return c.call(method, params or {})


def events(kind: str) -> list[dict[str, Any]]:
    return [e for e in call("events", {"limit": 1000})["events"] if e["kind"] == kind]


def test_a_held_batch_is_reported_once_and_runs_when_confirmed(
    sim: SimThread, home: Path, client_key: Any, user: str, tmp_path: Path, start_daemon: Any
) -> None:
    pod = sim.run(sim.sim.add_pod(name="dev"))
    project = tmp_path / "project"
    project.mkdir()
    for i in range(5):
        (project / f"f{i}.py").write_text(str(i))
    write_config(
        home,
        'poll_interval = "1s"\n[[pod]]\nname = "dev"\n'
        f'[[sync]]\npod = "dev"\nlocal = "{project}"\nremote = "/workspace/project"\n'
        "max_delete = 2\n" + ssh_config_lines(client_key.private, user),
    )
    remote = sim.sim.pods[pod.id].workspace / "project"
    start_daemon()
    wait_until(lambda: len(list(remote.glob("f*.py"))) == 5, 30, what="first sync")
    for i in range(4):
        (project / f"f{i}.py").unlink()
    (root,) = wait_until(
        lambda: [r for r in call("sync.list")["roots"] if r["held"] == 4 and r["state"] == "held"],
        30,
        what="the deletions held",
    )
    assert len(list(remote.glob("f*.py"))) == 5  # nothing deleted yet
    call("sync.confirm", {"id": root["id"]})
    wait_until(lambda: [p.name for p in remote.glob("f*.py")] == ["f4.py"], 30, what="deletes")
    (held,) = events("sync.held")
    assert held["data"]["count"] == 4 and held["data"]["root"] == root["id"]
    assert f"rpdev sync confirm {root['id']}" in held["message"]
    assert held["level"] == "warning" and held["pod_id"] == pod.id
