"""A private environment for benchmarks: HOME/XDG dirs, a simulated RunPod, a daemon."""

from __future__ import annotations

import getpass
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rpdevd.sim.sshd import generate_keypair  # noqa: E402
from tests.integration.harness import (  # noqa: E402
    API_KEY,
    DaemonProcess,
    SimThread,
    ssh_config_lines,
    write_config,
)


class BenchEnv:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rpdev-bench-"))
        self.home = self.root / "home"
        for sub in ("", ".config", ".local/state", "run"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.home / "run", 0o700)
        os.environ.update(
            {
                "HOME": str(self.home),
                "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_STATE_HOME": str(self.home / ".local/state"),
                "XDG_RUNTIME_DIR": str(self.home / "run"),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                "RUNPOD_API_KEY": API_KEY,
            }
        )
        self.key = generate_keypair(self.root / "id_ed25519")
        self.sim = SimThread(self.root / "sim", API_KEY, self.key.public)
        os.environ["RUNPOD_API_BASE_URL"] = self.sim.url
        self.daemon: DaemonProcess | None = None

    def configure(self, body: str) -> None:
        write_config(self.home, body + ssh_config_lines(self.key.private, getpass.getuser()))

    def start_daemon(self) -> None:
        self.daemon = DaemonProcess(self.root / "daemon").start()

    def close(self) -> None:
        if self.daemon:
            self.daemon.stop()
        self.sim.stop()
