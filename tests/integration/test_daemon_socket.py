"""The daemon's socket: one per user, private, robust against bad clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rpdevd import paths, protocol
from rpdevd.client import Client, DaemonNotRunning
from tests.integration.harness import DaemonProcess, cli

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def daemon(home: Path, tmp_path: Path):
    d = DaemonProcess(tmp_path / "d").start()
    yield d
    d.stop()


def raw(frames: list[bytes], read: int = 1) -> list[dict]:
    """Send raw bytes on a new connection; read `read` reply frames."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(paths.socket_path()))
    for f in frames:
        s.sendall(f)
    buf, out = b"", []
    while len(out) < read:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf and len(out) < read:
            line, buf = buf.split(b"\n", 1)
            out.append(json.loads(line))
    s.close()
    return out


def test_socket_and_dir_are_private(daemon: DaemonProcess) -> None:
    sock = paths.socket_path()
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


def test_second_daemon_refuses_to_start(daemon: DaemonProcess, tmp_path: Path) -> None:
    second = cli("daemon", "run", timeout=30)
    assert second.returncode == 3
    assert "already running" in second.stderr
    assert cli("daemon", "status").returncode == 0  # the first is undisturbed


def test_stale_socket_is_recovered(home: Path, tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path / "d").start()
    d.stop(signal.SIGKILL)  # leaves the socket file behind
    assert paths.socket_path().exists()
    assert cli("status").returncode == 3
    d2 = DaemonProcess(tmp_path / "d2").start()
    try:
        assert cli("daemon", "status").returncode == 0
    finally:
        d2.stop()


def test_sigterm_shuts_down_cleanly(home: Path, tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path / "d").start()
    assert d.stop(signal.SIGTERM) == 0
    assert not paths.socket_path().exists()
    assert "rpdevd stopped" in paths.log_file().read_text()


def test_start_and_stop_commands(home: Path) -> None:
    started = cli("daemon", "start")
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout
    assert "already running" in cli("daemon", "start").stdout
    stopped = cli("daemon", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not paths.socket_path().exists()


def test_cli_says_how_to_start_when_not_running(home: Path) -> None:
    out = cli("status")
    assert out.returncode == 3
    assert "not running" in out.stderr and "rpdev daemon start" in out.stderr
    with pytest.raises(DaemonNotRunning):
        Client().connect()


def test_bad_clients_do_not_disturb_others(daemon: DaemonProcess) -> None:
    with Client() as good:
        hello = protocol.encode(protocol.hello("t"))
        # not JSON, wrong shapes, unknown method: each answered with an error
        replies = raw(
            [
                hello,
                b"{nope\n",
                b'{"type":"request","id":1,"method":"nope"}\n',
                b'{"type":"request","id":2,"method":"status","params":[]}\n',
            ],
            read=4,
        )
        assert replies[0]["type"] == "hello"
        assert replies[1]["error"]["code"] == "bad_json"
        by_id = {r["id"]: r["error"]["code"] for r in replies[2:]}  # answered concurrently
        assert by_id == {1: "unknown_method", 2: "bad_params"}
        # an oversized frame closes only that connection
        big = raw(
            [
                hello,
                b'{"type":"request","id":1,"method":"x","p":"'
                + b"a" * (protocol.MAX_FRAME + 10)
                + b'"}\n',
            ],
            read=2,
        )
        assert big[1]["error"]["code"] == "too_large"
        # no hello, wrong version
        assert (
            raw([b'{"type":"request","id":1,"method":"status"}\n'])[0]["error"]["code"]
            == "no_hello"
        )
        assert raw([b'{"type":"hello","protocol":[99]}\n'])[0]["error"]["code"] == "version"
        assert good.call("ping")["pong"] is True


def test_status_without_key_says_what_to_do(daemon: DaemonProcess) -> None:
    out = cli("status", "--json")
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert st["api"]["ok"] is False and "no RunPod API key" in st["api"]["error"]
    assert "rpdev login" in st["api"]["hint"]
    human = cli("status")
    assert "rpdev login" in human.stdout


def test_cli_import_path_is_light() -> None:
    code = (
        "import sys, rpdevd.cli as c; c.build_parser(); "
        "bad = [m for m in ('runpod', 'textual', 'asyncssh', 'keyring', 'asyncio') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
