"""A real daemon process on a private socket, and the real CLI, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rpdevd import paths


def cli(
    *args: str, input: str | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `rpdev ARGS` as a user would (a new process, the current environment)."""
    return subprocess.run(
        [sys.executable, "-m", "rpdevd.cli", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


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
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
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


class SimThread:
    """The simulated RunPod on its own event loop in a thread, so that tests can block (run the
    CLI, wait for files) while the simulator keeps answering the daemon."""

    def __init__(self, root: Path, api_key: str, authorized_keys: str) -> None:
        import asyncio
        import threading

        from rpdevd.sim.server import SimRunPod

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = SimRunPod(root, api_key, authorized_keys)
        self.url: str = self.run(self.sim.start())

    def run(self, coro, timeout: float = 60):  # type: ignore[no-untyped-def]
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """A plain method of the simulator, run on its loop."""

        async def wrapper():  # type: ignore[no-untyped-def]
            return fn(*args, **kwargs)

        return self.run(wrapper())

    def stop(self) -> None:
        try:
            self.run(self.sim.stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def wait_until(predicate, timeout: float = 20, interval: float = 0.1, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns a truthy value; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def endpoint_written(port: int | None, host: str | None = None) -> bool:
    """Whether rpdev's generated SSH config has this endpoint (a simulated pod's address when
    `host` is None). The daemon shows an endpoint confirmed, and says `endpoint.confirmed`, only
    once it is written there."""
    from rpdevd.sim.pods import SIM_IP
    from rpdevd.sshconfig import files

    path = files.generated_path()
    if port is None or not path.exists():
        return False
    lines = path.read_text().splitlines()
    return f"  HostName {host or SIM_IP}" in lines and f"  Port {port}" in lines


API_KEY = "rpdev-test-key-0123456789abcdef"


def write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "rpdev" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def ssh_config_lines(client_key_path: Path, user: str) -> str:
    return f'[ssh]\nidentity_file = "{client_key_path}"\nuser = "{user}"\ninstall_include = true\n'
