"""The folders a pulled file lands in: made where missing, never a symlink followed (the check
`rpdev pull` runs when it plans, again before it writes, and again before its rename)."""

from __future__ import annotations

from pathlib import Path

from rpdevd.sync.pull import _folders, local_state


def test_missing_folders_are_made_real(tmp_path: Path) -> None:
    assert _folders(tmp_path, "a/b/c/file.png", make=True) is None
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert not (tmp_path / "a" / "b" / "c").is_symlink()
    assert _folders(tmp_path, "top.png", make=True) is None


def test_a_symlink_on_the_way_is_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "a" / "b").symlink_to(elsewhere)
    for make in (False, True):
        assert _folders(root, "a/b/c/file.png", make=make) == "a folder above it is a symlink here"
    assert list(elsewhere.iterdir()) == []  # nothing made where it points
    assert local_state(root, "a/b/c/file.png") == "a folder above it is a symlink here"
    assert local_state(root, "a/b") is not None  # the link itself is an entry, not a folder


def test_a_file_on_the_way_is_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a file")
    for make in (False, True):
        assert _folders(tmp_path, "a/file.png", make=make) == "a folder above it is a file here"
    assert local_state(tmp_path, "a/file.png") == "a folder above it is a file here"
    assert local_state(tmp_path, "missing/file.png") is None
