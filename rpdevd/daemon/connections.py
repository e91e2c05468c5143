"""The pods' SSH connections: one kept-open connection per pod, shared by the activity probe, the
`wall` of an idle warning and the sync (channels are cheap, handshakes are not).

The pool opens a connection only to an endpoint the endpoint part confirmed inside the pod, and
trusts only the host key pinned then. It is the one owner that closes connections: when the
endpoint is withdrawn (the pod stopped, moved or left the account), when a new endpoint is
confirmed (the next user reconnects to it), when a user found one broken, and at shutdown.

Parts that keep something open over a pod's connection (the sync, a port forward) subscribe:
they are told the pod's id each time its endpoint is confirmed, and connect again at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rpdevd.daemon.state import PodState

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger("rpdevd.connections")

CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Target:
    """A confirmed endpoint, and how to log in to it."""

    host: str
    port: int
    user: str
    identity: Path | None  # the client key; None: asyncssh's defaults (the agent, ~/.ssh)
    host_keys: tuple[str, ...]  # OpenSSH lines of the pinned keys: the server must show one


Connect = Callable[[Target], Awaitable["asyncssh.SSHClientConnection"]]
Listener = Callable[[str], None]


async def open_connection(target: Target) -> asyncssh.SSHClientConnection:
    """An asyncssh connection to `target`, verified against its pinned keys only."""
    from rpdevd.sshlib import asyncssh

    trusted = [asyncssh.import_public_key(line) for line in target.host_keys]
    identity = target.identity if target.identity and target.identity.exists() else None
    return await asyncio.wait_for(
        asyncssh.connect(
            target.host,
            target.port,
            username=target.user,
            # () is asyncssh's default (the agent and ~/.ssh keys); None would turn key
            # authentication off.
            client_keys=[str(identity)] if identity else (),
            known_hosts=(trusted, [], []),
            config=None,
            keepalive_interval=15,
            keepalive_count_max=3,
        ),
        CONNECT_TIMEOUT,
    )


class ConnectionPool:
    """One verified connection per pod with a confirmed endpoint. Runs as a daemon service only
    to close every connection when the daemon stops."""

    name = "connections"

    def __init__(self, connect: Connect = open_connection) -> None:
        self._connect = connect
        self._targets: dict[str, Target] = {}
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._listeners: list[Listener] = []

    # told by the endpoint part -----------------------------------------------------------
    def confirmed(self, pod_id: str, target: Target) -> None:
        """The pod's endpoint is (again) confirmed: connections go to `target` from now on; a
        connection opened before is closed, and every subscriber is told."""
        self._targets[pod_id] = target
        self._close(pod_id)
        self._ready_event(pod_id).set()
        for listener in list(self._listeners):
            try:
                listener(pod_id)
            except Exception:
                log.exception("connection listener failed for %s", pod_id)

    def withdraw(self, pod_id: str) -> None:
        """The pod's endpoint is nobody's to use any more (stopped, moved, gone)."""
        self._targets.pop(pod_id, None)
        self._close(pod_id)
        ev = self._ready.get(pod_id)
        if ev is not None:
            ev.clear()

    def retain(self, pod_ids: Collection[str]) -> None:
        """Withdraw every pod but these (the others left the account)."""
        for pod_id in [p for p in {*self._targets, *self._conns} if p not in pod_ids]:
            self.withdraw(pod_id)

    # for the parts that use connections --------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(pod_id)` each time a pod's endpoint is confirmed (a restart, a resume,
        the daemon's first confirmation). Returns the call that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def target(self, pod_id: str) -> Target | None:
        return self._targets.get(pod_id)

    def is_ready(self, pod_id: str) -> bool:
        """Whether the pod has a confirmed endpoint to connect to."""
        return pod_id in self._targets

    async def wait_ready(self, pod_id: str) -> None:
        """Until the pod has a confirmed endpoint."""
        if not self.is_ready(pod_id):
            await self._ready_event(pod_id).wait()

    async def get(self, pod_id: str) -> asyncssh.SSHClientConnection | None:
        """The pod's kept-open connection, opened now if need be; None while the pod has no
        confirmed endpoint or cannot be reached (the caller tries again later)."""
        from rpdevd.sshlib import asyncssh

        if pod_id not in self._targets:
            return None
        async with self._locks.setdefault(pod_id, asyncio.Lock()):
            conn = self._conns.get(pod_id)
            if conn is not None and not conn.is_closed():
                return conn
            target = self._targets.get(pod_id)
            if target is None or not target.host_keys:
                return None
            try:
                conn = await self._connect(target)
            except (TimeoutError, OSError, asyncssh.Error) as exc:
                log.info("connection to %s failed: %s", pod_id, exc)
                return None
            if self._targets.get(pod_id) is not target:
                conn.close()  # withdrawn or replaced while connecting: not for anyone now
                return None
            self._conns[pod_id] = conn
            return conn

    def discard(self, pod_id: str, conn: asyncssh.SSHClientConnection) -> None:
        """A user found `conn` broken: closed, and the next `get` opens a new one. A newer
        connection of the pod is left alone."""
        if self._conns.get(pod_id) is conn:
            self._close(pod_id)
        else:
            conn.close()

    def close_all(self) -> None:
        for pod_id in list(self._conns):
            self._close(pod_id)

    # as a daemon service -----------------------------------------------------------------
    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            self.close_all()

    def pods_changed(self, changed: list[PodState]) -> None:
        pass  # the endpoint part says what changes for connections

    def _close(self, pod_id: str) -> None:
        conn = self._conns.pop(pod_id, None)
        if conn is not None:
            conn.close()

    def _ready_event(self, pod_id: str) -> asyncio.Event:
        return self._ready.setdefault(pod_id, asyncio.Event())
