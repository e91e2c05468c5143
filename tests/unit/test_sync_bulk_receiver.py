"""The bulk stream and the pod-side receiver: ops applied as their bytes arrive, with re-checks,
and never a partly written file under its final name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rpdevd.sync import podops
from rpdevd.sync.bulkstream import BulkJob, bulk_job, chunks
from rpdevd.sync.model import LocalEntry, RemoteEntry, expected_remote
from rpdevd.sync.plan import Op
from rpdevd.sync.scan import stat_one
from tests.unit.bulkstreams import entry, stream


def _oldest_python() -> str | None:
    """A python3.6 on this machine (the oldest a pod may have), if there is one."""
    found = shutil.which("python3.6")
    if found and subprocess.run([found, "-V"], capture_output=True).returncode == 0:
        return found
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.6*/bin/python3"))
    return str(pyenv[0]) if pyenv else None


OLDEST = _oldest_python()
PYTHONS = [
    pytest.param(sys.executable, id="this-python"),
    pytest.param(
        OLDEST,
        id="python3.6",
        marks=pytest.mark.skipif(OLDEST is None, reason="no python3.6 on this machine"),
    ),
]


def receive(
    root: Path, job: BulkJob, data: bytes, from_file: bool = False, python: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run the receiver on `data` (with `python`, else this one); stdin is a pipe (bodies by
    splice) or, with `from_file`, a regular file (splice refuses it: the read-and-write path)."""
    root.mkdir(parents=True, exist_ok=True)
    argv = [python or sys.executable, "-c", podops.RECEIVER, job.stage]
    if not from_file:
        return subprocess.run(argv, input=data, cwd=root, capture_output=True)
    stream = root.parent / "stream.in"
    stream.write_bytes(data)
    with stream.open("rb") as stdin:
        return subprocess.run(argv, stdin=stdin, cwd=root, capture_output=True)


@pytest.mark.parametrize(
    ("via_send", "from_file", "python"),
    [
        pytest.param(False, False, None, id="chunks"),
        pytest.param(True, False, None, id="sendfile"),
        pytest.param(False, True, None, id="no-splice"),
        pytest.param(
            False,
            False,
            OLDEST,
            id="python3.6",
            marks=pytest.mark.skipif(OLDEST is None, reason="no python3.6 on this machine"),
        ),
    ],
)
def test_stream_lands_every_file_with_mode_and_mtime(
    tmp_path: Path, via_send: bool, from_file: bool, python: str | None
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"hello")
    (src / "big").write_bytes(os.urandom(3 << 20))
    (src / "empty").write_bytes(b"")
    (src / "gone").write_bytes(b"x")
    os.chmod(src / "a", 0o751)
    os.utime(src / "big", (1_600_000_000, 1_600_000_000))
    ops = [Op("put", name, entry(src / name)) for name in ("a", "big", "empty", "gone")]
    (src / "gone").unlink()  # vanishes between the plan and the read
    job = bulk_job(src, ops)
    data = stream(job, via_send, tmp_path)
    assert job.missing == {"gone"} and set(job.sent) == {"a", "big", "empty"}
    pod = tmp_path / "pod"
    res = receive(pod, job, data, from_file, python)
    assert res.returncode == 0, res.stderr
    for name in ("a", "big", "empty"):
        assert (pod / name).read_bytes() == (src / name).read_bytes()
        got, want = stat_one(pod, name), stat_one(src, name)
        assert got is not None and want is not None
        assert (got.mode, got.mtime_s) == (want.mode, want.mtime_s)
    assert not (pod / "gone").exists() and not (pod / job.stage).exists()
    reported = {path: (st, e) for st, path, e, _ in podops.parse_results(res.stdout)}
    assert set(reported) == {"a", "big", "empty"}  # nothing said about the vanished one
    assert reported["a"] == ("ok", expected_remote(job.sent["a"]))


def test_a_broken_stream_never_leaves_a_partial_file_under_its_name(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "first").write_bytes(b"complete")
    (src / "second").write_bytes(os.urandom(1 << 20))
    ops = [Op("put", name, entry(src / name)) for name in ("first", "second")]
    job = bulk_job(src, ops)
    data = b"".join(chunks(job))
    pod = tmp_path / "pod"
    res = receive(pod, job, data[: len(data) - 1000])  # cut inside the second file
    assert res.returncode == 4
    assert (pod / "first").read_bytes() == b"complete"
    assert not (pod / "second").exists()
    assert not (pod / job.stage).exists()
    assert [p for _, p, _, _ in podops.parse_results(res.stdout)] == ["first"]


def test_a_failed_op_does_not_desync_the_stream(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("sub/x", "y"):
        (src / name).write_bytes(name.encode() * 100)
    # "sub" is not created on the pod: the rename of sub/x fails, y must still land intact.
    ops = [Op("put", name, entry(src / name)) for name in ("sub/x", "y")]
    job = bulk_job(src, ops)
    pod = tmp_path / "pod"
    res = receive(pod, job, b"".join(chunks(job)))
    status = {p: st for st, p, _, _ in podops.parse_results(res.stdout)}
    assert status == {"sub/x": "failed", "y": "ok"}
    assert (pod / "y").read_bytes() == b"y" * 100


@pytest.mark.parametrize("python", PYTHONS)
def test_receiver_replaces_ours_keeps_theirs(tmp_path: Path, python: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("ours", "theirs", "fresh"):
        (src / name).write_bytes(b"new " + name.encode())
    root = tmp_path / "pod"
    root.mkdir()
    # Ours (as recorded) at "ours"; a user's file at "theirs"; nothing at "fresh".
    (root / "ours").write_bytes(b"old")
    os.utime(root / "ours", (1000, 1000))
    (root / "theirs").write_bytes(b"user work")
    (root / "dir_with_user_file").mkdir()
    (root / "dir_with_user_file/keep").write_bytes(b"k")
    (root / "deleted_mine").write_bytes(b"d")
    os.utime(root / "deleted_mine", (2000, 2000))
    (root / "deleted_but_edited").write_bytes(b"edited on pod")
    ops = [
        Op("put", "ours", entry(src / "ours"), RemoteEntry("file", 3, 1000, 0o644)),
        Op("put", "theirs", entry(src / "theirs"), None, conflict=True),
        Op("put", "fresh", entry(src / "fresh")),
        Op("put", "link", LocalEntry("symlink", 1, 0, 0o777, 2, "fresh")),
        Op("delete", "deleted_mine", None, RemoteEntry("file", 1, 2000, 0o644)),
        Op("delete", "deleted_but_edited", None, RemoteEntry("file", 1, 2000, 0o644)),
        Op("rmdir", "dir_with_user_file", None, RemoteEntry("dir")),
    ]
    job = bulk_job(src, ops)
    res = receive(root, job, b"".join(chunks(job)), python=python)
    assert res.returncode == 0, res.stderr
    status = {path: (st, info) for st, path, _, info in podops.parse_results(res.stdout)}
    assert (root / "ours").read_bytes() == b"new ours"
    assert (root / "fresh").read_bytes() == b"new fresh"
    assert (root / "theirs").read_bytes() == b"new theirs"
    copy = status["theirs"][1]
    assert copy.startswith("theirs.rpdev-conflict-")
    assert (root / copy).read_bytes() == b"user work"
    assert os.readlink(root / "link") == "fresh"
    assert status["deleted_mine"][0] == "ok" and not (root / "deleted_mine").exists()
    assert status["deleted_but_edited"][0] == "kept"
    assert (root / "deleted_but_edited").exists()
    assert status["dir_with_user_file"][0] == "kept"
    assert (root / "dir_with_user_file/keep").exists()
    assert not (root / job.stage).exists()


def test_receiver_notices_a_pod_edit_after_the_listing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"local")
    root = tmp_path / "pod"
    root.mkdir()
    (root / "f").write_bytes(b"edited after the listing")
    job = bulk_job(src, [Op("put", "f", entry(src / "f"), RemoteEntry("file", 3, 1000, 0o644))])
    results = list(podops.parse_results(receive(root, job, b"".join(chunks(job))).stdout))
    copy = results[0][3]
    assert copy and (root / copy).read_bytes() == b"edited after the listing"
    assert (root / "f").read_bytes() == b"local"


def test_manifest_reads_back_as_the_batchs_intents() -> None:
    lo = LocalEntry("file", 42, 1_700_000_000 * 10**9, 0o755, 9)
    link = LocalEntry("symlink", 3, 1_700_000_001 * 10**9, 0o777, 0, "tgt")
    d = LocalEntry("dir", 0, 0, 0o750)
    ops = [
        Op("mkdir", "d", d),
        Op("put", "d/f\nodd", lo),
        Op("put", "l", link),
        Op("move", "m", lo, None, "old", RemoteEntry("file", 42, 1_700_000_000, 0o755)),
        Op("delete", "gone", None, RemoteEntry("file", 1, 1, 0o644)),
    ]
    intents = podops.manifest_intents(podops.encode_manifest(ops, {"d/f\nodd": "0"}))
    assert intents == {
        "d": expected_remote(d),
        "d/f\nodd": expected_remote(lo),
        "l": expected_remote(link),
        "m": expected_remote(lo),
    }


def test_pod_side_programs_parse_as_python_3_6() -> None:
    """Pods run whatever python3 their image has; the programs rpdev sends stay within 3.6."""
    import ast

    from rpdevd.sync.remote import PY_LISTER

    for program in (podops.RECEIVER, PY_LISTER):
        ast.parse(program, feature_version=(3, 6))


@pytest.mark.parametrize("module", ["pod_receiver.py", "pod_lister.py"])
def test_pod_programs_are_modules_that_evaluate_nothing_newer_at_run_time(module: str) -> None:
    """What runs on the pod is a real module (linted, typed) whose text is sent. Python 3.6
    evaluates the annotations of functions: those are builtins or strings, never `X | None` or
    `list[bytes]` (3.10 and 3.9), and there is no `from __future__ import annotations` (3.7)."""
    import ast
    import builtins
    from importlib import resources

    from rpdevd.sync.remote import PY_LISTER

    text = resources.files("rpdevd.sync").joinpath(module).read_text(encoding="utf-8")
    assert text in (podops.RECEIVER, PY_LISTER)
    tree = ast.parse(text, feature_version=(3, 6))
    evaluated: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module != "__future__"
        if isinstance(node, ast.FunctionDef):
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            evaluated += [a.annotation for a in args if a.annotation is not None]
            evaluated += [node.returns] if node.returns is not None else []
    assert evaluated
    for ann in evaluated:
        plain = isinstance(ann, ast.Constant) and (ann.value is None or isinstance(ann.value, str))
        builtin = isinstance(ann, ast.Name) and hasattr(builtins, ann.id)
        assert plain or builtin, ast.unparse(ann)


def test_a_stream_out_of_step_stops_before_anything_more_lands(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"a" * 1000)
    (src / "b").write_bytes(b"b" * 1000)
    job = bulk_job(src, [Op("put", name, entry(src / name)) for name in ("a", "b")])
    data = b"".join(chunks(job))
    at = data.index(b"a" * 100)
    # Bytes added inside a's body (a framing bug, or bytes written after a cancelled stream).
    res = receive(tmp_path / "pod", job, data[:at] + b"done\n" + data[at:])
    assert res.returncode == 5
    assert not (tmp_path / "pod" / "a").exists() and not (tmp_path / "pod" / "b").exists()
    assert list(podops.parse_results(res.stdout)) == []


def test_a_file_that_cannot_be_written_is_dropped_and_the_rest_lands(tmp_path: Path) -> None:
    """A write error (a full disk; here a file-size limit) fails that file alone: its staging
    copy goes at once, and later files still land."""
    import resource
    import signal

    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(2 << 20))
    (src / "small").write_bytes(b"fits")
    job = bulk_job(src, [Op("put", name, entry(src / name)) for name in ("big", "small")])
    pod = tmp_path / "pod"
    pod.mkdir()

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    res = subprocess.run(
        [sys.executable, "-c", podops.RECEIVER, job.stage],
        input=b"".join(chunks(job)),
        cwd=pod,
        capture_output=True,
        preexec_fn=limit,
    )
    assert res.returncode == 0, res.stderr
    status = {p: (st, info) for st, p, _, info in podops.parse_results(res.stdout)}
    assert status["big"][0] == "failed" and "too large" in status["big"][1].lower()
    assert status["small"][0] == "ok" and (pod / "small").read_bytes() == b"fits"
    assert not (pod / "big").exists() and not (pod / job.stage).exists()


def test_without_sendfile_the_stream_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where sendfile cannot write to a pipe (macOS: ENOTSOCK), bodies are read and written."""
    import errno

    from rpdevd.sync import bulkstream

    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(1 << 20))
    ops = [Op("put", "big", entry(src / "big"))]
    want = b"".join(chunks(bulk_job(src, ops)))

    def refuse(*args: object) -> int:
        raise OSError(errno.ENOTSOCK, "Socket operation on non-socket")

    monkeypatch.setattr(bulkstream.os, "sendfile", refuse)
    monkeypatch.setattr(bulkstream, "_SENDFILE", True)
    job = bulk_job(src, ops)
    job.stage = "x"
    got = stream(job, True, tmp_path)
    assert got == want and not bulkstream._SENDFILE


def test_a_file_that_became_a_fifo_does_not_hang_the_stream(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "p").write_bytes(b"was a file")
    (src / "q").write_bytes(b"q")
    ops = [Op("put", name, entry(src / name)) for name in ("p", "q")]
    (src / "p").unlink()
    os.mkfifo(src / "p")  # nobody will ever write to it
    job = bulk_job(src, ops)
    for via_send in (False, True):
        stream(job, via_send, tmp_path)
        assert "p" in job.missing and "q" in job.sent


@pytest.mark.skipif(OLDEST is None, reason="no python3.6 on this machine")
def test_the_python_lister_lists_the_same_on_python_3_6(tmp_path: Path) -> None:
    from rpdevd.sync.remote import PY_LISTER

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "f").write_bytes(b"x" * 10)
    (tmp_path / "a" / "odd\nname").write_bytes(b"")
    os.symlink("a/f", tmp_path / "l")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "z").write_bytes(b"z")

    def listing(python: str) -> bytes:
        argv = [python, "-c", PY_LISTER, "skip"]
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, check=True).stdout

    old = listing(str(OLDEST))
    assert old == listing(sys.executable)
    assert b"a/odd\nname\0" in old and b"skip/z" not in old


@pytest.mark.parametrize("python", PYTHONS)
def test_modes_land_exactly_whatever_the_umask(tmp_path: Path, python: str | None) -> None:
    """Files are created with their final mode (the receiver's umask is 0), no chmod after:
    group and other write bits survive a pod's umask, and a file without owner write is still
    written whole."""
    src = tmp_path / "src"
    src.mkdir()
    modes = {"shared": 0o666, "all": 0o777, "readonly": 0o444, "private": 0o600}
    for name, mode in modes.items():
        (src / name).write_bytes(name.encode() * 100)
        os.chmod(src / name, mode)
    ops = [Op("put", name, entry(src / name)) for name in modes]
    job = bulk_job(src, ops)
    data = stream(job, False, tmp_path)
    old = os.umask(0o077)
    try:
        res = receive(tmp_path / "pod", job, data, python=python)
    finally:
        os.umask(old)
    assert res.returncode == 0, res.stderr
    for name, mode in modes.items():
        assert (tmp_path / "pod" / name).stat().st_mode & 0o777 == mode
        assert (tmp_path / "pod" / name).read_bytes() == name.encode() * 100
    reported = {p: e for _, p, e, _ in podops.parse_results(res.stdout)}
    assert {p: e.mode for p, e in reported.items() if e} == modes


def test_the_manifest_numbers_staged_files_as_the_stream_does(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b"):
        (src / name).write_bytes(b"x")
    os.symlink("a", src / "l")
    ops = [
        Op("mkdir", "d", LocalEntry("dir", mode=0o755)),
        Op("put", "a", entry(src / "a")),
        Op("put", "l", stat_one(src, "l")),
        Op("put", "b", entry(src / "b")),
        Op("delete", "gone", None, RemoteEntry("file", 1, 1, 0o644)),
    ]
    names = {"a": "0", "b": "1", "l": "s2"}
    assert podops.encode_manifest(ops) == podops.encode_manifest(ops, names)
    assert bulk_job(src, ops).manifest == podops.encode_manifest(ops, names)
