"""What the tests of the forked walks share (`test_sync_scanproc.py`, a resync's; and
`test_sync_walkstream.py`, a first sync's): code run in a fresh interpreter, as `rpdev sync once`
runs (a forked child is only taken in a process without other threads, which a test runner is
not), two trees, and an engine in a process that cannot fork."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rpdevd.sync import scanproc


def run(code: str) -> dict[str, object]:
    """Run `code` (with `root` and `scan_in_child()` at hand) in a fresh interpreter; its last
    line printed is JSON."""
    prelude = textwrap.dedent(
        """
        import asyncio, json, os, sys
        from pathlib import Path
        from rpdevd.sync import scanproc
        from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
        from rpdevd.sync.scan import scan_tree
        root = Path(sys.argv[1])

        def scan_in_child(config=IgnoreConfig()):
            return asyncio.run(scanproc.scan(root, config, True))
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), os.environ["SCAN_ROOT"]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "src"
    for rel in ("a.py", "d/b.py", "d/e/c.txt", "build/out.o", "名前\nnl"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / ".gitignore").write_text("build/\n")
    (root / "d" / ".gitignore").write_text("*.txt\n")
    os.symlink("/etc/passwd", root / "outside")
    monkeypatch.setenv("SCAN_ROOT", str(root))
    return root


@pytest.fixture
def wide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tree with more directories than one walker keeps: its walk is shared by two."""
    root = tmp_path / "wide"
    for i in range(3 * scanproc.SHARE_AT):
        d = root / f"d{i:02}"
        for rel in ("a.py", "b.tmp", "s/c.py", "s/t/e.py", "u/f"):
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text(rel)
        (d / ".gitignore").write_text("*.tmp\n")
    for name in ("Q", "q"):  # differ only in case, with the same names below them
        (root / name / "x").mkdir(parents=True)
    os.symlink("/etc/passwd", root / "d05" / "s" / "outside")
    os.symlink(".gitignore", root / "d11" / "s" / ".gitignore")  # unreadable: a loop
    (root / "d18" / ".gitignore").unlink()
    os.symlink(".gitignore", root / "d18" / ".gitignore")
    monkeypatch.setenv("SCAN_ROOT", str(root))
    return root


def engine_without_fork(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    """An engine over a small tree (`d/f.py`) in a process that cannot fork (a limit on
    processes, no memory), and the messages of its events."""
    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.engine import SyncEngine, SyncSpec

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    root = tmp_path / "src"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.py").write_text("x")
    events: list[str] = []

    async def never() -> None:
        raise AssertionError("no connection is needed")

    eng = SyncEngine(
        SyncSpec(root, "/remote", "pair"),
        baseline=Baseline(tmp_path / "db.sqlite"),
        connect=never,  # type: ignore[arg-type]
        on_event=lambda e: events.append(e.message),
        scan_in_child=True,
    )
    return eng, events
