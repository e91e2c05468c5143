"""`rpdev demo`, the README's first command: it works on a fresh machine, and nothing of it (the
simulated RunPod, its pods' sshd servers, the daemon) outlives it, however it is stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line or environment contains `text`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            env = Path(f"/proc/{pid}/environ").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (text.encode() in cmd or text.encode() in env):
            line = cmd.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid}: {line[:120]}")
    return found


def demo(*args: str) -> list[str]:
    return [sys.executable, "-m", "rpdevd.cli", "demo", *args]


def test_demo_check_passes_and_leaves_nothing(home: Path) -> None:
    res = subprocess.run(
        demo("--check"), capture_output=True, text=True, timeout=100, stdin=subprocess.DEVNULL
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "demo check passed" in res.stdout
    # The hint for another shell was tried from a shell without the demo's variables.
    assert re.search(
        r"^from another shell: \. \S+/env\.sh; rpdev status -> exit 0$", res.stdout, re.M
    )
    assert re.search(
        r"^trainer .* RUNNING .* trainer\.runpod \(127\.0\.0\.1:\d+\)$", res.stdout, re.M
    )
    root = re.search(r"private daemon in (\S+)", res.stdout)
    assert root is not None
    assert not Path(root[1]).exists()
    assert processes_mentioning(root[1]) == []


def test_the_tui_shows_the_hint_for_another_shell_while_it_covers_the_terminal(
    home: Path,
) -> None:
    """The hint printed before the TUI starts is hidden behind it until you quit: the TUI is
    handed the hint to show (at start, and on `?`)."""
    code = (
        "import sys, rpdevd.commands.tui as t\n"
        "t.run_tui = lambda **kw: print('NOTICE=' + repr(kw.get('notice'))) or 0\n"
        "from rpdevd.cli import main\n"
        "sys.exit(main(['demo']))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=100,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    notice = res.stdout.split("NOTICE=", 1)[1].splitlines()[0]
    assert "to use the demo from another shell" in notice and "env.sh" in notice, res.stdout
    assert "trainer.runpod" in notice


@pytest.mark.parametrize("signals", [(signal.SIGTERM, signal.SIGTERM), (signal.SIGHUP,)])
def test_demo_stops_everything_when_signalled(home: Path, tmp_path: Path, signals: tuple) -> None:
    """A closed terminal (SIGHUP), a kill, or two signals in a row (a closing terminal and a
    `timeout` both signalling): the clean-up still runs to its end."""
    root = tmp_path / "demo"
    proc = subprocess.Popen(
        demo("--no-tui", "--dir", str(root)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "rpdev demo (Ctrl-C to stop)" not in seen and time.monotonic() < deadline:
            assert proc.stdout is not None
            seen += proc.stdout.readline()
        assert processes_mentioning(str(root)), "the demo's daemon and simulator should run"
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.05)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert processes_mentioning(str(root)) == []
