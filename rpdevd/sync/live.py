"""LiveSync: a SyncEngine kept live. Watch hints, small passes over SFTP, reconnects with backoff.

    live = LiveSync(engine)
    await live.run(stop_event)      # a full pass, then every change until `stop` is set
    await live.reconnect()          # from another task: the pod is reachable again, go now

It owns what only a live sync has: the dirty paths the watcher reported, the wake-ups, the
backoff, when the last full pass ran and the state a user sees ("watching", "disconnected",
"held"). It drives the engine through its public methods only; the engine knows nothing of it.
A dropped connection keeps every change pending (nothing is recorded until the pod confirms),
reconnects with backoff (via the engine's `connect` factory, or whatever `reconnect(conn)` hands
in) and reconciles with a full pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from rpdevd.sync.batch import SyncReport
from rpdevd.sync.engine import SyncEngine, SyncStopped, disconnects
from rpdevd.sync.ignore import IGNORE_FILES
from rpdevd.sync.model import LocalEntry
from rpdevd.sync.scan import LocalRootError, Unreadable, check_root, scan_tree, stat_one
from rpdevd.sync.watch import ROOT, hints

if TYPE_CHECKING:
    import asyncssh

BACKOFF_MAX = 30.0
T = TypeVar("T")


class _Scope(NamedTuple):
    paths: set[str]  # to look at on the pod
    local: dict[str, LocalEntry]
    ignored: set[str]
    warnings: list[str]
    unknown: dict[str, str]  # could not be read here: left alone (path -> why)


def _scope(eng: SyncEngine, dirty: set[str]) -> _Scope | None:
    """Paths to look at for `dirty`, their local entries, the ones ignored now, warnings, the
    ones that could not be read. None when a full pass is the better answer."""
    root = eng.spec.local_root
    base = eng.known
    scope: set[str] = set()
    local: dict[str, LocalEntry] = {}
    ignored: set[str] = set()
    warnings: list[str] = []
    unknown: dict[str, str] = {}
    for rel in sorted(dirty):
        if rel == ROOT or rel.rsplit("/", 1)[-1] in IGNORE_FILES:
            return None  # the root itself, or the ignore rules changed
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in scope:
                continue
            if eng.rules.ignored_path(sub, i < len(parts)):
                if sub in base:
                    ignored.add(sub)
                    scope.add(sub)
                break
            if i < len(parts) and sub in base:
                continue  # an ancestor rpdev already wrote
            scope.add(sub)
            try:
                entry = stat_one(root, sub, warnings)
            except Unreadable as exc:
                unknown[sub] = exc.reason
                break
            if entry is not None and eng.rules.ignored_path(sub, entry.kind == "dir"):
                entry = None
                if sub in base:
                    ignored.add(sub)  # ignored now: forgotten, not deleted
            if entry is not None:
                local[sub] = entry
            if entry is not None and entry.kind == "dir" and sub not in base:
                found = scan_tree(root, eng.rules, start=sub)
                warnings += found.warnings
                unknown.update(found.unreadable)
                local.update(found.entries)
                scope.update(found.entries)
            if (entry is None or entry.kind != "dir") and sub in base:
                scope.update(base.under(sub))
        if len(scope) > eng.spec.live_max:
            return None
    return _Scope(scope, local, ignored, warnings, unknown)


def _stopped(exc: LocalRootError) -> SyncStopped:
    return SyncStopped(f"{exc}: stopping the sync, nothing deleted on the pod")


class LiveSync:
    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._need_full = True
        self._last_full = 0.0
        self._state = "idle"  # between passes: idle | watching | held | disconnected
        self._passing = False  # a pass runs: the engine's own state says which step
        self._outage: str | None = None  # why the connection is down, until it is back
        # Held while a pass runs, so that another job on the root (the daemon's pull) never
        # runs beside one; and how many full passes ran (a pull follows each).
        self.pass_lock = asyncio.Lock()
        self.full_passes = 0

    # ----- what other parts call -------------------------------------------------------------

    @property
    def state(self) -> str:
        return self.engine.state if self._passing else self._state

    def status(self) -> dict[str, Any]:
        return {
            **self.engine.status(),
            "state": self.state,
            "pending": len(self._dirty),
            "last_error": self._outage or self.engine.last_error,
        }

    def approve_deletes(self) -> None:
        """Let the held deletions run: a full pass now."""
        self.engine.approve_deletes()
        self.wake(full=True)

    async def reconnect(self, conn: asyncssh.SSHClientConnection | None = None) -> None:
        """The pod is reachable again (its endpoint was just confirmed): drop the connection,
        use `conn` if handed in, and reconcile with a full pass now rather than when the
        backoff ends."""
        await self.engine.disconnect(conn)
        self.wake(full=True)

    def wake(self, *, full: bool = False) -> None:
        """Look now (a full pass with `full`), not at the next hint or rescan."""
        if full:
            self._need_full = True
        self._wake.set()

    # ----- the loop --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """A full pass, then push changes as they happen until `stop` is set. Raises
        SyncStopped when going on would be unsafe (local root gone or emptied)."""
        from rpdevd.sshlib import asyncssh  # noqa: F401 - watching runs over asyncssh: its errors are disconnects

        lost = disconnects()
        watcher = asyncio.create_task(self._hints(stop))
        try:
            while not stop.is_set():
                if watcher.done() and not stop.is_set():
                    exc = watcher.exception()
                    check_root(self.engine.spec.local_root)
                    self.engine.emit(
                        "sync.warning", f"the watcher stopped ({exc}); restarting it", "warning"
                    )
                    watcher = asyncio.create_task(self._hints(stop))
                    self._need_full = True
                report = SyncReport()
                try:
                    if not await self._step(report):
                        continue
                except lost as exc:
                    await self._reconnect(stop, exc)
                    continue
                except LocalRootError as exc:
                    raise _stopped(exc) from None
                if report.failed:
                    self._need_full = True
                    await self._wait(stop, 1.0)
                if self._dirty or self._need_full:
                    continue
                self._wake.clear()
                if self._dirty:
                    continue
                wait = self.engine.spec.rescan_interval - (time.monotonic() - self._last_full)
                await self._wait(stop, wait)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    async def _step(self, report: SyncReport) -> bool:
        """One full pass or one batch, whichever is due. False: go round again at once."""
        rescan = time.monotonic() - self._last_full > self.engine.spec.rescan_interval
        if self._need_full or rescan:
            self._dirty.clear()
            await self._pass(self.engine.full_pass(report))
            self._need_full = False
            self._last_full = time.monotonic()
            self.full_passes += 1
        elif self._dirty:
            batch, self._dirty = self._dirty, set()
            try:
                done = await self._pass(self._batch(batch, report))
            except BaseException:
                self._dirty |= batch
                raise
            if not done:
                self._need_full = True
                return False
        self._dirty |= self.engine.take_torn()
        return True

    async def _pass(self, work: Awaitable[T]) -> T:
        async with self.pass_lock:
            self._passing = True
            try:
                result = await work
            finally:
                self._passing = False
        self._state = "held" if self.engine.holding else "watching"
        return result

    async def _hints(self, stop: asyncio.Event) -> None:
        spec = self.engine.spec
        async for batch in hints(spec.local_root, stop, spec.step_ms, spec.debounce_ms):
            self._dirty |= batch
            self._wake.set()

    async def _batch(self, dirty: set[str], report: SyncReport) -> bool:
        """Push the changes behind `dirty`. False when a full pass should run instead."""
        eng = self.engine
        try:
            check_root(eng.spec.local_root)
        except LocalRootError as exc:
            raise _stopped(exc) from None
        found = await asyncio.to_thread(_scope, eng, dirty)
        if found is None:
            return False
        scope, local, ignored, warnings, unknown = found
        for w in warnings:
            eng.emit("sync.warning", w, "warning")
        eng.report_unreadable(unknown, report)
        if not scope:
            return True
        looked = await eng.look(sorted(scope))
        remote = {p: e for p, e in looked.items() if e is not None}
        p = eng.plan_paths(local, remote, scope, ignored=ignored, unknown=unknown)
        if any(op.kind in ("delete", "rmdir") for op in p.ops + p.held):
            with os.scandir(eng.spec.local_root) as it:
                if next(it, None) is None:
                    raise SyncStopped(
                        f"local root {eng.spec.local_root} is suddenly empty: "
                        "stopping the sync, nothing deleted on the pod"
                    )
        await eng.apply_plan(p, report)
        if p.ops:
            eng.emit("sync.pushed", f"{len(p.ops)} changes pushed", count=len(p.ops))
        return True

    async def _wait(self, stop: asyncio.Event, timeout: float) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in waiters:
                w.cancel()

    async def _reconnect(self, stop: asyncio.Event, exc: BaseException) -> None:
        eng = self.engine
        self._state = "disconnected"
        self._outage = str(exc) or type(exc).__name__
        eng.emit(
            "sync.disconnected", f"connection lost ({self._outage}); changes are queued", "warning"
        )
        await eng.disconnect()
        delay = 0.5
        while not stop.is_set():
            if not eng.can_connect:
                self._wake.clear()
                await self._wait(stop, 3600)
                if eng.connected:
                    break
                continue
            # Cleared before the try: a wake while it runs (the daemon's "endpoint confirmed")
            # cuts the backoff short instead of being lost.
            self._wake.clear()
            try:
                await eng.connect()
                break
            except Exception as err:  # noqa: BLE001 - any failure to connect is retried
                self._outage = str(err) or type(err).__name__
                eng.emit(
                    "sync.retry",
                    f"reconnect failed ({self._outage}); next try in {delay:.1f}s",
                    "warning",
                    delay=delay,
                )
                await self._wait(stop, delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_MAX)
        self._need_full = True
        if not stop.is_set():
            self._outage = None  # recovered: the error of the outage is history (events keep it)
            eng.emit("sync.reconnected", "connected again: reconciling")
