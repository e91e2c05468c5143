"""`rpdev ssh-config show|diff|install|uninstall` on real files in a private home."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rpdevd.cli import main
from rpdevd.sshconfig import HostEntry, generated_path, write_generated

USER_CONFIG = b"# my settings\r\nHost *\r\n\tServerAliveInterval 60\r\nHost work\r\n  User me"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["ssh-config", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def user_config(home: Path) -> Path:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    path = ssh / "config"
    path.write_bytes(USER_CONFIG)
    path.chmod(0o644)
    return path


def test_install_then_uninstall_gives_back_the_file(
    user_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "diff")
    assert code == 0
    assert f'+Include "{generated_path()}"' in out
    assert user_config.read_bytes() == USER_CONFIG  # diff changes nothing

    code, out, _ = run(capsys, "install")
    assert code == 0 and "added rpdev's Include block" in out and "saved in" in out
    data = user_config.read_bytes()
    assert data.startswith(b"# >>> rpdev >>>\r\n") and data.endswith(USER_CONFIG)
    assert user_config.stat().st_mode & 0o777 == 0o644
    backup = user_config.with_name("config.rpdev-backup")
    assert backup.read_bytes() == USER_CONFIG

    code, out, _ = run(capsys, "install")
    assert code == 0 and "nothing to do" in out
    assert user_config.read_bytes() == data

    code, out, _ = run(capsys, "diff", "--uninstall", "--json")
    assert json.loads(out)["changes"] is True

    code, out, _ = run(capsys, "uninstall", "--json")
    assert code == 0 and json.loads(out)["changed"] is True
    assert user_config.read_bytes() == USER_CONFIG
    assert backup.read_bytes() == USER_CONFIG


def test_install_creates_a_missing_config(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "install", "--json")
    assert code == 0
    result = json.loads(out)
    path = home / ".ssh" / "config"
    assert result["changed"] and result["path"] == str(path) and result["backup"] is None
    assert path.stat().st_mode & 0o777 == 0o600
    assert (home / ".ssh").stat().st_mode & 0o777 == 0o700


def test_broken_markers_are_refused_and_nothing_changes(
    user_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = USER_CONFIG + b"\r\n# >>> rpdev >>>\r\nInclude /x\r\n"
    user_config.write_bytes(broken)
    for action in ("install", "uninstall", "diff"):
        code, _, err = run(capsys, action)
        assert code == 1
        assert "refusing to change" in err and "no end marker" in err and "line 6" in err
    code, out, _ = run(capsys, "install", "--json")
    assert code == 1 and json.loads(out)["ok"] is False
    assert user_config.read_bytes() == broken
    assert not user_config.with_name("config.rpdev-backup").exists()


def test_show_prints_the_generated_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "show")
    assert code == 0 and "no generated SSH config yet" in err
    write_generated([HostEntry("abc123", "Trainer", "203.0.113.7", 40022)])
    code, out, _ = run(capsys, "show")
    assert "Host trainer.runpod" in out and "Port 40022" in out
    code, out, _ = run(capsys, "show", "--json")
    shown = json.loads(out)
    assert shown["aliases"] == [{"pod_id": "abc123", "alias": "trainer.runpod"}]
    assert shown["path"] == str(generated_path())


def test_an_explicit_config_path(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = home / "elsewhere" / "ssh_config"
    code, _, _ = run(capsys, "install", "--ssh-config", str(other))
    assert code == 0 and other.read_bytes().startswith(b"# >>> rpdev >>>\n")
    assert not (home / ".ssh" / "config").exists()


def test_the_command_module_starts_light() -> None:
    code = (
        "import sys, argparse, rpdevd.commands.ssh_config as m; "
        "m.register(argparse.ArgumentParser().add_subparsers()); "
        "bad = [m for m in ('asyncssh', 'runpod', 'textual') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
