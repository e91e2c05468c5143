"""A real daemon against the simulated RunPod: polling, stop/resume, API faults, the key's safety."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from rpdevd import paths
from rpdevd.client import Client
from tests.integration.harness import API_KEY, SimThread, cli, wait_until, write_config

pytestmark = pytest.mark.timeout(120)

CONFIG = """\
poll_interval = "1s"
[[pod]]
name = "trainer"
policy = "idle-stop"
[[pod]]
name = "spot"
policy = "keep-alive"
"""


def status() -> dict:
    out = cli("status", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def settled_calls(sim: SimThread) -> list[str]:
    """The simulator's recorded operations, read with its request count on its own loop at a
    moment when every request counted is recorded too: the daemon goes on polling meanwhile,
    and a request is counted as it arrives, its operations once its body is read. A request
    that never records `myself` keeps the two apart for good: this then times out."""

    def consistent() -> list[str] | None:
        ops, requests = sim.call(lambda: ([op for op, _ in sim.sim.calls], sim.sim.requests))
        return ops if requests == ops.count("myself") else None

    return wait_until(consistent, timeout=30, interval=0.05, what="every request recorded")


@pytest.fixture
def pods(sim: SimThread, home: Path):
    trainer = sim.run(sim.sim.add_pod(name="trainer", cost_per_hr=2.99, sshd=False))
    spot = sim.run(sim.sim.add_pod(name="spot", spot=True, bid_per_gpu=0.3, sshd=False))
    other = sim.run(sim.sim.add_pod(name="unmanaged", status="EXITED", sshd=False))
    write_config(home, CONFIG)
    return trainer, spot, other


def test_pods_listed_with_one_call_per_poll(pods, sim: SimThread, start_daemon) -> None:
    trainer, spot, other = pods
    start_daemon()
    st = wait_until(
        lambda: (s := status())["api"]["ok"] and len(s["pods"]) == 2 and s, what="two managed pods"
    )
    by_name = {p["name"]: p for p in st["pods"]}
    assert set(by_name) == {"trainer", "spot"}
    for field in (
        "id",
        "name",
        "status",
        "ssh_alias",
        "ssh_host",
        "ssh_port",
        "policy",
        "idle_deadline",
        "cost_per_hr",
    ):
        assert field in by_name["trainer"]
    assert by_name["trainer"]["id"] == trainer.id and by_name["trainer"]["policy"] == "idle-stop"
    assert by_name["spot"]["is_spot"] is True and by_name["spot"]["policy"] == "keep-alive"
    everything = json.loads(cli("pods", "--json").stdout)
    assert {p["id"] for p in everything["pods"]} == {trainer.id, spot.id, other.id}
    # the poll is ONE myself{pods} query, however many pods there are: no per-pod queries,
    # and as many HTTP requests as `myself` resolutions
    ops = settled_calls(sim)
    assert set(ops) <= {"myself", "pods"}, ops
    assert ops.count("myself") == ops.count("pods")
    # without consent (install_include), ~/.ssh/config is not touched, and status says how
    assert st["daemon"]["ssh_include"] == "missing"
    assert not (Path.home() / ".ssh" / "config").exists()
    assert "rpdev ssh-config install" in cli("status").stdout


def test_stop_and_resume_reach_the_api_and_events_arrive(
    pods, sim: SimThread, start_daemon
) -> None:
    trainer = pods[0]
    start_daemon()
    wait_until(lambda: status()["api"]["ok"], what="first poll")
    seen: list = []
    ready = threading.Event()

    def subscriber() -> None:
        with Client(timeout=30) as c:
            c.call("subscribe", {"kinds": ["pod."], "pod": trainer.id})
            ready.set()
            for ev in c.events():
                seen.append(ev)
                if ev.kind == "pod.status" and ev.data.get("new") == "RUNNING":
                    return

    t = threading.Thread(target=subscriber, daemon=True)
    t.start()
    assert ready.wait(10)
    out = cli("stop", "trainer")
    assert out.returncode == 0, out.stderr
    assert "stop requested" in out.stdout
    wait_until(
        lambda: any(e.kind == "pod.status" and e.data.get("new") == "EXITED" for e in seen),
        what="EXITED event",
    )
    assert len(sim.sim.calls_of("podStop")) == 1
    out = cli("resume", trainer.id, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["requested"] == "resume"
    t.join(60)
    assert not t.is_alive(), "no RUNNING event after the resume"
    kinds = [e.kind for e in seen]
    assert kinds.index("pod.stop") < kinds.index("pod.resume")
    assert len(sim.sim.calls_of("podResume")) == 1


def test_spot_resume_uses_bid_and_no_gpus_is_explained(pods, sim: SimThread, start_daemon) -> None:
    spot = pods[1]
    start_daemon()
    wait_until(lambda: status()["api"]["ok"], what="first poll")
    assert cli("stop", "spot").returncode == 0
    wait_until(
        lambda: {p["name"]: p for p in status()["pods"]}["spot"]["status"] == "EXITED",
        what="spot stopped",
    )
    sim.call(sim.sim.no_free_gpus, spot.id, 1)
    failed = cli("resume", "spot")
    assert failed.returncode == 1
    assert "not enough free GPUs" in failed.stderr and "hint:" in failed.stderr
    ok = cli("resume", "spot")
    assert ok.returncode == 0, ok.stderr
    assert len(sim.sim.calls_of("podBidResume")) == 2 and not sim.sim.calls_of("podResume")


def test_unknown_and_ambiguous_pods_are_refused(pods, sim: SimThread, start_daemon) -> None:
    sim.run(sim.sim.add_pod(name="twin", sshd=False))
    sim.run(sim.sim.add_pod(name="twin", sshd=False))
    start_daemon()
    wait_until(lambda: len(json.loads(cli("pods", "--json").stdout)["pods"]) == 5, what="pods")
    missing = cli("stop", "nosuchpod")
    assert missing.returncode == 1 and "no pod named" in missing.stderr
    twin = cli("stop", "twin")
    assert twin.returncode == 1 and "several pods" in twin.stderr and "id" in twin.stderr
    assert not sim.sim.calls_of("podStop")


@pytest.mark.parametrize("fault", ["http500", "malformed", "unauthorized"])
def test_api_failures_neither_crash_nor_spin(
    fault: str, pods, sim: SimThread, start_daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fault == "http500":
        sim.call(sim.sim.http_errors, 500, 1000)
    elif fault == "malformed":
        sim.call(sim.sim.malformed_json, 1000)
    else:
        monkeypatch.setenv("RUNPOD_API_KEY", "wrong-key-abcdef123456")
    d = start_daemon()
    st = wait_until(
        lambda: (s := status())["api"]["error"] not in (None, "not polled yet") and s,
        timeout=30,
        what="the API error in status",
    )
    assert st["api"]["ok"] is False
    human = cli("status")
    assert "RunPod API:" in human.stdout
    if fault == "unauthorized":
        assert "rpdev login" in (st["api"]["hint"] or "")
    before = sim.sim.requests
    import time

    time.sleep(4)
    # polls back off: a few requests at most in 4 s (retries included), never a tight loop
    assert sim.sim.requests - before <= 12
    assert d.proc.poll() is None  # still running
    sim.call(sim.sim.clear_faults)
    if fault == "unauthorized":
        return
    wait_until(lambda: status()["api"]["ok"], timeout=60, what="recovery")


def test_api_key_never_leaks(pods, sim: SimThread, start_daemon) -> None:
    d = start_daemon()
    wait_until(lambda: status()["api"]["ok"], what="first poll")
    assert cli("stop", "trainer").returncode == 0
    sim.call(sim.sim.http_errors, 500, 2)
    with Client() as c:
        replies = json.dumps(
            [
                c.call("status"),
                c.call("pods"),
                c.call("events", {"limit": 500}),
                c.call("ssh.status"),
            ]
        )
    assert API_KEY not in replies
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert API_KEY not in ps
    log = paths.log_file().read_text()
    assert "rpdevd" in log and API_KEY not in log
    assert API_KEY not in d.output()


def test_two_hundred_pods_one_request_per_poll(sim: SimThread, home: Path, start_daemon) -> None:
    for i in range(200):
        sim.run(sim.sim.add_pod(name=f"p{i}", status="RUNNING" if i % 2 else "EXITED", sshd=False))
    write_config(
        home,
        'poll_interval = "1s"\n' + "".join(f'[[pod]]\nname = "p{i}"\n' for i in range(0, 200, 20)),
    )
    start_daemon()
    wait_until(
        lambda: len(json.loads(cli("pods", "--json").stdout)["pods"]) == 200, what="200 pods"
    )
    ops = settled_calls(sim)
    assert ops.count("pod") == 0
    assert len(status()["pods"]) == 10
