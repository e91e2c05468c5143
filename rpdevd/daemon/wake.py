"""Wake on connect (`pod.wake`, asked by `rpdev proxy` for ssh's ProxyCommand): one resume
however many connections wait, then a wait for the endpoint to be confirmed inside the pod.

A connection resumes a stopped pod only where wake on connect is on, and not soon after rpdev
stopped the pod for being idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.core import DaemonCore, Register
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.state import PodState
from rpdevd.durations import format_duration
from rpdevd.protocol import param_num

WAKE_TIMEOUT = 600.0
WAKE_COOLDOWN = 900.0  # after an idle-stop, connections do not resume the pod for this long


def may_wake(state: PodState, now: float) -> None:
    """Raises what refuses a connection's resume of this stopped pod: wake on connect is off,
    or rpdev stopped it for being idle moments ago (an editor left open reconnects on its own,
    and would otherwise keep the pod cycling, resume, idle, stop, reconnect, all night)."""
    resume = f"start it with: rpdev resume {state.name}"
    status = state.pod.desired_status
    if not state.wake_on_connect:
        raise RequestError(
            "wake_off", f"{state.name} is {status}; wake on connect is off for it", resume
        )
    since = now - (state.idle_stopped_at or 0.0)
    if state.stopped_by_rpdev and state.idle_stopped_at and 0 <= since < WAKE_COOLDOWN:
        raise RequestError(
            "recently_idle_stopped",
            f"{state.name} was stopped for being idle {format_duration(since)} ago; for "
            f"{format_duration(WAKE_COOLDOWN)} after that a connection does not start it "
            "(an editor reconnecting by itself would keep it running)",
            resume,
        )


class Waker:
    def __init__(self, core: DaemonCore, pool: ConnectionPool, register: Register) -> None:
        self.core = core
        self.pool = pool
        self.wakes: dict[str, asyncio.Task[dict[str, Any]]] = {}
        register("pod.wake", self.m_wake)

    async def m_wake(self, params: dict[str, Any]) -> Any:
        state = self.core.pod_param(params)
        timeout = (
            param_num(params, "timeout", required=False, minimum=1, maximum=3600) or WAKE_TIMEOUT
        )
        task = self.wakes.get(state.id)
        if task is None or task.done():
            task = asyncio.create_task(self._wake(state, timeout))
            self.wakes[state.id] = task
        return await asyncio.shield(task)

    async def _wake(self, state: PodState, timeout: float) -> dict[str, Any]:
        """One resume however many connections wait; then wait for a confirmed endpoint."""
        if state.pod.desired_status in ("EXITED", "STOPPED", "PAUSED"):
            may_wake(state, time.time())
            self.core.bus.emit(
                "pod.waking", f"{state.name}: resuming for an incoming connection", state.id
            )
            await self.core.resume_pod(state, "wake on connect")
        elif state.pod.desired_status == "TERMINATED":
            raise RequestError(
                "terminated",
                f"{state.name} is terminated",
                "a terminated pod cannot be started again; create a new one",
            )
        # Waiters connect to the confirmed endpoint itself, not through the file: they go on
        # even if writing the file fails (the endpoint part tries again).
        deadline = time.monotonic() + timeout
        last_poll = 0.0
        while not self.pool.is_ready(state.id):
            if time.monotonic() > deadline:
                raise RequestError(
                    "timeout",
                    f"{state.name} did not become reachable within "
                    f"{timeout:.0f}s ({state.endpoint_state})",
                    state.last_error or "see `rpdev status`",
                )
            # Poll faster while someone waits, but never more than every 3 s.
            if time.monotonic() - last_poll >= 3.0:
                self.core.poll_now.set()
                last_poll = time.monotonic()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.pool.wait_ready(state.id), 1.0)
        return {
            "id": state.id,
            "name": state.name,
            "host": state.ssh_host,
            "port": state.ssh_port,
            "alias": state.ssh_alias,
            "fingerprint": state.host_key_fingerprint,
        }
