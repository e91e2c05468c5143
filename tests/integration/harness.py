"""A real daemon process on a private socket, and the real CLI, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rpdevd import paths


def cli(*args: str, input: str | None = None, timeout: float = 60,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `rpdev ARGS` as a user would (a new process, the current environment)."""
    return subprocess.run([sys.executable, "-m", "rpdevd.cli", *args], input=input,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class DaemonProcess:
    """`rpdev daemon run` in a child process; its output kept in a file for post-mortems."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = workdir / "daemon.out"

    def start(self, timeout: float = 20) -> DaemonProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rpdevd.cli", "daemon", "run"],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}: {self.output()}")
            if paths.socket_path().exists() and cli("daemon", "status").returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"daemon did not start: {self.output()}")

    def output(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"daemon ignored signal {sig}: {self.output()}") from None
        return self.proc.returncode
