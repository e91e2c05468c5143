"""A daemon started while RunPod's API fails starts from what it last knew: the pods (and what
`rpdev manage` / `rpdev policy` set), the confirmed endpoints, the generated SSH config. The
real `ssh` keeps reaching the pod through that config; nothing is written from an unknown state."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from rpdevd import paths
from rpdevd.daemon import laststate
from rpdevd.sshconfig import files
from tests.integration.harness import (
    SimThread,
    cli,
    endpoint_written,
    ssh_config_lines,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.timeout(150)

ALIAS = "trainer.runpod"


def status() -> dict:
    out = cli("status", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ssh(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", str(home / ".ssh" / "config"), "-o", "BatchMode=yes", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def confirmed(name: str) -> dict | None:
    for p in status()["pods"]:
        if p["name"] == name and p["endpoint_state"] == "confirmed":
            return p
    return None


def stored_endpoint(pod_id: str) -> tuple[str, int] | None:
    stored = laststate.load(laststate.default_path())
    for known in stored.pods if stored is not None else ():
        if known.pod.id == pod_id and known.endpoint is not None:
            return known.endpoint.host, known.endpoint.port
    return None


def api_failed(st: dict) -> bool:
    return st["api"]["error"] not in (None, "not polled yet")


@pytest.fixture
def trainer(sim: SimThread, home: Path, client_key, user: str):
    pod = sim.run(sim.sim.add_pod(name="trainer"))
    write_config(home, 'poll_interval = "1s"\n' + ssh_config_lines(client_key.private, user))
    return pod


def first_run(trainer, home: Path, start_daemon, sig: int) -> tuple[bytes, dict]:
    """Manage the pod at run time, see its endpoint confirmed and ssh work; stop the daemon."""
    d = start_daemon()
    wait_until(lambda: status()["api"]["ok"], what="first poll")
    assert cli("manage", "trainer").returncode == 0
    out = cli("policy", "trainer", "idle-stop", "--idle-timeout", "45m")
    assert out.returncode == 0, out.stderr
    view = wait_until(lambda: confirmed("trainer"), what="confirmed endpoint")
    assert view["ssh_alias"] == ALIAS
    # The daemon shows the endpoint confirmed, then writes it to the SSH config, then stores
    # it: both awaited, the stored state above all, as SIGKILL leaves no chance to store it.
    wait_until(
        lambda: endpoint_written(view["ssh_port"], view["ssh_host"]),
        timeout=30,
        what="the confirmed endpoint in the SSH config",
    )
    wait_until(
        lambda: stored_endpoint(trainer.id) == (view["ssh_host"], view["ssh_port"]),
        timeout=30,
        what="the confirmed endpoint stored",
    )
    ok = ssh(home, ALIAS, "echo $RUNPOD_POD_ID")
    assert ok.returncode == 0 and ok.stdout.strip() == trainer.id, ok.stderr
    generated = files.generated_path().read_bytes()
    assert f"Port {view['ssh_port']}".encode() in generated
    d.stop(sig)
    return generated, view


@pytest.mark.parametrize(
    ("fault", "sig"),
    [("http503", signal.SIGKILL), ("wrong_key", signal.SIGTERM), ("no_key", signal.SIGTERM)],
)
def test_a_failing_api_at_start_changes_nothing_and_shows_the_last_known_pods(
    fault: str,
    sig: int,
    trainer,
    sim: SimThread,
    home: Path,
    start_daemon,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    generated, before = first_run(trainer, home, start_daemon, sig)
    if fault == "http503":
        sim.call(sim.sim.http_errors, 503, 100_000)
    elif fault == "wrong_key":
        monkeypatch.setenv("RUNPOD_API_KEY", "wrong-key-abcdef123456")
    else:
        monkeypatch.delenv("RUNPOD_API_KEY")
    start_daemon()
    st = wait_until(lambda: api_failed(s := status()) and s, timeout=30, what="the API error")
    assert st["api"]["ok"] is False and st["api"]["last_known"] is True
    assert st["api"]["known_at"] is not None
    (pod,) = st["pods"]  # managed, as `rpdev manage` left it, with its policy
    assert (pod["id"], pod["policy"], pod["idle_timeout"]) == (trainer.id, "idle-stop", 2700.0)
    assert pod["last_known"] is True and pod["as_of"] == st["api"]["known_at"]
    assert pod["endpoint_state"] == "confirmed"
    assert (pod["ssh_host"], pod["ssh_port"]) == (before["ssh_host"], before["ssh_port"])
    human = cli("status")
    assert "no managed pods" not in human.stdout
    assert "as last known" in human.stdout and "trainer" in human.stdout, human.stdout
    # The config is the one from before, byte for byte, and the real ssh still uses it.
    assert files.generated_path().read_bytes() == generated
    settings = ssh(home, "-G", ALIAS).stdout.splitlines()
    assert f"port {before['ssh_port']}" in settings
    again = ssh(home, ALIAS, "echo $RUNPOD_POD_ID")
    assert again.returncode == 0 and again.stdout.strip() == trainer.id, again.stderr
    lines = [json.loads(x) for x in cli("events", "-n", "200", "--json").stdout.splitlines()]
    started = max(i for i, e in enumerate(lines) if e["kind"] == "daemon.started")
    assert not [e for e in lines[started:] if e["kind"] == "ssh.config"], lines[started:]


def test_a_first_start_writes_no_empty_config(
    trainer, sim: SimThread, home: Path, start_daemon, client_key, user: str
) -> None:
    """No stored state and no answer yet: the config is not written (not even empty) until
    RunPod answers; then it is written once, with the pod."""
    write_config(
        home,
        'poll_interval = "1s"\n[[pod]]\nname = "trainer"\n'
        + ssh_config_lines(client_key.private, user),
    )
    sim.call(sim.sim.http_errors, 503, 100_000)
    start_daemon()
    wait_until(lambda: api_failed(status()), timeout=30, what="the API error")
    assert not files.generated_path().exists()
    sim.call(sim.sim.clear_faults)
    wait_until(lambda: confirmed("trainer"), timeout=60, what="recovery")

    def rewritten() -> list[dict]:
        lines = [json.loads(x) for x in cli("events", "-n", "200", "--json").stdout.splitlines()]
        return [e for e in lines if e["kind"] == "ssh.config"]

    # The config is written after the endpoint shows confirmed: its event awaited, not assumed.
    written = wait_until(rewritten, timeout=30, what="the ssh.config event")
    assert all(e["data"]["hosts"] == 1 for e in written), written


def test_an_unreadable_stored_state_is_reported_and_the_config_left_alone(
    trainer, sim: SimThread, home: Path, start_daemon
) -> None:
    d = start_daemon()
    wait_until(lambda: status()["api"]["ok"], what="first poll")
    assert cli("manage", "trainer").returncode == 0
    wait_until(lambda: confirmed("trainer"), what="confirmed endpoint")
    d.stop()
    generated = files.generated_path().read_bytes()
    state_file = laststate.default_path()
    assert laststate.load(state_file) is not None
    state_file.write_bytes(b'{"version": 1, "saved_at": 17, "pods": [')  # torn by hand
    sim.call(sim.sim.http_errors, 503, 100_000)
    d = start_daemon()
    st = wait_until(lambda: api_failed(s := status()) and s, timeout=30, what="the API error")
    assert d.proc is not None and d.proc.poll() is None
    assert st["pods"] == [] and st["api"]["known_at"] is None
    assert "not valid JSON" in (st["api"]["state_error"] or "")
    assert files.generated_path().read_bytes() == generated  # left as it was
    log = paths.log_file().read_text()
    assert "stored state not used" in log
    sim.call(sim.sim.clear_faults)
    wait_until(lambda: confirmed("trainer"), timeout=60, what="recovery")
    # Replaced by a good one once RunPod answered: stored in the background, so awaited.
    stored = wait_until(
        lambda: _load_or_none(state_file), timeout=30, what="the stored state replaced"
    )
    assert [k.pod.id for k in stored.pods] == [trainer.id]
    wait_until(
        lambda: status()["api"]["state_error"] is None, timeout=30, what="the state error cleared"
    )


def _load_or_none(path: Path) -> laststate.LastState | None:
    try:
        return laststate.load(path)
    except laststate.StateFileError:
        return None  # still the torn one
