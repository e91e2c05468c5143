"""Hostile pod names (escape sequences, CR, TAB, NUL, a bidi override, forged lines) through every
command: no line of output and no line of the daemon's log carries a character a terminal acts on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rpdevd import paths
from tests.integration.harness import SimThread, cli, wait_until

pytestmark = pytest.mark.timeout(240)

ESCAPES = "idle\x1b[31mRED\x1b]0;pwned\x07 box"
CONTROLS = "cr\rtab\tnul\x00c1\x9b31m end"
BIDI = "rtl\u202eevil"
FORGED = "x\n  ProxyCommand touch /tmp/rpdev-pwned\nHost *"
NAMES = (ESCAPES, CONTROLS, BIDI, FORGED)
GPU = "NVIDIA \x1b[2JH100\u202e"


def unsafe(text: str) -> list[str]:
    """The lines of `text` that hold a character which is not printable (newlines split lines)."""
    return [line for line in text.split("\n") if not line.isprintable()]


@pytest.fixture
def hostile(sim: SimThread, home: Path, start_daemon) -> list[str]:
    ids = [sim.run(sim.sim.add_pod(name=n, gpu=GPU, sshd=False)).id for n in NAMES]
    stopped = sim.run(sim.sim.add_pod(name=ESCAPES, status="EXITED", sshd=False))
    start_daemon()
    wait_until(
        lambda: len(json.loads(cli("pods", "--json").stdout or "{}").get("pods", [])) == 5,
        what="the hostile pods",
    )
    return [*ids, stopped.id]


def test_hostile_names_reach_no_terminal_and_no_log_line_raw(hostile: list[str]) -> None:
    first, stopped = hostile[0], hostile[-1]
    commands: list[tuple[str, ...]] = [
        # an unknown pod: the hint lists every pod on the account, names and all
        *[
            (verb, "nosuchpod", *extra)
            for verb, extra in (
                ("stop", ()),
                ("resume", ()),
                ("hold", ("1h",)),
                ("policy", ("idle-stop",)),
                ("policy", ()),
                ("manage", ()),
                ("events", ()),
            )
        ],
        ("idle", "export", "nosuchpod"),
        ("proxy", "nosuchpod", "--timeout", "1"),
    ]
    for pod in hostile:
        commands += [
            ("manage", pod),
            ("policy", pod, "idle-stop", "--idle-timeout", "30m"),
            ("policy", pod),
            ("hold", pod, "1h"),
            ("hold", pod, "forever"),
            ("hold", pod, "--off"),
        ]
    commands += [
        ("stop", first),
        ("stop", stopped),
        ("resume", stopped),
        ("open", first, "--print"),
        ("manage", hostile[1], "--off"),
        ("status",),
        ("status", "--json"),
        ("pods",),
        ("pods", "--json"),
        ("events", "-n", "200"),
        ("events", "-n", "200", "--json"),
        ("events", first),
        ("daemon", "status"),
        ("daemon", "status", "--json"),
        ("doctor",),
        ("ssh-config", "show"),
        ("sync", "status"),
        ("idle", "export", first),
    ]
    seen = []
    for args in commands:
        out = cli(*args)
        assert "Traceback" not in out.stderr, (args, out.stderr)
        bad = unsafe(out.stdout) + unsafe(out.stderr)
        assert not bad, (args, bad)
        seen.append(out.stdout + out.stderr)
    everything = "\n".join(seen)
    # the names are there, cleaned, not dropped
    assert "idle?[31mRED?]0;pwned? box" in everything
    assert "rtl?evil" in everything
    assert "already stopped" in everything
    # --json keeps the data: the name comes back whole, written as escapes
    pods = json.loads(cli("pods", "--json").stdout)["pods"]
    assert sorted(p["name"] for p in pods) == sorted([*NAMES, ESCAPES])

    log = paths.log_file().read_text(encoding="utf-8")
    assert ESCAPES[:4] in log  # the names were logged
    assert not unsafe(log)
    # every line is a record (it starts with its time) or the indented part of one
    forged = [line for line in log.splitlines() if line and not re.match(r"\d{4}-|\s", line)]
    assert not forged, forged
