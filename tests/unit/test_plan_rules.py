"""The sync plan's never-clobber rules, each on both sides, with the whole plan compared: what is
done, what is kept as a conflict copy, what is only recorded, and the words the user reads."""

from __future__ import annotations

from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry, expected_remote
from rpdevd.sync.plan import Op, Plan, plan, release_held, under_any


def lf(size: int = 10, mtime: int = 1_700_000_000, mode: int = 0o644, ino: int = 1) -> LocalEntry:
    return LocalEntry("file", size, mtime * 1_000_000_000 + 123, mode, ino)


def ld(mode: int = 0o755) -> LocalEntry:
    return LocalEntry("dir", 0, 0, mode, 9)


def synced(entry: LocalEntry) -> tuple[RemoteEntry, BaseRecord]:
    r = expected_remote(entry)
    return r, BaseRecord(entry, r)


FOREIGN_FILE = RemoteEntry("file", 99, 1_800_000_000, 0o644)
FOREIGN_DIR = RemoteEntry("dir", 0, 0, 0o700)


# A foreign pod entry where a local one goes: kept as a conflict copy.


def test_a_foreign_pod_directory_where_a_local_file_goes_gets_a_conflict_copy() -> None:
    lo = lf()
    p = plan({"x": lo}, {"x": FOREIGN_DIR}, {})
    assert p.ops == [Op("put", "x", lo, None, conflict=True)]
    assert p.conflicts == p.ops and p.held == [] and p.adopt == {}


def test_a_directory_that_was_ours_but_is_now_a_file_locally_is_replaced_after_its_removal() -> (
    None
):
    rd, bd = synced(ld())
    lo = lf(ino=5)
    p = plan({"x": lo}, {"x": rd}, {"x": bd})
    assert p.ops == [Op("put", "x", lo, rd)]


def test_a_foreign_file_where_a_local_directory_goes_is_kept() -> None:
    lo = ld()
    p = plan({"x": lo}, {"x": FOREIGN_FILE}, {})
    assert p.ops == [Op("mkdir", "x", lo, None, conflict=True)]


def test_our_file_where_a_local_directory_now_goes_is_replaced() -> None:
    r, b = synced(lf())
    lo = ld()
    p = plan({"x": lo}, {"x": r}, {"x": b})
    assert p.ops == [Op("mkdir", "x", lo, r)]


def test_a_foreign_file_with_the_same_size_is_not_adopted() -> None:
    lo = lf(size=10)
    same_size = RemoteEntry("file", 10, lo.mtime_s + 1, 0o644)
    p = plan({"f": lo}, {"f": same_size}, {})
    assert p.ops == [Op("put", "f", lo, None, conflict=True)] and p.adopt == {}


def test_a_foreign_file_equal_to_the_local_one_is_adopted_and_its_mode_fixed() -> None:
    lo = lf(mode=0o755)
    there = RemoteEntry("file", lo.size, lo.mtime_s, 0o644)
    p = plan({"f": lo}, {"f": there}, {})
    assert p.adopt == {"f": BaseRecord(lo, there)}
    assert p.ops == [Op("chmod", "f", lo, there)]
    same_mode = plan({"f": lo}, {"f": expected_remote(lo)}, {})
    assert same_mode.ops == [] and same_mode.adopt == {"f": BaseRecord(lo, expected_remote(lo))}


def test_a_pod_edit_with_no_local_change_is_kept_and_named() -> None:
    _, b = synced(lf())
    p = plan({"f": lf()}, {"f": FOREIGN_FILE}, {"f": b})
    assert p.ops == [] and p.adopt == {} and p.forget == []
    assert p.notes == ["'f' changed on the pod and not locally: the pod's version is kept"]


# Renames: only a file still unchanged on the pod moves.


def test_a_pod_edited_file_is_not_moved_by_rename_detection() -> None:
    lo = lf(ino=42)
    _, b = synced(lo)
    p = plan({"new": lo}, {"old": FOREIGN_FILE}, {"old": b})
    assert p.ops == [Op("put", "new", lo)]
    assert p.forget == ["old"]
    assert p.notes == ["'old' was deleted locally but changed on the pod: kept there"]


def test_a_rename_moves_only_an_exact_match() -> None:
    lo = lf(ino=42)
    r, b = synced(lo)
    moved = plan({"new": lo}, {"old": r}, {"old": b})
    assert moved.ops == [Op("move", "new", lo, None, "old", r)]
    for other in (lf(ino=43), lf(ino=42, size=11), lf(ino=42, mtime=1_700_000_001)):
        p = plan({"new": other}, {"old": r}, {"old": b})
        assert [op.kind for op in p.ops] == ["put", "delete"], other


def test_a_file_without_an_inode_is_never_taken_for_a_rename() -> None:
    lo = lf(ino=0)
    r, b = synced(lo)
    p = plan({"new": lo}, {"old": r}, {"old": b})
    assert p.ops == [Op("put", "new", lo), Op("delete", "old", None, r)]


def test_a_directory_is_never_taken_for_a_rename() -> None:
    rd, bd = synced(ld())
    p = plan({"new": ld()}, {"old": rd}, {"old": bd})
    assert [op.kind for op in p.ops] == ["mkdir", "rmdir"]


def test_one_source_is_moved_once() -> None:
    lo = lf(ino=42)
    r, b = synced(lo)
    p = plan({"a": lo, "b": lo}, {"old": r}, {"old": b})
    assert p.ops == [Op("move", "a", lo, None, "old", r), Op("put", "b", lo)]


# Deletions: only ours, only when asked, held whole above the cap.


def many(n: int) -> tuple[dict[str, RemoteEntry], dict[str, BaseRecord]]:
    remote, base = {}, {}
    for i in range(n):
        remote[f"f{i}"], base[f"f{i}"] = synced(lf(ino=100 + i))
    return remote, base


def test_the_deletion_cap_holds_only_above_it() -> None:
    remote, base = many(3)
    at_cap = plan({}, remote, base, max_delete=3)
    assert [op.kind for op in at_cap.ops] == ["delete"] * 3 and at_cap.held == []
    over = plan({}, remote, base, max_delete=2)
    assert over.ops == [] and sorted(op.path for op in over.held) == ["f0", "f1", "f2"]
    assert not over.empty()


def test_delete_false_is_honoured() -> None:
    remote, base = many(2)
    rd, bd = synced(ld())
    remote["d"], base["d"] = rd, bd
    p = plan({}, remote, base, delete=False)
    assert p.ops == [] and p.held == [] and p.forget == [] and p.notes == []
    assert p.empty()


def test_no_put_runs_while_its_directory_removal_is_held() -> None:
    rf, bf = synced(lf())
    rd, bd = synced(ld())
    lo = lf(ino=5)
    remote = {"x": rd, "x/f": rf}
    base = {"x": bd, "x/f": bf}
    p = plan({"x": lo}, remote, base, max_delete=0)
    assert p.held == [Op("delete", "x/f", None, rf)]
    # The directory stays; the file goes in beside it as a conflict copy, never into its place.
    assert p.ops == [Op("put", "x", lo, None, conflict=True)]
    free = plan({"x": lo}, remote, base, max_delete=1)
    assert free.ops == [Op("delete", "x/f", None, rf), Op("put", "x", lo, rd)]


def test_removals_run_deepest_first_files_before_directories() -> None:
    rf, bf = synced(lf())
    rd, bd = synced(ld())
    remote = {"a": rd, "a/b": rd, "a/b/f": rf, "a/g": rf, "z": rf}
    base = {"a": bd, "a/b": bd, "a/b/f": bf, "a/g": bf, "z": bf}
    p = plan({}, remote, base)
    assert [(op.kind, op.path) for op in p.ops] == [
        ("delete", "a/b/f"),
        ("delete", "a/g"),
        ("delete", "z"),
        ("rmdir", "a/b"),
        ("rmdir", "a"),
    ]
    held = plan({}, remote, base, max_delete=0).held
    assert [(op.kind, op.path) for op in release_held(held)] == [
        ("delete", "a/b/f"),
        ("delete", "a/g"),
        ("delete", "z"),
        ("rmdir", "a/b"),
        ("rmdir", "a"),
    ]


def test_a_path_gone_from_the_pod_too_is_only_forgotten() -> None:
    _, b = synced(lf())
    p = plan({}, {}, {"f": b})
    assert p.ops == [] and p.forget == ["f"] and not p.empty()


# Directories, modes, adoption, and the plan's own numbers.


def test_a_directory_mode_change_is_a_chmod_unless_the_pod_already_has_it() -> None:
    rd, bd = synced(ld(0o755))
    lo = ld(0o700)
    p = plan({"d": lo}, {"d": rd}, {"d": bd})
    assert p.ops == [Op("chmod", "d", lo, rd)]
    there = RemoteEntry("dir", 0, 0, 0o700)
    q = plan({"d": lo}, {"d": there}, {"d": bd})
    assert q.ops == [] and q.adopt == {"d": BaseRecord(lo, there)}


def test_a_foreign_directory_where_a_local_one_goes_is_adopted() -> None:
    lo = ld()
    p = plan({"d": lo}, {"d": FOREIGN_DIR}, {})
    assert p.ops == [] and p.adopt == {"d": BaseRecord(lo, FOREIGN_DIR)}
    rd, bd = synced(lo)
    assert plan({"d": lo}, {"d": rd}, {"d": bd}).empty()


def test_an_interrupted_batch_that_finished_a_file_is_adopted() -> None:
    lo = lf()
    written = expected_remote(lo)
    p = plan({"f": lo}, {"f": written}, {}, intents={"f": written})
    assert p.ops == [] and p.adopt == {"f": BaseRecord(lo, written)}


def test_our_file_replaced_after_a_local_edit_names_what_it_expects() -> None:
    r, b = synced(lf(size=10))
    lo = lf(size=12)
    p = plan({"f": lo}, {"f": r}, {"f": b})
    assert p.ops == [Op("put", "f", lo, r)]
    assert p.puts == p.ops and p.bytes_to_send == 12 and p.conflicts == []


def test_a_mode_change_with_new_content_is_a_put() -> None:
    r, b = synced(lf(size=10, mode=0o644))
    lo = lf(size=11, mode=0o755)
    assert plan({"f": lo}, {"f": r}, {"f": b}).ops == [Op("put", "f", lo, r)]


def test_bytes_to_send_counts_files_only() -> None:
    link = LocalEntry("symlink", 1, 0, 0o777, 3, "target")
    p = plan({"a": lf(size=7), "b": lf(size=5, ino=2), "l": link}, {}, {})
    assert p.bytes_to_send == 12


def test_an_empty_plan_is_empty_and_anything_else_is_not() -> None:
    assert Plan().empty()
    assert not Plan(ops=[Op("mkdir", "d")]).empty()
    assert not Plan(held=[Op("delete", "f")]).empty()
    assert not Plan(adopt={"f": BaseRecord(lf(), expected_remote(lf()))}).empty()
    assert not Plan(forget=["f"]).empty()


def test_temporaries_in_the_baseline_or_the_local_tree_are_not_cleaned() -> None:
    tmp = ".x.rpdev-tmp-1"
    r = RemoteEntry("file", 1, 1, 0o600)
    cleaned = plan({}, {tmp: r}, {})
    assert cleaned.ops == [Op("clean", tmp, None, r)]
    assert plan({}, {tmp: r}, {tmp: BaseRecord(lf(), r)}).ops == [Op("delete", tmp, None, r)]


def test_the_order_is_dirs_moves_puts_modes_cleans_removals() -> None:
    moved = lf(ino=42)
    rm, bm = synced(moved)
    chm = lf(ino=7, mode=0o600)
    rc, bc = synced(lf(ino=7, mode=0o644))
    gone_r, gone_b = synced(lf(ino=8))
    tmp = RemoteEntry("file", 1, 1, 0o600)
    local = {"d": ld(), "m2": moved, "n": lf(ino=3), "c": chm}
    remote = {"m1": rm, "c": rc, "g": gone_r, ".rpdev-stage-1": tmp}
    base = {"m1": bm, "c": bc, "g": gone_b}
    p = plan(local, remote, base)
    assert [(op.kind, op.path) for op in p.ops] == [
        ("mkdir", "d"),
        ("move", "m2"),
        ("put", "n"),
        ("chmod", "c"),
        ("clean", ".rpdev-stage-1"),
        ("delete", "g"),
    ]


def test_new_directories_and_mode_only_changes_carry_the_local_entry() -> None:
    lo = ld(0o750)
    assert plan({"d": lo}, {}, {}).ops == [Op("mkdir", "d", lo)]
    r, b = synced(lf(mode=0o644))
    chm = lf(mode=0o600)
    assert plan({"f": chm}, {"f": r}, {"f": b}).ops == [Op("chmod", "f", chm, r)]


def test_a_directory_changed_on_either_side_only_is_recorded_again() -> None:
    lo = ld(0o755)
    rd, bd = synced(lo)
    # The pod's directory changed (its mtime), the local one did not: a new baseline row.
    touched = RemoteEntry("dir", 0, 1_800_000_000, 0o755)
    p = plan({"d": lo}, {"d": touched}, {"d": bd})
    assert p.ops == [] and p.adopt == {"d": BaseRecord(lo, touched)}
    # The local directory changed (a new inode), the pod's did not: the same.
    again = LocalEntry("dir", 0, 0, 0o755, 77)
    p = plan({"d": again}, {"d": rd}, {"d": bd})
    assert p.ops == [] and p.adopt == {"d": BaseRecord(again, rd)}


def test_a_symlink_is_never_taken_for_a_rename_of_a_file() -> None:
    # A new symlink with the inode, size and mtime of a vanished file (an inode reused).
    gone = lf(size=1, ino=42)
    r, b = synced(gone)
    link = LocalEntry("symlink", 1, gone.mtime_ns, 0o777, 42, "x")
    p = plan({"l": link}, {"old": r}, {"old": b})
    assert p.ops == [Op("put", "l", link), Op("delete", "old", None, r)]


def test_a_conflict_copy_over_a_foreign_directory_goes_with_the_other_puts() -> None:
    lo = lf()
    chm = lf(ino=7, mode=0o600)
    rc, bc = synced(lf(ino=7, mode=0o644))
    p = plan({"x": lo, "c": chm}, {"x": FOREIGN_DIR, "c": rc}, {"c": bc})
    assert p.ops == [Op("put", "x", lo, None, conflict=True), Op("chmod", "c", chm, rc)]


# Local paths that could not be read: nothing at or below them is planned.


def test_under_any_is_the_path_or_a_parent_of_it() -> None:
    roots = {"a/b", "c"}
    assert under_any("a/b", roots) and under_any("a/b/x/y", roots) and under_any("c/z", roots)
    assert not under_any("a", roots) and not under_any("a/bc", roots)
    assert not under_any("x/a/b", roots) and not under_any("b", roots)
    assert not under_any("a/b", ())


def test_nothing_at_or_below_an_unknown_path_is_planned() -> None:
    rf, bf = synced(lf())
    rd, bd = synced(ld())
    tmp = RemoteEntry("file", 1, 1, 0o600)
    remote = {"u": rd, "u/f": rf, "u/.f.rpdev-tmp-9": tmp, "gone": rf}
    base = {"u": bd, "u/f": bf, "gone": bf}
    # `u` could not be listed: its file looks deleted and a local one was edited below it.
    local = {"a": lf(ino=3), "u": ld(0o700), "u/g": lf(ino=4), "z": lf(ino=5)}
    p = plan(local, remote, base, unknown={"u"})
    assert p.ops == [
        Op("put", "a", local["a"]),
        Op("put", "z", local["z"]),
        Op("delete", "gone", None, rf),
    ]
    assert p.forget == [] and p.adopt == {} and p.held == []


def test_an_unknown_file_is_not_moved_away() -> None:
    lo = lf(ino=42)
    r, b = synced(lo)
    p = plan({"new": lo}, {"old": r}, {"old": b}, unknown={"old"})
    assert p.ops == [Op("put", "new", lo)] and p.forget == []
