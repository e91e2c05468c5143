"""What the daemon's services may use of the daemon, declared as types: no service imports the
daemon (`app.py`), and none reaches another service through it.

A service is built in `services.py` with what it needs: the `DaemonCore` (the pods, the settings,
the store, the bus, stop and resume through RunPod), the connection pool where it talks to pods,
and `register` for its socket methods. `app.Daemon` is the one `DaemonCore`; the unit tests build
small ones of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from rpdevd.config import Config
from rpdevd.daemon.bus import EventBus
from rpdevd.daemon.laststate import LastState
from rpdevd.daemon.server import Handler
from rpdevd.daemon.state import PodState
from rpdevd.daemon.store import Store

Register = Callable[[str, Handler], None]
"""Adds a socket method (`Server.register`)."""


class Service(Protocol):
    """A part that acts on pods: runs as its own task (restarted with backoff if it fails) and is
    told after every poll which pods changed."""

    name: str

    async def run(self) -> None: ...
    def pods_changed(self, changed: list[PodState]) -> None: ...


class DaemonCore(Protocol):
    """The daemon as the services see it."""

    config: Config
    store: Store
    bus: EventBus
    pods: dict[str, PodState]
    poll_now: asyncio.Event  # set: poll RunPod now rather than at the next interval
    api_ok: bool  # RunPod's API answered the last poll
    state_known: bool  # the pods are known (a poll answered, or the stored state was usable)
    last_state: LastState | None  # the stored last-known state the daemon started from

    def resolve(self, ref: str) -> PodState: ...
    def pod_param(self, params: dict[str, Any]) -> PodState: ...
    def update_settings(self, state: PodState, **changes: Any) -> None: ...
    async def stop_pod(self, state: PodState, reason: str) -> None: ...
    async def resume_pod(self, state: PodState, reason: str) -> None: ...
    async def wait_for_poll(self, timeout: float) -> None: ...
    async def save_state(self) -> None: ...
