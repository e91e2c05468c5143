"""Where rpdev keeps things, from platformdirs.

On Linux `XDG_CONFIG_HOME`, `XDG_STATE_HOME`, `XDG_RUNTIME_DIR` and `HOME` relocate everything:
config in `<config>/rpdev/config.toml`, state (SQLite, logs, generated SSH files) in
`<state>/rpdev/`, the socket and the lock in `<runtime>/rpdev/`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import platformdirs

APP = "rpdev"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def config_file() -> Path:
    return config_dir() / "config.toml"


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def runtime_dir() -> Path:
    """The socket's directory. Where the platform has no usable runtime dir (no
    XDG_RUNTIME_DIR and no /run/user/<uid>), a private directory under the temp dir."""
    if os.environ.get("XDG_RUNTIME_DIR") or sys.platform != "linux":
        return Path(platformdirs.user_runtime_dir(APP, appauthor=False))
    path = Path(f"/run/user/{os.getuid()}") / APP
    if path.parent.is_dir() and os.access(path.parent, os.W_OK):
        return path
    return Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"


def socket_path() -> Path:
    return runtime_dir() / "rpdevd.sock"


def lock_path() -> Path:
    return runtime_dir() / "rpdevd.lock"


def log_file() -> Path:
    return state_dir() / "rpdevd.log"


def database_file() -> Path:
    return state_dir() / "state.sqlite3"


def ssh_dir() -> Path:
    """rpdev's generated SSH files: the Host entries and the pinned host keys."""
    return state_dir() / "ssh"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
