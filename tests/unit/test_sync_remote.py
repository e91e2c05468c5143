"""The pod-side listing script (run here with /bin/sh, each lister) and its parser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rpdevd.sync.remote import END, HEADER, listing_script, parse_listing


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
        pytest.skip("no stat")
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


@pytest.mark.parametrize("mode", ["find", "python", "sh"])
def test_every_lister_prints_the_canonical_records(tmp_path: Path, mode: str) -> None:
    """What makes the no-change check possible: a tree rpdev wrote lists, byte for byte, as
    the baseline expects, whichever lister the pod has."""
    from rpdevd.sync.engine import _expected_if_unchanged, _pod_unchanged
    from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
    from rpdevd.sync.model import BaseRecord, expected_remote
    from rpdevd.sync.scan import scan_tree

    if mode == "sh" and not shutil.which("stat"):
        pytest.skip("no stat")
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
    expected = _expected_if_unchanged(local, base)
    assert expected is not None

    def unchanged() -> bool:
        assert expected is not None
        return _pod_unchanged(run(listing_script(str(root), [], mode)), expected)

    assert unchanged()
    (root / "d/checkpoint.pt").write_bytes(b"the user's")  # only on the pod: not rpdev's business
    assert unchanged()
    (root / ".rpdev-stage-0123").mkdir()  # a leftover of rpdev's own: a plan must clean it
    assert not unchanged()
    (root / ".rpdev-stage-0123").rmdir()
    os.utime(root / "exe", (1_700_000_001, 1_700_000_001))  # edited on the pod
    assert not unchanged()
    local2 = dict(local)
    del local2["exe"]  # deleted here
    assert _expected_if_unchanged(local2, base) is None
