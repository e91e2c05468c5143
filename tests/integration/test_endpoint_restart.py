"""A pod restarted with a new port and a new host key stays reachable as `ssh <alias>`, with
strict host-key checking on, and a stale or foreign endpoint never reaches the config or the
pinned keys. A real daemon does the confirming, pinning and rewriting; the simulated RunPod
reports the old port for a while after the restart, where another pod's sshd answers."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair
from rpdevd.sshconfig import generated_path, known_hosts_path, pinned_keys
from tests.integration.harness import (
    SimThread,
    cli,
    endpoint_written,
    ssh_config_lines,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.timeout(150)

NAME = "Trainer One"
ALIAS = "trainer-one.runpod"
USER_CONFIG = (
    "# my own settings: rpdev must win for its hosts even with these\n"
    "Host *\n"
    "  StrictHostKeyChecking no\n"
    "  UserKnownHostsFile /dev/null\n"
    "  Port 2\n"
)


def ssh(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def view() -> dict:
    pods = json.loads(cli("status", "--json").stdout)["pods"]
    return {p["name"]: p for p in pods}.get(NAME, {})


def confirmed_port() -> int | None:
    v = view()
    return v.get("ssh_port") if v.get("endpoint_state") == "confirmed" else None


def written_ports() -> set[int]:
    text = generated_path().read_text() if generated_path().exists() else ""
    return {int(ln.split()[1]) for ln in text.splitlines() if ln.strip().startswith("Port ")}


def test_restart_then_strict_ssh_works_again(
    sim: SimThread, home: Path, tmp_path: Path, client_key: KeyPair, user: str, start_daemon
) -> None:
    user_config = home / ".ssh" / "config"
    user_config.parent.mkdir(mode=0o700)
    user_config.write_text(USER_CONFIG)
    pod = sim.run(sim.sim.add_pod(name=NAME))
    decoy = sim.run(sim.sim.add_pod(name="decoy"))  # not managed: another pod's sshd
    write_config(
        home,
        f'poll_interval = "1s"\n[[pod]]\nname = "{NAME}"\n'
        + ssh_config_lines(client_key.private, user),
    )
    start_daemon()
    old_port = wait_until(confirmed_port, timeout=60, what="confirmed endpoint")
    alias_key = f"rpdev-{pod.id}"
    # In the config that ssh reads.
    wait_until(lambda: endpoint_written(old_port), timeout=30, what="the endpoint written")

    ok = ssh(user_config, ALIAS, "echo $RUNPOD_POD_ID")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == pod.id
    settings = ssh(user_config, "-G", ALIAS).stdout.splitlines()
    assert "stricthostkeychecking true" in settings
    assert f"userknownhostsfile {known_hosts_path()}" in settings
    assert f"port {old_port}" in settings
    old_key = sim.sim.pods[pod.id].sshd.host_public_key
    assert [k.line for k in pinned_keys(known_hosts_path())[alias_key]] == [old_key]
    old_pins = tmp_path / "old_known_hosts"
    old_pins.write_bytes(known_hosts_path().read_bytes())

    # After the restart the API reports the old port for 4 s, answered by the decoy's sshd.
    sim.call(sim.sim.stale_ports_for, 4.0, "other")
    sim.run(sim.sim.restart(pod.id))
    new_key = sim.sim.pods[pod.id].sshd.host_public_key
    real = sim.sim.pods[pod.id].sshd.port
    assert real != old_port and new_key != old_key
    decoy_key = sim.sim.pods[decoy.id].sshd.host_public_key
    ports, pins = set(), set()
    deadline = time.monotonic() + 60
    # Until the real port is confirmed (and so written).
    while time.monotonic() < deadline:
        done = endpoint_written(real) and confirmed_port() == real
        ports |= written_ports()
        pins |= {k.line for k in pinned_keys(known_hosts_path()).get(alias_key, [])}
        if done:
            break
        time.sleep(0.05)
    assert confirmed_port() == real and endpoint_written(real)
    # Neither the stale port nor the decoy's key ever reached the config or the pins.
    assert ports <= {old_port, real}, ports
    assert decoy_key not in pins and pins <= {old_key, new_key}
    assert [k.line for k in pinned_keys(known_hosts_path())[alias_key]] == [new_key]

    again = ssh(user_config, ALIAS, "echo $RUNPOD_POD_ID")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == pod.id
    # Strict checking is real: the new endpoint with the old pinned key fails, without a prompt.
    refused = ssh(user_config, "-o", f"UserKnownHostsFile={old_pins}", ALIAS, "true")
    assert refused.returncode == 255
    assert "host key" in refused.stderr.lower()

    # The user's own known_hosts was never created or touched; their config kept its lines.
    assert not (home / ".ssh" / "known_hosts").exists()
    assert user_config.read_text().endswith(USER_CONFIG)
