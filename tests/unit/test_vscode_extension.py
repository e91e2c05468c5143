"""The VS Code / Cursor extension's own tests (node's test runner), and the extension against the
real `rpdev` CLI and a real daemon in a private home.

Needs node, npm and `npm ci` done in contrib/vscode; skipped without them, except under CI
(`CI` set), where a missing toolchain is a broken pipeline and fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "contrib" / "vscode"
RPDEV = Path(sys.executable).parent / "rpdev"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _missing() -> str | None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not (EXTENSION / "node_modules" / ".bin" / "tsc").exists():
        return "run `npm ci` in contrib/vscode first"
    return None


@pytest.fixture(scope="module")
def built() -> Path:
    why = _missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the extension's tests cannot run: {why}")
        pytest.skip(why)
    done = subprocess.run(
        ["npm", "run", "build"], cwd=EXTENSION, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return EXTENSION / "out" / "test"


def test_extension_unit_tests_pass(built: Path) -> None:
    # What `npm test` runs after its build, without building a second time.
    files = sorted(str(p) for p in built.glob("*.test.js"))
    assert len(files) >= 5, files
    done = subprocess.run(
        ["node", "--test", *files], cwd=EXTENSION, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-4000:]
    assert "# fail 0" in done.stdout


def _node_test(built: Path, expect: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RPDEV_E2E_BIN": str(RPDEV), "RPDEV_E2E_EXPECT": expect}
    return subprocess.run(
        ["node", "--test", str(built / "real-cli.test.js")],
        cwd=EXTENSION,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def daemon(home: Path) -> Iterator[None]:
    """A real rpdevd in the private home (no API key: it runs, and says the API is failing)."""
    done = subprocess.run(
        [str(RPDEV), "daemon", "start"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        subprocess.run([str(RPDEV), "daemon", "stop"], capture_output=True, timeout=60)


def test_extension_reads_the_real_cli_without_a_daemon(built: Path, home: Path) -> None:
    done = _node_test(built, "down")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 1" in done.stdout


def test_extension_reads_the_real_cli_and_daemon(built: Path, daemon: None) -> None:
    done = _node_test(built, "up")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 1" in done.stdout
