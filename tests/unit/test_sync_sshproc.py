"""Starting the session's `ssh` early: `sync once` spawns it from the raw command line, and the
engine adopts that process only when it builds the very same command line."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpdevd.sync import sshproc
from rpdevd.sync.child import Child
from rpdevd.sync.sshproc import SshSessions, early_start, ssh_argv, user_chose_ciphers


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An `ssh` on PATH that records its arguments and waits to be killed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\nexec sleep 30\n')
    ssh.chmod(ssh.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    yield ssh
    sshproc.discard_early()


def plain_args(*extra: str) -> list[str]:
    return ["/src", "root@10.0.0.5:2222:/workspace/p", "-i", "/k", "-o", "Port=2222", *extra]


def the_argv(ssh: Path) -> list[str]:
    return ssh_argv(
        str(ssh),
        "10.0.0.5",
        user="root",
        port=2222,
        identities=["/k"],
        options={"port": "2222"},
        fast_ciphers=not user_chose_ciphers(),
    )


def running(child: Child) -> bool:
    return child.poll() is None


def test_the_same_command_line_adopts_the_early_process(fake_ssh: Path) -> None:
    early_start(plain_args("--json", "--no-gitignore", "--max-delete", "5"))
    [early] = sshproc._EARLY.values()
    sessions = SshSessions(the_argv(fake_ssh))
    sessions.prestart()
    assert sessions._early == [early] and running(early) and not sshproc._EARLY
    sessions.close()
    assert early.returncode is not None  # killed and reaped


def test_a_different_command_line_kills_the_early_process(fake_ssh: Path) -> None:
    early_start(plain_args())
    [early] = sshproc._EARLY.values()
    sessions = SshSessions(the_argv(fake_ssh)[:-1] + ["10.0.0.6"])
    sessions.prestart()
    assert early.returncode is not None and not sshproc._EARLY
    assert sessions._early[0] is not early and running(sessions._early[0])
    sessions.close()


@pytest.mark.parametrize(
    "args",
    [
        plain_args("--identity=/other"),  # --opt=value: argparse's business
        plain_args("-i/other"),
        plain_args("--bogus"),
        plain_args("extra-positional"),
        ["/src", "-oProxyCommand=x:/w"],
        ["/src", "host:/w", "-o", "ProxyCommand=sh"],  # refused option
        ["/src", "host:/w", "-i"],  # missing value
    ],
)
def test_unusual_command_lines_are_left_to_argparse(fake_ssh: Path, args: list[str]) -> None:
    early_start(args)
    assert not sshproc._EARLY
    assert not (fake_ssh.parent.parent / "calls").exists()


def test_a_command_line_argparse_refuses_leaves_no_process(fake_ssh: Path) -> None:
    from rpdevd import cli

    with pytest.raises(SystemExit):
        cli.main(["sync", "once", *plain_args("--max-delete", "many")])
    assert not sshproc._EARLY


def test_early_option_sets_match_the_parser() -> None:
    from rpdevd.cli import build_parser

    parser = build_parser("sync")
    sync = parser._subparsers._group_actions[0].choices["sync"]  # type: ignore[union-attr]
    once = sync._subparsers._group_actions[0].choices["once"]
    values, flags = set(), set()
    for action in once._actions:
        if not action.option_strings or "-h" in action.option_strings:
            continue
        (values if action.nargs is None and action.const is None else flags).update(
            action.option_strings
        )
    assert values == sshproc._SYNC_ONCE_VALUES
    assert flags == sshproc._SYNC_ONCE_FLAGS


def test_child_reports_exit_and_closes(tmp_path: Path) -> None:
    child = Child(["/bin/sh", "-c", "read x; echo got $x; exit 3"])
    child.stdin.write(b"hi\n")
    child.stdin.close()
    assert child.stdout.read() == b"got hi\n"
    assert child.wait() == 3 and child.poll() == 3
    child.close()
    sleeper = Child(["/bin/sh", "-c", "exec sleep 30"])
    assert sleeper.wait(0.05) is None
    sleeper.close()
    assert sleeper.returncode == -9


@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of its own (`~/.ssh`) and a system config of its own, both empty."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    system = tmp_path / "etc" / "ssh_config"
    system.parent.mkdir()
    system.write_text("#   Ciphers aes128-ctr\n")  # a comment, as Debian ships it
    monkeypatch.setattr(sshproc, "_SYSTEM_CONFIG", str(system))
    return tmp_path


@pytest.mark.parametrize(
    "where, text",
    [
        ("user", "Host pod\n  Ciphers chacha20-poly1305@openssh.com\n"),
        ("user", "ciphers=aes256-ctr\n"),
        ("system", "Host *\n\tCIPHERS aes256-gcm@openssh.com\n"),
        ("included", "Match host other\n  Ciphers aes256-ctr\n"),
        ("included by a wildcard", "Ciphers aes256-ctr\n"),
    ],
)
def test_a_ciphers_line_anywhere_in_the_config_is_the_users_choice(
    configs: Path, where: str, text: str
) -> None:
    assert not sshproc.user_chose_ciphers()
    user = configs / ".ssh" / "config"
    if where == "user":
        user.write_text(text)
    elif where == "system":
        Path(sshproc._SYSTEM_CONFIG).write_text(text)
    elif where == "included":
        user.write_text("Include extra/pods\nHost *\n  User root\n")
        (configs / ".ssh" / "extra").mkdir()
        (configs / ".ssh" / "extra" / "pods").write_text(text)
    else:
        Path(sshproc._SYSTEM_CONFIG).write_text(f"Include {configs}/etc/conf.d/*.conf\n")
        (configs / "etc" / "conf.d").mkdir()
        (configs / "etc" / "conf.d" / "ignored.txt").write_text(text)
        assert not sshproc.user_chose_ciphers()  # not a .conf: not included
        (configs / "etc" / "conf.d" / "10-pods.conf").write_text(text)
    assert sshproc.user_chose_ciphers()


def test_with_a_config_file_of_its_own_only_that_file_counts(configs: Path) -> None:
    (configs / ".ssh" / "config").write_text("Ciphers aes256-ctr\n")
    mine = configs / "mine"
    mine.write_text("Host pod\n  HostName 10.0.0.5\n")
    assert sshproc.user_chose_ciphers() and not sshproc.user_chose_ciphers(str(mine))
    mine.write_text("Include ~/.ssh/config\n")  # ssh reads what it includes, wherever
    assert sshproc.user_chose_ciphers(str(mine))


def test_a_config_that_cannot_be_read_counts_as_a_choice(configs: Path) -> None:
    (configs / ".ssh" / "config").mkdir()  # a directory: no text to read
    assert sshproc.user_chose_ciphers()


def test_an_include_loop_ends(configs: Path) -> None:
    (configs / ".ssh" / "config").write_text("Include config\nHost *\n  User root\n")
    assert not sshproc.user_chose_ciphers()


def test_the_fast_ciphers_go_where_no_cipher_was_chosen() -> None:
    plain = ssh_argv("/usr/bin/ssh", "pod")
    fast = ssh_argv("/usr/bin/ssh", "pod", fast_ciphers=True)
    assert not any(a.startswith("Ciphers=") for a in plain)
    assert fast[fast.index(f"Ciphers={sshproc.FAST_CIPHERS}") - 1] == "-o"
    assert fast[-2:] == ["--", "pod"]
    theirs = ssh_argv("/usr/bin/ssh", "pod", options={"ciphers": "aes256-ctr"}, fast_ciphers=True)
    assert [a for a in theirs if a.lower().startswith("ciphers=")] == ["ciphers=aes256-ctr"]
    # Every name is one OpenSSH knows (`ssh -Q cipher`), so no client refuses the list.
    known = sshproc.FAST_CIPHERS.split(",")
    assert known[:2] == ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
    if real := sshproc.find_ssh():
        import subprocess

        offered = subprocess.run([real, "-Q", "cipher"], capture_output=True, text=True).stdout
        assert set(known) <= set(offered.split())
