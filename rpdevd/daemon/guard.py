"""The pod-side guard, from the daemon: installed on every idle-stop pod it manages (and again after
each resume: a stop wipes the container disk, and the endpoint is confirmed anew), fed a heartbeat
after every probe, removed when the pod leaves idle-stop or management, and read back.

The guard runs on the pod (`rpdevd/activity/guard.sh`); its files and commands are built by
`rpdevd.activity.guard` (pure). This service only carries them over the pool's connection:

- after each probe (`live.sample`): the heartbeat, with the idle time the daemon has counted; a
  guard found absent is installed again; a log that grew is read;
- after each confirmation of the pod's endpoint: the install (files, config, start; a guard of
  this version that runs already is left alone, so there is one per pod however often it runs);
- a changed policy, hold or timeout: the config is rewritten;
- a pod that should have no guard (policy, management, `guard = false`) and had one: removed.

The guard's stops are reported once each (`guard.stopped`, the ledger): the log is on the pod's
volume, read when the pod runs again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rpdevd.activity import guard as files
from rpdevd.activity.decide import IdleState, Policy
from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.core import DaemonCore
from rpdevd.daemon.state import PodState
from rpdevd.protocol import EventKind
from rpdevd.text import clean

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger("rpdevd.guard")

COMMAND_TIMEOUT = 30.0
MARK = "guard:"  # store: the workspace of a pod that has a guard installed
REPORTED = "guard_reported:"  # store: the time of the last guard stop reported


def clock(t: float) -> str:
    return time.strftime("%H:%M", time.localtime(t))


class GuardService:
    name = "guard"

    def __init__(
        self,
        daemon: DaemonCore,
        pool: ConnectionPool,
        policy: Callable[[PodState], Policy],
        record_stop: Callable[[PodState, float], None],
    ) -> None:
        self.d = daemon
        self.pool = pool
        self.policy = policy  # the lifecycle's own: the guard decides with the same values
        self.record_stop = record_stop  # the ledger's account of a stop the guard made
        self.samples = daemon.bus.subscribe((EventKind.LIVE_SAMPLE,))
        self.installed: dict[str, files.GuardSettings] = {}  # over the current endpoint
        self.log_bytes: dict[str, int] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.again: set[str] = set()

    # what should be -----------------------------------------------------------------------
    def wanted(self, state: PodState) -> bool:
        pc = self.d.config.pod_config(state.id, state.name)
        enabled = pc.guard if pc is not None else True
        return state.managed and state.policy == "idle-stop" and enabled

    def settings(self, state: PodState) -> files.GuardSettings:
        config = self.d.config
        pc = config.pod_config(state.id, state.name)
        return files.GuardSettings(
            workspace=workspace(state),
            policy=self.policy(state),
            guard_after=pc.guard_after if pc is not None else config.guard_after,
            interval=config.probe_interval,
            sshd_ports=tuple(sorted({22, state.ssh_port or 22})),
            hold=state.hold_until,
            api_url=os.environ.get("RUNPOD_API_BASE_URL") or files.DEFAULT_API_URL,
        )

    def idle_s(self, pod_id: str) -> float | None:
        """The idle time the daemon has counted, for the heartbeat (None: not idle now)."""
        st = IdleState.from_json(self.d.store.get(f"idle:{pod_id}"))
        if st.prev_idle and not st.unknown and not st.stopped:
            return st.idle_s
        return None

    # told by the others -------------------------------------------------------------------
    def endpoint_confirmed(self, pod_id: str) -> None:
        """A new endpoint (a resume, a restart, the daemon's start): the guard is installed
        again, since the container disk and its processes may be new."""
        self.installed.pop(pod_id, None)
        self.log_bytes.pop(pod_id, None)
        self.look(pod_id)

    def pods_changed(self, changed: list[PodState]) -> None:
        for state in changed:
            if not state.pod.is_running:
                self.installed.pop(state.id, None)
            else:
                self.look(state.id)

    def look(self, pod_id: str) -> None:
        task = self.tasks.get(pod_id)
        if task is not None and not task.done():
            self.again.add(pod_id)
            return
        self.tasks[pod_id] = asyncio.create_task(self._look(pod_id))

    async def _look(self, pod_id: str) -> None:
        try:
            await self.reconcile(pod_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("guard of %s", pod_id)
        if pod_id in self.again:
            self.again.discard(pod_id)
            self.tasks[pod_id] = asyncio.create_task(self._look(pod_id))

    # the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                if self.samples not in self.d.bus.subscribers:  # cut off after falling behind
                    self.samples = self.d.bus.subscribe((EventKind.LIVE_SAMPLE,))
                try:
                    ev = await asyncio.wait_for(
                        self.samples.queue.get(), max(5.0, self.d.config.probe_interval)
                    )
                except TimeoutError:
                    ev = None
                if ev is not None and ev.pod_id:
                    self.look(ev.pod_id)
                elif ev is None:
                    # Quiet: a removal that failed (the pod was unreachable) is tried again.
                    for state in list(self.d.pods.values()):
                        if self.d.store.get(MARK + state.id) and not self.wanted(state):
                            self.look(state.id)
        finally:
            self.d.bus.unsubscribe(self.samples)
            for task in self.tasks.values():
                task.cancel()

    async def reconcile(self, pod_id: str) -> None:
        state = self.d.pods.get(pod_id)
        if state is None or not state.pod.is_running or not self.pool.is_ready(pod_id):
            return
        marked = self.d.store.get(MARK + pod_id)
        want = self.wanted(state)
        if not want and not marked:
            return
        conn = await self.pool.get(pod_id)
        if conn is None:
            return
        try:
            if not want:
                await self.remove(state, conn, str(marked) if marked else workspace(state))
            else:
                await self.keep(state, conn)
        except (OSError, TimeoutError) as exc:
            log.info("guard of %s: %s", pod_id, exc or type(exc).__name__)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] != "asyncssh":
                raise
            log.info("guard of %s: %s", pod_id, exc)

    async def keep(self, state: PodState, conn: asyncssh.SSHClientConnection) -> None:
        now = time.time()
        settings = self.settings(state)
        installed = self.installed.get(state.id)
        if installed is None:
            await self.install(state, conn, settings, now)
            return
        if installed != settings:
            await _run(conn, files.config_command(settings, now))
            self.installed[state.id] = settings
        out = await _run(conn, files.beat_command(settings.workspace, self.idle_s(state.id)))
        reply = files.parse_beat(out)
        if reply is None or not reply.running:
            await self.install(state, conn, settings, now)  # gone (killed, a new container)
        elif reply.log_bytes != self.log_bytes.get(state.id):
            await self.read_log(state, conn, settings.workspace)
            self.log_bytes[state.id] = reply.log_bytes

    async def install(
        self,
        state: PodState,
        conn: asyncssh.SSHClientConnection,
        settings: files.GuardSettings,
        now: float,
    ) -> None:
        if self.d.store.get(REPORTED + state.id) is None:
            # Stops logged before the first install are not news. Recorded before the guard
            # starts: a daemon frozen (the laptop asleep) before the install's answer arrives
            # must still report the stop this guard makes meanwhile.
            self.d.store.put(REPORTED + state.id, now)
        script = files.install_script(settings, now, self.idle_s(state.id))
        out = await _run(conn, "sh -s", script)
        if "guard running" not in out and "guard started" not in out:
            self.installed.pop(state.id, None)
            self.d.bus.emit(
                EventKind.GUARD_FAILED,
                f"{state.name}: the pod-side guard could not be started: "
                + clean(out.strip().splitlines()[-1] if out.strip() else "no answer", 200),
                state.id,
                level="warning",
            )
            return
        self.d.store.put(MARK + state.id, settings.workspace)
        self.installed[state.id] = settings
        if "guard started" in out:
            self.d.bus.emit(
                EventKind.GUARD_STARTED,
                f"{state.name}: pod-side guard started (it takes over after "
                f"{settings.guard_after:.0f}s without this daemon)",
                state.id,
            )
        await self.read_log(state, conn, settings.workspace)

    async def remove(self, state: PodState, conn: asyncssh.SSHClientConnection, ws: str) -> None:
        out = await _run(conn, files.remove_command(ws))
        if "guard removed" not in out:
            log.info("guard of %s not removed yet: %s", state.id, out.strip()[:200])
            return
        self.installed.pop(state.id, None)
        self.d.store.put(MARK + state.id, None)
        self.d.bus.emit(EventKind.GUARD_REMOVED, f"{state.name}: pod-side guard removed", state.id)

    async def read_log(self, state: PodState, conn: asyncssh.SSHClientConnection, ws: str) -> None:
        entries = files.parse_log(await _run(conn, files.log_command(ws)))
        reported = self.d.store.get(REPORTED + state.id)
        last = float(reported) if isinstance(reported, int | float) else None
        for entry in files.new_stops(entries, last):
            since = f" (idle since {clock(entry.idle_since)})" if entry.idle_since else ""
            self.d.bus.emit(
                EventKind.GUARD_STOPPED,
                f"{state.name}: stopped by its guard at {clock(entry.t)} while this machine "
                f"was away{since}",
                state.id,
                level="warning",
                stopped_at=entry.t,
                idle_since=entry.idle_since,
                reason=clean(entry.text, 300),
            )
            self.record_stop(state, entry.t)
            self.d.store.put(REPORTED + state.id, entry.t)


def workspace(state: PodState) -> str:
    return state.pod.volume_mount_path or "/workspace"


async def _run(conn: asyncssh.SSHClientConnection, command: str, stdin: str | None = None) -> str:
    result = await asyncio.wait_for(
        conn.run(command, input=stdin, check=False, encoding="utf-8", errors="replace"),
        COMMAND_TIMEOUT,
    )
    out = result.stdout
    return out if isinstance(out, str) else ""
