"""A user never sees a library's deprecation notice: what the daemon, the sync and the TUI import
prints no warning, even with every warning switched on."""

from __future__ import annotations

import subprocess
import sys

MODULES = (
    "rpdevd.sshlib",
    "rpdevd.daemon.main",
    "rpdevd.sync.engine",
    "rpdevd.sync.live",
    "rpdevd.sync.sftpops",
    "rpdevd.endpoint",
    "rpdevd.api",
    "rpdevd.sim.server",
    "tui.app",
)


def test_imports_print_no_warning() -> None:
    code = "; ".join(f"import {m}" for m in MODULES)
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr


def test_the_filter_ends_with_the_import() -> None:
    # The filter holds only while asyncssh imports: any later warning still shows.
    code = "import warnings, rpdevd.sshlib; warnings.warn('something else', UserWarning)"
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "something else" in done.stderr
