"""A [[sync]] root with `pull`: the daemon brings new pod files down beside the push, and never
pushes them back."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpdevd.client import Client
from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(120)


def call(method: str, params: dict | None = None):  # type: ignore[no-untyped-def]
    with Client(timeout=20) as c:
        return c.call(method, params or {})


def test_a_root_with_pull_brings_results_down(
    sim: SimThread, home: Path, client_key, user: str, tmp_path: Path, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="dev"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('v1')\n")
    write_config(
        home,
        'poll_interval = "1s"\nprobe_interval = "1s"\n'
        '[[pod]]\nname = "dev"\npolicy = "manual"\n'
        f'[[sync]]\npod = "dev"\nlocal = "{project}"\nremote = "/workspace/project"\n'
        'pull = ["outputs/", "*.log"]\npull_interval = "1s"\n'
        + ssh_config_lines(client_key.private, user),
    )
    remote = sim.sim.pods[pod.id].workspace / "project"
    start_daemon()
    wait_until(lambda: (remote / "train.py").exists(), 30, what="first push")
    (remote / "outputs" / "run1").mkdir(parents=True)
    (remote / "outputs" / "run1" / "loss.csv").write_text("0.9\n")
    (remote / "train.log").write_text("step 1\n")
    (remote / "notes.md").write_text("not asked for")
    got = project / "outputs" / "run1" / "loss.csv"
    wait_until(got.exists, 30, what="first pull")
    assert got.read_text() == "0.9\n"
    wait_until((project / "train.log").exists, 10, what="a pattern at any depth")
    assert not (project / "notes.md").exists()
    # Later files come down on the next turn, with no push pass needed.
    (remote / "outputs" / "run1" / "acc.csv").write_text("0.5\n")
    wait_until((project / "outputs" / "run1" / "acc.csv").exists, 20, what="periodic pull")
    # What lands here is never pushed back; the push goes on for everything else.
    (project / "outputs" / "made-here.csv").write_text("local")
    (project / "train.log").write_text("edited here\n")
    (project / "train.py").write_text("print('v2')\n")
    wait_until(lambda: (remote / "train.py").read_text() == "print('v2')\n", 20, what="push")
    assert not (remote / "outputs" / "made-here.csv").exists()
    assert (remote / "train.log").read_text() == "step 1\n"
    roots = call("sync.list")["roots"]
    assert roots[0]["last_error"] is None, roots


def test_a_forgotten_pull_no_longer_keeps_its_patterns_out_of_the_push(
    sim: SimThread, home: Path, client_key, user: str, tmp_path: Path, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="dev"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("v1\n")
    head = 'poll_interval = "1s"\n[[pod]]\nname = "dev"\npolicy = "manual"\n'
    root = f'[[sync]]\npod = "dev"\nlocal = "{project}"\nremote = "/workspace/project"\n'
    ssh = ssh_config_lines(client_key.private, user)
    write_config(home, head + root + 'pull = ["*.log"]\npull_interval = "1s"\n' + ssh)
    remote = sim.sim.pods[pod.id].workspace / "project"
    start_daemon()
    wait_until(lambda: (remote / "train.py").exists(), 30, what="first push")
    (remote / "train.log").write_text("step 1\n")
    wait_until((project / "train.log").exists, 30, what="the pull")

    # `pull` taken out of the root: its patterns are still remembered, and still kept out.
    write_config(home, head + root + ssh)
    assert cli("daemon", "reload").returncode == 0
    (project / "train.log").write_text("edited here\n")
    (project / "train.py").write_text("v2\n")
    wait_until(lambda: (remote / "train.py").read_text() == "v2\n", 30, what="push")
    assert (remote / "train.log").read_text() == "step 1\n"

    # Asked with the wrong DEST, --forget names the pull it remembers into the folder.
    wrong = cli("pull", "dev:/workspace/project", str(project), "--forget")
    source = f"{pod.id}:{remote}"
    assert wrong.returncode == 1 and source in wrong.stderr
    forgot = cli("pull", source, str(project), "--forget")
    assert forgot.returncode == 0 and "'*.log'" in forgot.stdout, forgot.stderr
    assert (project / "train.log").read_text() == "edited here\n"  # no file touched
    [rid] = [r["id"] for r in call("sync.list")["roots"]]
    assert cli("sync", "pause", rid).returncode == 0
    assert cli("sync", "resume", rid).returncode == 0
    wait_until(lambda: (remote / "train.log").read_text() == "edited here\n", 30, what="pushed now")
