"""`sync once` against a real sshd: the pod's copy equals the local tree, byte for byte."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rpdevd.protocol import Event
from rpdevd.sim.sshd import KeyPair, PodSSHD, generate_keypair
from rpdevd.sync.baseline import Baseline
from rpdevd.sync.destination import ConnectOptions, cli_pair_id, connect, parse_destination
from rpdevd.sync.engine import SyncEngine, SyncSpec

UNICODE = "данные ü 名前"
PIN_ALIAS = "rpdev-test-pod"


def make_tree(root: Path, files: int = 40, seed: int = 1, big: int = 0) -> None:
    rng = random.Random(seed)
    for i in range(files):
        d = root / f"pkg{i % 20:02d}" / f"mod{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        name = f"f{i:05d}.py" if i % 9 else f"{UNICODE} {i}.txt"
        (d / name).write_bytes(rng.randbytes(rng.randint(0, 3000)))
        if i % 25 == 0:
            os.chmod(d / name, 0o755)
    (root / "empty" / "nested").mkdir(parents=True)
    os.symlink("pkg00/mod0", root / "link_dir")
    os.symlink("../pkg01", root / "pkg00" / "up")
    (root / "spaces and\nnewline").write_bytes(b"odd name")
    for i in range(big):
        (root / f"big{i}.bin").write_bytes(rng.randbytes(25 << 20))


def snapshot(root: Path, skip: Callable[[str], bool] = lambda rel: False) -> dict[str, Any]:
    """Every entry under root: kind, permission bits, content or target, mtime (s)."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if skip(rel):
                continue
            try:
                st = os.lstat(full)
                if os.path.islink(full):
                    out[rel] = ("link", os.readlink(full))
                elif os.path.isdir(full):
                    out[rel] = ("dir", st.st_mode & 0o777)
                else:
                    with open(full, "rb") as fh:
                        out[rel] = ("file", st.st_mode & 0o777, int(st.st_mtime), fh.read())
            except FileNotFoundError:
                continue  # vanished while walking (a sync in progress): not part of the answer
    return out


class Rig:
    """One local tree, one remote directory on the test pod, engines on demand."""

    def __init__(self, tmp_path: Path, pod: PodSSHD, key: KeyPair) -> None:
        self.local = tmp_path / "local"
        self.local.mkdir()
        self.remote = tmp_path / "pod-workspace" / "proj"
        self.pod = pod
        self.key = key
        self.db = tmp_path / "state.sqlite3"
        self.events: list[Event] = []

    @property
    def dest(self) -> str:
        return f"{self.pod.user}@127.0.0.1:{self.pod.port}:{self.remote}"

    def pin(self) -> dict[str, str]:
        """Strict host-key checking against the test pod's own key, pinned under an alias in a
        known_hosts file of the rig's (rewritten on each call: a restarted pod has a new key)."""
        known = self.db.parent / "known_hosts"
        known.write_text(f"{PIN_ALIAS} {self.pod.host_public_key}\n")
        return {
            "stricthostkeychecking": "yes",
            "userknownhostsfile": str(known),
            "hostkeyalias": PIN_ALIAS,
        }

    def ssh_options(self) -> list[str]:
        """The same pin as `-o` arguments for the CLI."""
        names = {
            "stricthostkeychecking": "StrictHostKeyChecking",
            "userknownhostsfile": "UserKnownHostsFile",
            "hostkeyalias": "HostKeyAlias",
        }
        return [arg for k, v in self.pin().items() for arg in ("-o", f"{names[k]}={v}")]

    def seen(self) -> Any:
        """What the baseline keeps of the comparisons with its sets (`Baseline.seen`) for the
        pair `sync once` of this rig's tree and remote directory makes."""
        db = Baseline(self.db)
        try:
            return db.seen(cli_pair_id(parse_destination(self.dest), self.local.resolve()))
        finally:
            db.close()

    def opts(self) -> ConnectOptions:
        return ConnectOptions(identities=[self.key.private], options=self.pin())

    def engine(self, **spec: Any) -> SyncEngine:
        async def factory() -> Any:
            # Read the port at call time: a restarted pod listens somewhere else.
            return await connect(parse_destination(self.dest), self.opts())

        confirm = spec.pop("confirm", None)
        dest = parse_destination(self.dest)
        s = SyncSpec(
            self.local.resolve(), dest.path, cli_pair_id(dest, self.local.resolve()), **spec
        )
        return SyncEngine(
            s,
            baseline=Baseline(self.db),
            connect=factory,
            on_event=self.events.append,
            confirm=confirm,
            close_connections=True,
        )

    async def once(self, **spec: Any) -> Any:
        eng = self.engine(**spec)
        try:
            return await eng.sync_once()
        finally:
            await eng.close()
            eng.baseline.close()

    def cli(
        self, *args: str, check: bool = True, pin: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "rpdevd.cli",
            "sync",
            *args[:1],
            str(self.local),
            self.dest,
            "-i",
            str(self.key.private),
            *(self.ssh_options() if pin else ()),
            "--db",
            str(self.db),
            *args[1:],
        ]
        res = subprocess.run(
            cmd, capture_output=True, text=True, timeout=50, stdin=subprocess.DEVNULL
        )
        if check:
            assert res.returncode == 0, res.stderr
        return res


@pytest.fixture
def rig(tmp_path: Path, pod_sshd: PodSSHD, client_key: KeyPair) -> Rig:
    return Rig(tmp_path, pod_sshd, client_key)


def edit_in_the_same_second(target: Path) -> None:
    """An edit of the same size whose mtime moves by a nanosecond: only the record tells."""
    st = target.stat()
    target.write_bytes(bytes(b ^ 1 for b in target.read_bytes()))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1))


def ignored(rel: str) -> bool:
    return (
        rel.split(os.sep)[0] in (".git", "__pycache__")
        or rel.endswith(".log")
        or (rel.startswith("secrets"))
    )


@pytest.mark.slow
@pytest.mark.parametrize("via", ["cli", "engine"])
async def test_4000_files_arrive_byte_for_byte(rig: Rig, via: str) -> None:
    """`rpdev sync once` (over the ssh binary) and the engine on an open connection (as the
    daemon runs it): 4000 small files, two of 25 MB, modes, symlinks, empty directories, odd
    names; ignored files never leave."""
    make_tree(rig.local, files=4000, big=2)
    (rig.local / ".git").mkdir()
    (rig.local / ".git" / "HEAD").write_text("ref")
    (rig.local / "__pycache__").mkdir()
    (rig.local / "__pycache__" / "m.pyc").write_bytes(b"\0")
    (rig.local / "run.log").write_text("noise")
    (rig.local / "secrets").mkdir()
    (rig.local / "secrets" / "token").write_text("never leaves")
    (rig.local / ".gitignore").write_text("*.log\nsecrets/\n")
    os.symlink("/etc/passwd", rig.local / "outside")
    want = snapshot(rig.local, lambda rel: ignored(rel) or rel == "outside")
    if via == "cli":
        res = rig.cli("once", "--json")
        report = json.loads(res.stdout)
        assert report["failed"] == [] and report["conflicts"] == []
        assert "outside" in res.stderr  # the skipped symlink is reported
        assert snapshot(rig.remote) == want
        assert json.loads(rig.cli("once", "--json").stdout)["sent"] == 0
        return
    first = await rig.once()
    assert first.failed == [] and first.conflicts == []
    assert any("outside" in w for w in first.warnings)
    assert snapshot(rig.remote) == want
    again = await rig.once()
    assert again.sent == 0 and again.deleted == 0


async def test_cli_once_json_and_resync(rig: Rig) -> None:
    make_tree(rig.local, files=60)
    out = json.loads(rig.cli("once", "--json").stdout)
    assert out["ok"] and out["sent"] >= 60
    assert snapshot(rig.remote) == snapshot(rig.local)
    (rig.local / "pkg01" / "mod1" / "f00001.py").write_text("changed")
    (rig.local / "newdir").mkdir()
    out = json.loads(rig.cli("once", "--json").stdout)
    assert out["sent"] == 1 and snapshot(rig.remote) == snapshot(rig.local)


@pytest.mark.parametrize("lister", ["python", "sh"])
async def test_fallback_listers_on_a_real_pod(rig: Rig, lister: str) -> None:
    make_tree(rig.local, files=30)
    await rig.once(lister=lister)
    (rig.local / "pkg01" / "mod1" / "f00001.py").unlink()
    report = await rig.once(lister=lister)
    assert report.deleted == 1 and report.sent == 0
    assert snapshot(rig.remote) == snapshot(rig.local)


async def test_users_pod_files_are_never_touched(rig: Rig) -> None:
    make_tree(rig.local, files=20)
    rig.remote.mkdir(parents=True)
    (rig.remote / "checkpoints").mkdir()
    (rig.remote / "checkpoints" / "step1000.pt").write_bytes(b"weights")
    (rig.remote / "pkg00").mkdir()
    (rig.remote / "pkg00" / "output.txt").write_text("results")
    await rig.once()
    for p in rig.local.rglob("*"):
        if p.is_file() and not p.is_symlink():
            p.unlink()
    (rig.local / "keep.txt").write_text("k")
    report = await rig.once()
    assert (rig.remote / "checkpoints" / "step1000.pt").read_bytes() == b"weights"
    assert (rig.remote / "pkg00" / "output.txt").read_text() == "results"
    assert report.deleted > 0 and report.conflicts == []


async def test_host_key_policies(rig: Rig, tmp_path: Path) -> None:
    (rig.local / "a").write_text("a")
    known = tmp_path / "known_hosts"
    opts = ConnectOptions(
        identities=[rig.key.private],
        options={"stricthostkeychecking": "yes", "userknownhostsfile": str(known)},
    )
    with pytest.raises(ConnectionError, match="not trusted"):
        await connect(parse_destination(rig.dest), opts)
    opts.options["stricthostkeychecking"] = "accept-new"
    conn = await connect(parse_destination(rig.dest), opts)
    conn.close()
    assert rig.pod.host_public_key and rig.pod.host_public_key.split()[1] in known.read_text()
    opts.options["stricthostkeychecking"] = "yes"
    conn = await connect(parse_destination(rig.dest), opts)
    conn.close()
    # A pod restart brings a new host key: a pinned host refuses it, even with accept-new.
    await rig.pod.stop()
    await rig.pod.start(port=rig.pod.port)
    opts.options["stricthostkeychecking"] = "accept-new"
    with pytest.raises(ConnectionError):
        await connect(parse_destination(rig.dest), opts)


async def test_ssh_config_alias_with_host_key_alias(rig: Rig, tmp_path: Path) -> None:
    known = tmp_path / "rpdev_known_hosts"
    known.write_text(f"pod-abc.runpod {rig.pod.host_public_key}\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        "Host pod-abc.runpod\n"
        f"  HostName 127.0.0.1\n  Port {rig.pod.port}\n  User {rig.pod.user}\n"
        f"  IdentityFile {rig.key.private}\n  IdentitiesOnly yes\n"
        f"  HostKeyAlias pod-abc.runpod\n  UserKnownHostsFile {known}\n"
        "  StrictHostKeyChecking yes\n"
    )
    (rig.local / "a").write_text("via alias")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "rpdevd.cli",
            "sync",
            "once",
            str(rig.local),
            f"pod-abc.runpod:{rig.remote}",
            "-F",
            str(cfg),
            "--db",
            str(rig.db),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=50,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stderr
    assert (rig.remote / "a").read_text() == "via alias"


async def test_cli_over_ssh_binary_refuses_untrusted_host(rig: Rig, tmp_path: Path) -> None:
    (rig.local / "a").write_text("a")
    known = tmp_path / "empty_known_hosts"
    known.write_text("")
    res = rig.cli(
        "once",
        *("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}"),
        check=False,
        pin=False,
    )
    assert res.returncode == 1
    assert not (rig.remote / "a").exists()


async def test_the_rigs_pin_is_checked(rig: Rig, client_key: KeyPair, tmp_path: Path) -> None:
    """The rig's connections check the pod's key: another key pinned under its alias is refused,
    by the CLI (the ssh binary) and by asyncssh (watch, the daemon)."""
    (rig.local / "a").write_text("a")
    assert rig.cli("once", check=False).returncode == 0
    other = generate_keypair(tmp_path / "other_host_key")
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"{PIN_ALIAS} {other.public}\n")
    (rig.local / "b").write_text("b")
    res = rig.cli(
        "once",
        *("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={wrong}"),
        *("-o", f"HostKeyAlias={PIN_ALIAS}"),
        check=False,
        pin=False,
    )
    assert res.returncode == 1
    assert not (rig.remote / "b").exists()
    opts = ConnectOptions(
        identities=[client_key.private],
        options={**rig.pin(), "userknownhostsfile": str(wrong)},
    )
    with pytest.raises(ConnectionError):
        await connect(parse_destination(rig.dest), opts)


async def test_cli_small_batches_keep_conflicts_and_delete_only_ours(rig: Rig) -> None:
    # Under bulk_min ops: the CLI still sends them through the pod-side receiver on its one session.
    (rig.local / "keep.txt").write_text("v1")
    (rig.local / "gone.txt").write_text("bye")
    rig.cli("once")
    (rig.remote / "keep.txt").write_text("edited on the pod, longer")
    (rig.remote / "users.txt").write_text("the user's own")
    (rig.local / "keep.txt").write_text("v2 local")
    (rig.local / "gone.txt").unlink()
    out = json.loads(rig.cli("once", "--json").stdout)
    assert out["deleted"] == 1 and len(out["conflicts"]) == 1
    assert (rig.remote / "keep.txt").read_text() == "v2 local"
    assert (rig.remote / out["conflicts"][0]).read_text() == "edited on the pod, longer"
    assert (rig.remote / "users.txt").read_text() == "the user's own"
    assert not (rig.remote / "gone.txt").exists()


async def test_a_chatty_login_script_does_not_break_the_listing(rig: Rig) -> None:
    """A pod whose ~/.bashrc prints something on every ssh command (conda, motd scripts)."""
    (rig.pod.root / "home" / ".bashrc").write_text('echo "Welcome to your pod"\n')
    probe = subprocess.run(
        ["ssh", *rig.pod.ssh_args(rig.key.private), "true"],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert b"Welcome to your pod" in probe.stdout  # the login shell really prints it
    make_tree(rig.local, files=20)
    out = json.loads(rig.cli("once", "--json").stdout)
    assert out["ok"] and snapshot(rig.remote) == snapshot(rig.local)
    assert json.loads(rig.cli("once", "--json").stdout)["sent"] == 0
    (rig.local / "pkg01" / "mod1" / "f00001.py").write_text("changed")
    report = await rig.once()  # over asyncssh, as the daemon syncs
    assert report.sent == 1 and snapshot(rig.remote) == snapshot(rig.local)


async def test_a_big_batch_is_recorded_as_the_pod_confirms_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pod's answers are recorded while the rest of the batch is on the wire, a few
    thousand rows at a time (here 7): nothing waits for the batch's end, and the baseline is
    the same as one written at once (a resync sends nothing)."""
    import rpdevd.sync.batch as batch_mod

    make_tree(rig.local, files=60)
    monkeypatch.setattr(batch_mod, "RECORD_EVERY", 7)
    commits: list[int] = []
    real = Baseline.commit

    def counting(self: Baseline, pair: str, upserts: Any, *args: Any, **kw: Any) -> None:
        commits.append(len(upserts))
        real(self, pair, upserts, *args, **kw)

    monkeypatch.setattr(Baseline, "commit", counting)
    first = await rig.once()
    assert first.failed == [] and first.sent == 63  # 61 files, 2 symlinks
    assert len(commits) >= 60 // 7 and max(commits) <= 7
    assert snapshot(rig.remote) == snapshot(rig.local)
    again = await rig.once()
    assert again.sent == 0 and again.deleted == 0 and again.conflicts == []


async def test_a_resync_told_by_its_digests_still_sees_every_change(rig: Rig) -> None:
    """Once an unchanged resync has kept the digests of its scan and its listing, the next
    ones are told by them; any change here or on the pod is still seen, and the pod's edit
    of a file rpdev wrote is kept as a conflict copy, never overwritten."""
    make_tree(rig.local, files=30)
    rig.cli("once")
    seen = rig.seen

    for _ in range(2):  # the first keeps the digests, the second is told by them
        assert json.loads(rig.cli("once", "--json").stdout)["sent"] == 0
        kept = seen()
        assert kept is not None and kept.local is not None and kept.pod is not None

    edit_in_the_same_second(rig.local / "pkg01" / "mod1" / "f00001.py")
    assert json.loads(rig.cli("once", "--json").stdout)["sent"] == 1
    assert snapshot(rig.remote) == snapshot(rig.local)

    for _ in range(2):
        assert json.loads(rig.cli("once", "--json").stdout)["sent"] == 0
    kept = seen()  # the edited file's older record, still in the sets: planned, and nothing to do
    assert kept is not None and kept.local is not None
    assert kept.local.paths == {"pkg01/mod1/f00001.py"}
    # Changes on the pod alone: a file rpdev wrote, deleted (sent again), another edited
    # (the pod's version kept, and said so).
    (rig.remote / "pkg03" / "mod3" / "f00003.py").unlink()
    edited = rig.remote / "pkg04" / "mod4" / "f00004.py"
    edited.write_text("the pod's")
    out = json.loads(rig.cli("once", "--json").stdout)
    assert out["sent"] == 1 and (rig.remote / "pkg03" / "mod3" / "f00003.py").exists()
    assert any("pkg04/mod4/f00004.py" in n for n in out["notes"])
    assert edited.read_text() == "the pod's"

    for _ in range(2):
        assert json.loads(rig.cli("once", "--json").stdout)["sent"] == 0
    # The pod edits a file rpdev wrote while it changes here too: both kept.
    pod_file = rig.remote / "pkg02" / "mod2" / "f00002.py"
    pod_file.write_text("edited on the pod")
    (rig.local / "pkg02" / "mod2" / "f00002.py").write_text("edited here")
    out = json.loads(rig.cli("once", "--json").stdout)
    assert len(out["conflicts"]) == 1
    assert (rig.remote / out["conflicts"][0]).read_text() == "edited on the pod"
    assert pod_file.read_text() == "edited here"


@pytest.mark.slow
async def test_a_first_sync_tells_the_next_resyncs_scan_and_an_edit_is_still_seen(
    rig: Rig,
) -> None:
    """A first sync by `sync once` that lands everything as walked keeps its walk's digest
    (taken in a resync's order) for the sets it made: the next resync's scan of the tree as it
    is has that digest, and is told it agrees with them; the pod's listing is not told, and is
    compared. An edit since, of the same size and in the same second, has another digest and
    is sent."""
    from rpdevd.sync import scanproc

    make_tree(rig.local, files=60)
    for i in range(3 * scanproc.SHARE_AT):  # enough directories for the walk to be shared
        (rig.local / f"wide{i:02d}").mkdir()
        (rig.local / f"wide{i:02d}" / "x.py").write_text(str(i))
    assert json.loads(rig.cli("once", "--json").stdout)["sent"] > 60
    seen = rig.seen

    kept = seen()
    assert kept is not None and kept.pod is None
    assert kept.local is not None and kept.local.paths == frozenset()
    # The digest a resync's forked walk takes of the tree, here in a process of its own.
    code = (
        "import asyncio, sys; from pathlib import Path; from rpdevd.sync import scanproc;"
        "from rpdevd.sync.ignore import IgnoreConfig;"
        "print(asyncio.run(scanproc.scan(Path(sys.argv[1]), IgnoreConfig(), True))[1].digest.hex())"
    )
    walked = subprocess.run(
        [sys.executable, "-c", code, str(rig.local.resolve())],
        capture_output=True,
        text=True,
        check=True,
    )
    assert bytes.fromhex(walked.stdout.strip()) == kept.local.digest  # the CLI's default rules

    out = json.loads(rig.cli("once", "--json").stdout)
    assert out["sent"] == 0 and out["ok"]
    again = seen()
    assert again is not None and again.local == kept.local and again.pod is not None

    edit_in_the_same_second(rig.local / "pkg01" / "mod1" / "f00001.py")
    assert json.loads(rig.cli("once", "--json").stdout)["sent"] == 1
    assert snapshot(rig.remote) == snapshot(rig.local)
