"""The daemon's own socket methods: its status, the pods, their settings, stop and resume, the
log, reloading config.toml, shutdown. Registered by services.py with the services' own
(ssh_config.py, wake.py, lifecycle_methods.py, syncs.py)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, cast

from rpdevd import __version__, paths
from rpdevd.daemon.app import Daemon
from rpdevd.daemon.budget import budget_view, month_spent
from rpdevd.daemon.server import RequestError
from rpdevd.protocol import EventKind, Method, param_str
from rpdevd.views import ApiView, DaemonView, EventsView, PodsView, ReloadView, StatusView


def register_core_methods(daemon: Daemon) -> None:
    m = CoreMethods(daemon)
    reg = daemon.server.register
    reg(Method.PING, m.ping)
    reg(Method.STATUS, m.status)
    reg(Method.PODS, m.pods)
    reg(Method.EVENTS, m.events)
    reg(Method.POD_STOP, m.stop)
    reg(Method.POD_RESUME, m.resume)
    reg(Method.POD_MANAGE, m.manage)
    reg(Method.POD_SET, m.set)
    reg(Method.POLL, m.poll)
    reg(Method.SHUTDOWN, m.shutdown)
    reg(Method.DAEMON_LOG, m.log)
    reg(Method.DAEMON_RELOAD, m.reload)


class CoreMethods:
    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon

    async def ping(self, params: dict[str, Any]) -> Any:
        return {"pong": True, "version": __version__}

    async def status(self, params: dict[str, Any]) -> StatusView:
        managed = [s.view() for s in self.d.pods.values() if s.managed]
        managed.sort(key=lambda v: (v["name"], v["id"]))
        return {
            "daemon": cast(DaemonView, self.d.daemon_view()),
            "api": cast(ApiView, self.d.api_view()),
            "pods": managed,
            "unmanaged": sum(1 for s in self.d.pods.values() if not s.managed),
            "budget": budget_view(
                self.d.store,
                self.d.config.budget_monthly,
                month_spent(self.d.pods.values()),
                time.time(),
            ),
        }

    async def pods(self, params: dict[str, Any]) -> PodsView:
        views = [s.view() for s in self.d.pods.values()]
        views.sort(key=lambda v: (v["name"], v["id"]))
        return {"api": cast(ApiView, self.d.api_view()), "pods": views}

    async def events(self, params: dict[str, Any]) -> EventsView:
        limit = params.get("limit", 50)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise RequestError("bad_params", "limit must be an integer from 1 to 1000")
        pod = param_str(params, "pod", required=False, max_len=128)
        pod_id = self.d.resolve(pod).id if pod else None
        return {"events": [e.to_json() for e in self.d.store.events(limit, pod_id)]}

    async def stop(self, params: dict[str, Any]) -> Any:
        state = self.d.pod_param(params)
        was = state.pod.desired_status  # as last seen: the request goes to RunPod all the same
        await self.d.stop_pod(state, "requested by user")
        return {"id": state.id, "name": state.name, "requested": "stop", "was": was}

    async def resume(self, params: dict[str, Any]) -> Any:
        state = self.d.pod_param(params)
        was = state.pod.desired_status
        await self.d.resume_pod(state, "requested by user")
        return {"id": state.id, "name": state.name, "requested": "resume", "was": was}

    async def manage(self, params: dict[str, Any]) -> Any:
        state = self.d.pod_param(params)
        managed = params.get("managed", True)
        if not isinstance(managed, bool):
            raise RequestError("bad_params", "managed must be true or false")
        self.d.update_settings(state, managed=managed)
        self.d.bus.emit(
            EventKind.POD_MANAGED if managed else EventKind.POD_UNMANAGED,
            f"{state.name} {'now' if managed else 'no longer'} managed",
            state.id,
        )
        for service in self.d.services:
            service.pods_changed([state])
        return state.view()

    async def set(self, params: dict[str, Any]) -> Any:
        from rpdevd.config import POLICIES
        from rpdevd.durations import parse_duration

        state = self.d.pod_param(params)
        changes: dict[str, Any] = {}
        if "policy" in params:
            if params["policy"] not in POLICIES:
                raise RequestError("bad_params", f"policy must be one of {', '.join(POLICIES)}")
            changes["policy"] = params["policy"]
            changes["managed"] = True
        for key in ("idle_timeout", "warn_before"):
            if key in params:
                value = params[key]
                try:
                    seconds = parse_duration(value) if isinstance(value, str) else float(value)
                except (TypeError, ValueError):
                    raise RequestError(
                        "bad_params", f"{key}: {value!r} is not a duration"
                    ) from None
                if not 0 < seconds <= 7 * 86400:
                    raise RequestError("bad_params", f"{key} must be between 1s and 7d")
                changes[key] = seconds
        if "wake_on_connect" in params:
            if not isinstance(params["wake_on_connect"], bool):
                raise RequestError("bad_params", "wake_on_connect must be true or false")
            changes["wake_on_connect"] = params["wake_on_connect"]
        if "max_bid" in params:  # a spot pod's cap for keep-alive, $/GPU/h; null removes it
            bid = params["max_bid"]
            if bid is not None and (
                isinstance(bid, bool) or not isinstance(bid, int | float) or not 0 < bid < 1000
            ):
                raise RequestError("bad_params", "max_bid must be dollars per GPU per hour, > 0")
            changes["max_bid"] = bid
        if not changes:  # a question, not a change: the current settings
            return state.view()
        timeout = changes.get("idle_timeout", state.idle_timeout)
        if changes.get("warn_before", state.warn_before) >= timeout:
            raise RequestError("bad_params", "warn_before must be shorter than idle_timeout")
        self.d.update_settings(state, **changes)
        self.d.bus.emit(
            EventKind.POD_SETTINGS,
            f"{state.name}: " + ", ".join(f"{k}={v}" for k, v in changes.items()),
            state.id,
            **changes,
        )
        for service in self.d.services:
            service.pods_changed([state])
        return state.view()

    async def poll(self, params: dict[str, Any]) -> Any:
        try:
            await self.d.wait_for_poll(30)
        except TimeoutError:
            raise RequestError("timeout", "the poll did not finish within 30s") from None
        return self.d.api_view()

    async def log(self, params: dict[str, Any]) -> Any:
        lines = params.get("lines", 200)
        if not isinstance(lines, int) or isinstance(lines, bool) or not 1 <= lines <= 5000:
            raise RequestError("bad_params", "lines must be an integer from 1 to 5000")
        path = paths.log_file()
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 200 * lines))
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            text = ""
        return {"path": str(path), "lines": text.splitlines()[-lines:]}

    async def reload(self, params: dict[str, Any]) -> ReloadView:
        from rpdevd.config import ConfigError

        try:
            change = await self.d.reloader.reload()
        except ConfigError as exc:
            raise RequestError(
                "config_error",
                str(exc),
                "the running config stays: fix the file and run `rpdev daemon reload` again",
            ) from None
        source = self.d.config.source
        return {
            "config": str(source) if source else None,
            "changes": change.lines(),
            "restart_needed": list(change.restart_needed),
        }

    async def shutdown(self, params: dict[str, Any]) -> Any:
        asyncio.get_running_loop().call_later(0.05, self.d.shutdown)
        return {"stopping": True, "pid": os.getpid()}
