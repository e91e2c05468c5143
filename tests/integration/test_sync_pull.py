"""`rpdev pull` against a real sshd pod: results come back, and never at the cost of your edits.

The pod's remote directory is a local path here, so files are made "on the pod" by writing them
there; everything else goes through the real CLI, the real sshd and SFTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD
from tests.integration.test_sync_once import Rig, snapshot
from tests.integration.test_sync_unreadable import _unprivileged_prefix

pytestmark = pytest.mark.timeout(120)

PATTERNS = ("--pattern", "outputs/**/*.png", "--pattern", "logs/")


class PullRig(Rig):
    def pull(
        self, *args: str, check: bool = True, prefix: list[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            *(prefix or []),
            sys.executable,
            "-m",
            "rpdevd.cli",
            "pull",
            self.dest,
            str(self.local),
            "-i",
            str(self.key.private),
            *self.ssh_options(),
            "--db",
            str(self.db),
            *args,
        ]
        res = subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
        if check:
            assert res.returncode == 0, res.stderr
        return res

    def pull_json(self, *args: str) -> dict:
        return json.loads(self.pull(*PATTERNS, "--json", *args).stdout)

    def on_pod(self, rel: str, data: bytes, mtime: int | None = None, mode: int = 0o644) -> Path:
        path = self.remote / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path


@pytest.fixture
def prig(tmp_path: Path, pod_sshd: PodSSHD, client_key: KeyPair) -> PullRig:
    r = PullRig(tmp_path, pod_sshd, client_key)
    r.remote.mkdir(parents=True)
    return r


def _pod_tree(prig: PullRig) -> None:
    prig.on_pod("outputs/loss.png", b"png1", 1_700_000_000)
    prig.on_pod("outputs/run1/acc.png", b"png2", 1_700_000_100, 0o600)
    prig.on_pod("outputs/run1/notes.txt", b"not asked for")
    prig.on_pod("logs/train.log", b"step 1\n", 1_700_000_200)
    prig.on_pod("src/model.py", b"code")


def test_matching_files_arrive_whole_with_mode_and_mtime(prig: PullRig) -> None:
    _pod_tree(prig)
    out = prig.pull_json()
    assert out["ok"] and out["got"] == 3 and out["conflicts"] == []
    want = snapshot(prig.remote, lambda rel: rel.startswith("src") or rel.endswith(".txt"))
    assert snapshot(prig.local) == want  # bytes, modes, mtimes; nothing else came
    assert prig.pull_json()["got"] == 0  # nothing new: nothing moves


def test_a_local_edit_is_never_overwritten(prig: PullRig) -> None:
    _pod_tree(prig)
    prig.pull_json()
    log = prig.local / "logs" / "train.log"
    log.write_bytes(b"my notes\n")
    out = prig.pull_json()  # the pod's file did not change: yours stays, said so
    assert out["got"] == 0 and out["kept"] and log.read_bytes() == b"my notes\n"
    prig.on_pod("logs/train.log", b"step 1\nstep 2\n", 1_700_000_300)
    out = prig.pull_json()  # both changed: yours becomes a conflict copy, the pod's goes in
    assert out["got"] == 1 and len(out["conflicts"]) == 1
    copy = prig.local / out["conflicts"][0]
    assert copy.name.startswith("train.log.rpdev-conflict-")
    assert copy.read_bytes() == b"my notes\n"
    assert log.read_bytes() == b"step 1\nstep 2\n"
    # A file of yours that was there before the first pull is kept the same way.
    (prig.local / "outputs").mkdir(exist_ok=True)
    mine = prig.local / "outputs" / "new.png"
    mine.write_bytes(b"mine")
    prig.on_pod("outputs/new.png", b"theirs", 1_700_000_400)
    out = prig.pull_json()
    assert mine.read_bytes() == b"theirs"
    assert [(prig.local / c).read_bytes() for c in out["conflicts"]] == [b"mine"]


def test_a_pulled_file_deleted_here_stays_deleted_until_it_changes(prig: PullRig) -> None:
    _pod_tree(prig)
    prig.pull_json()
    loss = prig.local / "outputs" / "loss.png"
    loss.unlink()
    assert prig.pull_json()["got"] == 0 and not loss.exists()
    assert prig.pull_json()["got"] == 0 and not loss.exists()
    prig.on_pod("outputs/loss.png", b"png1 retrained", 1_700_000_500)
    assert prig.pull_json()["got"] == 1 and loss.read_bytes() == b"png1 retrained"


def test_an_unreadable_local_folder_is_left_alone(prig: PullRig) -> None:
    prefix = _unprivileged_prefix()  # as root: a CLI without the capabilities to ignore modes
    _pod_tree(prig)
    prig.pull_json()
    prig.on_pod("logs/train.log", b"newer", 1_700_000_600)
    os.chmod(prig.local / "logs", 0)
    try:
        res = prig.pull(*PATTERNS, "--json", check=False, prefix=prefix)
    finally:
        os.chmod(prig.local / "logs", 0o755)
    out = json.loads(res.stdout)
    assert res.returncode == 1 and not out["ok"] and out["unreadable"]
    assert (prig.local / "logs" / "train.log").read_bytes() == b"step 1\n"


def test_the_push_never_sends_or_deletes_pulled_paths(prig: PullRig) -> None:
    (prig.local / "train.py").write_text("v1")
    (prig.local / "logs").mkdir()
    (prig.local / "logs" / "old.log").write_text("pushed before logs/ was pulled")
    prig.cli("once")
    assert (prig.remote / "logs" / "old.log").exists()
    _pod_tree(prig)
    prig.pull_json()
    (prig.local / "logs" / "train.log").write_text("edited here")
    (prig.local / "logs" / "old.log").unlink()
    (prig.local / "outputs" / "loss.png").unlink()
    (prig.local / "outputs" / "made-here.png").write_text("local plot")
    (prig.local / "train.py").write_text("v2")
    out = json.loads(prig.cli("once", "--json").stdout)
    assert out["ok"] and out["deleted"] == 0
    assert (prig.remote / "train.py").read_text() == "v2"  # the push still pushes
    assert (prig.remote / "logs" / "train.log").read_bytes() == b"step 1\n"
    assert (prig.remote / "logs" / "old.log").exists()
    assert (prig.remote / "outputs" / "loss.png").read_bytes() == b"png1"
    assert not (prig.remote / "outputs" / "made-here.png").exists()
    # A conflict copy the pull made is not pushed either.
    prig.on_pod("logs/train.log", b"step 3", 1_700_000_700)
    assert prig.pull_json()["conflicts"]
    prig.cli("once")
    assert not [p for p in (prig.remote / "logs").iterdir() if "rpdev-conflict" in p.name]


def test_a_large_file_shows_progress(prig: PullRig) -> None:
    prig.on_pod("outputs/ckpt/model.bin", os.urandom(6 << 20))
    res = prig.pull("--pattern", "*.bin")
    assert "pulling outputs/ckpt/model.bin" in res.stderr
    assert "(100%)" in res.stderr
    assert (prig.local / "outputs" / "ckpt" / "model.bin").read_bytes() == (
        prig.remote / "outputs" / "ckpt" / "model.bin"
    ).read_bytes()
    assert not [p for p in (prig.local / "outputs" / "ckpt").iterdir() if "rpdev-tmp" in p.name]


def test_a_missing_remote_folder_is_an_error(prig: PullRig) -> None:
    prig.remote.rmdir()
    res = prig.pull(check=False)
    assert res.returncode == 1 and "no such directory" in res.stderr
    assert not prig.remote.exists()  # never made on the pod by a pull


def test_forget_drops_what_a_pull_remembers_and_touches_no_file(prig: PullRig) -> None:
    _pod_tree(prig)
    prig.pull_json()
    (prig.local / "outputs" / "loss.png").unlink()
    (prig.local / "logs" / "train.log").write_text("edited here")
    prig.cli("once")  # the pull's patterns are remembered: the edit is left out of the push
    assert (prig.remote / "logs" / "train.log").read_bytes() == b"step 1\n"
    assert prig.pull_json()["got"] == 0  # and the deleted plot stays deleted
    here, there = snapshot(prig.local), snapshot(prig.remote)

    out = json.loads(prig.pull("--forget", "--json").stdout)
    assert out["ok"] and out["forgot"] and out["files"] == 3
    assert out["patterns"] == ["outputs/**/*.png", "logs/"]
    assert snapshot(prig.local) == here and snapshot(prig.remote) == there  # no file touched

    # Nothing is left out of the push any more: the edit goes up (the pod's file, never the
    # push's, is kept there as a conflict copy first).
    prig.cli("once")
    assert (prig.remote / "logs" / "train.log").read_text() == "edited here"
    assert [p for p in (prig.remote / "logs").iterdir() if "rpdev-conflict" in p.name]
    # And a pull no longer remembers the plot you deleted: it comes down again (with the pod's
    # conflict copy, which is under logs/ too).
    assert prig.pull_json()["got"] == 2
    assert (prig.local / "outputs" / "loss.png").read_bytes() == b"png1"
    assert [p for p in (prig.local / "logs").iterdir() if "rpdev-conflict" in p.name]


def test_forget_says_when_nothing_is_remembered(prig: PullRig) -> None:
    _pod_tree(prig)
    prig.pull_json()
    other = prig.pull("--forget", check=False)
    assert other.returncode == 0 and "no file was deleted or changed" in other.stdout
    again = prig.pull("--forget", check=False)
    assert again.returncode == 1 and "nothing is remembered of a pull" in again.stderr
    wrong = subprocess.run(
        [sys.executable, "-m", "rpdevd.cli", "pull", "--forget", "--db", str(prig.db)]
        + ["elsewhere:/w", str(prig.local), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    answer = json.loads(wrong.stdout)
    assert wrong.returncode == 1 and answer["ok"] is False and not answer["forgot"]
    assert (prig.local / "logs" / "train.log").exists()


async def test_a_listing_that_ends_early_is_never_written_to(prig: PullRig) -> None:
    """The race behind a failure seen under load: the pod's script, finding no folder, exits
    before rpdev writes the line it reads at the end of a listing; the write then failed with
    "Channel not open for sending", and that hid the script's own message. Here the pod's side
    has always exited first: the user still reads what the pod said."""
    from rpdevd.sync.destination import connect, parse_destination
    from rpdevd.sync.pull import PullError, list_pod

    prig.remote.rmdir()
    conn = await connect(parse_destination(prig.dest), prig.opts())
    real = conn.create_process

    async def exited_first(*args: object, **kwargs: object) -> object:
        proc = await real(*args, **kwargs)  # type: ignore[arg-type]
        await proc.wait_closed()  # the script has exited and its channel is closed
        return proc

    conn.create_process = exited_first  # type: ignore[method-assign, assignment]
    try:
        with pytest.raises(PullError, match="no such directory on the pod"):
            await list_pod(conn, str(prig.remote))
    finally:
        conn.close()


@pytest.mark.parametrize("depth", ["logs", "outputs/run1"])
def test_nothing_lands_through_a_local_symlink(prig: PullRig, tmp_path: Path, depth: str) -> None:
    """A folder here that is a symlink (planted by another user who can write in the tree, or
    a link of your own) is never written through: what the pod has below it stays on the pod,
    reported, and nothing lands where the link points."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "train.log").write_bytes(b"not the tree's\n")
    (prig.local / depth).parent.mkdir(parents=True, exist_ok=True)
    (prig.local / depth).symlink_to(elsewhere)
    prig.on_pod("logs/train.log", b"from the pod\n", 1_700_000_600)
    prig.on_pod("logs/new.log", b"from the pod\n", 1_700_000_600)
    prig.on_pod("outputs/run1/loss.png", b"png\n", 1_700_000_600)
    prig.on_pod("outputs/run1/deeper/acc.png", b"png\n", 1_700_000_600)
    res = prig.pull(*PATTERNS, "--json", check=False)
    out = json.loads(res.stdout)
    assert sorted(os.listdir(elsewhere)) == ["train.log"]
    assert (elsewhere / "train.log").read_bytes() == b"not the tree's\n"
    assert res.returncode == 1 and not out["ok"]
    assert all("symlink" in line for line in out["unreadable"])
    assert len(out["unreadable"]) == 2


@pytest.mark.parametrize("swap", ["symlink", "folder"])
async def test_a_folder_swapped_while_its_file_comes_down_is_never_written_through(
    prig: PullRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: str
) -> None:
    """The race after the plan's check: once a file's folder is open, it is moved away and a
    symlink (or another folder) put in its place while the file comes down. The file is
    written through the folder it opened, never where the link points; since that folder is
    no longer at its path, the file stays on the pod, reported, and no temporary is left."""
    from rpdevd.sync.destination import connect, parse_destination
    from rpdevd.sync.pull import Puller, PullSpec
    from rpdevd.sync.pullbase import PullBaseline

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (prig.local / "logs").mkdir()
    prig.on_pod("logs/train.log", b"from the pod\n" * 1000, 1_700_000_600)
    prig.on_pod("outputs/loss.png", b"png\n", 1_700_000_600)
    real = Puller._download

    async def swapped(self: Puller, sftp: object, op: object, fd: int, *rest: object) -> None:
        if op.path == "logs/train.log":  # type: ignore[attr-defined]
            (prig.local / "logs").rename(prig.local / "moved")
            if swap == "symlink":
                (prig.local / "logs").symlink_to(elsewhere)
            else:
                (prig.local / "logs").mkdir()
        await real(self, sftp, op, fd, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(Puller, "_download", swapped)
    spec = PullSpec(prig.local, str(prig.remote), "swap", ("outputs/**/*.png", "logs/"))
    db = PullBaseline(prig.db)
    conn = await connect(parse_destination(prig.dest), prig.opts())
    try:
        report = await Puller(spec, baseline=db).pull(conn)
    finally:
        conn.close()
        await conn.wait_closed()
        db.close()
    assert list(elsewhere.iterdir()) == []
    assert os.listdir(prig.local / "moved") == []  # written there, never renamed into view
    assert not (prig.local / "logs" / "train.log").exists()
    why = "is a symlink here" if swap == "symlink" else "was moved or replaced while it was pulled"
    assert report.failed == [f"logs/train.log: a folder above it {why}"]
    assert report.got == 1 and (prig.local / "outputs" / "loss.png").read_bytes() == b"png\n"


async def test_a_folder_swapped_just_before_the_rename_takes_nothing_through(
    prig: PullRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last window, between the check and the rename: the rename is a name in the folder
    the file was written in, so the file lands there (moved away with it), never where the
    symlink now in its place points."""
    from rpdevd.sync.destination import connect, parse_destination
    from rpdevd.sync.pull import Puller, PullSpec
    from rpdevd.sync.pullbase import PullBaseline

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    prig.on_pod("logs/train.log", b"from the pod\n", 1_700_000_600)
    real = Puller._make_way

    def swapped(self: Puller, where: int, name: str, op: object) -> str:
        (prig.local / "logs").rename(prig.local / "moved")
        (prig.local / "logs").symlink_to(elsewhere)
        return real(self, where, name, op)  # type: ignore[arg-type]

    monkeypatch.setattr(Puller, "_make_way", swapped)
    spec = PullSpec(prig.local, str(prig.remote), "swap", ("logs/",))
    db = PullBaseline(prig.db)
    conn = await connect(parse_destination(prig.dest), prig.opts())
    try:
        await Puller(spec, baseline=db).pull(conn)
    finally:
        conn.close()
        await conn.wait_closed()
        db.close()
    assert list(elsewhere.iterdir()) == []
    assert os.listdir(prig.local / "moved") == ["train.log"]


def test_a_pulled_file_keeps_its_permission_bits_and_no_more(prig: PullRig) -> None:
    """The pod's rwx bits come down; its setuid, setgid and sticky bits never do (a pod could
    otherwise plant a set-user-ID program in a tree that someone runs as root)."""
    prig.on_pod("logs/tool", b"#!/bin/sh\n", 1_700_000_600, 0o6755)
    prig.on_pod("logs/notes.txt", b"x", 1_700_000_600, 0o1640)
    assert prig.pull_json()["got"] == 2
    assert (prig.local / "logs" / "tool").stat().st_mode & 0o7777 == 0o755
    assert (prig.local / "logs" / "notes.txt").stat().st_mode & 0o7777 == 0o640
    assert (prig.local / "logs" / "tool").stat().st_mtime == 1_700_000_600
