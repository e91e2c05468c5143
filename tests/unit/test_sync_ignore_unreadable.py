"""An ignore file that is there but cannot be read: what it keeps out is unknown, so nothing
below it is sent (it may hold secrets) and nothing below it is deleted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rpdevd.sync.ignore import IgnoreRules, UnreadableIgnoreFile, read_ignore_file
from rpdevd.sync.scan import LocalRootError, scan_tree


def looping(path: Path) -> None:
    # A link to itself: stat fails with ELOOP, for root as for anyone.
    os.symlink(path.name, path)


def test_missing_binary_or_oversized_files_count_as_empty(tmp_path: Path) -> None:
    assert read_ignore_file(tmp_path / ".gitignore") == []
    (tmp_path / "dir").mkdir()
    assert read_ignore_file(tmp_path / "dir") == []  # not a regular file
    os.symlink("nowhere", tmp_path / "dangling")
    assert read_ignore_file(tmp_path / "dangling") == []


def test_an_ignore_file_that_cannot_be_read_raises(tmp_path: Path) -> None:
    looping(tmp_path / ".gitignore")
    with pytest.raises(UnreadableIgnoreFile) as caught:
        read_ignore_file(tmp_path / ".gitignore")
    assert ".gitignore" in caught.value.reason


def test_a_directory_whose_ignore_file_cannot_be_read_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "kept.txt").write_text("k")
    sub = tmp_path / "data"
    sub.mkdir()
    (sub / "secret.key").write_text("s")
    (sub / "deeper").mkdir()
    (sub / "deeper" / "x").write_text("x")
    looping(sub / ".gitignore")
    result = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))
    assert "data" in result.unreadable and ".gitignore" in result.unreadable["data"]
    assert not any(p == "data" or p.startswith("data/") for p in result.entries if p != "data")
    assert "kept.txt" in result.entries

    # Once it reads again, the directory is scanned as usual.
    (sub / ".gitignore").unlink()
    (sub / ".gitignore").write_text("*.key\n")
    again = scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))
    assert again.unreadable == {}
    assert "data/deeper/x" in again.entries and "data/secret.key" not in again.entries


@pytest.mark.parametrize("where", [".gitignore", ".git/info/exclude"])
def test_the_roots_ignore_rules_unreadable_stop_the_scan(tmp_path: Path, where: str) -> None:
    (tmp_path / "a").write_text("a")
    target = tmp_path / where
    target.parent.mkdir(parents=True, exist_ok=True)
    looping(target)
    with pytest.raises(LocalRootError, match="ignore rules"):
        scan_tree(tmp_path, IgnoreRules.for_root(tmp_path))


def test_a_directory_swapped_for_a_symlink_is_not_read_through(tmp_path: Path) -> None:
    """A directory listed as a directory, then replaced by a symlink (to a folder of secrets)
    before it is read: nothing behind the symlink is taken, and the path is unknown for this
    pass (not a deletion)."""
    root, secrets = tmp_path / "root", tmp_path / "secrets"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "code.py").write_text("x")
    secrets.mkdir()
    (secrets / "id_ed25519").write_text("private")
    rules = IgnoreRules.for_root(root)
    (root / "sub" / "code.py").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(secrets)
    result = scan_tree(root, rules, start="sub")  # as a pass that listed `sub` as a folder
    assert result.entries == {} and "sub" in result.unreadable
    assert "symlink" in result.unreadable["sub"]


def test_a_parent_swapped_for_a_symlink_is_not_read_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`a` listed as a folder, then swapped for a symlink to a folder that holds a `b` of its
    own, before `a/b` is read: the path to `a/b` now leads elsewhere. Nothing there is taken;
    `a/b` is unknown for this pass (not a deletion)."""
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "code.py").write_text("x")
    (elsewhere / "b").mkdir(parents=True)
    (elsewhere / "b" / "id_ed25519").write_text("private")
    rules = IgnoreRules.for_root(root)
    load_dir = rules.load_dir

    def swap_first(at: Path, rel_dir: str) -> None:
        if rel_dir == "a/b":  # `a` has been listed: swap it now
            os.rename(root / "a", tmp_path / "moved")
            (root / "a").symlink_to(elsewhere)
        load_dir(at, rel_dir)

    monkeypatch.setattr(rules, "load_dir", swap_first)
    result = scan_tree(root, rules)
    assert not any("id_ed25519" in p for p in result.entries)
    assert "a/b" in result.unreadable and "replaced" in result.unreadable["a/b"]
