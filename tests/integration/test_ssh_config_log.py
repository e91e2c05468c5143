"""A start with several pods logs each rewrite of the generated SSH config once, saying what it
changed: never the same "SSH config rewritten" line again and again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(120)

NAMES = ("trainer", "notebook", "runner")


def pod_views() -> list[dict]:  # type: ignore[type-arg]
    out = cli("status", "--json")
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout)["pods"])


def test_each_ssh_config_rewrite_at_start_is_logged_once_with_what_changed(
    sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    for name in NAMES:
        sim.run(sim.sim.add_pod(name=name))
    write_config(
        home,
        'poll_interval = "1s"\n'
        + "".join(f'[[pod]]\nname = "{n}"\n' for n in NAMES)
        + ssh_config_lines(client_key.private, user),
    )
    start_daemon()
    wait_until(
        lambda: [p["endpoint_state"] for p in pod_views()] == ["confirmed"] * len(NAMES),
        60,
        what="every endpoint confirmed",
    )
    endpoints = [f"{p['ssh_alias']} -> {p['ssh_host']}:{p['ssh_port']}" for p in pod_views()]

    def rewrites() -> list[dict]:
        events = [json.loads(x) for x in cli("events", "-n", "200", "--json").stdout.splitlines()]
        return [e for e in events if e["kind"] == "ssh.config"]

    # Every endpoint in a rewrite: the last rewrite is awaited, not assumed.
    written = wait_until(
        lambda: (
            (w := rewrites())
            and all(any(ep in e["message"] for e in w[1:]) for ep in endpoints)
            and w
        ),
        30,
        what="every endpoint written",
    )
    lines = [e["message"] for e in written]
    assert lines and len(set(lines)) == len(lines), lines
    assert all(e["data"]["hosts"] == len(NAMES) for e in written)
    # After the first write, each line names the hosts it changed, with their endpoints.
    for endpoint in endpoints:
        assert sum(endpoint in line for line in lines[1:]) == 1, (endpoint, lines)
    # The log file says the same, each line once.
    log = (home / ".local/state/rpdev/rpdevd.log").read_text()
    logged = [
        line.split("ssh.config: ", 1)[1] for line in log.splitlines() if "ssh.config: " in line
    ]
    assert logged == lines, (logged, lines)
