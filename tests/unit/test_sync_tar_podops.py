"""The tar stream unpacks with the system tar; the pod-side mover applies ops with re-checks."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from rpdevd.sync import podops
from rpdevd.sync.model import LocalEntry, RemoteEntry, expected_remote
from rpdevd.sync.plan import Op
from rpdevd.sync.scan import stat_one
from rpdevd.sync.tarstream import TarJob, tar_chunks, ustar_header


def test_stream_unpacks_with_system_tar_and_tarfile(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"hello")
    (src / "big").write_bytes(os.urandom(3 << 20))
    (src / "empty").write_bytes(b"")
    job = TarJob(
        src,
        ".rpdev-stage-t",
        [("a", "0"), ("big", "1"), ("empty", "2"), ("gone", "3")],
        lambda sent: b"M" * 7,
    )
    data = b"".join(tar_chunks(job))
    assert job.missing == {"gone"} and set(job.sent) == {"a", "big", "empty"}
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-x", "-o", "-f", "-"], input=data, cwd=out, check=True)
    stage = out / ".rpdev-stage-t"
    assert (stage / "0").read_bytes() == b"hello"
    assert (stage / "1").read_bytes() == (src / "big").read_bytes()
    assert (stage / "manifest").read_bytes() == b"M" * 7
    with tarfile.open(fileobj=__import__("io").BytesIO(data)) as tf:
        assert sorted(tf.getnames()) == sorted(
            [
                ".rpdev-stage-t",
                ".rpdev-stage-t/0",
                ".rpdev-stage-t/1",
                ".rpdev-stage-t/2",
                ".rpdev-stage-t/manifest",
            ]
        )


def test_huge_sizes_use_base256() -> None:
    head = ustar_header(b"x", 10 << 30, 0o644, 0)
    assert len(head) == 512 and head[124] == 0x80


def run_mover(root: Path, stage: str, ops: list[Op], names: dict[str, str]) -> list:
    (root / stage / "manifest").write_bytes(podops.encode_manifest(ops, names))
    res = subprocess.run(
        [sys.executable, "-c", podops.MOVER, stage], cwd=root, capture_output=True, check=True
    )
    return podops.parse_results(res.stdout)


def test_mover_replaces_ours_keeps_theirs(tmp_path: Path) -> None:
    root = tmp_path / "pod"
    stage = ".rpdev-stage-m"
    (root / stage).mkdir(parents=True)
    for name in ("0", "1", "2"):
        (root / stage / name).write_bytes(b"new " + name.encode())
    # Ours (as recorded) at "ours"; a user's file at "theirs"; nothing at "fresh".
    (root / "ours").write_bytes(b"old")
    os.utime(root / "ours", (1000, 1000))
    (root / "theirs").write_bytes(b"user work")
    (root / "dir_with_user_file").mkdir()
    (root / "dir_with_user_file/keep").write_bytes(b"k")
    (root / "deleted_mine").write_bytes(b"d")
    os.utime(root / "deleted_mine", (2000, 2000))
    (root / "deleted_but_edited").write_bytes(b"edited on pod")
    lo = LocalEntry("file", 5, 1_700_000_000 * 10**9, 0o755, 1)
    ops = [
        Op("put", "ours", lo, RemoteEntry("file", 3, 1000, 0o644)),
        Op("put", "theirs", lo, None, conflict=True),
        Op("put", "fresh", lo),
        Op("put", "link", LocalEntry("symlink", 1, 0, 0o777, 2, "fresh")),
        Op("delete", "deleted_mine", None, RemoteEntry("file", 1, 2000, 0o644)),
        Op("delete", "deleted_but_edited", None, RemoteEntry("file", 1, 2000, 0o644)),
        Op("rmdir", "dir_with_user_file", None, RemoteEntry("dir")),
    ]
    results = run_mover(root, stage, ops, {"ours": "0", "theirs": "1", "fresh": "2", "link": "s3"})
    status = {path: (st, info) for st, path, _, info in results}
    assert (root / "ours").read_bytes() == b"new 0"
    assert (root / "fresh").read_bytes() == b"new 2"
    assert (root / "theirs").read_bytes() == b"new 1"
    copy = status["theirs"][1]
    assert copy.startswith("theirs.rpdev-conflict-")
    assert (root / copy).read_bytes() == b"user work"
    assert os.readlink(root / "link") == "fresh"
    assert status["deleted_mine"][0] == "ok" and not (root / "deleted_mine").exists()
    assert status["deleted_but_edited"][0] == "kept"
    assert (root / "deleted_but_edited").exists()
    assert status["dir_with_user_file"][0] == "kept"
    assert (root / "dir_with_user_file/keep").exists()
    got = stat_one(root, "fresh")
    assert got is not None and got.mode == 0o755 and got.mtime_s == 1_700_000_000
    assert not (root / stage).exists()
    entry = [e for st, p, e, _ in results if p == "fresh"][0]
    assert entry == expected_remote(lo)


def test_mover_notices_a_pod_edit_after_the_listing(tmp_path: Path) -> None:
    root = tmp_path / "pod"
    stage = ".rpdev-stage-n"
    (root / stage).mkdir(parents=True)
    (root / stage / "0").write_bytes(b"local")
    (root / "f").write_bytes(b"edited after the listing")
    lo = LocalEntry("file", 5, 1_700_000_000 * 10**9, 0o644, 1)
    results = run_mover(
        root, stage, [Op("put", "f", lo, RemoteEntry("file", 3, 1000, 0o644))], {"f": "0"}
    )
    copy = results[0][3]
    assert copy and (root / copy).read_bytes() == b"edited after the listing"
    assert (root / "f").read_bytes() == b"local"
