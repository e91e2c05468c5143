"""The pod-side listing script (run here with /bin/sh, each lister) and its parser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rpdevd.sync.model import RemoteEntry
from rpdevd.sync.remote import (
    END,
    HEADER,
    ListingRecords,
    listing_script,
    parse_listing,
    record_set,
)


def build(root: Path) -> None:
    (root / "d/sub").mkdir(parents=True)
    (root / "d/sub/f.txt").write_bytes(b"12345")
    (root / "exe").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "exe", 0o750)
    (root / "名前\nnl").write_bytes(b"u")
    os.symlink("d/sub", root / "link")
    (root / ".git/objects").mkdir(parents=True)
    (root / ".git/objects/x").write_bytes(b"x")
    os.utime(root / "d/sub/f.txt", (1_600_000_000, 1_600_000_000))


def run(script: str) -> bytes:
    res = subprocess.run(["sh", "-c", script], input=b"", capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.parametrize("mode", ["find", "python", "sh"])
def test_every_lister_gives_the_same_listing(tmp_path: Path, mode: str) -> None:
    if mode == "sh" and not shutil.which("stat"):
        pytest.skip("no `stat` command here: the sh lister needs it")
    build(tmp_path / "root")
    out = run(listing_script(str(tmp_path / "root"), [".git"], mode))
    listing = parse_listing(out)
    e = listing.entries
    assert set(e) == {"d", "d/sub", "d/sub/f.txt", "exe", "名前\nnl", "link"}
    assert e["d/sub/f.txt"].size == 5 and e["d/sub/f.txt"].mtime_s == 1_600_000_000
    assert e["exe"].mode == 0o750 and e["d"].kind == "dir"
    assert e["link"].kind == "symlink" and e["link"].target == "d/sub"
    assert listing.python3 and listing.malformed == 0


def test_listing_creates_the_root(tmp_path: Path) -> None:
    out = run(listing_script(str(tmp_path / "new/root"), []))
    assert parse_listing(out).entries == {}
    assert (tmp_path / "new/root").is_dir()


def test_root_names_are_quoted(tmp_path: Path) -> None:
    evil = tmp_path / "x'; touch pwned; '$(touch pwned2)"
    out = run(listing_script(str(evil), []))
    assert parse_listing(out).entries == {}
    assert evil.is_dir() and not (Path.cwd() / "pwned").exists()
    assert not (Path.cwd() / "pwned2").exists()


def test_parser_rejects_escapes_and_garbage() -> None:
    body = b"".join(
        [
            b"f\x0010\x00644\x001.5\x00\x00ok\x00",
            b"f\x0010\x00644\x001\x00\x00../escape\x00",
            b"f\x0010\x00644\x001\x00\x00/abs\x00",
            b"f\x00ten\x00644\x001\x00\x00bad-size\x00",
            b"f\x0010\x00644\x001\x00\x00a/./b\x00",
        ]
    )
    listing = parse_listing(HEADER + b" python3=1\n" + body + END)
    assert set(listing.entries) == {"ok"} and listing.malformed == 4
    assert listing.python3
    with pytest.raises(ValueError, match="Welcome"):
        parse_listing(b"Welcome to the pod!\n")
    # A login script that prints something first: skipped.
    chatty = b"conda: base activated\n" + HEADER + b" python3=1\n" + body + END
    assert set(parse_listing(chatty).entries) == {"ok"}


def test_the_parser_reads_every_record_as_the_listers_print_it() -> None:
    """A lister's `./` before each path, another type letter (a fifo: `other`), a target or a
    name that is not UTF-8; and a record cut short at the end, counted once as malformed (the
    ones before it parsed), even where only its last NUL is missing. The same for a plan of a
    few paths."""
    odd = b"\xff\xfename"
    body = b"".join(
        [
            b"f\x003\x00644\x001700000000\x00\x00a\x00",
            b"p\x000\x00600\x001700000000\x00\x00fifo\x00",
            b"l\x004\x00777\x001700000000\x00" + odd + b"\x00" + odd + b"\x00",
        ]
    )
    want = {
        "a": RemoteEntry("file", 3, 1_700_000_000, 0o644),
        "fifo": RemoteEntry("other", 0, 1_700_000_000, 0o600),
        "\udcff\udcfename": RemoteEntry("symlink", 4, 1_700_000_000, 0o777, "\udcff\udcfename"),
    }
    dotted = body.replace(b"\x00a\x00", b"\x00./a\x00").replace(b"\x00fifo\x00", b"\x00./fifo\x00")
    for records in (body, dotted):
        for cut in (b"", b"f\x001", b"f\x001\x00", b"f\x001\x00644\x001\x00\x00b"):
            malformed = 1 if cut else 0
            raw = HEADER + b" python3=1\n" + records + cut + END
            listing = parse_listing(raw)
            assert (listing.entries, listing.malformed) == (want, malformed)
            few = parse_listing(raw, {"a", "\udcff\udcfename"})
            assert few.entries == {p: e for p, e in want.items() if p != "fifo"}


def test_records_are_gathered_in_whole_seconds() -> None:
    """GNU find prints mtimes with a fraction (`%T@`): the records leave it out, so they are
    the bytes the other listers print and the baseline expects; a dot anywhere else (a name, a
    link's target, a fraction already cut) is kept. Gathered a read at a time, at every cut of
    the buffer, the records are the same."""
    body = b"".join(
        [
            b"f\x003\x00644\x001700000000.5000000000\x00\x00v1.2\x00",
            b"f\x003\x00644\x00-2.5000000000\x00\x00old.0\x00",
            b"l\x003\x00777\x001700000000.0000000000\x00a.9\x00link.9\x00",
            b"d\x000\x00755\x000\x00\x00dir.1\x00",
            b"f\x003\x00644\x001700000001\x00\x00whole\x00",
        ]
    )
    want = {
        b"f\x003\x00644\x001700000000\x00\x00v1.2\x00",
        b"f\x003\x00644\x00-2\x00\x00old.0\x00",
        b"l\x003\x00777\x001700000000\x00a.9\x00link.9\x00",
        b"d\x000\x00755\x000\x00\x00dir.1\x00",
        b"f\x003\x00644\x001700000001\x00\x00whole\x00",
    }
    # A login banner with a NUL in it comes before the header: it is not the listing.
    raw = b"motd \x00 banner\n" + HEADER + b" python3=1\n" + body + END
    assert record_set(raw) - {END} == want
    for step in (1, 5, 7, 64):
        gathered = ListingRecords()
        for end in range(0, len(raw), step):
            gathered.feed(raw[:end])
        assert gathered.records(raw) == want
    entries = parse_listing(raw).entries
    assert entries["old.0"].mtime_s == -2 and entries["v1.2"].mtime_s == 1_700_000_000


@pytest.mark.parametrize("mode", ["find", "python", "sh"])
def test_every_lister_gives_a_fraction_of_a_second_as_the_others(tmp_path: Path, mode: str) -> None:
    """A file whose mtime has a fraction (one the user wrote on the pod; rpdev sets whole
    seconds), after 1970 and before it: each lister's record is the one the others give, its
    seconds the floor of its mtime, as the baseline counts them."""
    if mode == "sh" and not shutil.which("stat"):
        pytest.skip("no `stat` command here: the sh lister needs it")
    root = tmp_path / "root"
    root.mkdir()
    for name, ns in (("late", 1_700_000_000_250_000_000), ("early", -1_500_000_000)):
        (root / name).write_bytes(b"abc")
        os.utime(root / name, ns=(ns, ns))
        (root / name).chmod(0o644)
    raw = run(listing_script(str(root), [], mode))
    assert record_set(raw) - {END} == {
        b"f\x003\x00644\x001700000000\x00\x00late\x00",
        b"f\x003\x00644\x00-2\x00\x00early\x00",
    }
    entries = parse_listing(raw).entries
    assert (entries["late"].mtime_s, entries["early"].mtime_s) == (1_700_000_000, -2)


@pytest.mark.parametrize("mode", ["find", "python", "sh"])
def test_every_lister_prints_the_canonical_records(tmp_path: Path, mode: str) -> None:
    """What makes the no-change check possible: a tree rpdev wrote lists, byte for byte, as
    the baseline expects, whichever lister the pod has."""
    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.compare import Expected, pod_changes
    from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
    from rpdevd.sync.model import BaseRecord, expected_remote, local_record
    from rpdevd.sync.scan import scan_tree

    if mode == "sh" and not shutil.which("stat"):
        pytest.skip("no `stat` command here: the sh lister needs it")
    root = tmp_path / "root"
    build(root)
    shutil.rmtree(root / ".git")
    os.utime(root / "exe", (1_700_000_000, 1_700_000_000))  # whole seconds, as rpdev sets them
    (root / "名前\nnl").chmod(0o600)
    rules = IgnoreRules.for_root(root, IgnoreConfig(use_defaults=False, use_gitignore=False))
    for path in ("d/sub/f.txt", "名前\nnl"):
        os.utime(root / path, (1_650_000_000, 1_650_000_000))
    local = scan_tree(root, rules).entries
    base = {p: BaseRecord(e, expected_remote(e)) for p, e in local.items()}
    db = Baseline(tmp_path / "db.sqlite")
    db.commit("pair", base, [])
    assert set(db.local_records("pair")) == {local_record(p, e) for p, e in local.items()}

    def changes() -> set[str]:
        sets = db.record_sets("pair")
        assert sets is not None
        raw = run(listing_script(str(root), [], mode))
        # The records as a full pass gathers them, a read at a time (here: 7 bytes at a time).
        gathered = ListingRecords()
        for end in range(0, len(raw), 7):
            gathered.feed(raw[:end])
        listed = gathered.records(raw)
        assert listed == record_set(raw)
        return pod_changes(listed, Expected(*sets))

    assert changes() == set()
    (root / "d/checkpoint.pt").write_bytes(b"the user's")  # only on the pod: not rpdev's business
    assert changes() == set()
    (root / ".rpdev-stage-0123").mkdir()  # a leftover of rpdev's own: a plan must clean it
    assert changes() == {".rpdev-stage-0123"}
    (root / ".rpdev-stage-0123").rmdir()
    os.utime(root / "exe", (1_700_000_001, 1_700_000_001))  # edited on the pod
    assert changes() == {"exe"}
    del local["exe"]  # deleted here
    assert set(db.local_records("pair")) != {local_record(p, e) for p, e in local.items()}
    db.close()


def test_the_baseline_builds_the_records_python_builds(tmp_path: Path) -> None:
    """The no-change check compares records SQLite builds from the baseline with records built
    here from a scan and a listing: the same bytes for every kind of entry and name."""
    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry, local_record
    from rpdevd.sync.remote import expected_record

    odd = os.fsdecode(b"bad-\xff-\n-name")
    base = {
        "f.txt": BaseRecord(
            LocalEntry("file", 12, 1_700_000_000_123_456_789, 0o644, 42),
            RemoteEntry("file", 12, 1_700_000_000, 0o644),
        ),
        f"d/{odd}": BaseRecord(
            LocalEntry("file", -1, -1, 0o755, 7), RemoteEntry("file", 3, 5, 0o700)
        ),
        "d": BaseRecord(LocalEntry("dir", 0, 0, 0o755, 9), RemoteEntry("dir", 0, 0, 0o2775)),
        "ln": BaseRecord(
            LocalEntry("symlink", 3, 10**18, 0o777, 11, f"d/{odd}"),
            RemoteEntry("symlink", 3, 10**9, 0o777, f"d/{odd}"),
        ),
        "fifo": BaseRecord(LocalEntry("other"), RemoteEntry("other", 0, 0, 0o600)),
    }
    db = Baseline(tmp_path / "db.sqlite")
    db.commit("pair", base, [])
    db.commit("other pair", {"f.txt": base["d"]}, [])
    local = {local_record(p, b.local) for p, b in base.items()}
    pod = {expected_record(p, b.remote) for p, b in base.items()}
    assert set(db.local_records("pair")) == local and set(db.pod_records("pair")) == pod
    assert db.count("pair") == 5
    # Rows written before the records were kept with them: SQLite builds the same bytes.
    db._db.execute("UPDATE sync_baseline SET l_rec = NULL, r_rec = NULL")
    assert set(db.local_records("pair")) == local and set(db.pod_records("pair")) == pod
    db.close()


def test_a_baseline_from_before_the_records_opens_and_keeps_them(tmp_path: Path) -> None:
    import sqlite3

    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry, local_record

    old = sqlite3.connect(tmp_path / "db.sqlite")
    old.execute(
        "CREATE TABLE sync_baseline (pair TEXT NOT NULL, path BLOB NOT NULL,"
        " l_kind TEXT NOT NULL, l_size INTEGER, l_mtime_ns INTEGER, l_mode INTEGER,"
        " l_ino INTEGER, l_target BLOB, r_kind TEXT NOT NULL, r_size INTEGER, r_mtime INTEGER,"
        " r_mode INTEGER, r_target BLOB, PRIMARY KEY (pair, path)) WITHOUT ROWID"
    )
    old.execute(
        "INSERT INTO sync_baseline VALUES ('p', x'61', 'dir', 0, 0, 493, 3, x'',"
        " 'dir', 0, 0, 493, x'')"
    )
    old.commit()
    old.close()
    db = Baseline(tmp_path / "db.sqlite")
    entry = LocalEntry("file", 1, 2, 0o644, 4)
    db.commit("p", {"b": BaseRecord(entry, RemoteEntry("file", 1, 0, 0o644))}, [])
    assert set(db.local_records("p")) == {
        local_record("a", LocalEntry("dir", 0, 0, 0o755, 3)),
        local_record("b", entry),
    }
    assert set(db.load("p")) == {"a", "b"}
    db.close()


def test_a_pass_plans_only_what_differs_and_plans_it_as_a_whole_plan_would(
    tmp_path: Path,
) -> None:
    """A full pass that finds a change hands the plan only the paths where the scan, the
    baseline and the pod's listing disagree: the plan it gets is the plan of the whole tree
    (moves, deletions, conflict copies, notes, a leftover cleaned)."""

    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.compare import Expected, entries_of, local_changes, pod_changes
    from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
    from rpdevd.sync.model import BaseRecord, expected_remote
    from rpdevd.sync.plan import plan
    from rpdevd.sync.scan import scan_tree

    local_root, pod = tmp_path / "local", tmp_path / "pod"
    for root in (local_root, pod):
        for i in range(30):
            (root / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
            (root / f"d{i % 3}" / f"f{i}").write_bytes(b"x" * i)
            os.utime(root / f"d{i % 3}" / f"f{i}", (1_650_000_000, 1_650_000_000))
    rules = IgnoreRules.for_root(local_root, IgnoreConfig(use_defaults=False, use_gitignore=False))
    synced = scan_tree(local_root, rules).entries
    db = Baseline(tmp_path / "db.sqlite")
    db.commit("pair", {p: BaseRecord(e, expected_remote(e)) for p, e in synced.items()}, [])
    (local_root / "d0/f0").write_bytes(b"edited here")  # sent
    (local_root / "d1/f1").unlink()  # deleted on the pod
    os.rename(local_root / "d2/f2", local_root / "d2/renamed")  # a move on the pod
    (local_root / "d0/f3").write_bytes(b"both")  # edited on both sides: a conflict copy
    (pod / "d0/f3").write_bytes(b"pod side")
    (pod / "d1/f4").write_bytes(b"pod only edit")  # kept, noted
    (pod / "d1/f7").chmod(0o600)  # a chmod on the pod: nothing to do
    (pod / ".rpdev-stage-0123").mkdir()  # rpdev's leftover: cleaned
    (pod / "results.csv").write_bytes(b"the user's")  # not rpdev's business
    (local_root / "new").mkdir()
    (local_root / "new/file").write_bytes(b"new")
    raw = run(listing_script(str(pod), [], "find"))
    local = scan_tree(local_root, rules).entries
    records = scan_tree(local_root, rules, records=True).records
    assert entries_of(records, None) == local
    sets = db.record_sets("pair")
    assert sets is not None
    expected = Expected(*sets)
    touched = local_changes(records, expected) | pod_changes(record_set(raw), expected)
    assert touched == {
        *("d0/f0", "d1/f1", "d2/f2", "d2/renamed", "d0/f3", "d1/f4", "d1/f7"),
        *(".rpdev-stage-0123", "new", "new/file"),
    }
    whole = plan(local, parse_listing(raw).entries, db.load("pair"))
    part = plan(
        entries_of(records, touched),
        parse_listing(raw, touched).entries,
        db.load_paths("pair", touched),
    )
    assert part == whole
    assert {op.kind for op in whole.ops} == {"put", "move", "delete", "clean", "mkdir"}
    assert whole.notes and any(op.conflict for op in whole.ops)
    db.close()
