"""`rpdev daemon reload` and SIGHUP with a real daemon and a real sshd pod: an edited config.toml
is applied (a pod's policy, sync roots added and removed, only those restarted), and a broken one
is refused with its `file:line: key: what` while the running config goes on."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from rpdevd.client import Client
from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(180)


def call(method: str, params: dict | None = None):  # type: ignore[no-untyped-def,type-arg]
    with Client(timeout=30) as c:
        return c.call(method, params or {})


def events(kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in call("events", {"limit": 1000})["events"] if e["kind"] == kind]


def pod_view() -> dict:  # type: ignore[type-arg]
    [view] = call("status")["pods"]
    return view


def root_ids() -> dict[str, str]:
    return {r["local"]: r["id"] for r in call("sync.list")["roots"]}


class Setup:
    def __init__(self, home: Path, tmp_path: Path, head: str, ssh: str) -> None:
        self.home, self.head, self.ssh = home, head, ssh
        self.a, self.b, self.c = (tmp_path / n for n in ("a", "b", "c"))
        for d in (self.a, self.b, self.c):
            d.mkdir()
            (d / "first.txt").write_text(d.name)

    def write(self, policy: str, *roots: Path, extra: str = "") -> Path:
        text = self.head + extra + f'[[pod]]\nname = "dev"\npolicy = "{policy}"\n'
        for root in roots:
            text += f'[[sync]]\npod = "dev"\nlocal = "{root}"\nremote = "/workspace/{root.name}"\n'
        return write_config(self.home, text + self.ssh)


@pytest.fixture
def setup(sim: SimThread, home: Path, client_key, user: str, tmp_path: Path):
    pod = sim.run(sim.sim.add_pod(name="dev"))
    s = Setup(home, tmp_path, 'poll_interval = "1s"\n', ssh_config_lines(client_key.private, user))
    return s, sim.sim.pods[pod.id].workspace


def test_an_edited_config_is_applied_by_reload_and_by_sighup(setup, start_daemon) -> None:
    s, ws = setup
    s.write("manual", s.a, s.b)
    daemon = start_daemon()
    wait_until(lambda: (ws / "a" / "first.txt").exists() and (ws / "b" / "first.txt").exists(), 40)
    ids = root_ids()
    assert pod_view()["policy"] == "manual"
    # A run-time setting of the policy; the edit below changes it in config.toml: the newest
    # word (the edit) wins.
    call("pod.set", {"pod": "dev", "policy": "keep-alive"})
    assert pod_view()["policy"] == "keep-alive"

    # Policy edited, root b removed, root c added; root a unchanged.
    s.write("idle-stop", s.a, s.c)
    out = cli("daemon", "reload")
    assert out.returncode == 0, out.stderr
    assert "pod dev: policy changed" in out.stdout
    assert f"sync {s.c} -> dev:/workspace/c: added" in out.stdout
    assert f"sync {s.b} -> dev:/workspace/b: removed" in out.stdout
    assert pod_view()["policy"] == "idle-stop"
    assert set(root_ids()) == {str(s.a), str(s.c)}
    wait_until((ws / "c" / "first.txt").exists, 40, what="the added root synced")
    (s.b / "after.txt").write_text("b")
    (s.a / "after.txt").write_text("a")
    wait_until((ws / "a" / "after.txt").exists, 40, what="the unchanged root still syncs")
    assert not (ws / "b" / "after.txt").exists()  # b's engine ended with the reload
    # Only the added root started: a's engine was never restarted.
    started = [e["data"]["root"] for e in events("sync.started")]
    assert started.count(ids[str(s.a)]) == 1 and started.count(root_ids()[str(s.c)]) == 1
    [reloaded] = events("config.reloaded")
    assert "pod dev: policy changed" in reloaded["data"]["changes"]

    # SIGHUP does the same: the policy back to manual, an ignore pattern on a (a restarts).
    s.write("manual", s.a, s.c, extra='probe_interval = "7s"\n')
    path = s.home / ".config" / "rpdev" / "config.toml"
    path.write_text(
        path.read_text().replace(
            'remote = "/workspace/a"\n', 'remote = "/workspace/a"\nignore = ["*.tmp"]\n'
        )
    )
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: len(events("config.reloaded")) == 2, 20, what="the SIGHUP reload")
    assert pod_view()["policy"] == "manual"
    changes = [c for e in events("config.reloaded") for c in e["data"]["changes"]]
    assert "probe_interval: 60 -> 7" in changes
    assert f"sync {s.a} -> dev:/workspace/a: changed (restarted)" in changes
    wait_until(
        lambda: [e["data"]["root"] for e in events("sync.started")].count(ids[str(s.a)]) == 2,
        40,
        what="root a restarted with its new ignore pattern",
    )
    (s.a / "scratch.tmp").write_text("x")
    (s.a / "kept.txt").write_text("x")
    wait_until((ws / "a" / "kept.txt").exists, 40, what="a syncs after its restart")
    assert not (ws / "a" / "scratch.tmp").exists()
    assert daemon.proc.poll() is None


def test_a_broken_config_is_refused_and_the_running_one_goes_on(setup, start_daemon) -> None:
    s, ws = setup
    s.write("idle-stop", s.a)
    daemon = start_daemon()
    wait_until((ws / "a" / "first.txt").exists, 40, what="first sync")

    path = s.write("sometimes", s.a, s.b)  # an unknown policy, and a root that must not start
    line = path.read_text().splitlines().index('policy = "sometimes"') + 1
    out = cli("daemon", "reload")
    assert out.returncode == 1
    assert f"{path}:{line}: pod[0].policy: 'sometimes' is not one of" in out.stderr
    assert "running config stays" in out.stderr and "Traceback" not in out.stderr
    as_json = cli("daemon", "reload", "--json")
    assert as_json.returncode == 1 and "pod[0].policy" in as_json.stderr

    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: len(events("config.rejected")) == 3, 20, what="the SIGHUP refusal")
    assert f"{path}:{line}: pod[0].policy" in events("config.rejected")[0]["message"]
    assert not events("config.reloaded")

    # The old behaviour goes on: the old policy, the old roots (a syncs, b never started).
    assert pod_view()["policy"] == "idle-stop"
    assert set(root_ids()) == {str(s.a)}
    (s.a / "later.txt").write_text("a")
    wait_until((ws / "a" / "later.txt").exists, 40, what="the running sync goes on")
    assert not (ws / "b").exists()
    assert daemon.proc.poll() is None

    s.write("manual", s.a)  # fixed: the next reload applies it
    fixed = cli("daemon", "reload", "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["changes"] == ["pod dev: policy changed"]
    assert pod_view()["policy"] == "manual"


def test_forwards_added_and_removed_in_config_follow_a_reload(
    sim: SimThread, home: Path, client_key, user: str, start_daemon, tmp_path: Path
) -> None:
    import socket
    import subprocess
    import sys
    import urllib.request

    from rpdevd.sim.sshd import free_port

    pod = sim.run(sim.sim.add_pod(name="dev"))
    ws = sim.sim.pods[pod.id].workspace
    (ws / "hello.txt").write_text("hello\n")
    remote, local = free_port(), free_port()
    server = subprocess.Popen(  # an HTTP server on the pod's 127.0.0.1 (the pod is local)
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(remote)],
        cwd=ws,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening(port: int) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    def fetch() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/hello.txt", timeout=10) as r:
                return str(r.read().decode())
        except OSError:
            return None

    try:
        wait_until(lambda: listening(remote), what="the pod's HTTP server")
        head = 'poll_interval = "1s"\n[[pod]]\nname = "dev"\n'
        ssh = ssh_config_lines(client_key.private, user)
        write_config(home, head + ssh)
        start_daemon()
        wait_until(
            lambda: [p["endpoint_state"] for p in call("status")["pods"]] == ["confirmed"],
            40,
            what="the pod's endpoint confirmed",
        )
        assert not listening(local)

        fwd = f'[[forward]]\npod = "dev"\nlocal = {local}\nremote = {remote}\n'
        write_config(home, head + fwd + ssh)
        out = cli("daemon", "reload")
        assert out.returncode == 0, out.stderr
        assert f"forward 127.0.0.1:{local} -> dev:{remote}: added" in out.stdout
        assert wait_until(fetch, 30, what="the page through the added forward") == "hello\n"

        write_config(home, head + ssh)
        out = cli("daemon", "reload")
        assert out.returncode == 0, out.stderr
        assert f"forward 127.0.0.1:{local} -> dev:{remote}: removed" in out.stdout
        assert not listening(local)  # closed before the reload answered
    finally:
        server.terminate()
        server.wait(10)
