"""Port forwards over the daemon's kept-open connection: a real daemon, a real sshd pod from the
simulator, a real HTTP server on the pod's 127.0.0.1, fetched through the local port with
urllib. The pod is stopped and resumed (its SSH port changes) in the middle; a local port that
another program holds gets an error naming it, and the other forwards go on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, free_port
from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(180)

NAME = "notebook"


def fetch(port: int) -> str | None:
    """The page the pod's HTTP server serves, through local `port`; None if it fails now."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=10) as r:
            return r.read().decode()
    except (OSError, urllib.error.URLError):
        return None


def forwards() -> dict[int, dict]:
    out = cli("forward", "--json")
    assert out.returncode == 0, out.stderr
    return {f["local"]: f for f in json.loads(out.stdout)["forwards"]}


def state_of(local: int) -> str | None:
    return forwards().get(local, {}).get("state")


def events() -> list[dict]:
    out = cli("events", "--json", "-n", "1000")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture
def pod_server(sim: SimThread) -> Iterator[tuple[str, Path, int]]:
    """A pod, and an HTTP server on its 127.0.0.1 serving its /workspace (pods are local
    processes: the pod's loopback is this machine's)."""
    pod = sim.run(sim.sim.add_pod(name=NAME))
    workspace = sim.sim.pods[pod.id].workspace
    (workspace / "hello.txt").write_text(f"hello from {pod.id}\n")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(port), what="the pod's HTTP server")
        yield pod.id, workspace, port
    finally:
        server.terminate()
        server.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_forward_comes_back_after_the_pod_restarts_and_a_taken_port_is_named(
    sim: SimThread,
    home: Path,
    client_key: KeyPair,
    user: str,
    start_daemon,
    pod_server: tuple[str, Path, int],
) -> None:
    pod_id, _, remote = pod_server
    local, taken = free_port(), free_port()
    holder = socket.socket()  # this test's own process holds `taken`
    holder.bind(("127.0.0.1", taken))
    holder.listen()
    try:
        write_config(
            home,
            f'poll_interval = "1s"\n[[pod]]\nname = "{NAME}"\n'
            f'[[forward]]\npod = "{NAME}"\nlocal = {taken}\nremote = {remote}\n'
            f'[[forward]]\npod = "{NAME}"\nlocal = {local}\nremote = {remote}\n'
            + ssh_config_lines(client_key.private, user),
        )
        start_daemon()
        wait_until(lambda: state_of(local) == "up", timeout=60, what="the forward up")
        assert fetch(local) == f"hello from {pod_id}\n"

        # The taken port: an error naming this very process; the other forward unaffected.
        refused = forwards()[taken]
        assert refused["state"] == "error"
        assert f"127.0.0.1:{taken} is in use by" in refused["error"]
        assert f"(pid {os.getpid()}" in refused["error"]
        assert any(
            e["kind"] == "forward.error" and f"pid {os.getpid()}" in e["message"] for e in events()
        )

        status = cli("status")
        assert f"{NAME} forwards: " in status.stdout
        assert f"{local}->{remote} up" in status.stdout
        assert f"{taken}->{remote} error" in status.stdout

        # Stopped: the local port stays held by the daemon (nobody else can take it), and a
        # connection is closed at once rather than hanging; the state says why.
        old_port = sim.sim.pods[pod_id].sshd.port
        sim.run(sim.sim.stop_pod(pod_id))
        wait_until(lambda: state_of(local) == "pod stopped", timeout=60, what="pod stopped")
        assert fetch(local) is None
        assert not _free(local)

        # Resumed on another port: the forward is back after the new endpoint's confirmation.
        before = max(e["seq"] for e in events())
        sim.run(sim.sim.resume(pod_id))
        new_port = sim.sim.pods[pod_id].sshd.port
        assert new_port != old_port
        assert wait_until(lambda: fetch(local), timeout=60, what="the forward back") == (
            f"hello from {pod_id}\n"
        )
        # A connection through the forward may be served before the daemon says the forward is
        # up (both follow the confirmation): the event is awaited, not assumed.
        after = wait_until(
            lambda: (
                (a := [e for e in events() if e["seq"] > before and e["pod_id"] == pod_id])
                and any(e["kind"] == "forward.up" and e["data"]["local"] == local for e in a)
                and a
            ),
            timeout=30,
            what="forward.up",
        )
        confirmed = [
            e["seq"]
            for e in after
            if e["kind"] == "endpoint.confirmed" and e["data"].get("port") == new_port
        ]
        up = [e["seq"] for e in after if e["kind"] == "forward.up" and e["data"]["local"] == local]
        assert confirmed and up and min(up) > min(confirmed), after
        t = {e["seq"]: e["t"] for e in after}
        print(f"forward up {t[min(up)] - t[min(confirmed)]:.3f}s after endpoint.confirmed")
        assert forwards()[local]["state"] == "up"

        # The program holding the other port goes: that forward comes up too.
        holder.close()
        wait_until(lambda: state_of(taken) == "up", timeout=60, what="the freed port forwarded")
        assert fetch(taken) == f"hello from {pod_id}\n"
    finally:
        holder.close()


def test_rpdev_forward_adds_lists_and_removes_at_run_time(
    sim: SimThread,
    home: Path,
    client_key: KeyPair,
    user: str,
    start_daemon,
    pod_server: tuple[str, Path, int],
) -> None:
    pod_id, _, remote = pod_server
    write_config(
        home,
        f'poll_interval = "1s"\n[[pod]]\nname = "{NAME}"\n'
        + ssh_config_lines(client_key.private, user),
    )
    first = start_daemon()
    wait_until(
        lambda: '"endpoint_state": "confirmed"' in cli("status", "--json").stdout,
        timeout=60,
        what="a confirmed endpoint",
    )
    local = free_port()
    added = cli("forward", NAME, f"{local}:{remote}")
    assert added.returncode == 0, added.stderr
    assert f"127.0.0.1:{local} -> port {remote} on the pod (up)" in added.stdout
    assert fetch(local) == f"hello from {pod_id}\n"

    listed = cli("forward")
    assert listed.returncode == 0, listed.stderr
    assert NAME in listed.stdout and f"127.0.0.1:{local}" in listed.stdout
    assert forwards()[local]["source"] == "runtime"

    # The same local port again for another remote port: refused, saying how to free it.
    again = cli("forward", NAME, f"{local}:{remote + 1}")
    assert again.returncode == 1
    assert f"local port {local} is already forwarded" in again.stderr
    assert f"rpdev forward --remove {pod_id} {local}" in again.stderr

    # A port another program holds: refused at once, naming it.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        out = cli("forward", NAME, f"{busy}:{remote}")
        assert out.returncode == 1
        assert f"(pid {os.getpid()}" in out.stderr
        assert busy not in forwards()

    # A host name as the address is refused (it could resolve to a public interface).
    named = cli("forward", NAME, str(free_port()), "--bind", "example.com")
    assert named.returncode == 1 and "is not an IP address" in named.stderr

    # Added at run time, kept across a restart of the daemon.
    first.stop()
    start_daemon()
    assert wait_until(lambda: fetch(local), timeout=60, what="the forward after a restart") == (
        f"hello from {pod_id}\n"
    )
    assert forwards()[local]["source"] == "runtime"

    removed = cli("forward", "--remove", NAME, str(local))
    assert removed.returncode == 0, removed.stderr
    assert local not in forwards()
    assert fetch(local) is None
    assert _free(local)
    half = cli("forward", NAME, "1.5")
    assert half.returncode == 2 and "is not LOCAL[:REMOTE]" in half.stderr


def _free(port: int) -> bool:
    """Whether a server could listen on `port` now (as servers do, with SO_REUSEADDR: the
    closed connections' TIME_WAIT does not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
