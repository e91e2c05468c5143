"""One name for each thing in `rpdev status`, `rpdev pods` and `rpdev sync status`, the same as
the TUI's: a sync root that pushes edits is `live`, a GPU reads without its vendor, and a sync
root's pod is named, before RunPod's first answer and after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpdevd.client import Client
from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config
from tui import format as tui_format

pytestmark = pytest.mark.timeout(120)


def roots() -> list[dict]:  # type: ignore[type-arg]
    with Client(timeout=20) as c:
        return list(c.call("sync.list")["roots"])


def row(output: str, start: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(start))


def test_status_pods_and_sync_status_name_things_as_the_tui_does(
    sim: SimThread, home: Path, client_key, user: str, tmp_path: Path, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="dev", gpu="NVIDIA RTX A6000"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('v1')\n")
    write_config(
        home,
        'poll_interval = "1s"\n[[pod]]\nname = "dev"\n'
        f'[[sync]]\npod = "dev"\nlocal = "{project}"\nremote = "/workspace/project"\n'
        + ssh_config_lines(client_key.private, user),
    )
    sim.call(sim.sim.http_errors, 503, 100_000)
    start_daemon()
    # Before RunPod's first answer the root knows its pod only by the name in the config.
    (root,) = roots()
    assert root["pod_id"] is None
    before = cli("sync", "status")
    assert before.returncode == 0, before.stderr
    assert row(before.stdout, root["id"]).split()[1] == "dev", before.stdout
    sim.call(sim.sim.clear_faults)
    wait_until(lambda: roots()[0]["state"] == "watching", 60, what="the root watching")
    after = cli("sync", "status")
    line = row(after.stdout, root["id"])
    assert line.split()[1] == "dev" and pod.id not in line, after.stdout
    assert line.split()[4] == "live", after.stdout
    status = cli("status")
    line = row(status.stdout, "dev ")
    assert "RTX A6000 x1" in line and "NVIDIA" not in line, status.stdout
    assert " live " in line and "watching" not in line, status.stdout
    pods = cli("pods")
    line = row(pods.stdout, "dev ")
    assert "RTX A6000 x1" in line and "NVIDIA" not in line, pods.stdout
    # The TUI says the same of the same pod.
    with Client(timeout=20) as c:
        (view,) = c.call("pods")["pods"]
    assert tui_format.gpu_label(view, 40) == "RTX A6000 x1"
    # And so does the daemon's own `gpu` field, for scripts; RunPod's name stays in `gpu_type`.
    assert view["gpu"] == "RTX A6000 x1"
    assert (view["gpu_type"], view["gpu_count"]) == ("NVIDIA RTX A6000", 1)
    assert tui_format.sync_label(roots()).plain == "live"
