"""The TUI's link to rpdevd: one long-lived task owns the `AsyncClient`, turns frames into
Textual `Message`s, and reconnects with backoff whenever the daemon goes away.

`StaticLink` answers from fixed data with no socket at all: snapshot tests and screenshots use it
so that nothing on screen depends on times, ports or pids.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from textual.message import Message
from textual.message_pump import MessagePump

from rpdevd.client import AsyncClient, DaemonNotRunning
from rpdevd.protocol import Event, ProtocolError, RemoteError

# A local socket is cheap to retry: come back fast after a restart, then settle at a few seconds.
BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0)


class NotConnected(ConnectionError):
    def __init__(self) -> None:
        super().__init__("not connected to rpdevd")


class Connected(Message):
    def __init__(self, server: dict[str, Any]) -> None:
        super().__init__()
        self.server = server


class Disconnected(Message):
    """The daemon is not reachable; the link tries again in `retry_in` seconds."""

    def __init__(self, reason: str, retry_in: float, attempt: int, not_running: bool) -> None:
        super().__init__()
        self.reason = reason
        self.retry_in = retry_in
        self.attempt = attempt
        self.not_running = not_running


class DaemonEvent(Message):
    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class Link(Protocol):
    """What the app needs from a daemon: a run loop that posts messages, and calls."""

    @property
    def connected(self) -> bool: ...
    async def run(self) -> None: ...
    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any: ...
    def retry_now(self) -> None: ...


class Connection:
    def __init__(
        self,
        target: MessagePump,
        path: Path | None = None,
        backoff: Sequence[float] = BACKOFF,
        kinds: list[str] | None = None,
    ) -> None:
        self.target = target
        self.path = path
        self.backoff = tuple(backoff)
        self.kinds = kinds or []
        self.client: AsyncClient | None = None
        self._wake = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    def retry_now(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Connect, subscribe, forward events; on any loss, back off and do it again. Forever."""
        attempt = 0
        while True:
            client = AsyncClient(self.path, name="rpdev-tui", timeout=10.0)
            try:
                await client.connect()
                await client.subscribe(self.kinds)
            except (
                DaemonNotRunning,
                OSError,
                ProtocolError,
                RemoteError,
                TimeoutError,
                asyncio.IncompleteReadError,
                ValueError,
            ) as exc:
                await client.close()
                delay = self.backoff[min(attempt, len(self.backoff) - 1)]
                attempt += 1
                self.target.post_message(
                    Disconnected(_reason(exc), delay, attempt, isinstance(exc, DaemonNotRunning))
                )
                await self._sleep(delay)
                continue
            attempt = 0
            self.client = client
            self.target.post_message(Connected(dict(client.server)))
            try:
                async for ev in client.events():
                    self.target.post_message(DaemonEvent(ev))
            finally:
                self.client = None
                await client.close()
            self.target.post_message(
                Disconnected("the connection to rpdevd closed", self.backoff[0], 1, False)
            )
            await self._sleep(self.backoff[0])

    async def _sleep(self, delay: float) -> None:
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        client = self.client
        if client is None or not client.connected:
            raise NotConnected()
        return await client.call(method, params, timeout)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DaemonNotRunning):
        return "rpdevd is not running"
    if isinstance(exc, RemoteError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


Answer = Any | Callable[[dict[str, Any]], Any]


class StaticLink:
    """A daemon that never changes: answers from `answers` (method -> value or function of the
    params); methods it does not know get `unknown_method`, as an older daemon would answer."""

    def __init__(self, target: MessagePump, answers: dict[str, Answer]) -> None:
        self.target = target
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @property
    def connected(self) -> bool:
        return True

    def retry_now(self) -> None:
        pass

    async def run(self) -> None:
        self.target.post_message(Connected({"server": "rpdevd (static)", "pid": 0}))
        await asyncio.Event().wait()

    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        self.calls.append((method, params or {}))
        if method not in self.answers:
            raise RemoteError("unknown_method", f"unknown method {method!r}")
        answer = self.answers[method]
        return answer(params or {}) if callable(answer) else answer
