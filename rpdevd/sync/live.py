"""The live half of SyncEngine: watch hints, small passes over SFTP, reconnects with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from typing import TYPE_CHECKING, NamedTuple

from rpdevd.sync.ignore import IGNORE_FILES
from rpdevd.sync.model import LocalEntry
from rpdevd.sync.plan import plan
from rpdevd.sync.scan import LocalRootError, Unreadable, check_root, scan_tree, stat_one
from rpdevd.sync.watch import ROOT, hints

if TYPE_CHECKING:
    from rpdevd.sync.engine import SyncEngine, SyncReport

BACKOFF_MAX = 30.0


async def _hint_task(eng: SyncEngine, stop: asyncio.Event) -> None:
    async for batch in hints(eng.spec.local_root, stop, eng.spec.step_ms, eng.spec.debounce_ms):
        eng._dirty |= batch
        eng._wake.set()


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
    base = eng._base
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
                prefix = sub + "/"
                scope.update(p for p in base if p.startswith(prefix))
        if len(scope) > eng.spec.live_max:
            return None
    return _Scope(scope, local, ignored, warnings, unknown)


async def live_pass(eng: SyncEngine, dirty: set[str], report: SyncReport) -> bool:
    """Push the changes behind `dirty`. False when a full pass should run instead."""
    try:
        check_root(eng.spec.local_root)
    except LocalRootError as exc:
        from rpdevd.sync.engine import SyncStopped

        raise SyncStopped(f"{exc}: stopping the sync, nothing deleted on the pod") from None
    found = await asyncio.to_thread(_scope, eng, dirty)
    if found is None:
        return False
    scope, local, ignored, warnings, unknown = found
    for w in warnings:
        eng._emit("sync.warning", w, "warning")
    eng.report_unreadable(unknown, report)
    if not scope:
        return True
    applier = await eng._ensure_applier()
    looked = await applier.look_many(sorted(scope))
    remote = {p: e for p, e in looked.items() if e is not None}
    base = {p: eng._base[p] for p in scope if p in eng._base}
    p = plan(
        local,
        remote,
        base,
        ignored=ignored,
        delete=eng.spec.delete,
        max_delete=None if eng._approved else eng.spec.max_delete,
        unknown=unknown,
    )
    if any(op.kind in ("delete", "rmdir") for op in p.ops + p.held):
        with os.scandir(eng.spec.local_root) as it:
            if next(it, None) is None:
                from rpdevd.sync.engine import SyncStopped

                raise SyncStopped(
                    f"local root {eng.spec.local_root} is suddenly empty: "
                    "stopping the sync, nothing deleted on the pod"
                )
    await eng._run_plan(p, report, None)
    if p.ops:
        eng._emit("sync.pushed", f"{len(p.ops)} changes pushed", count=len(p.ops))
    return True


async def _wait(eng: SyncEngine, stop: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(eng._wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def _reconnect(eng: SyncEngine, stop: asyncio.Event, exc: BaseException) -> None:
    eng.state = "disconnected"
    eng.last_error = str(exc) or type(exc).__name__
    eng._emit(
        "sync.disconnected", f"connection lost ({eng.last_error}); changes are queued", "warning"
    )
    await eng._drop_conn()
    delay = 0.5
    while not stop.is_set():
        if eng._connect is None:
            eng._wake.clear()
            await _wait(eng, stop, 3600)
            if eng._conn is not None:
                break
            continue
        # Cleared before the try: a wake while it runs (the daemon's "endpoint confirmed")
        # cuts the backoff short instead of being lost.
        eng._wake.clear()
        try:
            await eng._ensure_conn()
            break
        except Exception as err:  # noqa: BLE001 - any failure to connect is retried
            eng.last_error = str(err) or type(err).__name__
            eng._emit(
                "sync.retry",
                f"reconnect failed ({eng.last_error}); next try in {delay:.1f}s",
                "warning",
                delay=delay,
            )
            await _wait(eng, stop, delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF_MAX)
    eng._need_full = True
    if not stop.is_set():
        eng.last_error = None  # recovered: the error of the outage is history (events keep it)
        eng._emit("sync.reconnected", "connected again: reconciling")


async def run(eng: SyncEngine, stop: asyncio.Event) -> None:
    from rpdevd.sshlib import asyncssh  # noqa: F401 - watching runs over asyncssh: its errors are disconnects
    from rpdevd.sync.engine import SyncReport, disconnects

    DISCONNECTS = disconnects()

    watcher = asyncio.create_task(_hint_task(eng, stop))
    try:
        while not stop.is_set():
            if watcher.done() and not stop.is_set():
                exc = watcher.exception()
                check_root(eng.spec.local_root)
                eng._emit("sync.warning", f"the watcher stopped ({exc}); restarting it", "warning")
                watcher = asyncio.create_task(_hint_task(eng, stop))
                eng._need_full = True
            report = SyncReport()
            try:
                if eng._need_full or time.monotonic() - eng._last_full > eng.spec.rescan_interval:
                    eng._dirty.clear()
                    await eng._full_pass(report)
                    eng.state = "held" if eng._held else "watching"
                elif eng._dirty:
                    batch, eng._dirty = eng._dirty, set()
                    try:
                        if not await live_pass(eng, batch, report):
                            eng._need_full = True
                            continue
                    except BaseException:
                        eng._dirty |= batch
                        raise
                    eng.state = "held" if eng._held else "watching"
            except DISCONNECTS as exc:
                await _reconnect(eng, stop, exc)
                continue
            except LocalRootError as exc:
                from rpdevd.sync.engine import SyncStopped

                raise SyncStopped(f"{exc}: stopping the sync, nothing deleted on the pod") from None
            if report.failed:
                eng._need_full = True
                await _wait(eng, stop, 1.0)
            if eng._dirty or eng._need_full:
                continue
            eng._wake.clear()
            if eng._dirty:
                continue
            wait = eng.spec.rescan_interval - (time.monotonic() - eng._last_full)
            await _wait(eng, stop, wait)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
