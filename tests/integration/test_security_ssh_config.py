"""A `~/.ssh/config` made read-only on purpose is never rewritten: not by `rpdev ssh-config`, not
by the daemon's `install_include`, not even as root (which the mode does not stop)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from rpdevd.client import Client
from rpdevd.sshconfig import install_include
from tests.integration.harness import cli, wait_until, write_config

MINE = b"# mine, read-only on purpose\nHost work\n  User me\n"


@pytest.fixture
def ssh_dir(home: Path) -> Path:
    d = home / ".ssh"
    d.mkdir(mode=0o700)
    return d


def read_only(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.chmod(path, 0o400)
    return path


def unchanged(path: Path, data: bytes) -> bool:
    st = os.stat(path)
    backup = path.with_name(path.name + ".rpdev-backup")
    return path.read_bytes() == data and stat.S_IMODE(st.st_mode) == 0o400 and not backup.exists()


def test_install_refuses_a_read_only_config_and_says_what_to_do(ssh_dir: Path) -> None:
    config = read_only(ssh_dir / "config", MINE)
    out = cli("ssh-config", "install")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "read-only (mode 0400)" in out.stderr and "chmod u+w" in out.stderr
    assert unchanged(config, MINE)
    as_json = json.loads(cli("ssh-config", "install", "--json").stdout)
    assert as_json["ok"] is False and "read-only" in as_json["error"]
    assert unchanged(config, MINE)


def test_uninstall_refuses_a_read_only_config(ssh_dir: Path) -> None:
    config = ssh_dir / "config"
    config.write_bytes(MINE)
    install_include(config)
    installed = config.read_bytes()
    config.with_name("config.rpdev-backup").unlink()
    os.chmod(config, 0o400)
    out = cli("ssh-config", "uninstall")
    assert out.returncode == 1 and "read-only" in out.stderr
    assert unchanged(config, installed)
    # a read-only file that already has the block needs nothing: not an error
    again = cli("ssh-config", "install")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_a_link_to_a_read_only_config_is_refused(ssh_dir: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = read_only(dotfiles / "ssh_config", MINE)
    (ssh_dir / "config").symlink_to(target)
    out = cli("ssh-config", "install")
    assert out.returncode == 1 and "read-only" in out.stderr
    assert unchanged(target, MINE) and (ssh_dir / "config").is_symlink()


def test_the_daemons_install_include_leaves_a_read_only_config_alone(
    ssh_dir: Path, home: Path, start_daemon
) -> None:
    config = read_only(ssh_dir / "config", MINE)
    write_config(home, "[ssh]\ninstall_include = true\n")
    start_daemon()

    def left_alone() -> list[dict]:
        with Client(timeout=10) as c:
            events = c.call("events", {"limit": 1000})["events"]
        return [e for e in events if e["kind"] == "ssh.config" and "left alone" in e["message"]]

    (event,) = wait_until(left_alone, what="the ssh.config warning")
    assert event["level"] == "warning" and "read-only" in event["message"]
    assert unchanged(config, MINE)
