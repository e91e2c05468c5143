"""Keep-alive: a pod under the `keep-alive` policy that is found EXITED (a spot interruption, a
host that went away) is resumed, unless rpdev itself stopped it or its price is above its
`max_bid` (rpdevd.bidcap decides).

A pod that dies again soon after each resume (outbid at once, a crashing image) is resumed less
and less often: the wait doubles from KEEPALIVE_MIN up to KEEPALIVE_MAX, and starts over once the
pod has stayed up for KEEPALIVE_STABLE. "No free GPUs" waits at least NO_GPU_MIN. The lifecycle
service (lifecycle.py) calls `tick` for each managed pod on each of its ticks.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from rpdevd import bidcap
from rpdevd.daemon.core import DaemonCore
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.state import PodState
from rpdevd.durations import format_duration

KEEPALIVE_MIN, KEEPALIVE_MAX = 15.0, 1800.0
KEEPALIVE_STABLE = 600.0  # running this long after a resume: the resume backoff starts over
NO_GPU_MIN = 120.0  # "no free GPUs" waits longer: the host must free a GPU first


@dataclass
class _Resumes:
    """One pod's keep-alive: when it may be resumed next, and how long the wait after that is."""

    resume_at: float = 0.0
    backoff: float = KEEPALIVE_MIN
    running_since: float | None = None
    resuming: bool = False
    bid_note: str = ""  # why keep-alive last held a spot pod back (told once per reason)


class KeepAlive:
    def __init__(self, daemon: DaemonCore) -> None:
        self.d = daemon
        self.pods: dict[str, _Resumes] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def tick(self, state: PodState, now: float) -> None:
        """One look at the pod: note how long it has been up; resume it if it is due."""
        pod = self.pods.setdefault(state.id, _Resumes())
        if state.pod.is_running:
            if pod.running_since is None:
                pod.running_since = now
            elif now - pod.running_since >= KEEPALIVE_STABLE:
                pod.backoff = KEEPALIVE_MIN  # it stays up: a later death starts afresh
            return
        pod.running_since = None
        if state.policy != "keep-alive":
            return
        if state.pod.desired_status != "EXITED" or state.stopped_by_rpdev or pod.resuming:
            return
        if not self.bid_allowed(state, pod):
            return
        if now < pod.resume_at:
            return
        pod.resuming = True
        task = asyncio.create_task(self._resume(state, pod))
        self._tasks.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    def bid_allowed(self, state: PodState, pod: _Resumes) -> bool:
        """A spot pod priced above its max_bid stays stopped (rpdevd.bidcap decides): told once
        per reason as an event, and shown as the pod's state until the price comes down."""
        verdict = bidcap.check(state.pod, state.max_bid)
        if verdict.allowed:
            pod.bid_note = ""
            return True
        state.idle_state = f"not resumed: {verdict.reason}"
        if verdict.reason != pod.bid_note:
            pod.bid_note = verdict.reason
            self.d.bus.emit(
                "keepalive.bid_cap",
                f"{state.name}: keep-alive does not resume it: {verdict.reason}",
                state.id,
                level="warning",
                price=verdict.price,
                max_bid=state.max_bid,
            )
        return False

    async def _resume(self, state: PodState, pod: _Resumes) -> None:
        try:
            await self.d.resume_pod(state, "keep-alive: found stopped (spot interruption?)")
            pod.resume_at = time.time() + pod.backoff
            pod.backoff = min(KEEPALIVE_MAX, pod.backoff * 2)
        except RequestError as exc:
            wait = pod.backoff
            if exc.code == "NoFreeGPUs":
                wait = max(wait, NO_GPU_MIN)
            pod.resume_at = time.time() + wait
            pod.backoff = min(KEEPALIVE_MAX, wait * 2)
            self.d.bus.emit(
                "keepalive.retry",
                f"{state.name}: resume failed, next try in {format_duration(wait)}: {exc.message}",
                state.id,
                level="warning",
                retry_in=wait,
                hint=exc.hint,
            )
        finally:
            pod.resuming = False
