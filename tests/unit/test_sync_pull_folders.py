"""The folders a pulled file lands in: made where missing, never a symlink followed (the check
`rpdev pull` runs when it plans, and the folders it opens one name at a time to land a file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rpdevd.sync.localdirs import Below, Swapped
from rpdevd.sync.pull import _folders, local_state


def _land(root: Path, rel: str) -> None:
    """What a pull does to land `rel`: its folder opened (made where missing), a file made in
    it by name."""
    below = Below(str(root))
    try:
        where, name = below.parent(rel, make=True)
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=where))
    finally:
        below.close()


def test_missing_folders_are_made_real(tmp_path: Path) -> None:
    assert _folders(tmp_path, "a/b/c/file.png") is None  # missing: made when the file lands
    _land(tmp_path, "a/b/c/file.png")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert not (tmp_path / "a" / "b" / "c").is_symlink()
    assert (tmp_path / "a" / "b" / "c" / "file.png").is_file()
    _land(tmp_path, "top.png")
    assert (tmp_path / "top.png").is_file()
    assert _folders(tmp_path, "a/b/c/file.png") is None


def test_a_symlink_on_the_way_is_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "a" / "b").symlink_to(elsewhere)
    assert _folders(root, "a/b/c/file.png") == "a folder above it is a symlink here"
    for rel in ("a/b/c/file.png", "a/b/file.png"):
        with pytest.raises(Swapped):
            _land(root, rel)
    assert list(elsewhere.iterdir()) == []  # nothing made where it points
    assert local_state(root, "a/b/c/file.png") == "a folder above it is a symlink here"
    assert local_state(root, "a/b") is not None  # the link itself is an entry, not a folder


def test_a_file_on_the_way_is_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a file")
    assert _folders(tmp_path, "a/file.png") == "a folder above it is a file here"
    with pytest.raises(NotADirectoryError):
        _land(tmp_path, "a/file.png")
    assert (tmp_path / "a").read_text() == "a file"
    assert local_state(tmp_path, "a/file.png") == "a folder above it is a file here"
    assert local_state(tmp_path, "missing/file.png") is None
