"""The pod-side guard against a real daemon and the simulated RunPod's real sshd pods, with
timeouts of seconds: with the daemon frozen (SIGSTOP: the laptop asleep) an idle pod is stopped by
its guard after a warning to its terminals, with the pod's own key; a busy or held pod is not;
back, the daemon reports that stop once and never stops the pod again; one guard per pod through
reinstalls and restarts; none after a policy change. Bounds are lower bounds on when a stop
comes, and generous upper ones, so that a loaded machine can only make them pass later."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rpdevd.client import Client
from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

IDLE_TIMEOUT, WARN_BEFORE, GUARD_AFTER, PROBE = 24.0, 8.0, 3.0, 1.0


def events(kind: str) -> list[dict]:
    with Client(timeout=10) as c:
        return [e for e in c.call("events", {"limit": 1000})["events"] if e["kind"] == kind]


def config(  # type: ignore[no-untyped-def]
    home: Path,
    client_key,
    user: str,
    names: list[str],
    extra: str = "",
    top: str = "",
    probe: float = PROBE,
) -> None:
    pods = "".join(
        f'[[pod]]\nname = "{n}"\npolicy = "idle-stop"\nidle_timeout = "{IDLE_TIMEOUT:.0f}s"\n'
        f'warn_before = "{WARN_BEFORE:.0f}s"\n{extra}'
        for n in names
    )
    write_config(
        home,
        f'poll_interval = "1s"\nprobe_interval = "{probe:.0f}s"\n'
        f'guard_after = "{GUARD_AFTER:.0f}s"\n{top}'
        + pods
        + ssh_config_lines(client_key.private, user),
    )


def guard_dir(sim: SimThread, pod_id: str) -> Path:
    return sim.sim.pods[pod_id].workspace / ".rpdev" / "guard"


def guards_running(sim: SimThread, pod_id: str) -> list[int]:
    """Guard processes of this pod, from /proc (`guard.sh run DIR`)."""
    want = f"guard.sh run {guard_dir(sim, pod_id)}"
    found: dict[int, int] = {}  # pid: parent, both read in one pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if want not in cmdline:
                continue
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile: a subshell that ended
        found[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    # A guard's own subshells (`$(...)`, pipelines) carry its command line for a moment: a
    # guard is a match whose parent is not one.
    return sorted(pid for pid, parent in found.items() if parent not in found)


def guard_log(sim: SimThread, pod_id: str) -> list[list[str]]:
    path = guard_dir(sim, pod_id) / "log"
    text = path.read_text() if path.exists() else ""
    return [line.split("\t", 4) for line in text.splitlines()]


def status_of(sim: SimThread, pod_id: str) -> str:
    return sim.call(lambda: sim.sim.pods[pod_id].status)


def terminal(sim: SimThread, pod_id: str, client_key, out: Path) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    """A user's terminal on the pod (`ssh -tt pod sleep`), its screen kept in `out`."""
    sshd = sim.sim.pods[pod_id].sshd
    assert sshd is not None
    with open(out, "wb") as f:
        return subprocess.Popen(
            ["ssh", "-tt", *sshd.ssh_args(client_key.private), "sleep 600"],
            stdin=subprocess.PIPE,
            stdout=f,
            stderr=subprocess.STDOUT,
        )


def started(sim: SimThread, pod_id: str, timeout: float = 60) -> None:
    wait_until(lambda: guards_running(sim, pod_id), timeout=timeout, interval=0.5, what="a guard")


def test_a_frozen_daemons_idle_pod_is_stopped_by_its_guard_once(
    sim: SimThread, home: Path, client_key, user: str, start_daemon, tmp_path: Path
) -> None:
    pod = sim.run(sim.sim.add_pod(name="idler"))
    sim.call(sim.sim.set_gpu_util, pod.id, [0.0], [0.0])
    config(home, client_key, user, ["idler"])
    screen = tmp_path / "screen"
    term = terminal(sim, pod.id, client_key, screen)
    opened = time.time()  # the pod cannot be idle before its terminal was last touched
    daemon = start_daemon()
    try:
        started(sim, pod.id)
        assert daemon.proc is not None
        os.kill(daemon.proc.pid, signal.SIGSTOP)  # the laptop sleeps
        try:
            wait_until(
                lambda: status_of(sim, pod.id) == "EXITED",
                timeout=IDLE_TIMEOUT + 90,
                interval=0.5,
                what="the guard's stop",
            )
            stopped = time.time()
        finally:
            os.kill(daemon.proc.pid, signal.SIGCONT)
    finally:
        term.kill()
        term.wait()
        assert term.stdin is not None
        term.stdin.close()
    entries = guard_log(sim, pod.id)
    actions = [e[1] for e in entries]
    assert "takeover" in actions and "warn" in actions and "stop" in actions, entries
    warn = next(e for e in entries if e[1] == "warn")
    stop = next(e for e in entries if e[1] == "stop")
    assert actions.index("takeover") < actions.index("warn") < actions.index("stop")
    # Never before the timeout, never before the warning could be read.
    assert float(stop[0]) >= opened + IDLE_TIMEOUT - 1, entries
    assert float(stop[0]) >= float(warn[0]) + WARN_BEFORE - 1, entries
    assert stopped <= opened + IDLE_TIMEOUT + 8 + 2 * PROBE + 60  # generous: a loaded machine
    # The warning reached the user's terminal, saying why and how to hold.
    seen = screen.read_bytes().decode(errors="replace")
    assert "rpdev guard: this pod is idle" in seen and ".rpdev/hold" in seen, seen
    # Stopped with the pod's own key, once; the account's key never stopped it.
    assert sim.sim.calls_of("podStop") and len(sim.sim.calls_of("podStop")) == 1
    assert ("podStop", f"pod:{pod.id}") in sim.sim.key_uses
    assert ("podStop", "account") not in sim.sim.key_uses

    # Back: the daemon sees the pod stopped; at its next start it reads the guard's log and
    # reports that stop once, and it does not stop the pod again.
    wait_until(
        lambda: cli("status", "--json").stdout.count('"EXITED"') >= 1, timeout=30, what="EXITED"
    )
    assert cli("resume", "idler").returncode == 0
    report = wait_until(
        lambda: events("guard.stopped"),
        timeout=60,
        interval=0.5,
        what=f"the report of the stop in the guard's log {entries}",
    )
    assert len(report) == 1 and "stopped by its guard at" in report[0]["message"], report
    assert "while this machine was away" in report[0]["message"]
    wait_until(lambda: guards_running(sim, pod.id), timeout=60, what="the guard after resume")
    time.sleep(3)
    assert len(events("guard.stopped")) == 1
    assert len(sim.sim.calls_of("podStop")) == 1
    assert not events("idle.stop")


def test_a_held_pod_and_a_busy_pod_are_not_stopped_by_their_guards(
    sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    # (A transfer is decided by the same guard code in tests/unit/test_guard_script.py:
    # simulated pods share this machine's network, so none can move data of its own.)
    names = ["idler", "held", "busy"]
    pods = {n: sim.run(sim.sim.add_pod(name=n)) for n in names}
    for p in pods.values():
        sim.call(sim.sim.set_gpu_util, p.id, [0.0], [0.0])
    # The busy pod's loops get what a crowded machine leaves them (0.3 of a core with a load
    # of 12 on 2 cores: 15 %); an idle pod's guard, looking every 3 s, spends under 2 %. The
    # threshold the daemon hands its guards sits between, so load cannot flip either pod.
    config(home, client_key, user, names, top="cpu_threshold = 8\n", probe=3.0)
    held = pods["held"].workspace / ".rpdev" / "hold"
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_text("")
    busy_sshd = sim.sim.pods[pods["busy"].id].sshd
    assert busy_sshd is not None
    burner = subprocess.Popen(
        [
            "ssh",
            *busy_sshd.ssh_args(client_key.private),
            "sh -c '(while :; do :; done) & (while :; do :; done) & wait'",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    daemon = start_daemon()
    try:
        for p in pods.values():
            started(sim, p.id)
        assert daemon.proc is not None
        os.kill(daemon.proc.pid, signal.SIGSTOP)
        try:
            # The idle one is stopped by its guard: the others' guards were in charge as long.
            wait_until(
                lambda: status_of(sim, pods["idler"].id) == "EXITED",
                timeout=IDLE_TIMEOUT + 120,
                interval=0.5,
                what="the idle pod's stop",
            )
            for name in ("held", "busy"):
                entries = guard_log(sim, pods[name].id)
                actions = [e[1] for e in entries]
                assert "takeover" in actions, (name, entries)
                assert status_of(sim, pods[name].id) == "RUNNING", name
                assert "stop" not in actions and "warn" not in actions, (name, entries)
        finally:
            os.kill(daemon.proc.pid, signal.SIGCONT)
    finally:
        burner.kill()
        burner.wait()
    assert [k for k in sim.sim.key_uses if k[0] == "podStop"] == [
        ("podStop", f"pod:{pods['idler'].id}")
    ]


def test_one_guard_per_pod_through_reinstalls_and_restarts_and_none_after_a_policy_change(
    sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="idler"))
    sim.call(sim.sim.set_gpu_util, pod.id, [0.0], [0.0])
    config(home, client_key, user, ["idler"])
    first = start_daemon()
    started(sim, pod.id)
    before = guards_running(sim, pod.id)
    first.stop()
    second = start_daemon()
    wait_until(lambda: events("endpoint.confirmed"), timeout=30, what="a confirmation")
    time.sleep(4 * PROBE)  # several heartbeats and an install by the new daemon
    assert guards_running(sim, pod.id) == before  # the same one, alone
    assert cli("policy", "idler", "manual").returncode == 0
    wait_until(lambda: not guards_running(sim, pod.id), timeout=30, what="the guard gone")
    # The guard is gone as `guard.sh remove` returns; the daemon says so once it has the answer.
    wait_until(lambda: events("guard.removed"), timeout=30, what="guard.removed")
    assert not (guard_dir(sim, pod.id) / "config").exists()
    second.stop()


def test_guard_false_runs_nothing_on_the_pod(
    sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="idler"))
    config(home, client_key, user, ["idler"], extra="guard = false\n")
    start_daemon()
    wait_until(
        lambda: (
            (
                next((p for p in cli_status() if p["name"] == "idler"), {}).get("last_sample") or {}
            ).get("probe")
            == "ok"
        ),
        timeout=30,
        what="a probe",
    )
    time.sleep(3 * PROBE)
    assert not guards_running(sim, pod.id)
    assert not (guard_dir(sim, pod.id) / "guard.sh").exists()


def cli_status() -> list[dict]:
    with Client(timeout=10) as c:
        return list(c.call("status")["pods"])
