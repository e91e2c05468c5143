"""Endpoint rediscovery in the daemon: confirm each managed pod's SSH endpoint from inside the
pod, pin its host key, rewrite the generated SSH config; wake stopped pods on connect; and keep
one SSH connection per pod open for the probe and the sync (channels are cheap, handshakes not).

Nothing unconfirmed is ever written: a stale port or another pod answering at the address is
retried with backoff until the API reports the real endpoint. Nor is anything written from an
unknown state: until RunPod's API answers, the config is the one of the stored last-known state
(its confirmed endpoints taken back only where their host keys are still pinned), or it is left
as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpdevd.daemon import laststate
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.state import PodState
from rpdevd.durations import format_duration
from rpdevd.endpoint import EndpointFailure, confirm_and_pin
from rpdevd.protocol import param_num
from rpdevd.sshconfig import changes, files
from rpdevd.sshconfig.known_hosts import pinned_keys
from rpdevd.sshconfig.render import HostEntry, host_key_alias

if TYPE_CHECKING:
    import asyncssh

    from rpdevd.daemon.app import Daemon

log = logging.getLogger("rpdevd.endpoints")

RETRY_MIN, RETRY_MAX = 0.5, 10.0
WAKE_TIMEOUT = 600.0
WAKE_COOLDOWN = 900.0  # after an idle-stop, connections do not resume the pod for this long


@dataclass
class _Attempt:
    candidate: tuple[str, int] | None = None
    next_try: float = 0.0
    backoff: float = RETRY_MIN
    task: asyncio.Task[None] | None = None


class EndpointService:
    name = "endpoints"

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.wake = asyncio.Event()
        self.attempts: dict[str, _Attempt] = {}
        self.confirmed: dict[str, asyncio.Event] = {}
        self.wakes: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.conns: dict[str, asyncssh.SSHClientConnection] = {}
        self.conn_locks: dict[str, asyncio.Lock] = {}
        self._written: str | None = None
        self._written_entries: list[HostEntry] | None = None  # as last written by this daemon
        self._aliases: dict[str, str] = {}
        self._write_lock = asyncio.Lock()
        # Told the pod id each time an endpoint is confirmed (the sync wakes its roots).
        self.on_confirmed: list[Callable[[str], None]] = []
        self._restore(daemon.last_state)
        daemon.server.register("pod.wake", self.m_wake)
        daemon.server.register("ssh.status", self.m_ssh_status)

    def _restore(self, stored: laststate.LastState | None) -> None:
        """Take back the stored confirmed endpoints whose host keys are still pinned: they
        were confirmed inside the pod, and ssh checks the pinned key on every connection."""
        if stored is None:
            return
        try:
            pinned = pinned_keys(files.known_hosts_path())
        except OSError as exc:
            log.warning("pinned host keys unreadable, stored endpoints not used: %s", exc)
            return
        for known in stored.pods:
            state = self.d.pods.get(known.pod.id)
            ep = known.endpoint
            if state is None or ep is None or not known.pod.is_running:
                continue
            if not pinned.get(host_key_alias(known.pod.id)):
                continue
            state.ssh_host, state.ssh_port = ep.host, ep.port
            state.host_key_fingerprint = ep.fingerprint
            state.endpoint_state = "confirmed"
            self.confirmed.setdefault(known.pod.id, asyncio.Event()).set()

    # wiring ------------------------------------------------------------------------------
    def pods_changed(self, changed: list[PodState]) -> None:
        self.wake.set()

    def _user(self, state: PodState) -> str:
        pc = self.d.config.pod_config(state.id, state.name)
        return (pc.user if pc and pc.user else None) or self.d.config.ssh.user

    def _identity(self, state: PodState) -> Path | None:
        pc = self.d.config.pod_config(state.id, state.name)
        raw = (
            pc.identity_file if pc and pc.identity_file else None
        ) or self.d.config.ssh.identity_file
        path = Path(raw).expanduser()
        return path if path.exists() else None

    async def run(self) -> None:
        if self.d.config.ssh.install_include:
            try:
                await asyncio.to_thread(files.install_include)
            except Exception as exc:  # a broken ~/.ssh/config is reported, never "fixed"
                self.d.bus.emit("ssh.config", f"~/.ssh/config left alone: {exc}", level="warning")
        last_failure = ""
        while True:
            self.wake.clear()
            try:
                self.reconcile()
                await self.write_config()
                last_failure = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if repr(exc) != last_failure:  # once per kind of failure, not every second
                    last_failure = repr(exc)
                    log.exception("endpoint reconcile failed")
                    self.d.bus.emit("ssh.config", f"SSH config not written: {exc}", level="error")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 1.0)

    # reconciliation ----------------------------------------------------------------------
    def reconcile(self) -> None:
        now = time.monotonic()
        for pod_id in [p for p in self.conns if p not in self.d.pods]:
            self.close_connection(pod_id)  # gone from the account: nothing may use it now
        for state in list(self.d.pods.values()):
            if not state.managed:
                continue
            pod = state.pod
            attempt = self.attempts.setdefault(state.id, _Attempt())
            if not pod.is_running:
                if state.endpoint_state not in ("none", "stopped"):
                    state.endpoint_state = "stopped"
                    self._clear_confirmed(state.id)
                    self.close_connection(state.id)
                continue
            ep = pod.ssh_endpoint
            if ep is None:
                if state.endpoint_state != "starting":
                    state.endpoint_state = "starting"
                    self._clear_confirmed(state.id)
                continue
            candidate = (ep.host, ep.port)
            if state.endpoint_state == "confirmed" and candidate == (
                state.ssh_host,
                state.ssh_port,
            ):
                continue
            if attempt.task is not None and not attempt.task.done():
                continue
            if candidate != attempt.candidate:
                attempt.candidate, attempt.backoff, attempt.next_try = candidate, RETRY_MIN, 0.0
            if now < attempt.next_try:
                continue
            if state.endpoint_state == "confirmed":
                # The pod moved (a restart the polls never showed stopped): the old endpoint
                # is nobody's to use until the new one is confirmed.
                self._clear_confirmed(state.id)
            state.endpoint_state = "confirming"
            attempt.task = asyncio.create_task(self._confirm(state, candidate, attempt))

    def _clear_confirmed(self, pod_id: str) -> None:
        ev = self.confirmed.get(pod_id)
        if ev is not None:
            ev.clear()

    async def _confirm(
        self, state: PodState, candidate: tuple[str, int], attempt: _Attempt
    ) -> None:
        host, port = candidate
        identity = self._identity(state)
        result = await confirm_and_pin(
            state.id,
            host,
            port,
            self._user(state),
            [identity] if identity else None,
            files.known_hosts_path(),
            timeout=10.0,
        )
        if isinstance(result, EndpointFailure):
            attempt.next_try = time.monotonic() + attempt.backoff
            attempt.backoff = min(attempt.backoff * 2, RETRY_MAX)
            if state.endpoint_state != "unreachable" or state.last_error != result.message:
                hint = (
                    (
                        " (is the public half of [ssh] identity_file in your RunPod account's "
                        "SSH keys?)"
                    )
                    if result.kind == "auth_failed"
                    else ""
                )
                self.d.bus.emit(
                    "endpoint.failed",
                    f"{state.name}: {result.message}{hint}; retrying",
                    state.id,
                    level="warning",
                    failure=result.kind,
                )
            state.last_error = result.message
            if state.endpoint_state != "confirmed" or result.kind != "unreachable":
                state.endpoint_state = "unreachable"
            self.wake.set()
            return
        ep, pinned = result.endpoint, result.pinned
        moved = (state.ssh_host, state.ssh_port) != (ep.host, ep.port)
        state.ssh_host, state.ssh_port = ep.host, ep.port
        state.host_key_fingerprint = ep.fingerprint
        state.endpoint_state = "confirmed"
        state.last_error = None
        attempt.backoff = RETRY_MIN
        self.close_connection(state.id)  # the next user reconnects to the new endpoint
        if pinned.changed:
            self.d.bus.emit(
                "hostkey.changed",
                f"{state.name}: host key now {ep.fingerprint} "
                f"(was {pinned.previous}); pinned after the identity check",
                state.id,
                fingerprint=ep.fingerprint,
                old=pinned.previous,
            )
        if moved:
            self.d.bus.emit(
                "endpoint.confirmed",
                f"{state.name}: SSH at {ep.host}:{ep.port} (confirmed inside the pod)",
                state.id,
                host=ep.host,
                port=ep.port,
            )
        # Waiters (wake on connect) connect to the confirmed endpoint itself, not through the
        # file: they go on even if writing the file fails (the loop tries again).
        self.confirmed.setdefault(state.id, asyncio.Event()).set()
        for notify in self.on_confirmed:
            try:
                notify(state.id)
            except Exception:
                log.exception("endpoint confirmation hook failed")
        await self.write_config()
        await self.d.save_state()

    def host_entries(self) -> list[HostEntry]:
        entries = []
        for state in self.d.pods.values():
            if not state.managed:
                continue
            identity = self._identity(state)
            # Only a confirmed endpoint is written: a stopped pod's last one is dead (or someone
            # else's by now), and a restarted pod's old one may be another pod's. Without it the
            # entry says what is going on instead of trying an address.
            confirmed = state.endpoint_state == "confirmed" and state.pod.is_running
            entries.append(
                HostEntry(
                    pod_id=state.id,
                    name=state.name,
                    host=state.ssh_host if confirmed else None,
                    port=state.ssh_port if confirmed else None,
                    running=state.pod.is_running,
                    user=self._user(state),
                    identity_file=identity,
                    wake_on_connect=state.wake_on_connect,
                )
            )
        return entries

    async def write_config(self) -> None:
        # One write at a time: endpoints confirmed together land in one rewrite, and each
        # rewrite is described against the one before it.
        async with self._write_lock:
            await self._write_config()

    async def _write_config(self) -> None:
        if not self.d.state_known:
            # Nothing is known yet (no stored state, no answer from RunPod): writing now would
            # empty the config of hosts that may well be there. Left as it is.
            return
        entries = self.host_entries()
        key = repr(entries)
        if key == self._written:
            return
        update = await asyncio.to_thread(
            files.update_generated,
            entries,
            server_alive_interval=self.d.config.ssh.server_alive_interval,
            proxy_program=(sys.executable, "-m", "rpdevd.cli"),
        )
        self._written = key
        for pod_id, why in update.refused.items():
            name = self.d.pods[pod_id].name if pod_id in self.d.pods else pod_id
            self.d.bus.emit(
                "ssh.config",
                f"{name}: no SSH config entry: {why}",
                pod_id if pod_id in self.d.pods else None,
                level="warning",
            )
        for pod_id, alias in update.aliases.items():
            if pod_id in self.d.pods:
                self.d.pods[pod_id].ssh_alias = alias
        before, self._written_entries = self._written_entries, entries
        self._aliases.update(update.aliases)
        if update.changed:
            self.d.bus.emit(
                "ssh.config",
                changes.describe(before, entries, self._aliases),
                path=str(update.path),
                hosts=len(entries),
            )
        await self.d.save_state()

    # the shared connection ---------------------------------------------------------------
    async def connection(self, pod_id: str) -> asyncssh.SSHClientConnection | None:
        """A kept-open connection to a confirmed pod, verified against the pinned key."""
        from rpdevd.sshlib import asyncssh

        state = self.d.pods.get(pod_id)
        if (
            state is None
            or state.endpoint_state != "confirmed"
            or not state.ssh_host
            or not state.ssh_port
        ):
            return None
        lock = self.conn_locks.setdefault(pod_id, asyncio.Lock())
        async with lock:
            conn = self.conns.get(pod_id)
            if conn is not None and not conn.is_closed():
                return conn
            keys = pinned_keys(files.known_hosts_path()).get(host_key_alias(pod_id), [])
            if not keys:
                return None
            trusted = [asyncssh.import_public_key(k.line) for k in keys]
            identity = self._identity(state)
            try:
                conn = await asyncio.wait_for(
                    asyncssh.connect(
                        state.ssh_host,
                        state.ssh_port,
                        username=self._user(state),
                        # () is asyncssh's default (the agent and ~/.ssh keys); None
                        # would turn key authentication off.
                        client_keys=[str(identity)] if identity else (),
                        known_hosts=(trusted, [], []),
                        config=None,
                        keepalive_interval=15,
                        keepalive_count_max=3,
                    ),
                    15,
                )
            except (TimeoutError, OSError, asyncssh.Error) as exc:
                log.info("connection to %s failed: %s", pod_id, exc)
                self.wake.set()
                return None
            self.conns[pod_id] = conn
            return conn

    def close_connection(self, pod_id: str) -> None:
        conn = self.conns.pop(pod_id, None)
        if conn is not None:
            conn.close()

    # wake on connect ---------------------------------------------------------------------
    async def m_wake(self, params: dict[str, Any]) -> Any:
        state = self.d.pod_param(params)
        timeout = (
            param_num(params, "timeout", required=False, minimum=1, maximum=3600) or WAKE_TIMEOUT
        )
        task = self.wakes.get(state.id)
        if task is None or task.done():
            task = asyncio.create_task(self._wake(state, timeout))
            self.wakes[state.id] = task
        return await asyncio.shield(task)

    def _may_wake(self, state: PodState) -> None:
        """A connection resumes a stopped pod only where wake on connect is on, and not soon
        after rpdev stopped it for being idle: an editor left open reconnects on its own, and
        would otherwise keep the pod cycling (resume, idle, stop, reconnect) all night."""
        resume = f"start it with: rpdev resume {state.name}"
        status = state.pod.desired_status
        if not state.wake_on_connect:
            raise RequestError(
                "wake_off", f"{state.name} is {status}; wake on connect is off for it", resume
            )
        since = time.time() - (state.idle_stopped_at or 0.0)
        if state.stopped_by_rpdev and state.idle_stopped_at and 0 <= since < WAKE_COOLDOWN:
            raise RequestError(
                "recently_idle_stopped",
                f"{state.name} was stopped for being idle {format_duration(since)} ago; for "
                f"{format_duration(WAKE_COOLDOWN)} after that a connection does not start it "
                "(an editor reconnecting by itself would keep it running)",
                resume,
            )

    async def _wake(self, state: PodState, timeout: float) -> dict[str, Any]:
        """One resume however many connections wait; then wait for a confirmed endpoint."""
        if state.pod.desired_status in ("EXITED", "STOPPED", "PAUSED"):
            self._may_wake(state)
            self.d.bus.emit(
                "pod.waking", f"{state.name}: resuming for an incoming connection", state.id
            )
            await self.d.resume_pod(state, "wake on connect")
        elif state.pod.desired_status == "TERMINATED":
            raise RequestError(
                "terminated",
                f"{state.name} is terminated",
                "a terminated pod cannot be started again; create a new one",
            )
        ev = self.confirmed.setdefault(state.id, asyncio.Event())
        if state.endpoint_state == "confirmed" and state.pod.is_running:
            ev.set()
        deadline = time.monotonic() + timeout
        last_poll = 0.0
        while not ev.is_set():
            if time.monotonic() > deadline:
                raise RequestError(
                    "timeout",
                    f"{state.name} did not become reachable within "
                    f"{timeout:.0f}s ({state.endpoint_state})",
                    state.last_error or "see `rpdev status`",
                )
            # Poll faster while someone waits, but never more than every 3 s.
            if time.monotonic() - last_poll >= 3.0:
                self.d.poll_now.set()
                last_poll = time.monotonic()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ev.wait(), 1.0)
        return {
            "id": state.id,
            "name": state.name,
            "host": state.ssh_host,
            "port": state.ssh_port,
            "alias": state.ssh_alias,
            "fingerprint": state.host_key_fingerprint,
        }

    def include_state(self) -> str:
        """installed | missing | broken: is the generated file pulled into ~/.ssh/config?"""
        from rpdevd.sshconfig import include

        try:
            data = files.user_config_path().read_bytes()
        except FileNotFoundError:
            return "missing"
        except OSError:
            return "broken"
        try:
            return "installed" if include.installed_at_top(data) else "missing"
        except include.MarkerError:
            return "broken"

    async def m_ssh_status(self, params: dict[str, Any]) -> Any:
        return {
            "generated": str(files.generated_path()),
            "include": self.include_state(),
            "known_hosts": str(files.known_hosts_path()),
            "pods": {
                s.id: {
                    "alias": s.ssh_alias,
                    "state": s.endpoint_state,
                    "host": s.ssh_host,
                    "port": s.ssh_port,
                    "fingerprint": s.host_key_fingerprint,
                }
                for s in self.d.pods.values()
                if s.managed
            },
        }
