"""Ignore rules and the local scan, on real files."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
from rpdevd.sync.scan import LocalRootError, scan_tree, symlink_inside


def touch(path: Path, data: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)


def scan(root: Path, config: IgnoreConfig | None = None) -> dict:
    return scan_tree(root, IgnoreRules.for_root(root, config)).entries


def test_defaults_gitignore_nested_and_negation(tmp_path: Path) -> None:
    for rel in (
        ".git/HEAD",
        "__pycache__/m.pyc",
        ".venv/bin/python",
        "node_modules/x/i.js",
        "src/a.py",
        "src/a.log",
        "src/keep.log",
        "build/out.o",
        "sub/tmp/x",
        "sub/data.csv",
        "sub/deep/data.csv",
        "notes.md",
    ):
        touch(tmp_path / rel)
    touch(tmp_path / ".gitignore", "*.log\n!keep.log\nbuild/\n")
    touch(tmp_path / "sub/.gitignore", "tmp/\n/data.csv\n")
    touch(tmp_path / ".rpdevignore", "notes.md\n")
    files = {p for p, e in scan(tmp_path).items() if e.kind == "file"}
    assert files == {
        ".gitignore",
        ".rpdevignore",
        "src/a.py",
        "src/keep.log",
        "sub/.gitignore",
        "sub/deep/data.csv",
    }


def test_everything_configurable(tmp_path: Path) -> None:
    touch(tmp_path / ".git/HEAD")
    touch(tmp_path / "a.log")
    touch(tmp_path / ".gitignore", "*.log\n")
    cfg = IgnoreConfig(use_defaults=False, use_gitignore=False, extra=("HEAD",))
    assert set(scan(tmp_path, cfg)) == {".git", ".gitignore", "a.log"}
    cfg = IgnoreConfig(extra=("!.git/",))
    assert ".git/HEAD" in scan(tmp_path, cfg)


def test_prune_names_only_plain_default_dirs() -> None:
    rules = IgnoreRules.for_root(Path("/nonexistent-root"), IgnoreConfig(extra=("!node_modules/",)))
    names = rules.prune_names()
    assert ".git" in names and "__pycache__" in names and "node_modules" not in names


def test_symlinks_inside_kept_outside_skipped(tmp_path: Path) -> None:
    touch(tmp_path / "d/f")
    os.symlink("d/f", tmp_path / "in")
    os.symlink("../d", tmp_path / "d/up_in")
    os.symlink("/etc/passwd", tmp_path / "abs")
    os.symlink("../../outside", tmp_path / "d/out")
    res = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))
    assert res.entries["in"].kind == "symlink" and res.entries["in"].target == "d/f"
    assert "d/up_in" in res.entries
    assert "abs" not in res.entries and "d/out" not in res.entries
    assert sum("points outside" in w for w in res.warnings) == 2


@pytest.mark.parametrize(
    ("rel", "target", "inside"),
    [
        ("a", "b", True),
        ("a/b", "../c", True),
        ("a/b", "../../c", False),
        ("a", "/x", False),
        ("a", "", False),
        ("a", "b/../../c", False),
        ("a/b", "./../a/./b", True),
    ],
)
def test_symlink_inside(rel: str, target: str, inside: bool) -> None:
    assert symlink_inside(rel, target) is inside


def test_odd_names_modes_and_special_files(tmp_path: Path) -> None:
    touch(tmp_path / "名前 with space\nnewline")
    raw = os.fsencode(str(tmp_path)) + b"/bad-\xff-name"
    with open(raw, "wb") as fh:
        fh.write(b"x")
    touch(tmp_path / "run.sh")
    os.chmod(tmp_path / "run.sh", 0o755)
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        res = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))
    finally:
        sock.close()
    assert "名前 with space\nnewline" in res.entries
    assert os.fsdecode(b"bad-\xff-name") in res.entries
    assert res.entries["run.sh"].mode == 0o755
    assert res.entries["empty"].kind == "dir"
    assert "fifo" not in res.entries and "sock" not in res.entries


def test_case_collisions_are_warned(tmp_path: Path) -> None:
    touch(tmp_path / "README")
    touch(tmp_path / "readme")
    res = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))
    assert any("differ only in case" in w for w in res.warnings)


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LocalRootError):
        scan_tree(tmp_path / "gone", IgnoreRules.for_root(tmp_path / "gone"))
    touch(tmp_path / "file")
    with pytest.raises(LocalRootError):
        scan_tree(tmp_path / "file", IgnoreRules.for_root(tmp_path))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "*.pyc",
                "build/",
                "/build",
                "!keep.pyc",
                "a/**/b",
                "**/x",
                "data/*.bin",
                "!data/",
                ".git/",
                "#c",
                "\\!odd",
                "d?t",
                "[ab]*",
                "*~",
                "!*.txt",
                "logs/",
                "/top.txt",
            ]
        ),
        max_size=8,
    ),
    st.lists(
        st.sampled_from(
            [
                "a",
                "b",
                "x",
                "build",
                "data",
                "keep.pyc",
                "m.pyc",
                "top.txt",
                "f.bin",
                "logs",
                ".git",
                "dat",
                "n~",
            ]
        ),
        min_size=1,
        max_size=4,
    ).map("/".join),
    st.booleans(),
)
def test_the_quick_filter_never_changes_a_verdict(lines: list[str], rel: str, is_dir: bool) -> None:
    """The joined expression only skips paths no pattern matches: every verdict is
    pathspec's own."""
    from rpdevd.sync.ignore import _Level, compile_patterns

    spec = compile_patterns(lines)
    if spec is None:
        return
    level = _Level("", spec)
    probe = rel + "/" if is_dir else rel
    assert level.verdict(probe) == spec.check_file(probe).include


def test_case_collisions_below_a_directory_are_warned(tmp_path: Path) -> None:
    """Two directories that differ only in case: every path under them collides too."""
    touch(tmp_path / "Src" / "main.py")
    touch(tmp_path / "src" / "main.py")
    touch(tmp_path / "other" / "x.py")
    res = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))
    clashes = [w for w in res.warnings if "differ only in case" in w]
    assert any("'Src/main.py'" in w and "'src/main.py'" in w for w in clashes)
    assert not any("other" in w for w in clashes)


_NAMES = st.text(
    st.sampled_from("aAbBsS\u00df\u1e9e\u0130i\u03a3\u03c3\u03c2K\u212a._-"), min_size=1, max_size=4
)


@given(st.lists(_NAMES, unique=True, max_size=6))
def test_a_case_clash_is_told_as_case_folding_tells_it(names: list[str]) -> None:
    """The names are folded all at once, joined (ASCII ones lower-cased): the verdict is
    always that of folding each name alone, sharp s, Kelvin sign, dotted I and final sigma
    included."""
    from rpdevd.sync.scan import case_clash

    assert case_clash(names) == (len({n.casefold() for n in names}) < len(names))


def test_non_ascii_names_that_differ_only_in_case_are_warned(tmp_path: Path) -> None:
    touch(tmp_path / "Stra\u00dfe")
    touch(tmp_path / "STRASSE")
    touch(tmp_path / "other")
    res = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))
    assert any("differ only in case" in w for w in res.warnings)


def test_no_case_collision_no_warning(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "README")
    touch(tmp_path / "b" / "readme")  # the same name folded, but in two directories
    res = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))
    assert not any("differ only in case" in w for w in res.warnings)


def test_a_scan_as_records_holds_what_a_scan_as_entries_holds(tmp_path: Path) -> None:
    """A resync compares records, a first sync plans entries: the two shapes of one scan say
    the same of every path, warnings and case clashes included."""
    from rpdevd.sync.model import entry_from_record, local_record

    for rel in (
        "src/a.py",
        "src/a.log",
        "build/out.o",
        "Src/x",
        "src/x",
        "名前\nnl",
        "e/.gitignore",
    ):
        touch(tmp_path / rel)
    (tmp_path / "e" / ".gitignore").write_text("*.tmp\n")
    touch(tmp_path / "e" / "drop.tmp")
    (tmp_path / ".gitignore").write_text("build/\n*.log\n")
    os.symlink("src/a.py", tmp_path / "inside")
    os.symlink("/etc/passwd", tmp_path / "outside")
    os.symlink("../../x", tmp_path / "src" / "climbs")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / os.fsdecode(b"bad-\xff")).write_bytes(b"")
    (tmp_path / "src" / "a.py").chmod(0o751)
    rules = IgnoreRules.for_root(tmp_path)
    as_entries = scan_tree(tmp_path, rules)
    as_records = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path), records=True)
    assert as_records.entries == {} and as_entries.records == []
    assert len(as_records.records) == len(as_entries.entries) == 11
    assert dict(map(entry_from_record, as_records.records)) == as_entries.entries
    assert sorted(as_records.records) == sorted(
        local_record(p, e) for p, e in as_entries.entries.items()
    )
    assert as_records.warnings == as_entries.warnings
    assert len(as_entries.warnings) == 5  # outside, climbs, fifo; Src and src, Src/x and src/x


_NAME_PATTERNS = st.sampled_from(
    [
        "*.pyc", "build/", "node_modules", "!keep.pyc", ".#*", "*~", "a*", "!a", "b?",
        "[ab]c", "*.log", "!*.log/", "data", "d*a/", "\\#x", "x ", "*", "!b", "*?c", "a?*",
    ]
)  # fmt: skip
_ANY_PATTERNS = st.one_of(_NAME_PATTERNS, st.sampled_from(["/top", "a/b", "**/c", "d/**"]))
_COMPONENTS = st.sampled_from(["a", "b", "c", "ab", "bc", "build", "data", "keep.pyc", "x.log", "d", "bb", "#x", ".#y", "z~"])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_ANY_PATTERNS, min_size=1, max_size=4), min_size=1, max_size=3),
    st.lists(_COMPONENTS, min_size=0, max_size=3).map("/".join),
    _COMPONENTS,
    st.booleans(),
)
# A parent that a pattern matches (ignored by it, or re-included by a deeper `!`): the whole
# path decides there, not the name.
@example([["a*"]], "ab", "c", False)
@example([["data"], ["!x.log"]], "data", "x.log", False)
@example([["build/"], ["!build/"]], "a/build", "c", True)
# Each way a name may match: exact, `*suffix`, `prefix*`, any other glob.
@example([["data"]], "c", "data", True)
@example([["*~"]], "", "z~", False)
@example([[".#*"]], "c", ".#y", False)
@example([["!a", "[ab]c"]], "", "bc", False)
@example([["d*a/"]], "", "data", True)  # a directory-only glob: the name as a directory
# Levels that must be asked with the whole path (a pattern with a slash), directory-only.
@example([["a/b", "build/"]], "", "build", True)
@example([["a/b", "!*.log/", "*.log"]], "c", "x.log", True)
@example([["*"], ["!b"]], "a", "b", False)
@example([["data"]], "data", "x.log", False)  # the parent alone matches
@example([["aX"]], "aX", "c", False)
@example([["build/"]], "", "build", False)  # a file named as a directory-only pattern
@example([["a/b", "build/"]], "", "build", False)
@example([["*?c"]], "", "bc", False)  # globs past the first character: not a plain suffix
@example([["a?*"]], "", "ab", False)
def test_asking_by_name_never_changes_a_verdict(
    levels: list[list[str]], rel_dir: str, name: str, is_dir: bool
) -> None:
    """A scan asks a directory's matcher about each entry; where every pattern of a level
    names one component, only names that could match are looked at. The verdicts are those of
    the whole rules, whatever the patterns, negations, nesting and parent directories."""
    from rpdevd.sync.ignore import _Level, compile_patterns

    rules = IgnoreRules(IgnoreConfig(use_defaults=False, use_gitignore=False))
    parts = rel_dir.split("/") if rel_dir else []
    for depth, lines in enumerate(levels):
        spec = compile_patterns(lines)
        if spec is None:
            continue
        if depth == 0:
            rules.root_levels.append(_Level("", spec))
        elif depth - 1 < len(parts):
            below = "/".join(parts[:depth])
            rules._dir_levels[below] = _Level(below + "/", spec)
    rel = f"{rel_dir}/{name}" if rel_dir else name
    assert rules.dir_matcher(rel_dir)(rel, is_dir) == rules.ignored(rel, is_dir)


def test_the_default_ignores_are_asked_by_name() -> None:
    """The defaults name one component each: exact names, suffixes and prefixes go to set
    lookups and string tests, the one pattern left to a regular expression; a directory's
    matcher asks by name (and a pattern with a slash makes its level ask with the path)."""
    from rpdevd.sync.ignore import DEFAULT_IGNORES, _Names, compile_patterns

    spec = compile_patterns(DEFAULT_IGNORES)
    assert spec is not None
    names = _Names.of(spec)
    assert names is not None
    assert names.exact == {
        ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".ipynb_checkpoints", ".DS_Store",
    }  # fmt: skip
    assert set(names.suffixes) == {".pyc", ".swp", "~"} and names.prefixes == (".#",)
    assert names.other is not None and names.other.search(".a.rpdev-tmp-1")
    assert not names.other.search("a.rpdev-tmp-1")
    rules = IgnoreRules(IgnoreConfig())
    rules.root_levels.append(_level(DEFAULT_IGNORES))
    assert rules.dir_matcher("src").__name__ == "by_name"
    rules.root_levels.append(_level(["docs/build/"]))
    assert rules.dir_matcher("src").__name__ == "ignored"
    plain = _Names.of(compile_patterns(["a", "b?", "[ab]c"]))  # type: ignore[arg-type]
    assert plain is not None and plain.exact == {"a"} and plain.other is not None
    assert plain.may_match("bx", False) and plain.may_match("ac", False)
    assert not plain.may_match("c", False)
    only_names = _Names.of(compile_patterns(["a", "*.b", "c*"]))  # type: ignore[arg-type]
    assert only_names is not None and only_names.other is None
    assert _Names.of(compile_patterns(["a/b"])) is None  # type: ignore[arg-type]
    assert _Names.of(compile_patterns(["x ", "y"])) is None  # type: ignore[arg-type]


def _level(lines: Any) -> Any:
    from rpdevd.sync.ignore import _Level, compile_patterns

    spec = compile_patterns(lines)
    assert spec is not None
    return _Level("", spec)
