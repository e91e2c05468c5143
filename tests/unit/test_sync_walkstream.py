"""A first sync's walk in a forked child that sends its entries as it walks (`walkstream`).

Each case runs in a fresh interpreter of its own (`walks.run`), as `rpdev sync once` does.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from rpdevd.sync.engine import Walked
from tests.unit.walks import engine_without_fork, run, tree, wide

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the forked walk is taken on Linux only"
)
__all__ = ["tree", "wide"]  # fixtures


def stream_in_child(code: str) -> dict[str, object]:
    """`run` with `stream(root)` at hand: a first sync's walk (`EntryStream`), its parts read
    one by one, then its outcome (or what it raised, by name); and `in_order(parts)`."""
    prelude = """
        from rpdevd.sync import walkstream

        async def read(root):
            walk = walkstream.EntryStream.start(root, IgnoreConfig())
            parts = []
            try:
                while (part := await walk.next_part()) is not None:
                    parts.append(part)
                return parts, walk.outcome()
            except Exception as exc:
                return parts, exc

        def stream(root=root):
            return asyncio.run(read(root))

        def left():
            try:
                os.waitpid(-1, os.WNOHANG)
                return True
            except ChildProcessError:
                return False  # reaped: no zombie left behind

        def in_order(parts):
            # The parts' entries one after another, the paths, and whether each directory
            # came before what it holds.
            got = [p for part in parts for p in part.items()]
            seen, ordered = set(), True
            for path, _ in got:
                parent = path.rpartition("/")[0]
                ordered = ordered and (not parent or parent in seen)
                seen.add(path)
            return got, seen, ordered
    """
    return run(textwrap.dedent(prelude) + textwrap.dedent(code))


def test_a_first_syncs_walk_sends_its_entries_in_parts_as_it_walks(tree: Path) -> None:
    """The parts, one after another, are the walk's entries in its order (each directory
    before what it holds); the outcome brings the rules and the warnings, no entries again."""
    out = stream_in_child(
        """
        walkstream.PART_ENTRIES = 2
        parts, (rules, result) = stream()
        here = scan_tree(root, IgnoreRules.for_root(root, IgnoreConfig()), records=False)
        got, seen, ordered = in_order(parts)
        print(json.dumps({
            "parts": len(parts),
            "same": got == list(here.entries.items()),
            "paths": sorted(p for p, _ in got),
            "ordered": ordered,
            "warnings": result.warnings == here.warnings and len(here.warnings) == 1,
            "entries": result.entries,
            "rules": [rules.ignored_path(p, False) for p in ("d/x.txt", "x.txt", "build/y")],
            "left": left(),
        }))
        """
    )
    assert out == {
        "parts": 2,  # a directory's entries at a time: the root's, then d's (d/e has none)
        "same": True,
        "paths": [".gitignore", "a.py", "d", "d/.gitignore", "d/b.py", "d/e", "名前\nnl"],
        "ordered": True,
        "warnings": True,
        "entries": {},
        "rules": [True, False, True],
        "left": False,
    }


def test_a_first_syncs_walk_tells_what_it_could_not_read(tree: Path) -> None:
    out = stream_in_child(
        """
        import rpdevd.sync.scan as scan
        real = scan._list_dir
        def list_dir(root, rel_dir, *rest):
            if rel_dir == "d":
                raise scan.Unreadable("Permission denied")
            return real(root, rel_dir, *rest)
        scan._list_dir = list_dir
        parts, (rules, result) = stream()
        print(json.dumps({
            "paths": sorted(p for part in parts for p in part),
            "unreadable": result.unreadable,
        }))
        """
    )
    assert out == {
        "paths": [".gitignore", "a.py", "d", "名前\nnl"],
        "unreadable": {"d": "Permission denied"},
    }


def test_a_first_syncs_walk_raises_its_error_here(tree: Path) -> None:
    out = stream_in_child(
        """
        parts, raised = stream(root / "missing")
        print(json.dumps({"parts": len(parts), "raised": f"{type(raised).__name__}: {raised}",
                          "left": left()}))
        """
    )
    assert out["parts"] == 0 and out["left"] is False
    assert str(out["raised"]).startswith("LocalRootError") and "does not exist" in str(
        out["raised"]
    )


@pytest.mark.parametrize("writes", [0, 1])
def test_a_first_syncs_walk_that_dies_is_an_error_not_the_end_of_the_tree(
    tree: Path, writes: int
) -> None:
    """A walk that dies (killed, out of memory), before it sent anything or part-way, must
    never read as a tree that ends there; and it is reaped."""
    out = stream_in_child(
        f"""
        walkstream.PART_ENTRIES = 1
        real, sent = walkstream.write_all, []
        def write_all(fd, data):
            if len(sent) == {writes}:
                os._exit(9)
            sent.append(1)
            real(fd, data)
        walkstream.write_all = write_all
        parts, raised = stream()
        print(json.dumps({{"parts": len(parts), "raised": f"{{type(raised).__name__}}: {{raised}}",
                          "left": left()}}))
        """
    )
    assert out == {
        "parts": writes,
        "raised": "ScanChildError: the local scan's process ended without a result",
        "left": False,
    }


def test_a_first_sync_whose_walk_cannot_fork_is_walked_and_planned_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No process to fork: the engine walks the tree in a thread and says so, and no plan is
    made on the way (the pass plans the tree as walked)."""
    import asyncio

    eng, events = engine_without_fork(tmp_path, monkeypatch)
    made: list[object] = []

    async def walk() -> Walked:
        listing: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        walked: Walked = await eng._plan_as_walked(listing, made)
        return walked

    result, held = asyncio.run(walk())
    assert held is None
    assert sorted(result.entries) == ["d", "d/f.py"]
    assert made == []
    assert events == [
        "cannot start the local scan's process: Resource temporarily unavailable: the tree "
        "is walked in this process"
    ]
    eng.baseline.close()


@pytest.mark.parametrize("cores", [1, 2])
def test_a_first_syncs_walk_shared_by_two_walkers_sends_all_they_find(
    wide: Path, cores: int
) -> None:
    """Where there are two cores the walk is shared, as a resync's is: the second walker's
    entries follow the first's, each once, each directory before what it holds; its warnings,
    unreadable paths and the names that differ only in case across both halves come too."""
    out = stream_in_child(
        f"""
        scanproc._cores = lambda: {cores}
        walkstream.PART_ENTRIES = 7
        parts, (rules, result) = stream()
        here = scan_tree(root, IgnoreRules.for_root(root, IgnoreConfig()), records=False)
        got, seen, ordered = in_order(parts)
        print(json.dumps({{
            "all": sorted(got) == sorted(here.entries.items()),
            "once": len(got) == len(seen),
            "ordered": ordered,
            "warnings": sorted(result.warnings) == sorted(here.warnings),
            "case": sorted(w for w in result.warnings if "only in case" in w),
            "unreadable": sorted(result.unreadable) == sorted(here.unreadable) != [],
            "left": left(),
        }}))
        """
    )
    assert out == {
        "all": True,
        "once": True,
        "ordered": True,
        "warnings": True,
        "case": ["'Q' and 'q' differ only in case", "'Q/x' and 'q/x' differ only in case"],
        "unreadable": True,
        "left": False,
    }


def test_names_that_differ_in_case_across_the_two_halves_are_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two walkers each walk one of two directories that differ only in case: what they
    hold that differs only in case is told, as a walk in one process tells it."""
    root = tmp_path / "cases"
    for rel in ("Q/x/f.py", "q/x/g.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    monkeypatch.setenv("SCAN_ROOT", str(root))
    out = stream_in_child(
        """
        scanproc._cores = lambda: 2
        walkstream.SHARE_AT = 2  # shared as soon as Q and q are pending: one each
        parts, (rules, result) = stream()
        here = scan_tree(root, IgnoreRules.for_root(root, IgnoreConfig()), records=False)
        print(json.dumps({"told": sorted(result.warnings), "here": sorted(here.warnings)}))
        """
    )
    both = ["'Q' and 'q' differ only in case", "'Q/x' and 'q/x' differ only in case"]
    assert out["told"] == out["here"] == both


def test_a_first_syncs_walk_whose_other_walker_dies_is_an_error(wide: Path) -> None:
    """A second walker that ends without its result fails the walk: the first sync walks
    again in its own process (`engine`), never taking half a tree for the whole."""
    out = stream_in_child(
        """
        scanproc._cores = lambda: 2
        walkstream._half_beside = lambda *a: os._exit(9)
        parts, outcome = stream()
        print(json.dumps({"raised": repr(outcome), "left": left()}))
        """
    )
    assert "part of the local scan ended without a result" in str(out["raised"])
    assert out["left"] is False


@pytest.mark.parametrize("cores", [1, 2])
def test_a_first_syncs_walk_takes_the_digest_the_next_resyncs_walk_will(
    wide: Path, cores: int
) -> None:
    """Walked in a resync's order (shared by two walkers where there are two cores), its
    digest is the resync's scan's while the tree stays as it was, and another after an edit."""
    out = stream_in_child(
        f"""
        scanproc._cores = lambda: {cores}
        first = stream()[1][1]
        resync = scan_in_child()[1]
        (root / "d03" / "a.py").write_text("A.py, longer")
        edited = scan_in_child()[1]
        print(json.dumps({{
            "same": first.digest == resync.digest and len(first.digest) == 32,
            "edited": edited.digest != first.digest,
            "unreadable": sorted(first.unreadable) == sorted(resync.unreadable) != [],
        }}))
        """
    )
    assert out == {"same": True, "edited": True, "unreadable": True}
