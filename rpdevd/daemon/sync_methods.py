"""The sync service's socket methods: `sync.list` (`sync.status`), `sync.add`, `sync.remove`,
`sync.pause`, `sync.confirm`. Each checks what it is asked, changes the roots through the service
and answers with the root as the views show it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path, PurePosixPath
from typing import Any

from rpdevd.daemon.core import DaemonCore, Register
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.sync_roots import Root, bad_interval, bad_pull, root_id
from rpdevd.daemon.syncs import STOP_WAIT, SyncService
from rpdevd.protocol import param_str


def register_sync_methods(register: Register, daemon: DaemonCore, service: SyncService) -> None:
    m = SyncMethods(daemon, service)
    for name, fn in (
        ("sync.list", m.list_roots),
        ("sync.status", m.list_roots),
        ("sync.add", m.add),
        ("sync.remove", m.remove),
        ("sync.pause", m.pause),
        ("sync.confirm", m.confirm),
    ):
        register(name, fn)


class SyncMethods:
    def __init__(self, daemon: DaemonCore, service: SyncService) -> None:
        self.d = daemon
        self.svc = service

    def _root(self, params: dict[str, Any]) -> Root:
        rid = param_str(params, "id", max_len=64)
        root = self.svc.roots.get(rid or "")
        if root is None:
            raise RequestError("not_found", f"no sync root {rid!r}", "rpdev sync status lists them")
        return root

    async def list_roots(self, params: dict[str, Any]) -> Any:
        self.svc.publish_views()
        return {"roots": [r.to_json() for r in self.svc.roots.values()]}

    async def add(self, params: dict[str, Any]) -> Any:
        pod = param_str(params, "pod", max_len=128)
        local = param_str(params, "local", max_len=4096)
        remote = param_str(params, "remote", max_len=4096)
        assert pod and local and remote
        try:
            state = self.d.resolve(pod)
        except RequestError:
            if self.d.api_ok:
                raise
            # Just started (RunPod not answered yet): the pod may well be there; ask first.
            with contextlib.suppress(TimeoutError):
                await self.d.wait_for_poll(15)
            state = self.d.resolve(pod)
        path = Path(local).expanduser()
        if not path.is_absolute():
            raise RequestError("bad_params", "the local folder must be an absolute path")
        if not path.is_dir():
            raise RequestError("bad_params", f"{path} is not a folder")
        if ".." in PurePosixPath(remote).parts or "\n" in remote or "\x00" in remote:
            raise RequestError("bad_params", "the remote path must not contain '..'")
        ignore = params.get("ignore", [])
        if (
            not isinstance(ignore, list)
            or len(ignore) > 1000
            or not all(isinstance(x, str) and 0 < len(x) <= 4096 for x in ignore)
        ):
            raise RequestError("bad_params", "ignore must be a list of patterns")
        max_delete = params.get("max_delete", 100)
        if not isinstance(max_delete, int) or isinstance(max_delete, bool) or max_delete < 0:
            raise RequestError("bad_params", "max_delete must be an integer, zero or more")
        delete = params.get("delete", True)
        if not isinstance(delete, bool):
            raise RequestError("bad_params", "delete must be true or false")
        pull = params.get("pull", [])
        wrong = bad_pull(pull)
        if wrong:
            raise RequestError("bad_params", wrong, "patterns as in a .gitignore, e.g. 'logs/'")
        pull_interval = params.get("pull_interval", 30.0)
        if bad_interval(pull_interval):
            raise RequestError("bad_params", "pull_interval must be seconds, 1 or more")
        root = Root(
            root_id(state.id, path, remote),
            state.id,
            path,
            remote,
            tuple(ignore),
            max_delete,
            delete,
            source="runtime",
            pull=tuple(pull),
            pull_interval=float(pull_interval),
        )
        if root.id in self.svc.roots:
            raise RequestError("exists", "this folder already syncs there")
        self.svc.roots[root.id] = root
        self.svc.save()
        self.svc.wake.set()
        self.d.bus.emit(
            "sync.added",
            f"sync root added: {path} -> {state.name}:{remote}",
            state.id,
            root=root.id,
        )
        return root.to_json()

    async def remove(self, params: dict[str, Any]) -> Any:
        root = self._root(params)
        if root.source == "config":
            raise RequestError(
                "config",
                "this root comes from config.toml",
                "remove its [[sync]] entry there, or pause it",
            )
        self.svc.retire(root)
        if root.task:
            root.task.cancel()
        del self.svc.roots[root.id]
        self.svc.save()
        self.d.bus.emit(
            "sync.removed", f"sync root removed: {root.local}", root.pod_id, root=root.id
        )
        return {"removed": root.id}

    async def pause(self, params: dict[str, Any]) -> Any:
        root = self._root(params)
        paused = params.get("paused", True)
        if not isinstance(paused, bool):
            raise RequestError("bad_params", "paused must be true or false")
        root.paused = paused
        self.svc.save()
        task = root.task
        if paused and task is not None and not task.done():
            # Answered once the engine has ended (its pass finished): nothing is pushed after.
            root.stop.set()
            await asyncio.wait({task}, timeout=STOP_WAIT)
        self.svc.wake.set()
        self.d.bus.emit(
            "sync.paused" if paused else "sync.resumed",
            f"sync {'paused' if paused else 'resumed'}: {root.local}",
            root.pod_id,
            root=root.id,
        )
        return root.to_json()

    async def confirm(self, params: dict[str, Any]) -> Any:
        root = self._root(params)
        if root.live is None:
            raise RequestError("not_running", "this sync is not running")
        root.live.approve_deletes()
        root.held = 0
        self.d.bus.emit(
            "sync.confirmed",
            f"held deletions confirmed for {root.local}",
            root.pod_id,
            root=root.id,
        )
        return root.to_json()
