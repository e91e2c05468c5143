"""`rpdev ssh POD [-- CMD]` end to end: the real `ssh` client, a simulated pod that is a real sshd,
a real daemon. Host keys stay pinned (the generated alias, strict checking); a stopped pod is
woken only where wake on connect is on; the exit status is ssh's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.harness import (
    SimThread,
    cli,
    endpoint_written,
    ssh_config_lines,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.timeout(150)


def pod_view(name: str) -> dict:
    out = cli("pods", "--json")
    return {p["name"]: p for p in json.loads(out.stdout)["pods"]}.get(name, {})


def configure(home: Path, client_key, user: str, pods: str, include: bool = True) -> None:
    ssh = ssh_config_lines(client_key.private, user)
    if not include:
        ssh = ssh.replace("install_include = true", "install_include = false")
    write_config(home, 'poll_interval = "1s"\n' + pods + ssh)


@pytest.mark.parametrize("include", [True, False], ids=["include", "no-include"])
def test_a_command_runs_on_the_pod_and_its_exit_status_comes_back(
    include: bool, sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="trainer"))
    configure(home, client_key, user, '[[pod]]\nname = "trainer"\n', include)
    start_daemon()
    view = wait_until(
        lambda: (v := pod_view("trainer")).get("endpoint_state") == "confirmed" and v,
        what="endpoint",
    )
    # In the generated config that `rpdev ssh` points ssh at.
    wait_until(
        lambda: endpoint_written(view["ssh_port"], view["ssh_host"]),
        timeout=30,
        what="the endpoint in the SSH config",
    )
    r = cli("ssh", "trainer", "--", "echo", "hi")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", "")
    by_id = cli("ssh", pod.id, "--", "echo $RUNPOD_POD_ID; exit 7")
    assert (by_id.returncode, by_id.stdout.strip()) == (7, pod.id)
    assert (home / ".ssh" / "config").exists() == include
    assert not (home / ".ssh" / "known_hosts").exists()  # rpdev's own file pins the key


def test_a_stopped_pod_with_wake_on_connect_is_resumed_then_reached(
    sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="sleepy", status="EXITED"))
    configure(home, client_key, user, '[[pod]]\nname = "sleepy"\nwake_on_connect = true\n')
    start_daemon()
    wait_until(lambda: pod_view("sleepy").get("ssh_alias"), what="alias")
    r = cli("ssh", "sleepy", "--", "echo $RUNPOD_POD_ID", timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == pod.id
    assert "asking rpdevd to start it" in r.stderr  # progress on stderr, the command's on stdout
    assert len(sim.sim.calls_of("podResume")) == 1


def test_a_stopped_pod_without_wake_on_connect_is_a_clear_error(
    sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="sleepy", status="EXITED"))
    configure(home, client_key, user, '[[pod]]\nname = "sleepy"\n')
    start_daemon()
    wait_until(lambda: pod_view("sleepy").get("ssh_alias"), what="alias")
    r = cli("ssh", "sleepy", "--", "echo", "hi")
    assert r.returncode == 1 and r.stdout == ""
    assert "rpdev: sleepy is EXITED and wake on connect is off for it" in r.stderr
    assert f"rpdev resume {pod.id}" in r.stderr and "--wake-on-connect on" in r.stderr
    assert sim.sim.calls_of("podResume") == []


def test_a_pod_that_is_not_managed_or_not_there_says_what_to_do(
    sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    other = sim.run(sim.sim.add_pod(name="other"))
    configure(home, client_key, user, "")
    start_daemon()
    wait_until(lambda: pod_view("other"), what="the pod listed")
    r = cli("ssh", "other", "--", "echo", "hi")
    assert r.returncode == 1
    assert "is not managed by rpdev" in r.stderr and f"rpdev manage {other.id}" in r.stderr
    missing = cli("ssh", "nope")
    assert missing.returncode == 1 and "no pod named or with id 'nope'" in missing.stderr
