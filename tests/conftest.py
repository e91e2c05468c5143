"""Fixtures shared by every test: an isolated home, SSH key pairs, real sshd 'pods'."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD, choose_backend, find_sshd, generate_keypair

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private HOME with XDG dirs, so nothing touches the real user's files or keyring."""
    h = tmp_path / "home"
    for sub in ("", ".config", ".local/state", ".cache", "run"):
        (h / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(h / "run", 0o700)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(h / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(h / ".local/state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(h / ".cache"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(h / "run"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.delenv("RUNPOD_API_BASE_URL", raising=False)
    yield h


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """The user's SSH key pair, authorized on every test pod."""
    return generate_keypair(tmp_path_factory.mktemp("keys") / "id_ed25519", "rpdev-test")


def pytest_report_header() -> str:
    """Which server the test pods run: the suite passes on both, and a report says which."""
    try:
        backend = choose_backend(None, find_sshd())
    except (RuntimeError, ValueError) as exc:
        return f"pods: {exc}"
    return "pods: " + ("OpenSSH's sshd" if backend == "openssh" else "the asyncssh stand-in")


@pytest.fixture
async def pod_sshd(tmp_path: Path, client_key: KeyPair) -> AsyncIterator[PodSSHD]:
    """A running real sshd on 127.0.0.1 (asyncssh fallback where sshd is missing)."""
    server = PodSSHD(
        tmp_path / "pod", authorized_keys=client_key.public, env={"RUNPOD_POD_ID": "testpod1"}
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def sim(
    home: Path, tmp_path: Path, client_key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> Iterator:
    """A simulated RunPod on its own thread (pods are real sshd servers, the test key
    authorized); the environment points the daemon and the CLI at it."""
    from tests.integration.harness import API_KEY, SimThread

    st = SimThread(tmp_path / "sim", API_KEY, client_key.public)
    monkeypatch.setenv("RUNPOD_API_KEY", API_KEY)
    monkeypatch.setenv("RUNPOD_API_BASE_URL", st.url)
    try:
        yield st
    finally:
        st.stop()


@pytest.fixture
def user() -> str:
    import getpass

    return getpass.getuser()


@pytest.fixture
def start_daemon(home: Path, tmp_path: Path) -> Iterator:
    """Call with nothing: starts `rpdev daemon run` in the current environment (a real daemon
    process on a private socket); every one started is stopped after the test."""
    from tests.integration.harness import DaemonProcess

    started: list[DaemonProcess] = []

    def start() -> DaemonProcess:
        d = DaemonProcess(tmp_path / f"daemon{len(started)}").start()
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]
