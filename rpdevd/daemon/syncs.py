"""Live sync in the daemon: every `[[sync]]` root of config.toml, plus roots added at run time
(`sync.add`: `rpdev sync add`, the TUI), each a `LiveSync` over a `SyncEngine` on the pod's shared
SSH connection. Roots added at run time are kept in the daemon's store and come back after a
restart (`source` says `runtime`; the roots as data and their storing: sync_roots.py); a reload
of config.toml (`apply`) starts, stops or restarts only the config roots that were added,
removed or changed. A paused root's engine is stopped and its baseline kept: on resume, what
changed meanwhile is pushed as by any pass. The `sync.*` socket methods are in sync_methods.py.

The engine never destroys work (docs/sync.md); this module only wires it: it maps `/workspace/...`
to the pod's volume mount path, holds large deletions until `sync.confirm`, turns the sync's
events into daemon events (adding the root and, to `sync.held`, the command that confirms), feeds
files pushed into the idle logic (`local_edits`), and restarts a root that stopped (an emptied
local folder, say) once the problem is gone. A pod's roots reconnect as soon as its endpoint is
confirmed (a restart, a resume), not when their backoff ends; a root whose pod has left the
account stops and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpdevd.config import Config
from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.core import DaemonCore
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.sync_roots import (
    Root,
    config_roots,
    load_roots,
    pod_remote_path,
    save_roots,
)
from rpdevd.protocol import Event

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import asyncssh

    from rpdevd.sync.live import LiveSync

log = logging.getLogger("rpdevd.sync")

RESTART_DELAY = 15.0
STOP_WAIT = 10.0  # how long a pause waits for the root's engine to end


def pull_excludes(local: Path, pull: tuple[str, ...]) -> tuple[str, ...]:
    """Ignore lines that keep a root's pulled paths out of its push: its own `pull` patterns
    and those of `rpdev pull` runs into its folder."""
    from rpdevd.sync.pullbase import push_excludes_for
    from rpdevd.sync.pullplan import push_excludes

    return push_excludes(pull) + push_excludes_for(local)


class SyncService:
    name = "sync"

    def __init__(self, daemon: DaemonCore, pool: ConnectionPool) -> None:
        """The roots of config.toml and those kept in the store; the `sync.*` methods are
        registered beside it (sync_methods.py)."""
        self.d = daemon
        self.pool = pool
        said: list[str] = []
        self.roots: dict[str, Root] = load_roots(daemon.config, daemon.store, said)
        for line in said:
            log.warning("%s", line)
            daemon.bus.emit("sync.warning", line, level="warning")
        self.wake = asyncio.Event()
        self._kicks: set[asyncio.Task[None]] = set()
        # Engines of roots removed or restarted, until they have ended: a root of the same id
        # starts again only then (never two engines on one baseline).
        self._retiring: dict[str, asyncio.Task[None]] = {}

    def pods_changed(self, changed: list[Any]) -> None:
        self.wake.set()

    def endpoint_confirmed(self, pod_id: str) -> None:
        """The pod's endpoint was just confirmed (the pool tells): its roots connect now. A
        running live sync is told to reconnect (the pool closed the connection it had); a
        root waiting out its restart delay starts at once."""
        for root in self.roots.values():
            if root.pod_id != pod_id or root.paused:
                continue
            root.retry_at = 0.0
            live = root.live
            if live is not None and root.task is not None and not root.task.done():
                kick = asyncio.create_task(live.reconnect(), name=f"sync-kick-{root.id}")
                self._kicks.add(kick)
                kick.add_done_callback(self._kicks.discard)
        self.wake.set()

    def edits(self, pod_id: str) -> int:
        """Files pushed to this pod since the last call (the idle logic's `local_edits`)."""
        return sum(
            r.live.engine.take_edit_count()
            for r in self.roots.values()
            if r.live is not None and r.pod_id == pod_id
        )

    def save(self) -> None:
        """Keep every root (its pause included) in the store: back after a restart."""
        save_roots(self.d.store, self.roots)

    # config.toml, reloaded ---------------------------------------------------------------
    async def apply(self, config: Config) -> None:
        """The roots of a reloaded config.toml: new ones start, removed ones stop, changed ones
        (ignore, max_delete, delete) restart; the others go on untouched. A root keeps its
        pause across the change. Returns once the engines stopped have ended (their pass
        finished), so that a reload's answer means nothing more is pushed by them."""
        wanted = config_roots(config)
        for rid, root in list(self.roots.items()):
            if root.source != "config":
                continue
            new = wanted.pop(rid, None)
            if new is None:
                self.retire(root)
                del self.roots[rid]
                self.d.bus.emit(
                    "sync.removed",
                    f"sync root removed from config.toml: {root.local}",
                    root.pod_id,
                    root=rid,
                )
            elif new.settings() != root.settings():
                self.retire(root)
                new.paused = root.paused
                self.roots[rid] = new
                self.d.bus.emit(
                    "sync.added",
                    f"sync root changed in config.toml, restarted: {root.local}",
                    root.pod_id,
                    root=rid,
                )
        for rid, new in wanted.items():
            before = self.roots.get(rid)  # added at run time first: config.toml has it now
            if before is not None:
                self.retire(before)
                new.paused = before.paused
            self.roots[rid] = new
            self.d.bus.emit(
                "sync.added",
                f"sync root added from config.toml: {new.local} -> {new.pod}:{new.remote}",
                root=rid,
            )
        self.save()
        self.publish_views()
        self.wake.set()
        ending = [t for t in self._retiring.values() if not t.done()]
        if ending:
            await asyncio.wait(ending, timeout=STOP_WAIT)

    def retire(self, root: Root) -> None:
        """Stop the root's engine; a root of the same id waits for it to end."""
        root.stop.set()
        task = root.task
        if task is not None and not task.done():
            self._retiring[root.id] = task
            task.add_done_callback(lambda _: self.wake.set())

    # the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                self.wake.clear()
                for root in list(self.roots.values()):
                    self._reconcile(root)
                self.publish_views()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 1.0)
        finally:
            for root in self.roots.values():
                root.stop.set()
            tasks = [r.task for r in self.roots.values() if r.task]
            tasks += self._retiring.values()
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=3)

    def _retiring_still(self, rid: str) -> bool:
        """An engine of this id (removed or restarted) has not ended yet."""
        task = self._retiring.get(rid)
        if task is not None and task.done():
            del self._retiring[rid]
            task = None
        return task is not None

    def _reconcile(self, root: Root) -> None:
        if root.paused or self._retiring_still(root.id):
            return
        running = root.task is not None and not root.task.done()
        try:
            state = self.d.resolve(root.pod)
        except RequestError:
            if not self.d.api_ok:
                # Before an answer from RunPod an unknown pod is not yet an error, and a
                # failing API says nothing about the pod: whatever runs goes on.
                if not running:
                    root.error = None
                return
            # RunPod answered without it: stop trying (nothing to connect to) and say so.
            if running:
                root.stop.set()
            if root.pod_id is not None and not root.gone:
                self.d.bus.emit(
                    "sync.stopped",
                    f"{root.local}: pod {root.pod} is gone from the account; sync stopped",
                    root.pod_id,
                    level="warning",
                    root=root.id,
                )
            root.gone = root.pod_id is not None
            root.error = (
                f"pod {root.pod} is gone from the account"
                if root.gone
                else f"no pod {root.pod!r} on the account"
            )
            return
        if root.gone:
            root.gone, root.error = False, None  # back (or a new pod of that name)
        if running:
            if root.pod_id != state.id:
                root.stop.set()  # another pod took the name: restart on it
            return
        if not state.managed:
            root.error = f"pod {state.name} is not managed (rpdev manage {state.id})"
            return
        if root.task is None:
            root.error = None  # no engine ran yet: what was wrong above is fixed
        if not state.pod.is_running or state.endpoint_state != "confirmed":
            return  # the engine starts once the pod is reachable; edits wait locally
        if root.task is not None and root.error and time.monotonic() < root.retry_at:
            return
        root.pod_id = state.id
        root.stop = asyncio.Event()
        root.task = asyncio.create_task(
            self._run_root(root, state.pod.volume_mount_path), name=f"sync-{root.id}"
        )
        root.task.add_done_callback(lambda _: self.wake.set())  # a stopped root restarts soon

    async def _run_root(self, root: Root, volume: str | None) -> None:
        from rpdevd.sync.baseline import Baseline
        from rpdevd.sync.engine import SyncEngine, SyncSpec, SyncStopped
        from rpdevd.sync.ignore import IgnoreConfig
        from rpdevd.sync.live import LiveSync

        assert root.pod_id is not None
        pod_id = root.pod_id
        remote = pod_remote_path(root.remote, volume)
        state = self.d.pods.get(pod_id)
        spec = SyncSpec(
            local_root=root.local.expanduser(),
            remote_root=remote,
            pair_id=f"{pod_id}:{remote}",
            pod_id=pod_id,
            dest_label=(state.ssh_alias if state and state.ssh_alias else pod_id),
            # Pulled paths last, so nothing re-includes them: never pushed, never deleted.
            ignore=IgnoreConfig(
                extra=root.ignore + pull_excludes(root.local.expanduser(), root.pull)
            ),
            delete=root.delete,
            max_delete=root.max_delete,
        )

        async def connect() -> asyncssh.SSHClientConnection:
            conn = await self.pool.get(pod_id)
            if conn is None:
                raise ConnectionError("the pod is not reachable yet")
            return conn

        def on_event(ev: Event) -> None:
            if ev.kind == "sync.held":  # the engine's; here it gains how to confirm
                root.held = int(ev.data.get("count", 0))
                ev.message = (
                    f"{root.held} deletions on the pod wait for confirmation "
                    f"(cap {root.max_delete}): rpdev sync confirm {root.id}"
                )
            elif ev.kind == "sync.progress":
                root.progress = ev.data  # frequent: kept for views, sent as a live event
                ev.kind = "live.sync"
            ev.data.setdefault("root", root.id)
            self.d.bus.publish(ev)

        baseline = Baseline()
        engine = SyncEngine(spec, baseline=baseline, connect=connect, on_event=on_event)
        live = LiveSync(engine)
        root.live, root.error = live, None
        self.d.bus.emit(
            "sync.started",
            f"syncing {root.local} -> {spec.dest_label}:{remote}",
            pod_id,
            root=root.id,
        )
        pulling = self._start_pull(root, live, remote, connect, on_event)
        try:
            await live.run(root.stop)
        except SyncStopped as exc:
            root.error = str(exc)
            self.d.bus.emit(
                "sync.error", f"{root.local}: {exc}", pod_id, level="error", root=root.id
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("sync %s failed", root.id)
            root.error = f"{type(exc).__name__}: {exc}"
            self.d.bus.emit(
                "sync.error",
                f"{root.local}: {root.error}; restarting",
                pod_id,
                level="error",
                root=root.id,
            )
        finally:
            root.retry_at = time.monotonic() + RESTART_DELAY
            if pulling is not None:
                pulling.cancel()
                with contextlib.suppress(BaseException):
                    await pulling
            with contextlib.suppress(Exception):
                await engine.close()
            with contextlib.suppress(Exception):
                baseline.close()

    def _start_pull(
        self,
        root: Root,
        live: LiveSync,
        remote: str,
        connect: Callable[[], Awaitable[asyncssh.SSHClientConnection]],
        on_event: Callable[[Event], None],
    ) -> asyncio.Task[None] | None:
        """A root with `pull`: its pull passes, beside the push (sync/pull.py, `pull_loop`)."""
        if not root.pull:
            return None
        from rpdevd.sync.pull import Puller, PullSpec, pull_loop
        from rpdevd.sync.pullbase import PullBaseline

        local = root.local.expanduser()
        spec = PullSpec(local, remote, f"pull:{root.pod_id}:{remote}:{local}", root.pull)
        spec.pod_id = root.pod_id

        async def run() -> None:
            baseline = PullBaseline()
            try:
                puller = Puller(spec, baseline=baseline, on_event=on_event)
                await pull_loop(
                    puller,
                    connect,
                    root.stop,
                    interval=root.pull_interval,
                    lock=live.pass_lock,
                    full_passes=lambda: live.full_passes,
                )
            finally:
                baseline.close()

        return asyncio.create_task(run(), name=f"pull-{root.id}")

    def publish_views(self) -> None:
        by_pod: dict[str, list[dict[str, Any]]] = {}
        for r in self.roots.values():
            if r.pod_id is None:
                with contextlib.suppress(RequestError):
                    r.pod_id = self.d.resolve(r.pod).id
            if r.pod_id:
                by_pod.setdefault(r.pod_id, []).append(r.to_json())
        for pod_id, state in self.d.pods.items():
            state.sync = by_pod.get(pod_id, [])
