"""No input ends in a traceback: every command with its output into a pipe nobody reads any more
(`rpdev pods | head -1`), and with standard input at its end (Ctrl-D, `</dev/null`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import SimThread, cli, wait_until

pytestmark = pytest.mark.timeout(300)


def closed_pipe(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """`rpdev ARGS | head -0`, made exact: the pipe's reader is gone before the first write, and
    output is unbuffered so that every print meets it (as a long output does)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "rpdevd.cli", *args],
            stdin=stdin,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # no terminal: getpass reads stdin, as with `</dev/null`
        )
    finally:
        os.close(write_end)


def at_eof(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rpdevd.cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )


COMMANDS = [
    ("--help",),
    ("--version",),
    ("status",),
    ("status", "--json"),
    ("pods",),
    ("pods", "--json"),
    ("pods", "--help"),
    ("events", "-n", "50"),
    ("events", "-n", "50", "--json"),
    ("daemon", "status"),
    ("daemon", "status", "--json"),
    ("doctor",),
    ("doctor", "--json"),
    ("policy", "trainer"),
    ("hold", "trainer", "1h"),
    ("manage", "trainer"),
    ("open", "trainer", "--print"),
    ("ssh-config", "show"),
    ("sync", "status"),
    ("idle", "export", "trainer"),
    ("login", "--stdin"),
    ("login",),
]


@pytest.fixture
def daemon(sim: SimThread, home: Path, start_daemon) -> None:
    for n in range(40):  # enough output to fill a pipe's buffer several times
        sim.run(sim.sim.add_pod(name="trainer" if n == 0 else f"pod{n}", sshd=False))
    start_daemon()
    wait_until(
        lambda: len(json.loads(cli("pods", "--json").stdout or "{}").get("pods", [])) == 40,
        what="the pods",
    )
    cli("manage", "trainer")


def test_no_command_ends_in_a_traceback(daemon: None) -> None:
    for args in COMMANDS:
        for out in (closed_pipe(*args), at_eof(*args)):
            assert "Traceback" not in out.stderr, (args, out.stderr)
            assert "Exception ignored" not in out.stderr, (args, out.stderr)


def test_a_closed_pipe_ends_quietly_with_sigpipes_status(daemon: None) -> None:
    out = closed_pipe("pods")
    assert (out.returncode, out.stderr) == (141, "")


def test_login_at_the_end_of_input_says_how_to_give_the_key(home: Path) -> None:
    out = at_eof("login", "--stdin")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "rpdev: no key given" in out.stderr and "--stdin" in out.stderr


def test_login_without_a_terminal_asks_for_the_key_on_stdin(home: Path) -> None:
    # No controlling terminal: nothing to prompt on, and no library warning about echo.
    out = at_eof("login")
    assert out.returncode == 1, out.stderr
    assert "Warning" not in out.stderr, out.stderr
    assert "rpdev: no terminal to ask for the key on" in out.stderr
    assert "rpdev login --stdin" in out.stderr
