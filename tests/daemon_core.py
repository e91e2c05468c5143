"""A small `DaemonCore` for unit tests of the daemon's services: the real Config, Store and
EventBus, the pods as a test sets them, and RunPod's stop and resume as stand-ins that count
calls (and refuse stops when told to)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rpdevd.config import Config
from rpdevd.daemon.bus import EventBus
from rpdevd.daemon.laststate import LastState
from rpdevd.daemon.server import Handler, RequestError
from rpdevd.daemon.state import PodState
from rpdevd.daemon.store import Store


class Core:
    def __init__(self, db: Path, config: Config | None = None) -> None:
        self.config = config or Config()
        self.store = Store(db)
        self.bus = EventBus(self.store)
        self.pods: dict[str, PodState] = {}
        self.poll_now = asyncio.Event()
        self.api_ok = True
        self.state_known = True
        self.last_state: LastState | None = None
        self.methods: dict[str, Handler] = {}
        self.stops = 0
        self.resumes = 0
        self.refusals: list[str] = []  # error codes for the next stop calls

    def register(self, method: str, handler: Handler) -> None:
        assert method not in self.methods, method
        self.methods[method] = handler

    def resolve(self, ref: str) -> PodState:
        for state in self.pods.values():
            if ref in (state.id, state.name):
                return state
        raise RequestError("not_found", f"no pod {ref!r}")

    def pod_param(self, params: dict[str, Any]) -> PodState:
        return self.resolve(str(params.get("pod")))

    def update_settings(self, state: PodState, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(state, key, value)

    async def stop_pod(self, state: PodState, reason: str) -> None:
        self.stops += 1
        if self.refusals:
            raise RequestError(self.refusals.pop(0), "stop failed: RunPod answered 502")

    async def resume_pod(self, state: PodState, reason: str) -> None:
        self.resumes += 1

    async def wait_for_poll(self, timeout: float) -> None:
        pass

    async def save_state(self) -> None:
        pass

    def kinds(self, prefix: str = "") -> list[str]:
        return [e.kind for e in self.store.events(1000) if e.kind.startswith(prefix)]
