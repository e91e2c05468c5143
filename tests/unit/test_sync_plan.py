"""The sync plan is pure: each rule of docs/sync.md as a case over plain data."""

from __future__ import annotations

from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry, expected_remote
from rpdevd.sync.plan import plan, release_held


def lf(size: int = 10, mtime: int = 1_700_000_000, mode: int = 0o644, ino: int = 1) -> LocalEntry:
    return LocalEntry("file", size, mtime * 1_000_000_000 + 123, mode, ino)


def ld(mode: int = 0o755) -> LocalEntry:
    return LocalEntry("dir", 0, 0, mode, 9)


def synced(entry: LocalEntry) -> tuple[RemoteEntry, BaseRecord]:
    r = expected_remote(entry)
    return r, BaseRecord(entry, r)


def kinds(p):  # noqa: ANN001, ANN201
    return [(op.kind, op.path, op.conflict) for op in p.ops]


def test_new_files_and_dirs_are_put_parents_first() -> None:
    p = plan({"a": ld(), "a/b": ld(), "a/b/f": lf(), "g": lf()}, {}, {})
    assert kinds(p) == [
        ("mkdir", "a", False),
        ("mkdir", "a/b", False),
        ("put", "a/b/f", False),
        ("put", "g", False),
    ]


def test_unchanged_tree_plans_nothing() -> None:
    r, b = synced(lf())
    rd, bd = synced(ld())
    p = plan({"d": ld(), "f": lf()}, {"d": rd, "f": r}, {"d": bd, "f": b})
    assert p.empty()


def test_local_edit_replaces_our_copy() -> None:
    r, b = synced(lf(size=10))
    p = plan({"f": lf(size=11)}, {"f": r}, {"f": b})
    assert kinds(p) == [("put", "f", False)]
    assert p.ops[0].expect == r


def test_pod_edit_then_local_edit_keeps_a_conflict_copy() -> None:
    r, b = synced(lf(size=10))
    edited_on_pod = RemoteEntry("file", 99, 1_800_000_000, 0o644)
    p = plan({"f": lf(size=11)}, {"f": edited_on_pod}, {"f": b})
    assert kinds(p) == [("put", "f", True)]
    assert p.ops[0].expect is None


def test_pod_edit_alone_is_left_alone() -> None:
    r, b = synced(lf())
    p = plan({"f": lf()}, {"f": RemoteEntry("file", 99, 1_800_000_000, 0o644)}, {"f": b})
    assert p.ops == [] and p.notes


def test_unknown_pod_file_in_the_way_is_kept() -> None:
    p = plan({"f": lf()}, {"f": RemoteEntry("file", 5, 5, 0o644)}, {})
    assert kinds(p) == [("put", "f", True)]


def test_identical_pod_file_is_adopted_without_transfer() -> None:
    lo = lf()
    p = plan({"f": lo}, {"f": expected_remote(lo)}, {})
    assert p.ops == [] and set(p.adopt) == {"f"}


def test_only_what_rpdev_wrote_is_deleted() -> None:
    r, b = synced(lf())
    users = RemoteEntry("file", 1, 1, 0o644)
    p = plan(
        {"keep": lf()},
        {"f": r, "keep": expected_remote(lf()), "mine.ckpt": users},
        {"f": b, "keep": BaseRecord(lf(), expected_remote(lf()))},
    )
    assert kinds(p) == [("delete", "f", False)]


def test_deleted_locally_but_changed_on_pod_is_kept() -> None:
    _, b = synced(lf())
    p = plan(
        {"x": lf()},
        {"f": RemoteEntry("file", 77, 1, 0o644), "x": expected_remote(lf())},
        {"f": b, "x": BaseRecord(lf(), expected_remote(lf()))},
    )
    assert p.ops == [] and p.forget == ["f"] and p.notes


def test_newly_ignored_paths_are_forgotten_not_deleted() -> None:
    r, b = synced(lf())
    p = plan(
        {"x": lf()},
        {"data.bin": r, "x": expected_remote(lf())},
        {"data.bin": b, "x": BaseRecord(lf(), expected_remote(lf()))},
        ignored={"data.bin"},
    )
    assert p.ops == [] and p.forget == ["data.bin"]


def test_deletions_above_the_cap_are_held_whole() -> None:
    remote, base = {}, {}
    for i in range(5):
        r, b = synced(lf(ino=i + 10))
        remote[f"f{i}"], base[f"f{i}"] = r, b
    remote["d"], base["d"] = synced(ld())
    p = plan({"keep": lf(ino=99)}, remote, base, max_delete=3)
    assert [op.kind for op in p.ops] == ["put"]
    assert len(p.held) == 6
    order = release_held(p.held)
    assert order[-1].kind == "rmdir"
    q = plan({"keep": lf(ino=99)}, remote, base, max_delete=None)
    assert sorted(op.kind for op in q.ops) == ["delete"] * 5 + ["put", "rmdir"]


def test_rename_becomes_a_move_on_the_pod() -> None:
    lo = lf(ino=42)
    r, b = synced(lo)
    p = plan({"new/name": lo, "new": ld()}, {"old": r}, {"old": b})
    assert kinds(p) == [("mkdir", "new", False), ("move", "new/name", False)]
    assert p.ops[1].src == "old" and p.ops[1].src_expect == r


def test_interrupted_batch_is_recognised_by_its_intent() -> None:
    lo = lf()
    written = expected_remote(lo)
    p = plan({"f": lo}, {"f": written}, {}, intents={"f": written})
    assert p.ops == [] and "f" in p.adopt
    # The local file changed again since: replace rpdev's half-recorded copy, no conflict.
    p = plan({"f": lf(size=50)}, {"f": written}, {}, intents={"f": written})
    assert kinds(p) == [("put", "f", False)]


def test_file_replacing_our_directory_waits_for_its_removal() -> None:
    rf, bf = synced(lf())
    rd, bd = synced(ld())
    p = plan({"x": lf(ino=5)}, {"x": rd, "x/f": rf}, {"x": bd, "x/f": bf})
    assert kinds(p) == [("delete", "x/f", False), ("put", "x", False)]


def test_directory_replacing_a_foreign_file_keeps_it() -> None:
    p = plan({"x": ld()}, {"x": RemoteEntry("file", 1, 1, 0o644)}, {})
    assert kinds(p) == [("mkdir", "x", True)]


def test_mode_change_alone_is_a_chmod() -> None:
    r, b = synced(lf(mode=0o644))
    p = plan({"f": lf(mode=0o755)}, {"f": r}, {"f": b})
    assert kinds(p) == [("chmod", "f", False)]


def test_stale_rpdev_temporaries_are_cleaned() -> None:
    p = plan(
        {},
        {
            ".rpdev-stage-abc": RemoteEntry("dir"),
            "d/.x.rpdev-tmp-1234": RemoteEntry("file", 1, 1, 0o600),
            "user.txt": RemoteEntry("file", 1, 1, 0o644),
        },
        {},
    )
    assert sorted(op.path for op in p.ops if op.kind == "clean") == [
        ".rpdev-stage-abc",
        "d/.x.rpdev-tmp-1234",
    ]


def test_symlink_target_change_is_a_put() -> None:
    old = LocalEntry("symlink", 1, 0, 0o777, 3, "a")
    r, b = synced(old)
    p = plan({"l": LocalEntry("symlink", 1, 0, 0o777, 3, "b")}, {"l": r}, {"l": b})
    assert kinds(p) == [("put", "l", False)]
