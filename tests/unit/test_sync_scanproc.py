"""The local walk in a forked child (`rpdev sync once`'s resync on Linux).

Each case runs in a fresh interpreter of its own, as `rpdev sync once` does: a forked child is
only taken in a process without other threads, which a test runner is not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from rpdevd.sync import scanproc

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the forked walk is taken on Linux only"
)


def run(code: str) -> dict[str, object]:
    """Run `code` (with `root` and `scan_in_child()` at hand) in a fresh interpreter; its last
    line printed is JSON."""
    prelude = textwrap.dedent(
        """
        import asyncio, json, os, sys
        from pathlib import Path
        from rpdevd.sync import scanproc
        from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
        from rpdevd.sync.scan import scan_tree
        root = Path(sys.argv[1])

        def scan_in_child(config=IgnoreConfig()):
            return asyncio.run(scanproc.scan(root, config, True))
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), os.environ["SCAN_ROOT"]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "src"
    for rel in ("a.py", "d/b.py", "d/e/c.txt", "build/out.o", "名前\nnl"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / ".gitignore").write_text("build/\n")
    (root / "d" / ".gitignore").write_text("*.txt\n")
    os.symlink("/etc/passwd", root / "outside")
    monkeypatch.setenv("SCAN_ROOT", str(root))
    return root


def test_the_child_scans_what_this_process_would(tree: Path) -> None:
    """Records, warnings and the ignore rules (with every directory's own) come back whole."""
    out = run(
        """
        rules, child = scan_in_child()
        here = scan_tree(root, IgnoreRules.for_root(root, IgnoreConfig()), records=True)
        print(json.dumps({
            "same": sorted(child.records) == sorted(here.records) and child.records != [],
            "warnings": child.warnings == here.warnings and len(here.warnings) == 1,
            "rules": [rules.ignored_path(p, False) for p in ("d/x.txt", "x.txt", "build/y")],
            "pid": os.getpid(),
        }))
        """
    )
    assert out["same"] is True and out["warnings"] is True
    assert out["rules"] == [True, False, True]


def test_the_childs_digest_is_its_records_and_changes_with_them(tree: Path) -> None:
    """Two walks of an unchanged tree give one digest, the one of the records as sent; an
    edit (a byte, the same size and second) or a new file gives another."""
    out = run(
        """
        import marshal
        from rpdevd.sync.model import hasher
        first = scan_in_child()[1]
        again = scan_in_child()[1]
        h = hasher()
        h.update(marshal.dumps(first.records))
        st = os.stat(root / "a.py")
        (root / "a.py").write_text("A.py")  # the same size
        os.utime(root / "a.py", ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        edited = scan_in_child()[1]
        (root / "new").write_text("")
        grown = scan_in_child()[1]
        print(json.dumps({
            "same": first.digest == again.digest == h.digest() and len(first.digest) == 32,
            "edited": edited.digest not in (first.digest, None),
            "grown": grown.digest not in (first.digest, edited.digest, None),
            "in thread": scan_tree(root, IgnoreRules.for_root(root), records=True).digest,
        }))
        """
    )
    assert out == {"same": True, "edited": True, "grown": True, "in thread": None}


def test_the_scans_error_is_raised_here(tree: Path, tmp_path: Path) -> None:
    out = run(
        """
        from rpdevd.sync.scan import LocalRootError
        root = root / "missing"
        try:
            scan_in_child()
        except LocalRootError as exc:
            print(json.dumps({"raised": str(exc)}))
        """
    )
    assert "does not exist" in str(out["raised"])


def test_a_child_that_dies_is_an_error_not_an_empty_tree(tree: Path) -> None:
    """A walk that ends without its result (killed, out of memory) must never read as a tree
    with nothing in it: that is what a deletion looks like."""
    out = run(
        """
        import rpdevd.sync.scanproc as sp
        sp.scan_tree = lambda *a, **k: os._exit(9)
        try:
            scan_in_child()
        except sp.ScanChildError as exc:
            try:
                os.waitpid(-1, os.WNOHANG)
                left = True
            except ChildProcessError:
                left = False  # reaped: no zombie left behind
            print(json.dumps({"raised": str(exc), "left": left}))
        """
    )
    assert "without a result" in str(out["raised"]) and out["left"] is False


def test_the_child_is_taken_only_where_no_other_thread_runs() -> None:
    assert scanproc.available() is (threading.active_count() == 1)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert scanproc.available() is False
    finally:
        stop.set()
        worker.join()


def test_a_walk_whose_child_fails_is_done_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No process to fork (a limit on processes, no memory): the engine walks the tree itself
    and says so, and the walk is the tree's, never an empty one."""
    import asyncio

    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.engine import SyncEngine, SyncSpec

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    root = tmp_path / "src"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.py").write_text("x")
    events: list[str] = []

    async def never() -> None:
        raise AssertionError("no connection is needed")

    eng = SyncEngine(
        SyncSpec(root, "/remote", "pair"),
        baseline=Baseline(tmp_path / "db.sqlite"),
        connect=never,  # type: ignore[arg-type]
        on_event=lambda e: events.append(e.message),
        scan_in_child=True,
    )
    result = asyncio.run(eng._scan_beside(True, True))
    assert sorted(r.split(b"\0", 1)[0] for r in result.records) == [b"d", b"d/f.py"]
    assert events == [
        "cannot start the local scan's process: Resource temporarily unavailable: the tree "
        "is walked in this process"
    ]
    eng.baseline.close()


def test_the_walk_started_early_is_the_one_a_scan_of_its_tree_takes(tree: Path) -> None:
    """`rpdev sync once` starts a resync's walk before it loads the engine: the scan of the
    same root by the same rules takes it (no second walk), and its result is the tree's."""
    out = run(
        """
        started = []
        start = scanproc.Walk.start.__func__
        def counted(cls, *a):
            started.append(a)
            return start(cls, *a)
        scanproc.Walk.start = classmethod(counted)
        scanproc.early_start(root, IgnoreConfig())
        early = len(started)
        rules, child = scan_in_child()
        here = scan_tree(root, IgnoreRules.for_root(root, IgnoreConfig()), records=True)
        print(json.dumps({
            "early": early, "started": len(started), "left": scanproc._early is not None,
            "same": sorted(child.records) == sorted(here.records) and child.records != [],
        }))
        """
    )
    assert out == {"early": 1, "started": 1, "left": False, "same": True}


def test_a_walk_started_early_by_other_rules_is_stopped_not_taken(tree: Path) -> None:
    out = run(
        """
        scanproc.early_start(root, IgnoreConfig(use_gitignore=False))
        pid = scanproc._early._pid
        rules, child = scan_in_child()  # the default rules: .gitignore read
        gone = True
        try:
            os.kill(pid, 0)
            gone = False
        except ProcessLookupError:
            pass  # stopped and reaped: no zombie left
        paths = sorted(r.split(b"\\0", 1)[0].decode() for r in child.records)
        print(json.dumps({"gone": gone, "left": scanproc._early is not None,
                          "build ignored": "build/out.o" not in paths}))
        """
    )
    assert out == {"gone": True, "left": False, "build ignored": True}


def test_a_walk_no_scan_took_is_stopped_and_reaped(tree: Path) -> None:
    out = run(
        """
        scanproc.early_start(root, IgnoreConfig())
        first = scanproc._early
        scanproc.early_start(root, IgnoreConfig())  # one walk at a time
        walks = 1 if scanproc._early is first else 2
        pid = scanproc._early._pid
        scanproc.discard_early()
        try:
            os.waitpid(pid, os.WNOHANG)
            reaped = False
        except ChildProcessError:
            reaped = True
        print(json.dumps({"walks": walks, "reaped": reaped, "left": scanproc._early is not None}))
        """
    )
    assert out == {"walks": 1, "reaped": True, "left": False}


def test_no_walk_is_started_early_where_another_thread_runs(tree: Path) -> None:
    out = run(
        """
        import threading
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait)
        worker.start()
        scanproc.early_start(root, IgnoreConfig())
        stop.set()
        worker.join()
        print(json.dumps({"walks": scanproc._early is not None}))
        """
    )
    assert out == {"walks": False}


def test_no_descriptor_for_the_walk_is_an_error_to_fall_back_from(tree: Path) -> None:
    out = run(
        """
        def no_pipe():
            raise OSError(24, "Too many open files")
        os.pipe = no_pipe
        scanproc.early_start(root, IgnoreConfig())  # never raises: nothing started
        try:
            scan_in_child()
        except scanproc.ScanChildError as exc:
            print(json.dumps({"walks": scanproc._early is not None, "raised": str(exc)}))
        """
    )
    assert out == {
        "walks": False,
        "raised": "cannot start the local scan's process: Too many open files",
    }
