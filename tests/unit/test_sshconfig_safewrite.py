"""Safe writes: old or new file, never a mix; no lost updates; mode, symlinks and one backup."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rpdevd.sshconfig.safewrite import (
    BACKUP_SUFFIX,
    TEMP_MARK,
    update_file,
    write_file,
)


def test_a_new_file_is_private(home: Path) -> None:
    target = home / "new" / "config"
    result = write_file(target, b"Host a\n")
    assert result.changed and result.backup is None
    assert target.read_bytes() == b"Host a\n"
    assert target.stat().st_mode & 0o777 == 0o600


def test_the_mode_is_kept(home: Path) -> None:
    target = home / "config"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o644)
    write_file(target, b"new\n")
    assert target.stat().st_mode & 0o777 == 0o644


def test_no_change_means_no_write(home: Path) -> None:
    target = home / "config"
    target.write_bytes(b"same\n")
    before = target.stat()
    assert not write_file(target, b"same\n", backup=True).changed
    after = target.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert not (home / ("config" + BACKUP_SUFFIX)).exists()


def test_a_symlink_is_written_through_and_stays_a_link(home: Path) -> None:
    dotfiles = home / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "ssh_config"
    real.write_bytes(b"Host a\n")
    os.chmod(real, 0o640)
    ssh = home / ".ssh"
    ssh.mkdir()
    link = ssh / "config"
    link.symlink_to("../dotfiles/ssh_config")
    result = write_file(link, b"Host b\n", backup=True)
    assert link.is_symlink() and os.readlink(link) == "../dotfiles/ssh_config"
    assert real.read_bytes() == b"Host b\n"
    assert real.stat().st_mode & 0o777 == 0o640
    assert result.path == real.resolve()
    # The backup sits beside the path the user named, not inside their dotfiles repository.
    assert result.backup == ssh / ("config" + BACKUP_SUFFIX)
    assert result.backup.read_bytes() == b"Host a\n"
    assert sorted(p.name for p in dotfiles.iterdir()) == ["ssh_config"]


def test_one_backup_before_the_first_change_only(home: Path) -> None:
    target = home / "config"
    target.write_bytes(b"original\n")
    first = write_file(target, b"second\n", backup=True)
    assert first.backup is not None and first.backup.read_bytes() == b"original\n"
    second = write_file(target, b"third\n", backup=True)
    assert second.backup is None
    assert first.backup.read_bytes() == b"original\n"


def test_a_refusal_writes_nothing(home: Path) -> None:
    (home / "d").mkdir()
    target = home / "d" / "config"
    target.write_bytes(b"keep\n")

    def refuse(old: bytes | None) -> bytes:
        raise ValueError("no")

    try:
        update_file(target, refuse, backup=True)
    except ValueError:
        pass
    assert target.read_bytes() == b"keep\n"
    assert [p.name for p in (home / "d").iterdir()] == ["config"]


def test_a_change_made_meanwhile_by_another_program_is_not_lost(home: Path) -> None:
    target = home / "config"
    target.write_bytes(b"a\n")
    calls = []

    def add_line(old: bytes | None) -> bytes:
        calls.append(old)
        if len(calls) == 1:  # another tool rewrites the file while rpdev computes
            time.sleep(0.01)
            target.write_bytes(b"a\nforeign\n")
        return (old or b"") + b"mine\n"

    assert update_file(target, add_line).changed
    assert target.read_bytes() == b"a\nforeign\nmine\n"
    assert len(calls) == 2


def test_a_save_landing_while_the_new_file_is_written_is_not_lost(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The editor's save lands after rpdev read the file and while it writes and fsyncs its
    temp file (the slow part): the rename must not go over it."""
    from rpdevd.sshconfig import safewrite

    target = home / "config"
    target.write_bytes(b"a\n")
    write_temp = safewrite._write_temp
    saves = []

    def slow_write_temp(*args: object, **kw: object) -> Path:
        tmp = write_temp(*args, **kw)  # type: ignore[arg-type]
        if not saves:
            saves.append(1)
            time.sleep(0.01)
            target.write_bytes(b"a\nforeign\n")  # the user's editor saves just now
        return tmp

    monkeypatch.setattr(safewrite, "_write_temp", slow_write_temp)
    assert update_file(target, lambda old: (old or b"") + b"mine\n").changed
    assert target.read_bytes() == b"a\nforeign\nmine\n"


WRITER = """
import sys
from pathlib import Path
from rpdevd.sshconfig.safewrite import update_file
path, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(count):
    update_file(path, lambda old: (old or b"") + f"{name}-{i}\\n".encode())
"""


def test_concurrent_writers_lose_nothing(home: Path) -> None:
    target = home / "config"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(target), f"w{n}", "25"])
        for n in range(4)
    ]
    for w in writers:
        assert w.wait(timeout=30) == 0
    lines = target.read_bytes().splitlines()
    assert sorted(lines) == sorted(f"w{n}-{i}".encode() for n in range(4) for i in range(25))


FLIPPER = """
import sys
from pathlib import Path
from rpdevd.sshconfig.safewrite import write_file
path = Path(sys.argv[1])
payloads = [b"a" * 4_000_000, b"b" * 3_000_000]
n = 0
while True:
    write_file(path, payloads[n % 2])
    if n == 0:
        print("ready", flush=True)
    n += 1
"""


def test_a_writer_killed_mid_write_leaves_old_or_new(home: Path) -> None:
    target = home / "config"
    rng = random.Random(7)
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", FLIPPER, str(target)], stdout=subprocess.PIPE
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        data = target.read_bytes()
        assert data in (b"a" * 4_000_000, b"b" * 3_000_000)
    # Random kills may or may not land mid-write; the next test makes sure one does.
    # Temp files a killed writer left behind are cleared by the next write.
    write_file(target, b"done\n")
    assert [p.name for p in home.iterdir() if TEMP_MARK in p.name] == []


STALLER = """
import os, sys, time
from pathlib import Path
from rpdevd.sshconfig.safewrite import write_file
path = Path(sys.argv[1])
write_file(path, b"old\\n")
def stall(src, dst):
    print("written, not yet renamed", flush=True)
    time.sleep(60)
os.replace = stall
write_file(path, b"new" * 1_000_000)
"""


def test_a_writer_killed_between_its_write_and_the_rename_leaves_the_old_file(
    home: Path,
) -> None:
    """The kill lands mid-write for certain: the new content is complete in a temporary file
    and not yet renamed over the target."""
    target = home / "config"
    proc = subprocess.Popen([sys.executable, "-c", STALLER, str(target)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"written, not yet renamed\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    assert target.read_bytes() == b"old\n"
    temps = [p for p in home.iterdir() if TEMP_MARK in p.name]
    assert len(temps) == 1 and temps[0].read_bytes() == b"new" * 1_000_000
    write_file(target, b"done\n")
    assert target.read_bytes() == b"done\n"
    assert [p.name for p in home.iterdir() if TEMP_MARK in p.name] == []
