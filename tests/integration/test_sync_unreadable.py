"""A local path that cannot be read is unknown, never deleted: nothing at or below it changes on
the pod, the result is not ok and names the path, and a later pass, once it reads again, goes on
as if nothing happened.

Root ignores file modes, so where the tests run as root the CLI runs without the capabilities
that let it (`setpriv` drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH): the reads really fail, at
the operating system.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD
from tests.integration.test_sync_once import Rig, snapshot

SETPRIV = shutil.which("setpriv")


def _unprivileged_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    if SETPRIV is None:
        pytest.skip("running as root without setpriv: file modes cannot be made to fail")
    prefix = [SETPRIV, "--bounding-set=-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return prefix


class Unprivileged(Rig):
    """The rig, with the CLI run as a process to which file modes apply."""

    def __init__(self, tmp_path: Path, pod: PodSSHD, key: KeyPair) -> None:
        super().__init__(tmp_path, pod, key)
        self.prefix = _unprivileged_prefix()
        self.modes: list[Path] = []

    def argv(self, *args: str) -> list[str]:
        return [
            *self.prefix,
            sys.executable,
            "-m",
            "rpdevd.cli",
            "sync",
            *args[:1],
            str(self.local),
            self.dest,
            "-i",
            str(self.key.private),
            *self.ssh_options(),
            "--db",
            str(self.db),
            *args[1:],
        ]

    def run(self, *args: str, sftp: bool = False) -> tuple[int, dict[str, object]]:
        env = dict(os.environ)
        if sftp:  # no `ssh` binary on PATH: asyncssh, and small batches over SFTP
            env["PATH"] = os.path.dirname(sys.executable)
        res = subprocess.run(
            self.argv(*args, "--json"),
            capture_output=True,
            text=True,
            timeout=50,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        return res.returncode, json.loads(res.stdout.splitlines()[-1])

    def chmod(self, path: Path, mode: int) -> None:
        self.modes.append(path)
        path.chmod(mode)


@pytest.fixture
def rig(tmp_path: Path, pod_sshd: PodSSHD, client_key: KeyPair) -> Iterator[Unprivileged]:
    r = Unprivileged(tmp_path, pod_sshd, client_key)
    try:
        yield r
    finally:
        for path in r.modes:  # let pytest clean up
            if path.exists():
                path.chmod(0o755)


def small_tree(local: Path) -> None:
    (local / "D" / "E").mkdir(parents=True)
    (local / "D" / "y1").write_text("y1")
    (local / "D" / "y2").write_text("y2")
    (local / "D" / "E" / "e").write_text("e")
    (local / "X").write_text("x")


@pytest.mark.parametrize("mode", [0o000, 0o111, 0o444])
@pytest.mark.parametrize("sftp", [False, True], ids=["ssh", "asyncssh"])
def test_an_unreadable_directory_deletes_nothing(rig: Unprivileged, mode: int, sftp: bool) -> None:
    small_tree(rig.local)
    rc, out = rig.run("once", sftp=sftp)
    assert rc == 0 and out["ok"], out
    before = snapshot(rig.remote)
    assert set(before) == {"D", "D/E", "D/E/e", "D/y1", "D/y2", "X"}

    rig.chmod(rig.local / "D", mode)
    rc, out = rig.run("once", sftp=sftp)
    assert rc == 1 and out["ok"] is False, out
    assert out["deleted"] == 0
    assert snapshot(rig.remote) == before
    unreadable = out["unreadable"]
    assert isinstance(unreadable, list) and unreadable
    assert all(u.startswith("D") and "Permission denied" in u for u in unreadable), unreadable

    # Readable again: as if nothing had happened (the baseline kept every path below D).
    (rig.local / "D").chmod(0o755)
    rc, out = rig.run("once", sftp=sftp)
    assert rc == 0 and out["ok"], out
    assert (out["sent"], out["deleted"], out["adopted"]) == (0, 0, 0)
    assert snapshot(rig.remote) == before


@pytest.mark.parametrize("sftp", [False, True], ids=["ssh", "asyncssh"])
def test_an_unreadable_file_is_reported_and_retried(rig: Unprivileged, sftp: bool) -> None:
    small_tree(rig.local)
    rc, out = rig.run("once", sftp=sftp)
    assert rc == 0 and out["ok"], out
    before = snapshot(rig.remote)

    (rig.local / "X").write_text("x, edited")
    rig.chmod(rig.local / "X", 0o000)
    (rig.local / "N").write_text("new")
    rig.chmod(rig.local / "N", 0o000)
    rc, out = rig.run("once", sftp=sftp)
    assert rc == 1 and out["ok"] is False, out
    assert sorted(u.split(":")[0] for u in out["unreadable"]) == ["N", "X"], out  # type: ignore[union-attr]
    assert snapshot(rig.remote) == before  # the old X kept, N never half-sent

    (rig.local / "X").chmod(0o644)
    (rig.local / "N").chmod(0o644)
    rc, out = rig.run("once", sftp=sftp)
    assert rc == 0 and out["ok"], out
    assert (rig.remote / "X").read_text() == "x, edited"
    assert (rig.remote / "N").read_text() == "new"


def test_the_first_pass_of_watch_deletes_nothing_below_an_unreadable_dir(
    rig: Unprivileged,
) -> None:
    small_tree(rig.local)
    rc, out = rig.run("once")
    assert rc == 0 and out["ok"], out
    before = snapshot(rig.remote)
    rig.chmod(rig.local / "D", 0o000)
    told = ""
    with subprocess.Popen(
        rig.argv("watch", "--json"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                ev = json.loads(line).get("event", {}) if line.startswith("{") else {}
                if ev.get("level") == "warning" and "'D'" in ev.get("message", ""):
                    told = ev["message"]
                    break
            # A stop lets the pass under way finish: what it was to do on the pod, it has done.
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "Permission denied" in told
    assert snapshot(rig.remote) == before
