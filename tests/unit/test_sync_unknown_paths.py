"""A local path that cannot be read is unknown: the plan leaves it (and all below it) alone, the
scan says which and why, and a file whose read fails part-way never lands."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rpdevd.sync import podops
from rpdevd.sync.bulkstream import bulk_job
from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry, expected_remote
from rpdevd.sync.plan import Op, plan, under_any
from rpdevd.sync.transfer import _results
from tests.unit.bulkstreams import stream

# ----- the plan (pure) ---------------------------------------------------------------------------


def lf(size: int = 10, mode: int = 0o644, ino: int = 1) -> LocalEntry:
    return LocalEntry("file", size, 1_700_000_000 * 1_000_000_000, mode, ino)


def ld(mode: int = 0o755) -> LocalEntry:
    return LocalEntry("dir", 0, 0, mode, 9)


def synced(tree: dict[str, LocalEntry]) -> tuple[dict[str, RemoteEntry], dict[str, BaseRecord]]:
    remote = {p: expected_remote(e) for p, e in tree.items()}
    return remote, {p: BaseRecord(e, remote[p]) for p, e in tree.items()}


TREE = {"D": ld(), "D/E": ld(), "D/E/e": lf(1), "D/y1": lf(2, ino=2), "D/y2": lf(3), "X": lf(4)}


def test_nothing_below_an_unreadable_directory_is_deleted_or_forgotten() -> None:
    remote, base = synced(TREE)
    # The scan saw D (mode 000 now) but could not list it.
    local = {"D": ld(0o000), "X": TREE["X"]}
    p = plan(local, remote, base, unknown={"D"})
    assert p.empty(), (p.ops, p.held, p.adopt, p.forget)


def test_an_unreadable_path_is_not_moved_away_nor_cleaned() -> None:
    remote, base = synced(TREE)
    # D/y1's inode shows up as a new file elsewhere, but D/y1 itself is of unknown state.
    local = {p: e for p, e in TREE.items() if p != "D/y1"} | {"Z": TREE["D/y1"]}
    remote["D/E/.e.rpdev-tmp-1234"] = RemoteEntry("file", 1)
    p = plan(local, remote, base, unknown={"D/y1", "D/E"})
    assert [(op.kind, op.path) for op in p.ops] == [("put", "Z")]
    assert not p.forget and not p.held


def test_only_the_unknown_subtree_is_spared() -> None:
    remote, base = synced(TREE)
    local = {"D": ld(), "D/E": ld()}  # D/E unreadable; D/y1, D/y2 and X deleted locally
    p = plan(local, remote, base, unknown={"D/E"})
    assert sorted(op.path for op in p.ops) == ["D/y1", "D/y2", "X"]
    assert all(op.kind == "delete" for op in p.ops)


@pytest.mark.parametrize(
    ("path", "roots", "inside"),
    [
        ("D", {"D"}, True),
        ("D/E/e", {"D"}, True),
        ("DE", {"D"}, False),
        ("D", {"D/E"}, False),
        ("a/b", set(), False),
    ],
)
def test_under_any(path: str, roots: set[str], inside: bool) -> None:
    assert under_any(path, roots) is inside


# ----- the scan: reads that really fail --------------------------------------------------------


def unprivileged(argv: list[str]) -> list[str]:
    """`argv` run where file modes apply (root ignores them: drop the capabilities that let it)."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be made to fail")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("setpriv cannot drop capabilities here")
    return [*prefix, *argv]


SCAN = """
import json, sys
from pathlib import Path
from rpdevd.sync.ignore import IgnoreRules
from rpdevd.sync.scan import LocalRootError, scan_tree
root = Path(sys.argv[1])
try:
    res = scan_tree(root, IgnoreRules.for_root(root))
except LocalRootError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"entries": sorted(res.entries), "unreadable": res.unreadable}))
"""


def scan_unprivileged(root: Path) -> dict[str, object]:
    res = subprocess.run(
        unprivileged([sys.executable, "-c", SCAN, str(root)]),
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    out: dict[str, object] = json.loads(res.stdout)
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Callable[[], Path]]:
    root = tmp_path / "L"
    made: list[Path] = []

    def make() -> Path:
        (root / "D" / "E").mkdir(parents=True)
        (root / "D" / "y1").write_text("y1")
        (root / "D" / "E" / "e").write_text("e")
        (root / "X").write_text("x")
        made.append(root)
        return root

    yield make
    for r in made:
        for dirpath, dirnames, _ in os.walk(r):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)


@pytest.mark.parametrize("mode", [0o000, 0o111, 0o444, 0o644])
def test_a_directory_that_cannot_be_listed_or_examined_is_unreadable(
    tree: Callable[[], Path], mode: int
) -> None:
    root = tree()
    os.chmod(root / "D", mode)
    out = scan_unprivileged(root)
    assert out["entries"] == ["D", "X"]
    assert out["unreadable"] == {"D": "Permission denied"}


def test_a_root_with_an_entry_that_cannot_be_examined_is_an_error(
    tree: Callable[[], Path],
) -> None:
    root = tree()
    os.chmod(root, 0o444)  # listable, but no entry can be looked at
    try:
        out = scan_unprivileged(root)
    finally:
        os.chmod(root, 0o755)
    assert "cannot be read" in str(out.get("error")), out


# ----- the bulk stream: a read that fails part-way ---------------------------------------------


def entry(path: Path) -> LocalEntry:
    st = path.lstat()
    return LocalEntry("file", st.st_size, st.st_mtime_ns, st.st_mode & 0o777, st.st_ino)


@pytest.mark.parametrize("via_send", [False, True], ids=["chunks", "sendfile"])
def test_a_file_whose_read_fails_part_way_never_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via_send: bool
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"before")
    (src / "bad").write_bytes(os.urandom(3 << 20))
    (src / "z").write_bytes(b"after")
    pod = tmp_path / "pod"
    pod.mkdir()
    (pod / "bad").write_bytes(b"the pod's old copy")
    bad_ino = (src / "bad").stat().st_ino

    # The disk fails under the file after its first megabyte (an I/O error, as from a dying
    # disk or a network mount gone): read and sendfile of that file only.
    real_read, real_sendfile = os.read, os.sendfile

    def failing(fd: int) -> bool:
        st = os.fstat(fd)
        return st.st_ino == bad_ino and os.lseek(fd, 0, os.SEEK_CUR) >= 1 << 20

    def read(fd: int, n: int) -> bytes:
        if failing(fd):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_read(fd, min(n, 1 << 20))

    def sendfile(out: int, fd: int, offset: int | None, n: int) -> int:
        if os.fstat(fd).st_ino == bad_ino:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_sendfile(out, fd, offset, n)

    monkeypatch.setattr(os, "read", read)
    monkeypatch.setattr(os, "sendfile", sendfile)
    ops = [
        Op("put", "a", entry(src / "a")),
        Op("put", "bad", entry(src / "bad"), expected_remote(entry(src / "bad"))),
        Op("put", "z", entry(src / "z")),
    ]
    job = bulk_job(src, ops)
    data = stream(job, via_send, tmp_path)
    monkeypatch.undo()
    assert job.unreadable == {"bad": "Input/output error"}
    assert set(job.sent) == {"a", "z"}

    res = subprocess.run(
        [sys.executable, "-c", podops.RECEIVER, job.stage], input=data, cwd=pod, capture_output=True
    )
    assert res.returncode == 0, res.stderr
    assert (pod / "a").read_bytes() == b"before" and (pod / "z").read_bytes() == b"after"
    assert (pod / "bad").read_bytes() == b"the pod's old copy"
    assert not (pod / job.stage).exists()
    results = {r.op.path: (r.status, r.info) for r in _results(ops, job, res.stdout)}
    assert results == {
        "a": ("ok", ""),
        "z": ("ok", ""),
        "bad": ("unreadable", "Input/output error"),
    }
