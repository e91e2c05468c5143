"""The daemon: owns the RunPod API, the pods' state, the event bus and the socket.

Parts that act on pods (the connection pool, endpoint rediscovery, lifecycle, sync) are
`Service`s (core.py): `services.py` builds each with what it needs (this daemon as a
`DaemonCore`, the connection pool, `register` for its socket methods); each runs as its own task
and is told after every poll which pods changed. The daemon's own socket methods (status, pods,
stop, resume, settings, ...) are in methods.py. Nothing here knows the services.

A reload of config.toml (`rpdev daemon reload`, SIGHUP) is `self.reloader` (reload.py): it
swaps `config`, applies each pod's settings again and tells the hooks services.py gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from rpdevd import __version__, paths
from rpdevd.api_errors import TransientAPIError
from rpdevd.config import Config, load_config
from rpdevd.daemon import laststate
from rpdevd.daemon.bus import EventBus
from rpdevd.daemon.core import Service
from rpdevd.daemon.redact import RedactKey
from rpdevd.daemon.reload import Reloader
from rpdevd.daemon.server import RequestError, Server
from rpdevd.daemon.ssh_config import include_state
from rpdevd.daemon.state import PodState
from rpdevd.daemon.store import Store
from rpdevd.models import Pod
from rpdevd.protocol import param_str
from rpdevd.secrets import ENV_KEY_REJECTED_HINT, NO_KEY_HINT, find_api_key

log = logging.getLogger("rpdevd")

MAX_BACKOFF = 300.0
STATE_REFRESH = 60.0  # the stored state's time is rewritten at least this often while polls work


class API(Protocol):
    async def list_pods(self) -> list[Pod]: ...
    async def stop_pod(self, pod_id: str) -> Any: ...
    async def resume_pod(self, pod: Pod) -> Any: ...


def _default_api(key: str) -> API:
    from rpdevd.api import RunPodAPI  # the only import of runpod, kept off the CLI's path

    return RunPodAPI(key)


class Daemon:
    def __init__(
        self, config: Config | None = None, *, api_factory: Callable[[str], API] = _default_api
    ) -> None:
        self.config = config or load_config()
        self.started = time.time()
        paths.ensure_private_dir(paths.state_dir())
        self.store = Store(paths.database_file())
        self.bus = EventBus(self.store)
        self.server = Server(
            paths.socket_path(), paths.lock_path(), self.bus, f"rpdevd {__version__}"
        )
        self.pods: dict[str, PodState] = {}
        self.api: API | None = None
        self._api_factory = api_factory
        self._api_key_value: str | None = None
        self.api_source: str | None = None
        self.api_ok = False
        self.api_error: str | None = "not polled yet"
        self.api_hint: str | None = None
        self.last_poll: float | None = None
        self.api_failures = 0
        self.services: list[Service] = []
        self.reloader = Reloader(self)  # config.toml read again: `rpdev daemon reload`, SIGHUP
        self.stop_event = asyncio.Event()
        self.on_shutdown: Callable[[], None] | None = None
        self.poll_now = asyncio.Event()
        self.polled = asyncio.Condition()
        # What the pods reflect: the stored state until RunPod's API answers. `state_known` is
        # False only when there was no usable stored state and the API has not answered yet:
        # then nothing is known, and the SSH config must not be written from it.
        self.known_at: float | None = None
        self.state_known = False
        self.last_state: laststate.LastState | None = None
        self._state_written: tuple[bytes, float] | None = None
        self._state_error: str | None = None
        self.server.resolve_pod = lambda ref: self.resolve(ref).id
        self._restore_state()

    # lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        self.server.acquire()
        try:
            await self.server.start()
            self.bus.emit("daemon.started", f"rpdevd {__version__} started (pid {os.getpid()})")
            tasks = [asyncio.create_task(self._poll_loop(), name="poll")]
            tasks += [asyncio.create_task(self._run_service(s), name=s.name) for s in self.services]
            await self.stop_event.wait()
            for t in tasks:
                t.cancel()  # the connection pool's closes every pod's connection
            _, pending = await asyncio.wait(tasks, timeout=5)
            stuck = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if pending or stuck:
                log.warning(
                    "shutting down with tasks still running: %s",
                    ", ".join(sorted(t.get_name() for t in stuck))[:500],
                )
                for t in stuck:
                    t.cancel()
            self.bus.emit("daemon.stopped", "rpdevd stopped")
            self._save_state(force=True)
        finally:
            await self.server.close()
            self.store.close()

    async def _run_service(self, service: Service) -> None:
        backoff = 1.0
        while not self.stop_event.is_set():
            try:
                await service.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("service %s failed", service.name)
                self.bus.emit(
                    "daemon.error", f"{service.name} failed: {exc}; restarting", level="error"
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60)

    def shutdown(self) -> None:
        if not self.stop_event.is_set() and self.on_shutdown is not None:
            self.on_shutdown()
        self.stop_event.set()

    # the API -----------------------------------------------------------------------------
    def _ensure_api(self) -> API | None:
        key = find_api_key()
        if key is None:
            self.api = None
            self._api_key_value = None
            self.api_source = None
            return None
        if self.api is None or key.value != self._api_key_value:
            RedactKey.secrets.add(key.value)
            self.api = self._api_factory(key.value)
            self._api_key_value = key.value
            self.api_source = key.source
        return self.api

    async def _poll_loop(self) -> None:
        while True:
            delay = self.config.poll_interval
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poll failed unexpectedly")
            if not self.api_ok and self.api_failures:
                # Back off on a failing API, with jitter: never spin against RunPod.
                delay = min(
                    MAX_BACKOFF,
                    max(delay, self.config.poll_interval * 2 ** min(self.api_failures - 1, 8)),
                )
                delay *= random.uniform(0.8, 1.2)
            self.poll_now.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.poll_now.wait(), delay)

    async def poll(self) -> None:
        api = self._ensure_api()
        if api is None:
            self._api_failed("no_key", "no RunPod API key", NO_KEY_HINT)
            return
        try:
            pods = await api.list_pods()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code = type(exc).__name__
            hint = getattr(exc, "hint", None)
            if code == "AuthError" and self.api_source == "environment":
                hint = ENV_KEY_REJECTED_HINT
            elif code == "AuthError":
                hint = hint or "the API key was rejected: run `rpdev login` with a valid key"
            self._api_failed(code, str(exc), hint)
            return
        self.last_poll = self.known_at = time.time()
        self.state_known = True
        if not self.api_ok:
            self.api_ok, self.api_error, self.api_hint = True, None, None
            if self.api_failures:
                self.bus.emit("api.ok", "RunPod API reachable again")
            self.api_failures = 0
        self.apply_snapshot(pods)
        await self.save_state()
        async with self.polled:
            self.polled.notify_all()

    def _api_failed(self, code: str, message: str, hint: str | None) -> None:
        self.api_failures += 1
        changed = self.api_ok or self.api_error != message
        self.api_ok, self.api_error, self.api_hint = False, message, hint
        for state in self.pods.values():
            state.last_known = True  # what is shown is no longer the latest answer
        if changed:
            self.bus.emit(
                "api.error", message + (f" ({hint})" if hint else ""), level="error", code=code
            )

    def apply_snapshot(self, pods: list[Pod]) -> list[PodState]:
        """Merge one poll's pods; publish an event for each change; return changed states."""
        settings = self.store.pod_settings()
        seen: set[str] = set()
        changed: list[PodState] = []
        now = time.time()
        for pod in pods:
            seen.add(pod.id)
            state = self.pods.get(pod.id)
            if state is not None:
                state.as_of, state.last_known = now, False
                if state.restored:
                    # Known from the stored state: seen again, not new (no pod.added), but
                    # every part hears of it as of a new pod once.
                    state.restored = False
                    changed.append(state)
            if state is None:
                state = PodState(pod=pod, as_of=now)
                state.apply_settings(self.config, settings.get(pod.id, {}))
                self.pods[pod.id] = state
                self.store.upsert_pod(pod.id, pod.name, pod.desired_status, pod.to_json())
                changed.append(state)
                if state.managed:
                    self.bus.emit(
                        "pod.added",
                        f"{pod.name}: {pod.desired_status}",
                        pod.id,
                        status=pod.desired_status,
                    )
                continue
            old = state.pod
            state.pod = pod
            if old.desired_status != pod.desired_status:
                state.status_since = time.time()
                if pod.is_running and state.stopped_by_rpdev:
                    # Started again (by rpdev, the console, anyone): keep-alive applies again.
                    self.update_settings(state, stopped_by_rpdev=False)
                self.bus.emit(
                    "pod.status",
                    f"{pod.name}: {old.desired_status} -> {pod.desired_status}",
                    pod.id,
                    old=old.desired_status,
                    new=pod.desired_status,
                )
            elif old.ssh_endpoint != pod.ssh_endpoint:
                self.bus.emit(
                    "pod.changed",
                    f"{pod.name}: API endpoint {pod.ssh_endpoint or 'none'}",
                    pod.id,
                    endpoint=None if pod.ssh_endpoint is None else str(pod.ssh_endpoint),
                )
            elif old.name != pod.name:
                self.bus.emit("pod.changed", f"{old.name} renamed to {pod.name}", pod.id)
            if old != pod:
                self.store.upsert_pod(pod.id, pod.name, pod.desired_status, pod.to_json())
                if all(s is not state for s in changed):
                    changed.append(state)
        for pod_id in [p for p in self.pods if p not in seen]:
            state = self.pods.pop(pod_id)
            self.store.forget_pod(pod_id)
            self.bus.emit("pod.removed", f"{state.name} is gone from the account", pod_id)
        for service in self.services:
            service.pods_changed(changed)
        return changed

    async def wait_for_poll(self, timeout: float) -> None:
        self.poll_now.set()
        async with self.polled:
            await asyncio.wait_for(self.polled.wait(), timeout)

    # pods, by what users call them -------------------------------------------------------
    def resolve(self, ref: str) -> PodState:
        """A pod by id or by name; a clear error when none or several match."""
        if ref in self.pods:
            return self.pods[ref]
        matches = [s for s in self.pods.values() if s.name == ref]
        if not matches:
            matches = [s for s in self.pods.values() if s.ssh_alias in (ref, f"{ref}.runpod")]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = ", ".join(sorted(f"{s.name} ({s.id})" for s in self.pods.values())) or "none"
            raise RequestError(
                "not_found",
                f"no pod named or with id {ref!r}",
                f"pods on the account: {known}"
                if self.api_ok
                else f"the API is not answering: {self.api_error}",
            )
        ids = ", ".join(s.id for s in matches)
        raise RequestError(
            "ambiguous", f"several pods are named {ref!r}: {ids}", "use the pod id instead"
        )

    def pod_param(self, params: dict[str, Any]) -> PodState:
        """The pod a request's `pod` parameter names."""
        ref = param_str(params, "pod", max_len=128)
        assert ref is not None
        return self.resolve(ref)

    def api_view(self) -> dict[str, Any]:
        return {
            "ok": self.api_ok,
            "error": self.api_error,
            "hint": self.api_hint,
            "last_poll": self.last_poll,
            "key_source": self.api_source,
            "failures": self.api_failures,
            # When RunPod last answered (this run, or as stored before it), and whether the
            # pods shown are that last-known state rather than the latest poll's answer.
            "known_at": self.known_at,
            "last_known": not self.api_ok and self.known_at is not None,
            "state_error": self._state_error,
        }

    # the stored last-known state ---------------------------------------------------------
    def _restore_state(self) -> None:
        """Start from what was last known: pods, aliases (and, through the endpoint part,
        confirmed endpoints). Never fatal: an unusable file is reported and left for the next
        successful poll to replace."""
        try:
            stored = laststate.load()
        except laststate.StateFileError as exc:
            self._state_error = f"{laststate.default_path()}: {exc}"
            log.warning("stored state not used: %s", self._state_error)
            self.bus.emit(
                "daemon.state",
                f"stored state not used ({exc}): starting empty; the SSH config is left "
                "as it is until RunPod's API answers",
                level="warning",
            )
            return
        if stored is None:
            return
        settings = self.store.pod_settings()
        for known in stored.pods:
            state = PodState(
                pod=known.pod,
                ssh_alias=known.alias,
                as_of=stored.saved_at,
                last_known=True,
                restored=True,
            )
            state.apply_settings(self.config, settings.get(known.pod.id, {}))
            self.pods[known.pod.id] = state
        self.last_state, self.known_at, self.state_known = stored, stored.saved_at, True
        log.info(
            "started from the stored state of %s: %d pod(s)",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stored.saved_at)),
            len(stored.pods),
        )

    def current_state(self) -> laststate.LastState | None:
        if not self.state_known or self.known_at is None:
            return None
        return laststate.LastState(
            self.known_at,
            tuple(
                laststate.KnownPod(
                    s.pod,
                    s.ssh_alias,
                    laststate.KnownEndpoint(s.ssh_host, s.ssh_port, s.host_key_fingerprint)
                    if s.endpoint_state == "confirmed" and s.ssh_host and s.ssh_port
                    else None,
                )
                for s in sorted(self.pods.values(), key=lambda s: s.id)
            ),
        )

    def _state_due(self, force: bool) -> laststate.LastState | None:
        state = self.current_state()
        if state is None:
            return None
        body = laststate.stable_key(state)
        if self._state_written is not None and not force:
            written, at = self._state_written
            if written == body and time.monotonic() - at < STATE_REFRESH:
                return None
        self._state_written = (body, time.monotonic())
        return state

    def _save_state(self, force: bool = False) -> None:
        state = self._state_due(force)
        if state is not None:
            self._write_state(state)

    async def save_state(self) -> None:
        """Store what is known now, when it changed (or its time is a minute old)."""
        state = self._state_due(False)
        if state is not None:
            await asyncio.to_thread(self._write_state, state)

    def _write_state(self, state: laststate.LastState) -> None:
        try:
            laststate.save(state)
        except Exception as exc:  # a full disk must not stop the daemon
            self._state_written = None
            log.warning("could not store the state: %s", exc)
            self._state_error = f"could not store the state: {exc}"
        else:
            self._state_error = None

    def daemon_view(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 1),
            "socket": str(paths.socket_path()),
            "log": str(paths.log_file()),
            "config": str(self.config.source) if self.config.source else None,
            "poll_interval": self.config.poll_interval,
            "ssh_include": include_state(),
        }

    # acting on pods ----------------------------------------------------------------------
    def _require_api(self) -> API:
        api = self._ensure_api()
        if api is None:
            raise RequestError("no_key", "no RunPod API key", NO_KEY_HINT)
        return api

    def _api_request_error(self, exc: Exception, action: str) -> RequestError:
        hint = getattr(exc, "hint", None)
        return RequestError(type(exc).__name__, f"{action} failed: {exc}", hint)

    def update_settings(self, state: PodState, **changes: Any) -> None:
        settings = self.store.pod_settings().get(state.id, {})
        settings.update(changes)
        self.store.set_pod_settings(state.id, settings)
        state.apply_settings(self.config, settings)

    async def stop_pod(self, state: PodState, reason: str) -> None:
        api = self._require_api()
        # Recorded before the call: a poll that sees the pod EXITED before the reply (or a
        # reply lost after RunPod did stop it) must not have keep-alive resume it.
        was = state.stopped_by_rpdev
        self.update_settings(state, stopped_by_rpdev=True)
        try:
            await api.stop_pod(state.id)
        except Exception as exc:
            if not isinstance(exc, TransientAPIError):  # a definite no: it was not stopped
                self.update_settings(state, stopped_by_rpdev=was)
            state.last_error = f"stop failed: {exc}"
            self.bus.emit("pod.error", state.last_error, state.id, level="error")
            raise self._api_request_error(exc, "stop") from None
        self.bus.emit(
            "pod.stop", f"{state.name}: stop requested ({reason})", state.id, reason=reason
        )
        self.poll_now.set()

    async def resume_pod(self, state: PodState, reason: str) -> None:
        api = self._require_api()
        try:
            await api.resume_pod(state.pod)
        except Exception as exc:
            state.last_error = f"resume failed: {exc}"
            self.bus.emit(
                "pod.error", state.last_error, state.id, level="error", code=type(exc).__name__
            )
            raise self._api_request_error(exc, "resume") from None
        self.update_settings(state, stopped_by_rpdev=False, idle_stopped_at=None)
        state.last_error = None
        self.bus.emit(
            "pod.resume", f"{state.name}: resume requested ({reason})", state.id, reason=reason
        )
        self.poll_now.set()
