"""The local walk in a forked child (`rpdev sync once`'s resync on Linux).

Each case runs in a fresh interpreter of its own, as `rpdev sync once` does: a forked child is
only taken in a process without other threads, which a test runner is not.
"""

from __future__ import annotations

import sys
import textwrap
import threading
from pathlib import Path
from unittest.mock import ANY

import pytest

from rpdevd.sync import scanproc
from tests.unit.walks import engine_without_fork, run, tree, wide

__all__ = ["tree", "wide"]  # fixtures

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the forked walk is taken on Linux only"
)


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


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tree whose records (about 2.7 MB) are more than the child's pipe (1 MiB) and this
    process's first read of it (1 MiB) take."""
    root = tmp_path / "big"
    root.mkdir()
    for i in range(9000):
        (root / f"{i:04}-{'x' * 250}").write_bytes(b"")
    monkeypatch.setenv("SCAN_ROOT", str(root))
    return root


def test_a_walk_told_by_its_digest_holds_its_records_until_asked(big: Path) -> None:
    """A result whose digest is the one told comes without its records: the child holds them
    (more than its pipe takes: it waits to write them) until `rest` reads them, the same
    records a whole walk gives, or `stop` drops them; either reaps the child. Another digest
    gets its records at once, and no walk is held."""
    out = run(
        """
        from rpdevd.sync.scanproc import scan_unless_told
        whole = scan_in_child()[1]
        def reaped(pid):
            try:
                os.waitpid(pid, os.WNOHANG)
                return False
            except ChildProcessError:
                return True
        async def told(digest):
            return await scan_unless_told(root, IgnoreConfig(), True, digest)
        async def main():
            out = {}
            _, held, walk = await told(whole.digest)
            out["held"] = (held.records, held.digest == whole.digest, walk.held)
            pid = walk._pid
            out["alive"] = not reaped(pid)
            out["rest"] = (await walk.rest()) == whole.records
            out["after"] = (reaped(pid), walk.held)
            _, held, walk = await told(whole.digest)
            pid = walk._pid
            walk.stop()
            out["stopped"] = (reaped(pid), walk.held)
            _, other, walk = await told(b"another digest")
            out["other"] = (other.records == whole.records, walk)
            return out
        print(json.dumps(asyncio.run(main())))
        """
    )
    assert out == {
        "held": [[], True, True],
        "alive": True,
        "rest": True,
        "after": [True, False],
        "stopped": [True, False],
        "other": [True, None],
    }


def test_records_held_by_a_child_that_died_are_an_error(big: Path) -> None:
    """Held records whose child was killed before it wrote them all never read as fewer."""
    out = run(
        """
        import signal
        from rpdevd.sync.scanproc import ScanChildError, scan_unless_told
        digest = scan_in_child()[1].digest
        async def main():
            _, _, walk = await scan_unless_told(root, IgnoreConfig(), True, digest)
            os.kill(walk._pid, signal.SIGKILL)
            try:
                await walk.rest()
            except ScanChildError as exc:
                return str(exc)
        print(json.dumps({"raised": asyncio.run(main())}))
        """
    )
    assert "without a result" in str(out["raised"])


def test_records_a_held_walk_cannot_give_are_walked_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine walks the tree itself where a held walk's child cannot give its records,
    and says so."""
    import asyncio

    class Gone:
        async def rest(self) -> list[bytes]:
            raise scanproc.ScanChildError("the local scan's process ended without a result")

    eng, events = engine_without_fork(tmp_path, monkeypatch)
    records = asyncio.run(eng._records_of(Gone()))
    assert sorted(r.split(b"\0", 1)[0] for r in records) == [b"d", b"d/f.py"]
    assert events == [
        "the local scan's process ended without a result: the tree is walked in this process"
    ]
    eng.baseline.close()


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
        sp._walk = lambda *a, **k: os._exit(9)
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
    """No process to fork: the engine walks the tree itself and says so, and the walk is the
    tree's, never an empty one."""
    import asyncio

    eng, events = engine_without_fork(tmp_path, monkeypatch)
    result, held = asyncio.run(eng._scan_beside(True, True))
    assert held is None
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


# Each walk that is shared notes, in a file beside the tree, how many directories it gave away.
# Two cores, whatever this machine has: the walk is shared only where there is a second.
SHARED = """
scanproc._cores = lambda: 2
start = scanproc.Beside.start
def counted(walk, pending):
    with open(root.parent / "shared", "a") as f:
        f.write(f"{len(pending)}\\n")
    return start(walk, pending)
scanproc.Beside.start = counted
"""


def test_a_walk_shared_by_two_processes_finds_what_one_walk_finds(wide: Path) -> None:
    """Every record once, the warnings (a symlink out of the root, and names differing only in
    case, whichever walker saw them), the directories whose rules cannot be read, and every
    directory's ignore rules come back as one walk here gives them; and the same digest for
    the same tree, walk after walk."""
    out = run(
        SHARED
        + textwrap.dedent(
            """
        rules, child = scan_in_child()
        again = scan_in_child()[1]
        here_rules = IgnoreRules.for_root(root, IgnoreConfig())
        here = scan_tree(root, here_rules, records=True)
        tmp = [f"d{i:02}/s/x.tmp" for i in range(24) if i not in (11, 18)]
        print(json.dumps({
            "shared": (root.parent / "shared").read_text().split(),
            "records": sorted(child.records) == sorted(here.records),
            "once": len(child.records) == len(set(child.records)),
            "warnings": sorted(child.warnings),
            "same warnings": sorted(child.warnings) == sorted(here.warnings),
            "unreadable": child.unreadable,
            "rules": [rules.ignored_path(p, False) for p in tmp] == [True] * len(tmp),
            "digest": child.digest == again.digest is not None,
        }))
        """
        )
    )
    assert out["shared"] == ["13", "13"], "each walk is shared, the same way"
    assert out["records"] and out["once"] and out["same warnings"] and out["rules"]
    assert out["unreadable"] == {"d11/s": ANY, "d18": ANY}
    warnings = out["warnings"]
    assert isinstance(warnings, list) and "'Q/x' and 'q/x' differ only in case" in warnings
    assert any("outside" in w for w in warnings)
    assert out["digest"]


def test_a_walker_beside_that_dies_or_fails_fails_the_walk(wide: Path) -> None:
    """The other half of a shared walk ending without its result (killed), or with an error,
    is the walk's error, never a tree without that half; and no process is left behind."""
    out = run(
        """
        import rpdevd.sync.scanproc as sp
        from rpdevd.sync.scan import TreeWalk

        def reaped():
            try:
                os.waitpid(-1, os.WNOHANG)
                return False
            except ChildProcessError:
                return True

        sp._cores = lambda: 2  # shared, whatever this machine has
        beside = sp._walk_beside
        sp._walk_beside = lambda *a: os._exit(9)
        try:
            scan_in_child()
        except sp.ScanChildError as exc:
            died = [str(exc), reaped()]

        class Failing(TreeWalk):
            def run(self, stack, until=None):
                if until is not None and stack[0][0]:  # the walker beside
                    raise RuntimeError("boom")
                return super().run(stack, until)

        sp._walk_beside = beside
        sp.TreeWalk = Failing
        try:
            scan_in_child()
        except RuntimeError as exc:
            failed = [str(exc), reaped()]
        print(json.dumps({"died": died, "failed": failed}))
        """
    )
    assert out == {
        "died": ["part of the local scan ended without a result", True],
        "failed": ["boom", True],
    }


def test_a_walk_takes_in_what_its_other_half_found(tmp_path: Path) -> None:
    """`TreeWalk.merge`: the other half's records after this one's, its warnings, unreadable
    directories and rules, and its names differing only in case, which are then looked for
    across both halves (a directory of one and the same names below it in the other's)."""
    from rpdevd.sync.ignore import IgnoreRules
    from rpdevd.sync.scan import ScanResult, TreeWalk

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("x")
    walk = TreeWalk(tmp_path, IgnoreRules.for_root(tmp_path), True)
    walk.run([("", None)])
    other_rules = IgnoreRules.for_root(tmp_path)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / ".gitignore").write_text("*.log\n")
    other_rules.load_dir(tmp_path, "b")
    other_rules.unreadable["c"] = "Too many levels of symbolic links"
    other = ScanResult(
        records=[b"A/x\0file\x001\x001\x00420\x001\0"],
        warnings=["skipped 'b/out'"],
        unreadable={"c": "Too many levels of symbolic links"},
    )
    walk.merge(other_rules, other, clash=True)
    result = walk.finish()
    assert [r.split(b"\0")[0] for r in result.records] == [b"a", b"a/x", b"A/x"]
    assert result.warnings == ["skipped 'b/out'", "'A/x' and 'a/x' differ only in case"]
    assert result.unreadable == {"c": "Too many levels of symbolic links"}
    assert walk.rules.ignored_path("b/y.log", False) and walk.rules.unreadable == other.unreadable


def test_a_walker_beside_stops_once_the_walk_it_shares_is_stopped(wide: Path) -> None:
    """A walk stopped (Ctrl-C, another tree's) leaves no process walking on: the walker
    beside it ends after the directory it is in, not after its whole half."""
    out = run(
        """
        import time
        import rpdevd.sync.scan as scan
        import rpdevd.sync.scanproc as sp

        start, listed = sp.Beside.start, scan._list_dir
        def noted(walk, pending):
            other = start(walk, pending)
            (root.parent / "beside").write_text(str(other._pid))
            return other
        def slow(root, rel_dir, *a):
            if rel_dir.count("/") == 1:
                time.sleep(1)  # a second each: over 20 s for a half
            return listed(root, rel_dir, *a)
        sp.Beside.start, scan._list_dir, sp._cores = noted, slow, lambda: 2

        walk = sp.Walk.start(root, IgnoreConfig(), True)
        began = time.monotonic()
        while not (root.parent / "beside").exists():
            assert time.monotonic() - began < 30, "the walk was not shared"
            time.sleep(0.05)
        pid = int((root.parent / "beside").read_text())
        walk.stop()
        stopped = time.monotonic()
        def walking():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] != "Z"
            except FileNotFoundError:
                return False
        while walking() and time.monotonic() - stopped < 8:
            time.sleep(0.05)
        print(json.dumps({"walking": walking()}))
        """
    )
    assert out == {"walking": False}
