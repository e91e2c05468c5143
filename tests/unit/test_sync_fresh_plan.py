"""A first sync's plan made a part at a time while the tree is walked (`plan.FreshPlan`), and its
bulk job made with it (`bulkstream.JobParts`): the same ops, the same manifest, the same job as
`plan` and `bulk_job` of the whole tree, in an order in which each op finds its directory made."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rpdevd.sync.bulkstream import JobParts, bulk_job
from rpdevd.sync.model import LocalEntry, RemoteEntry, expected_remote
from rpdevd.sync.plan import FreshPlan, Op, plan

NAMES = ("a", "b", "c.py", "d d", "ü")


def tree_paths(shape: list[list[int]]) -> list[tuple[str, bool]]:
    """(path, is a directory) in a walk's order: each directory found in its parent's listing
    before anything below it. `shape`: per directory, in the order they are listed, how many of
    its names are directories (the rest of NAMES, up to the given count, are files)."""
    out: list[tuple[str, bool]] = []
    stack = [""]
    sizes = iter(shape)
    while stack:
        d = stack.pop()
        try:
            dirs, files = next(sizes)
        except StopIteration:
            dirs, files = 0, 0
        prefix = d + "/" if d else ""
        for i, name in enumerate(NAMES[: dirs + files]):
            path = prefix + name
            is_dir = i < dirs
            out.append((path, is_dir))
            if is_dir:
                stack.append(path)
    return out


def local_entry(is_dir: bool, n: int, link: bool) -> LocalEntry:
    if is_dir:
        return LocalEntry("dir", 0, 0, 0o755, n)
    if link:
        return LocalEntry("symlink", 1, 1_700_000_000 * 10**9, 0o777, n, "a")
    return LocalEntry("file", n, (1_700_000_000 + n) * 10**9, 0o644 | (n & 1) << 6, n)


# What the pod may hold at a local path: nothing, the same content (adopted), the same content
# with another mode, something else (a file, a directory); and at paths of its own, a leftover
# temporary of rpdev's, or the pod's own files.
POD = st.sampled_from(["none", "same", "mode", "other file", "other dir"])


@st.composite
def first_syncs(draw: st.DrawFn) -> tuple[list[tuple[str, LocalEntry]], dict[str, RemoteEntry]]:
    shape = draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=1, max_size=12))
    local = [
        (p, local_entry(is_dir, n, draw(st.booleans()) and not is_dir))
        for n, (p, is_dir) in enumerate(tree_paths(shape))
    ]
    remote: dict[str, RemoteEntry] = {}
    for p, lo in local:
        there = draw(POD)
        want = expected_remote(lo)
        if there == "same":
            remote[p] = want
        elif there == "mode":
            remote[p] = want._replace(mode=0o600)
        elif there == "other file":
            remote[p] = RemoteEntry("file", 7, 1_800_000_000, 0o644)
        elif there == "other dir":
            remote[p] = RemoteEntry("dir", 0, 0, 0o755)
    for leftover in draw(st.lists(st.sampled_from([".x.rpdev-tmp-1", "a/.y.rpdev-tmp-2"]))):
        remote[leftover] = RemoteEntry("file", 1, 1, 0o600)
    # The pod's own files, beside and below the synced ones: never rpdev's to touch.
    for own in draw(st.lists(st.sampled_from(["results", "a/ckpt.pt", "a/b/out.log"]))):
        remote.setdefault(own, RemoteEntry("file", 5, 1_800_000_000, 0o644))
    return local, remote


def in_parts(local: list[tuple[str, LocalEntry]], cuts: list[int]) -> list[dict[str, LocalEntry]]:
    """The walk's entries cut into consecutive parts at `cuts` (as the child sends them)."""
    bounds = sorted({0, len(local), *(c % (len(local) + 1) for c in cuts)})
    return [dict(local[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


@given(first_syncs(), st.lists(st.integers(0, 200), max_size=6))
def test_a_first_sync_planned_in_parts_is_the_whole_trees_plan(
    case: tuple[list[tuple[str, LocalEntry]], dict[str, RemoteEntry]], cuts: list[int]
) -> None:
    local, remote = case
    fresh = FreshPlan(remote)
    made: list[Op] = []
    for part in in_parts(local, cuts):
        made += fresh.add(part)
    got = fresh.finish(dict(local))
    whole = plan(dict(local), remote, {})
    assert got.ops[: len(made)] == made
    assert sorted(got.ops) == sorted(whole.ops)
    assert got.adopt == whole.adopt and got.notes == whole.notes
    assert not got.held and not got.forget
    # Each op runs after the op that makes its directory (a mkdir, or a put of a directory's
    # conflict), and rpdev's leftovers are removed last, as `plan` orders them.
    made_at = {op.path: i for i, op in enumerate(got.ops) if op.kind in ("mkdir", "put")}
    for i, op in enumerate(got.ops):
        parent = op.path.rpartition("/")[0]
        if parent in made_at:
            assert made_at[parent] < i, (op, got.ops)
    kinds = [op.kind == "clean" for op in got.ops]
    assert kinds == sorted(kinds)


@given(first_syncs(), st.lists(st.integers(0, 200), max_size=6))
def test_a_job_made_in_parts_is_the_job_of_all_its_ops(
    case: tuple[list[tuple[str, LocalEntry]], dict[str, RemoteEntry]], cuts: list[int]
) -> None:
    """The manifest numbers file puts and symlinks on from the parts before: the receiver and
    the stream see one batch."""
    local, remote = case
    ops = plan(dict(local), remote, {}).ops
    parts = JobParts(Path("/src"))
    at = 0
    for cut in sorted(c % (len(ops) + 1) for c in cuts):
        parts.add(ops[at:cut])
        at = cut
    parts.add(ops[at:])
    got, whole = parts.job(), bulk_job(Path("/src"), ops)
    assert parts.ops == len(ops)
    assert (got.manifest, got.files, got.planned) == (whole.manifest, whole.files, whole.planned)
    assert got.stage != whole.stage  # each job its own staging directory


def test_a_part_with_a_directory_whose_place_the_pod_took_moves_it_aside_first() -> None:
    """Cases a random tree may miss: a local directory where the pod has a file of its own
    (kept as a conflict copy before the mkdir), its contents in a later part."""
    fresh = FreshPlan({"d": RemoteEntry("file", 3, 1, 0o644), "f": RemoteEntry("dir", 0, 0, 0o755)})
    first = fresh.add({"d": local_entry(True, 1, False), "f": local_entry(False, 2, False)})
    second = fresh.add({"d/x": local_entry(False, 3, False)})
    assert [(op.kind, op.path, op.conflict) for op in first] == [
        ("mkdir", "d", True),
        ("put", "f", True),
    ]
    assert [(op.kind, op.path, op.conflict) for op in second] == [("put", "d/x", False)]
    assert fresh.finish({"d", "f", "d/x"}).ops == first + second
