"""Fixtures for the TUI tests: a real daemon on the simulated RunPod, and helpers to drive the
real app with Pilot until what the user would see appears."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rpdevd.client import Client
from tests.integration.harness import DaemonProcess, SimThread, write_config

CONFIG = """\
poll_interval = "1s"

[[pod]]
name = "trainer"
policy = "idle-stop"
"""


class Pods:
    """The simulated account: `trainer` (managed, idle-stop) and `spare` (not managed)."""

    def __init__(self, sim: SimThread) -> None:
        self.sim = sim
        self.trainer = sim.run(sim.sim.add_pod(name="trainer", cost_per_hr=2.99, sshd=False))
        self.spare = sim.run(sim.sim.add_pod(name="spare", status="EXITED", sshd=False))


@pytest.fixture
def pods(sim: SimThread, home: Path) -> Pods:
    write_config(home, CONFIG)
    return Pods(sim)


@pytest.fixture
def daemon_factory(start_daemon: Callable[[], DaemonProcess]) -> Callable[[], DaemonProcess]:
    return start_daemon


def daemon_call(method: str, params: dict[str, Any] | None = None) -> Any:
    with Client(timeout=10) as c:
        return c.call(method, params)


def pod_view(name: str) -> dict[str, Any]:
    views = daemon_call("pods")["pods"]
    return next(v for v in views if v["name"] == name)


async def until(pilot: Any, predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Let the app run until `predicate()` is truthy. The timeout only stops a hung test; how
    fast things happen is measured in tests/tui/bench_event_latency.py, not asserted here; so
    it is generous, for a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            app = pilot.app
            state = {
                "connected": getattr(app, "connected", None),
                "pods": [
                    (p.get("name"), p.get("status"), p.get("policy"))
                    for p in getattr(app, "pods", [])
                ],
                "screen": type(app.screen).__name__,
                "notices": getattr(app, "notices", [])[-5:],
            }
            raise AssertionError(f"timed out waiting for {what}; app: {state}")
        await pilot.pause(0.05)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Blocking work (the daemon's client, process starts) off the app's loop."""
    return await asyncio.to_thread(fn, *args)
