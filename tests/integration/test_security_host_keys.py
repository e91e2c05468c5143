"""Host keys, held by the real daemon against real sshd pods from the simulated RunPod: every key
change is a `hostkey.changed` event with both fingerprints, and the daemon's own kept-open
connection (the activity probe's) trusts the pinned key only, never whatever a server offers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rpdevd import paths
from rpdevd.client import Client
from rpdevd.sshconfig import fingerprint
from tests.integration.harness import SimThread, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(150)


def view(name: str) -> dict:
    with Client(timeout=10) as c:
        return {p["name"]: p for p in c.call("status")["pods"]}.get(name, {})


def events(kind: str) -> list[dict]:
    with Client(timeout=10) as c:
        return [e for e in c.call("events", {"limit": 1000})["events"] if e["kind"] == kind]


@pytest.fixture
def trainer(sim: SimThread, home: Path, client_key, user: str):
    pod = sim.run(sim.sim.add_pod(name="trainer"))
    write_config(
        home,
        'poll_interval = "1s"\nprobe_interval = "1s"\n[[pod]]\nname = "trainer"\n'
        + ssh_config_lines(client_key.private, user),
    )
    return pod


def confirmed(name: str) -> dict | None:
    v = view(name)
    return v if v.get("endpoint_state") == "confirmed" else None


def test_a_new_host_key_is_a_hostkey_changed_event(trainer, sim: SimThread, start_daemon) -> None:
    start_daemon()
    first = wait_until(lambda: confirmed("trainer"), what="confirmed endpoint")
    old = fingerprint(sim.sim.pods[trainer.id].sshd.host_public_key)
    assert first["host_key_fingerprint"] == old
    sim.run(sim.sim.restart(trainer.id))  # a new port and a new host key
    new = fingerprint(sim.sim.pods[trainer.id].sshd.host_public_key)
    assert new != old
    (event,) = wait_until(lambda: events("hostkey.changed"), what="the hostkey.changed event")
    assert event["pod_id"] == trainer.id
    assert (event["data"]["old"], event["data"]["fingerprint"]) == (old, new)
    assert old in event["message"] and new in event["message"]


def test_the_probe_connection_refuses_a_key_that_is_not_pinned(
    trainer, sim: SimThread, start_daemon
) -> None:
    start_daemon()
    wait_until(lambda: confirmed("trainer"), what="confirmed endpoint")
    wait_until(
        lambda: (view("trainer").get("last_sample") or {}).get("probe") == "ok",
        what="a probe through the pinned connection",
    )
    # Another server, with another key, takes over the confirmed address and port while RunPod
    # still reports the same endpoint: nothing tells the daemon to confirm it again.
    sshd = sim.sim.pods[trainer.id].sshd
    port = sshd.port
    sim.run(sshd.stop())
    sim.run(sshd.start(port=port))
    swapped = time.time()
    log = paths.log_file()
    wait_until(
        lambda: f"connection to {trainer.id} failed: Host key is not trusted" in log.read_text(),
        what="the daemon refusing the unpinned key",
    )
    sample = wait_until(
        lambda: (s := view("trainer").get("last_sample") or {}).get("t", 0) > swapped and s,
        what="a sample after the swap",
    )
    assert sample["probe"] != "ok", sample
    assert view("trainer")["host_key_fingerprint"] != fingerprint(sshd.host_public_key)
    assert not events("hostkey.changed")
