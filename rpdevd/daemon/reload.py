"""config.toml read again (`rpdev daemon reload`, SIGHUP), and the difference applied.

    reloader = Reloader(daemon)            # the daemon as a `ReloadTarget`
    reloader.hooks.append(syncs.apply)     # services.py: told the new config after each reload
    change = await reloader.reload()       # a ConfigDiff (configdiff.py), or ConfigError
    reloader.reload_soon()                 # SIGHUP: the same, in the background

A config with an error is refused: a `config.rejected` event, `ConfigError` raised, and the
running config stays. Otherwise the new config replaces the daemon's, each pod's settings are
applied again (a key that config.toml changes for a pod replaces what was set for it at run
time), every hook is handed the new config (the sync roots, the forwards), every service hears
of every pod again, the poll loop wakes when its interval changed, and a `config.reloaded` event
lists what changed. One reload at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from rpdevd.config import Config, ConfigError, load_config
from rpdevd.daemon import configdiff
from rpdevd.daemon.bus import EventBus
from rpdevd.daemon.core import Service
from rpdevd.daemon.state import PodState
from rpdevd.daemon.store import Store

log = logging.getLogger("rpdevd")

ReloadHook = Callable[[Config], Awaitable[None]]
"""Told the new config after a reload (the daemon's `config` is already the new one then)."""


class ReloadTarget(Protocol):
    """What a reload reads and changes of the daemon (`app.Daemon` is the one)."""

    config: Config
    store: Store
    bus: EventBus
    pods: dict[str, PodState]
    services: list[Service]
    poll_now: asyncio.Event


class Reloader:
    def __init__(self, daemon: ReloadTarget) -> None:
        self.d = daemon
        self.hooks: list[ReloadHook] = []
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def reload(self) -> configdiff.ConfigDiff:
        """Read config.toml again and apply the difference. A config with an error raises
        ConfigError (after a `config.rejected` event) and changes nothing."""
        d = self.d
        async with self._lock:
            try:
                new = await asyncio.to_thread(load_config, d.config.source)
            except ConfigError as exc:
                log.error("config not reloaded: %s", exc)
                d.bus.emit(
                    "config.rejected",
                    f"config.toml not reloaded, the running config stays: {exc}",
                    level="error",
                    error=str(exc),
                )
                raise
            old, d.config = d.config, new
            change = configdiff.diff(old, new)
            reapply_pod_settings(d.store, d.pods.values(), old, new)
            for hook in self.hooks:
                try:
                    await hook(new)
                except Exception as exc:  # one part failing must not keep the others old
                    log.exception("applying the reloaded config failed")
                    d.bus.emit("daemon.error", f"reload: {exc}", level="error")
            for service in d.services:
                service.pods_changed(list(d.pods.values()))
            if new.poll_interval != old.poll_interval:
                d.poll_now.set()  # the poll loop waits out the new interval from now on
            lines = change.lines()
            summary = "; ".join(lines) if lines else "no changes"
            log.info("config reloaded from %s: %s", new.source or "defaults", summary)
            d.bus.emit(
                "config.reloaded",
                f"config.toml reloaded: {summary}",
                changes=lines,
                restart_needed=list(change.restart_needed),
            )
            return change

    def reload_soon(self) -> None:
        """SIGHUP: reload in the background; the outcome is in the log and the events."""

        async def reload() -> None:
            with contextlib.suppress(ConfigError):
                await self.reload()

        task = asyncio.get_running_loop().create_task(reload(), name="reload")
        self._background.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self._background.discard)


def reapply_pod_settings(store: Store, pods: Iterable[PodState], old: Config, new: Config) -> None:
    """Each pod's settings from the new config. A key that config.toml changes for a pod
    replaces what was set for it at run time (`rpdev policy`, the TUI): the newest word wins;
    run-time settings of keys the edit did not touch stay."""
    settings = store.pod_settings()
    for state in pods:
        own = settings.get(state.id, {})
        changed = configdiff.pod_keys_changed(
            old.pod_config(state.id, state.name), new.pod_config(state.id, state.name)
        )
        dropped = [k for k in changed if k in own]
        for key in dropped:
            del own[key]
        if dropped:
            store.set_pod_settings(state.id, own)
        state.apply_settings(new, own)
