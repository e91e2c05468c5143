"""Endpoint rediscovery in the daemon: confirm each managed pod's SSH endpoint from inside the
pod, pin its host key, and hand the confirmed endpoint to the connection pool and to the SSH
config writer.

The state machine is `rpdevd.endpoint.after_poll` / `after_check` (pure); this module feeds it
what the polls say and carries out what it decides. Nothing unconfirmed is ever used: a stale port
or another pod answering at the address is retried with backoff until the API reports the real
endpoint. At start, the stored last-known state's confirmed endpoints are taken back only where
their host keys are still pinned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from rpdevd.daemon import laststate
from rpdevd.daemon.connections import ConnectionPool, Target
from rpdevd.daemon.core import DaemonCore
from rpdevd.daemon.ssh_config import SshConfigWriter, ssh_identity, ssh_user
from rpdevd.daemon.state import PodState
from rpdevd.endpoint import (
    EndpointFailure,
    Seen,
    Transition,
    after_check,
    after_poll,
    confirm_and_pin,
)
from rpdevd.sshconfig import files
from rpdevd.sshconfig.known_hosts import pinned_keys
from rpdevd.sshconfig.render import host_key_alias

log = logging.getLogger("rpdevd.endpoints")

RETRY_MIN, RETRY_MAX = 0.5, 10.0


@dataclass
class _Attempt:
    candidate: tuple[str, int] | None = None
    next_try: float = 0.0
    backoff: float = RETRY_MIN
    task: asyncio.Task[None] | None = None


class EndpointService:
    name = "endpoints"

    def __init__(self, core: DaemonCore, pool: ConnectionPool, writer: SshConfigWriter) -> None:
        self.core = core
        self.pool = pool
        self.writer = writer
        self.wake = asyncio.Event()
        self.attempts: dict[str, _Attempt] = {}
        self._restore(core.last_state)

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
            state = self.core.pods.get(known.pod.id)
            ep = known.endpoint
            if state is None or ep is None or not known.pod.is_running:
                continue
            keys = pinned.get(host_key_alias(known.pod.id))
            if not keys:
                continue
            state.ssh_host, state.ssh_port = ep.host, ep.port
            state.host_key_fingerprint = ep.fingerprint
            state.endpoint_state = "confirmed"
            self.pool.confirmed(state.id, self._target(state, tuple(k.line for k in keys)))

    def _target(self, state: PodState, host_keys: tuple[str, ...]) -> Target:
        assert state.ssh_host is not None and state.ssh_port is not None
        config = self.core.config
        return Target(
            state.ssh_host,
            state.ssh_port,
            ssh_user(config, state),
            ssh_identity(config, state),
            host_keys,
        )

    # wiring ------------------------------------------------------------------------------
    def pods_changed(self, changed: list[PodState]) -> None:
        self.wake.set()

    async def run(self) -> None:
        await self.writer.install_include()
        last_failure = ""
        while True:
            self.wake.clear()
            try:
                self.reconcile()
                await self.writer.write()
                last_failure = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if repr(exc) != last_failure:  # once per kind of failure, not every second
                    last_failure = repr(exc)
                    log.exception("endpoint reconcile failed")
                    self.core.bus.emit(
                        "ssh.config", f"SSH config not written: {exc}", level="error"
                    )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 1.0)

    # reconciliation ----------------------------------------------------------------------
    def _apply(self, state: PodState, step: Transition) -> None:
        state.endpoint_state = step.state
        if step.withdraw:
            self.pool.withdraw(state.id)

    def reconcile(self) -> None:
        now = time.monotonic()
        self.pool.retain(self.core.pods)  # gone from the account: nothing may use them now
        for state in list(self.core.pods.values()):
            if not state.managed:
                continue
            pod = state.pod
            attempt = self.attempts.setdefault(state.id, _Attempt())
            ep = pod.ssh_endpoint
            candidate = None if ep is None else (ep.host, ep.port)
            fresh = candidate != attempt.candidate
            step = after_poll(
                state.endpoint_state,
                Seen(
                    running=pod.is_running,
                    candidate=candidate,
                    confirmed=(state.ssh_host, state.ssh_port)
                    if state.ssh_host and state.ssh_port
                    else None,
                    checking=attempt.task is not None and not attempt.task.done(),
                    due=fresh or now >= attempt.next_try,
                ),
            )
            self._apply(state, step)
            if step.confirm:
                assert candidate is not None
                if fresh:
                    attempt.candidate, attempt.backoff, attempt.next_try = candidate, RETRY_MIN, 0.0
                attempt.task = asyncio.create_task(self._confirm(state, candidate, attempt))

    async def _confirm(
        self, state: PodState, candidate: tuple[str, int], attempt: _Attempt
    ) -> None:
        host, port = candidate
        identity = ssh_identity(self.core.config, state)
        result = await confirm_and_pin(
            state.id,
            host,
            port,
            ssh_user(self.core.config, state),
            [identity] if identity else None,
            files.known_hosts_path(),
            timeout=10.0,
        )
        bus = self.core.bus
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
                bus.emit(
                    "endpoint.failed",
                    f"{state.name}: {result.message}{hint}; retrying",
                    state.id,
                    level="warning",
                    failure=result.kind,
                )
            state.last_error = result.message
            self._apply(state, after_check(state.endpoint_state, result.kind))
            self.wake.set()
            return
        ep, pinned = result.endpoint, result.pinned
        moved = (state.ssh_host, state.ssh_port) != (ep.host, ep.port)
        state.ssh_host, state.ssh_port = ep.host, ep.port
        state.host_key_fingerprint = ep.fingerprint
        self._apply(state, after_check(state.endpoint_state, None))
        state.last_error = None
        attempt.backoff = RETRY_MIN
        if pinned.changed:
            bus.emit(
                "hostkey.changed",
                f"{state.name}: host key now {ep.fingerprint} "
                f"(was {pinned.previous}); pinned after the identity check",
                state.id,
                fingerprint=ep.fingerprint,
                old=pinned.previous,
            )
        # Connections (and wake-on-connect's waiters) go to the confirmed endpoint itself, not
        # through the file: they go on even if writing the file fails (the loop tries again).
        self.pool.confirmed(state.id, self._target(state, (ep.host_key,)))
        # Views say "confirmed", and the event goes out, once the SSH config says so too: a
        # client told earlier (`rpdev ssh`, an editor opening Remote-SSH) would meet the entry's
        # placeholder.
        state.writing_config = True
        try:
            await self.writer.write()
        finally:
            state.writing_config = False
            if moved:
                bus.emit(
                    "endpoint.confirmed",
                    f"{state.name}: SSH at {ep.host}:{ep.port} (confirmed inside the pod)",
                    state.id,
                    host=ep.host,
                    port=ep.port,
                )
        await self.core.save_state()
