"""`rpdev sync add|pause|resume|remove` against a real daemon and a real sshd pod: a root added
at run time syncs, is kept across a daemon restart with its pause, and a paused root keeps what
rpdev knows of the pod (a file deleted meanwhile is deleted there on resume)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rpdevd.client import Client
from rpdevd.protocol import RemoteError
from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(180)


def roots() -> list[dict]:  # type: ignore[type-arg]
    out = cli("sync", "status", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["roots"]


def sync_started(rid: str) -> int:
    with Client(timeout=20) as c:
        events = c.call("events", {"limit": 1000})["events"]
    return sum(1 for e in events if e["kind"] == "sync.started" and e["data"].get("root") == rid)


@pytest.fixture
def pod_dir(sim: SimThread, home: Path, client_key, user: str, tmp_path: Path) -> Path:
    pod = sim.run(sim.sim.add_pod(name="dev"))
    write_config(
        home,
        'poll_interval = "1s"\n[[pod]]\nname = "dev"\npolicy = "manual"\n'
        + ssh_config_lines(client_key.private, user),
    )
    return sim.sim.pods[pod.id].workspace


def test_a_root_added_paused_resumed_and_removed_from_the_cli(
    pod_dir: Path, start_daemon, tmp_path: Path
) -> None:
    project, notes = tmp_path / "project", tmp_path / "notes"
    for d in (project, notes):
        d.mkdir()
    (project / "train.py").write_text("v1\n")
    (project / "run.log").write_text("noise\n")
    daemon = start_daemon()

    added = cli("sync", "add", str(project), "dev:/workspace/project", "--ignore", "*.log")
    assert added.returncode == 0, added.stderr
    [root] = roots()
    rid = root["id"]
    assert root["source"] == "runtime" and root["local"] == str(project)
    assert root["pull"] == [] and root["pull_interval"] == 30  # no pull: the defaults, said
    wait_until((pod_dir / "project" / "train.py").exists, 40, what="the added root synced")
    assert not (pod_dir / "project" / "run.log").exists()  # --ignore applies

    paused = cli("sync", "pause", rid)
    assert paused.returncode == 0, paused.stderr
    assert "paused" in paused.stdout
    assert roots()[0]["state"] == "paused"
    assert "paused" in cli("sync", "status").stdout
    (project / "while_paused.py").write_text("new\n")
    (project / "train.py").unlink()
    # Another root pushes meanwhile: by the time its file is there, the paused one has pushed
    # nothing (its engine ended before `pause` answered).
    (notes / "a.txt").write_text("a")
    assert cli("sync", "add", str(notes), "dev:/workspace/notes").returncode == 0
    wait_until((pod_dir / "notes" / "a.txt").exists, 40, what="the second root synced")
    assert not (pod_dir / "project" / "while_paused.py").exists()
    assert (pod_dir / "project" / "train.py").exists()

    # Kept across a restart of the daemon, paused still, with its ignore patterns.
    daemon.stop()
    daemon = start_daemon()
    kept = {r["local"]: r for r in roots()}
    assert set(kept) == {str(project), str(notes)}
    assert kept[str(project)]["state"] == "paused" and kept[str(project)]["id"] == rid

    resumed = cli("sync", "resume", rid)
    assert resumed.returncode == 0, resumed.stderr
    wait_until((pod_dir / "project" / "while_paused.py").exists, 40, what="pushed on resume")
    # The baseline was kept through the pause: rpdev wrote train.py, so its deletion goes too.
    wait_until(lambda: not (pod_dir / "project" / "train.py").exists(), 40, what="deletion")
    assert not (pod_dir / "project" / "run.log").exists()

    removed = cli("sync", "remove", rid)
    assert removed.returncode == 0, removed.stderr
    assert [r["local"] for r in roots()] == [str(notes)]
    assert sync_started(rid) >= 1
    gone = cli("sync", "pause", rid)
    assert gone.returncode == 1 and f"no sync root '{rid}'" in gone.stderr


def test_bad_arguments_are_refused_plainly(pod_dir: Path, start_daemon, tmp_path: Path) -> None:
    start_daemon()
    no_remote = cli("sync", "add", str(tmp_path), "dev")
    assert no_remote.returncode == 2 and "POD:REMOTE" in no_remote.stderr
    missing = cli("sync", "add", str(tmp_path / "nope"), "dev:/workspace/x")
    assert missing.returncode == 1 and "is not a folder" in missing.stderr
    no_pod = cli("sync", "add", str(tmp_path), "ghost:/workspace/x")
    assert no_pod.returncode == 1 and "ghost" in no_pod.stderr
    assert "Traceback" not in no_remote.stderr + missing.stderr + no_pod.stderr


def test_a_root_added_with_pull_brings_results_down_and_keeps_them(
    pod_dir: Path, start_daemon, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("v1\n")
    remote = pod_dir / "project"
    daemon = start_daemon()
    added = cli(
        "sync", "add", str(project), "dev:/workspace/project", "--pull", "outputs/",
        "--pull", "*.log", "--pull-interval", "1s",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "pulling 'outputs/' '*.log' back into" in added.stdout
    [root] = roots()
    assert root["pull"] == ["outputs/", "*.log"] and root["pull_interval"] == 1
    status = cli("sync", "status")
    assert f"{root['id']}: pulls 'outputs/' '*.log' back every 1s" in status.stdout
    wait_until((remote / "train.py").exists, 40, what="the added root synced")
    (remote / "outputs").mkdir()
    (remote / "outputs" / "loss.csv").write_text("0.9\n")
    (remote / "train.log").write_text("step 1\n")
    (remote / "notes.md").write_text("not asked for")
    wait_until((project / "outputs" / "loss.csv").exists, 30, what="the first pull")
    wait_until((project / "train.log").exists, 10, what="a pattern at any depth")
    assert not (project / "notes.md").exists()
    # What came down is never pushed back; the push goes on for everything else.
    (project / "train.log").write_text("edited here\n")
    (project / "train.py").write_text("v2\n")
    wait_until(lambda: (remote / "train.py").read_text() == "v2\n", 30, what="push")
    assert (remote / "train.log").read_text() == "step 1\n"

    # The patterns are kept with the root across a restart of the daemon.
    daemon.stop()
    start_daemon()
    (remote / "outputs" / "acc.csv").write_text("0.5\n")
    wait_until((project / "outputs" / "acc.csv").exists, 40, what="a pull after the restart")
    [kept] = roots()
    assert kept["last_error"] is None
    assert kept["pull"] == ["outputs/", "*.log"] and kept["pull_interval"] == 1


def test_bad_pull_arguments_are_refused_with_what_to_do(
    pod_dir: Path, start_daemon, tmp_path: Path
) -> None:
    start_daemon()
    dest = "dev:/workspace/x"
    up = cli("sync", "add", str(tmp_path), dest, "--pull", "../up")
    assert up.returncode == 2 and "--pull '../up' must not contain '..'" in up.stderr
    empty = cli("sync", "add", str(tmp_path), dest, "--pull", " ")
    assert empty.returncode == 2 and "empty pattern" in empty.stderr and "hint" in empty.stderr
    alone = cli("sync", "add", str(tmp_path), dest, "--pull-interval", "1m")
    assert alone.returncode == 2 and "--pull-interval goes with --pull" in alone.stderr
    when = cli("sync", "add", str(tmp_path), dest, "--pull", "logs/", "--pull-interval", "soon")
    assert when.returncode == 2 and "--pull-interval" in when.stderr
    # Passes back to back are no interval: under a second is refused, here and by the daemon.
    for quick in ("0", "500ms"):
        fast = cli("sync", "add", str(tmp_path), dest, "--pull", "logs/", "--pull-interval", quick)
        assert fast.returncode == 2 and "is too short" in fast.stderr, fast.stderr
    # The daemon checks what comes over the socket the same way.
    with Client(timeout=20) as c, pytest.raises(RemoteError) as err:
        c.call(
            "sync.add", {"pod": "dev", "local": str(tmp_path), "remote": "x", "pull": ["a/../b"]}
        )
    assert "'..'" in err.value.message
    for interval in (-1, 0, 0.5):
        with Client(timeout=20) as c, pytest.raises(RemoteError) as err:
            c.call(
                "sync.add",
                {
                    "pod": "dev",
                    "local": str(tmp_path),
                    "remote": "x",
                    "pull": ["a"],
                    "pull_interval": interval,
                },
            )
        assert "pull_interval must be seconds, 1 or more" in err.value.message, interval
    assert roots() == []
    assert "Traceback" not in up.stderr + empty.stderr + alone.stderr + when.stderr
