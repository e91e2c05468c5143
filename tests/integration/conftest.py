"""Fixtures for tests that run a real daemon against the simulated RunPod."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import API_KEY, SimThread


@pytest.fixture
def sim(home: Path, tmp_path: Path, client_key, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimThread]:
    """A simulated RunPod (pods are real sshd servers) with the test key authorized; the
    environment points the daemon and the CLI at it."""
    st = SimThread(tmp_path / "sim", API_KEY, client_key.public)
    monkeypatch.setenv("RUNPOD_API_KEY", API_KEY)
    monkeypatch.setenv("RUNPOD_API_BASE_URL", st.url)
    try:
        yield st
    finally:
        st.stop()


@pytest.fixture
def user() -> str:
    return getpass.getuser()
