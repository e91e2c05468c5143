"""Port forwards: a local port here to a port on the pod's 127.0.0.1 (`[[forward]]` in
config.toml, or `forward.add` at run time), each connection a `direct-tcpip` channel over the
pod's kept-open connection from the pool.

The daemon holds each local port for as long as the forward exists, across stops, restarts and
resumes of the pod: no other program can take it in the meantime, and a browser tab left open
on Jupyter finds the same address when the pod is back. While the pod is stopped (or its
endpoint not yet confirmed) a connection is accepted and closed at once, and the forward's
state says why ("pod stopped"); a connection never resumes the pod. When an endpoint is
confirmed (a restart, a resume, the daemon's first confirmation) the pool says so, and the
pod's forwards connect again at once: no polling loop.

A local port that cannot be bound (another program has it) is this forward's error alone,
naming the program where it can be found (port_owner.py); it is tried again at each endpoint
confirmation of its pod and after each poll, and the other forwards are unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rpdevd.config import Config, check_bind, is_loopback
from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.core import DaemonCore, Register
from rpdevd.daemon.port_owner import who_holds
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.state import PodState
from rpdevd.protocol import EventKind, param_num, param_str
from rpdevd.views import ForwardListView, ForwardView

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger("rpdevd.forward")

FORWARDS_KEY = "forwards"  # the runtime forwards, kept in the store across daemon restarts
CONNECT_WAIT = 15.0  # a connection made while the pod's endpoint is being confirmed waits this
CHUNK = 1 << 16

ForwardState = Literal[
    "up", "connecting", "waiting", "pod stopped", "not managed", "pod gone", "error"
]
Source = Literal["config", "runtime"]


def forward_state(
    *,
    listening: bool,
    pod: PodState | None,
    api_ok: bool,
    ready: bool,
    connected: bool,
) -> ForwardState:
    """What a forward can do now. `ready`: the pod has a confirmed endpoint; `connected`: the
    pool's connection to it is open."""
    if not listening:
        return "error"
    if pod is None:
        return "pod gone" if api_ok else "waiting"
    if not pod.managed:
        return "not managed"
    if pod.pod.desired_status != "RUNNING":
        return "pod stopped"
    if not ready:
        return "waiting"
    return "up" if connected else "connecting"


@dataclass
class Forward:
    pod: str  # as configured or given: an id or a name
    local: int
    remote: int
    bind: str = "127.0.0.1"
    source: Source = "config"
    pod_id: str | None = None
    server: asyncio.Server | None = None
    error: str | None = None
    removed: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"{self.bind}:{self.local} -> pod:{self.remote}"


class ForwardService:
    name = "forward"

    def __init__(self, core: DaemonCore, pool: ConnectionPool, register: Register) -> None:
        self.core = core
        self.pool = pool
        self.forwards: dict[int, Forward] = {}  # by local port: two never share one
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}  # the last one each pod gave
        self._tasks: set[asyncio.Task[None]] = set()
        self._retry: asyncio.Task[None] | None = None
        self._binding = asyncio.Lock()
        for cfg in core.config.forwards:
            self.forwards[cfg.local] = Forward(cfg.pod, cfg.local, cfg.remote, cfg.bind)
        for saved in core.store.get(FORWARDS_KEY, []) or []:
            try:
                fwd = Forward(
                    str(saved["pod"]),
                    int(saved["local"]),
                    int(saved["remote"]),
                    str(saved.get("bind", "127.0.0.1")),
                    source="runtime",
                )
            except (KeyError, TypeError, ValueError):
                continue
            ports_ok = 1 <= fwd.local <= 65535 and 1 <= fwd.remote <= 65535
            if ports_ok and fwd.local not in self.forwards and check_bind(fwd.bind) is None:
                self.forwards[fwd.local] = fwd
        register("forward.list", self.m_list)
        register("forward.add", self.m_add)
        register("forward.remove", self.m_remove)

    # as a daemon service -----------------------------------------------------------------
    async def run(self) -> None:
        try:
            for fwd in list(self.forwards.values()):
                await self._listen(fwd)
            for fwd in self.forwards.values():
                if fwd.server is not None and not is_loopback(fwd.bind):
                    log.warning("forward %s listens beyond this machine", fwd.label)
            self._resolve_all()
            for pod_id in {f.pod_id for f in self.forwards.values() if f.pod_id}:
                if self.pool.is_ready(pod_id):
                    self.endpoint_confirmed(pod_id)  # confirmed before this service started
            self._publish()
            await asyncio.Event().wait()
        finally:
            for fwd in self.forwards.values():
                self._close(fwd)
            for task in list(self._tasks):
                task.cancel()

    def pods_changed(self, changed: list[PodState]) -> None:
        # A port that was taken is tried again after each poll: the program that held it may
        # be gone. One try at a time.
        waiting = any(f.server is None for f in self.forwards.values())
        if waiting and (self._retry is None or self._retry.done()):
            self._retry = self._spawn(self._retry_listen(None), "forward-listen")
        self._publish()

    def endpoint_confirmed(self, pod_id: str) -> None:
        """The pool's subscriber: the pod's endpoint is (again) confirmed; its forwards connect
        now (the pool closed the connection they had)."""
        self._resolve_all()
        if any(f.pod_id == pod_id for f in self.forwards.values()):
            self._spawn(self._bring_up(pod_id), f"forward-up-{pod_id}")

    # listening ---------------------------------------------------------------------------
    async def _listen(self, fwd: Forward) -> str | None:
        """Bind the forward's local port if it is not yet: None, or what went wrong (also kept
        as the forward's error, and said once as a `forward.error` event)."""
        failure = await self._bind(fwd)
        if failure is None:
            fwd.error = None
            return None
        problem = await self._bind_problem(fwd, failure)
        if problem != fwd.error:
            fwd.error = problem
            self._resolve(fwd)
            self.core.bus.emit(
                EventKind.FORWARD_ERROR,
                f"forward {fwd.label}: {problem}; the other forwards are unaffected",
                fwd.pod_id,
                level="error",
                local=fwd.local,
                remote=fwd.remote,
            )
        return problem

    async def _bind(self, fwd: Forward) -> OSError | None:
        async with self._binding:  # one bind at a time: a retry never races the first try
            if fwd.server is not None or fwd.removed:
                return None
            try:
                fwd.server = await asyncio.start_server(
                    lambda r, w: self._accept(fwd, r, w), fwd.bind, fwd.local
                )
            except OSError as exc:
                return exc
            return None

    @staticmethod
    async def _bind_problem(fwd: Forward, exc: OSError) -> str:
        where = f"{fwd.bind}:{fwd.local}"
        if exc.errno == errno.EADDRINUSE:
            return f"local port {where} is {await asyncio.to_thread(who_holds, fwd.local)}"
        if exc.errno == errno.EACCES:
            return f"local port {where} needs privileges to bind (ports under 1024)"
        if exc.errno == errno.EADDRNOTAVAIL:
            return f"{fwd.bind} is not an address of this machine"
        return f"local port {where} cannot be bound: {exc.strerror or exc}"

    async def _retry_listen(self, pod_id: str | None) -> None:
        for fwd in list(self.forwards.values()):
            if fwd.server is None and (pod_id is None or fwd.pod_id == pod_id):
                if await self._listen(fwd) is None:
                    self._say_up(fwd)
        self._publish()

    def _close(self, fwd: Forward) -> None:
        if fwd.server is not None:
            fwd.server.close()
            fwd.server = None
        for task in list(fwd.tasks):
            task.cancel()

    # connecting --------------------------------------------------------------------------
    async def _bring_up(self, pod_id: str) -> None:
        await self._retry_listen(pod_id)
        conn = await self.pool.get(pod_id)
        if conn is None:
            self._publish()
            return
        self._conns[pod_id] = conn
        for fwd in self.forwards.values():
            if fwd.pod_id == pod_id and fwd.server is not None:
                self._say_up(fwd)
        self._publish()

    def _say_up(self, fwd: Forward) -> None:
        if fwd.pod_id is None or not self._connected(fwd.pod_id):
            return
        state = self.core.pods.get(fwd.pod_id)
        name = state.name if state else fwd.pod
        self.core.bus.emit(
            EventKind.FORWARD_UP,
            f"{name}: forward {fwd.label} up",
            fwd.pod_id,
            local=fwd.local,
            remote=fwd.remote,
        )

    def _connected(self, pod_id: str) -> bool:
        conn = self._conns.get(pod_id)
        return conn is not None and not conn.is_closed() and self.pool.is_ready(pod_id)

    async def _accept(
        self, fwd: Forward, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        fwd.tasks.add(task)
        self._publish()
        try:
            await self._serve(fwd, reader, writer)
        except asyncio.CancelledError:
            pass  # the forward was removed, or the daemon stops
        except Exception:
            log.exception("forward %s: a connection failed", fwd.label)
        finally:
            fwd.tasks.discard(task)
            writer.close()
            self._publish()

    async def _serve(
        self, fwd: Forward, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        from rpdevd.sshlib import asyncssh

        pod_id = self._resolve(fwd)
        state = self.core.pods.get(pod_id) if pod_id else None
        if pod_id is None or state is None or not state.managed or not state.pod.is_running:
            return  # closed at once; the forward's state says why
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pool.wait_ready(pod_id), CONNECT_WAIT)
        for _ in range(2):  # a second try on a fresh connection if the kept one was broken
            conn = await self.pool.get(pod_id)
            if conn is None:
                return
            self._conns[pod_id] = conn
            try:
                pod_reader, pod_writer = await conn.open_connection("127.0.0.1", fwd.remote)
            except asyncssh.ChannelOpenError as exc:
                fwd.error = f"the pod refused a connection to its port {fwd.remote}: {exc.reason}"
                return
            except (OSError, asyncssh.Error) as exc:
                log.info("forward %s: connection to %s broken: %s", fwd.label, pod_id, exc)
                self.pool.discard(pod_id, conn)
                continue
            fwd.error = None
            try:
                await asyncio.gather(_pipe(reader, pod_writer), _pipe(pod_reader, writer))
            finally:
                pod_writer.close()
            return

    # views -------------------------------------------------------------------------------
    def _resolve(self, fwd: Forward) -> str | None:
        try:
            fwd.pod_id = self.core.resolve(fwd.pod).id
        except RequestError:
            if self.core.api_ok:
                fwd.pod_id = None  # RunPod answered without it
        return fwd.pod_id

    def _resolve_all(self) -> None:
        for fwd in self.forwards.values():
            self._resolve(fwd)

    def view(self, fwd: Forward) -> ForwardView:
        pod_id = self._resolve(fwd)
        pod = self.core.pods.get(pod_id) if pod_id else None
        state = forward_state(
            listening=fwd.server is not None,
            pod=pod,
            api_ok=self.core.api_ok,
            ready=pod_id is not None and self.pool.is_ready(pod_id),
            connected=pod_id is not None and self._connected(pod_id),
        )
        return {
            "pod": fwd.pod,
            "pod_id": pod_id,
            "name": pod.name if pod else None,
            "local": fwd.local,
            "bind": fwd.bind,
            "remote": fwd.remote,
            "source": fwd.source,
            "state": state,
            "error": fwd.error,
            "connections": len(fwd.tasks),
        }

    def _publish(self) -> None:
        by_pod: dict[str, list[ForwardView]] = {}
        for fwd in self.forwards.values():
            v = self.view(fwd)
            if v["pod_id"]:
                by_pod.setdefault(v["pod_id"], []).append(v)
        for pod_id, state in self.core.pods.items():
            state.forwards = by_pod.get(pod_id, [])

    def _save(self) -> None:
        self.core.store.put(
            FORWARDS_KEY,
            [
                {"pod": f.pod, "local": f.local, "remote": f.remote, "bind": f.bind}
                for f in self.forwards.values()
                if f.source == "runtime"
            ],
        )

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # socket methods ----------------------------------------------------------------------
    async def m_list(self, params: dict[str, Any]) -> ForwardListView:
        self._publish()
        return {"forwards": [self.view(f) for f in self.forwards.values()]}

    async def m_add(self, params: dict[str, Any]) -> ForwardView:
        state = self.core.pod_param(params)
        local = _port(params, "local") or 0
        remote = _port(params, "remote", required=False) or local
        bind = param_str(params, "bind", required=False, max_len=64) or "127.0.0.1"
        problem = check_bind(bind)
        if problem:
            raise RequestError("bad_bind", problem, "bind to 127.0.0.1 (the default) or ::1")
        if not state.managed:
            raise RequestError(
                "not_managed",
                f"{state.name} is not managed by rpdev: it has no kept-open connection to forward over",
                f"rpdev manage {state.id}",
            )
        fwd = self.forwards.get(local)
        if fwd is not None:
            if self._resolve(fwd) != state.id or fwd.remote != remote or fwd.bind != bind:
                raise RequestError(
                    "port_forwarded",
                    f"local port {local} is already forwarded ({fwd.pod}: {fwd.label})",
                    f"remove it first: rpdev forward --remove {fwd.pod} {local}",
                )
            problem = await self._listen(fwd)  # the same again: another try at a taken port
        else:
            fwd = Forward(state.id, local, remote, bind, source="runtime", pod_id=state.id)
            problem = await self._listen(fwd)
            if problem is None:
                self.forwards[local] = fwd
                self._save()
                self._added(fwd, state)
        if problem is not None:
            raise RequestError(
                "port_in_use" if "in use" in problem else "bind_failed",
                problem,
                f"stop that program, or forward another local port: "
                f"rpdev forward {state.name} {local + 1}:{remote}",
            )
        if self.pool.is_ready(state.id):
            await self._bring_up(state.id)
        self._publish()
        return self.view(fwd)

    def _added(self, fwd: Forward, state: PodState) -> None:
        exposed = (
            ""
            if is_loopback(fwd.bind)
            else (
                f"; it listens on {fwd.bind}: anyone who can reach this machine reaches the pod's "
                f"port {fwd.remote}"
            )
        )
        self.core.bus.emit(
            EventKind.FORWARD_ADDED,
            f"{state.name}: forward {fwd.label} added{exposed}",
            state.id,
            level="warning" if exposed else "info",
            local=fwd.local,
            remote=fwd.remote,
            bind=fwd.bind,
        )

    async def m_remove(self, params: dict[str, Any]) -> ForwardView:
        ref = param_str(params, "pod", max_len=128) or ""
        local = _port(params, "local") or 0
        fwd = self.forwards.get(local)
        if fwd is None or ref not in (fwd.pod, fwd.pod_id, self._name(fwd)):
            raise RequestError(
                "not_found",
                f"no forward of local port {local} to {ref}",
                "rpdev forward lists them",
            )
        fwd.removed = True
        self._close(fwd)
        del self.forwards[local]
        self._save()
        again = " (it is in config.toml: it comes back when the daemon restarts)"
        self.core.bus.emit(
            EventKind.FORWARD_REMOVED,
            f"{self._name(fwd) or fwd.pod}: forward {fwd.label} removed"
            + (again if fwd.source == "config" else ""),
            fwd.pod_id,
            local=fwd.local,
            remote=fwd.remote,
        )
        self._publish()
        view = self.view(fwd)
        view["state"] = "removed"
        return view

    def _name(self, fwd: Forward) -> str | None:
        state = self.core.pods.get(fwd.pod_id) if fwd.pod_id else None
        return state.name if state else None

    # config.toml, reloaded ---------------------------------------------------------------
    async def apply(self, config: Config) -> None:
        """A reloaded config.toml's forwards (the daemon's `on_reload`): new ones listen, removed
        or changed ones close (a changed one listens again as it is now); the others, and those
        added at run time, go on untouched with their connections."""
        wanted = {cfg.local: cfg for cfg in config.forwards}
        for local, fwd in list(self.forwards.items()):
            cfg = wanted.get(local)
            if fwd.source != "config":
                continue
            if cfg is not None and (cfg.pod, cfg.remote, cfg.bind) == (
                fwd.pod,
                fwd.remote,
                fwd.bind,
            ):
                del wanted[local]
                continue
            self._close(fwd)
            del self.forwards[local]
            self.core.bus.emit(
                EventKind.FORWARD_REMOVED,
                f"{self._name(fwd) or fwd.pod}: forward {fwd.label} removed from config.toml",
                fwd.pod_id,
                local=fwd.local,
                remote=fwd.remote,
            )
        for local, cfg in wanted.items():
            if local in self.forwards:  # held by a forward added at run time: it stays
                continue
            fwd = Forward(cfg.pod, cfg.local, cfg.remote, cfg.bind)
            self.forwards[local] = fwd
            problem = await self._listen(fwd)
            self._resolve(fwd)
            self.core.bus.emit(
                EventKind.FORWARD_ADDED,
                f"{fwd.pod}: forward {fwd.label} added from config.toml"
                + (f" ({problem})" if problem else ""),
                fwd.pod_id,
                level="warning" if problem or not is_loopback(fwd.bind) else "info",
                local=fwd.local,
                remote=fwd.remote,
                bind=fwd.bind,
            )
            if problem is None:
                self._say_up(fwd)
        self._publish()


def _port(params: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = param_num(params, name, required=required, minimum=1, maximum=65535)
    if value is None:
        return None
    if value != int(value):
        raise RequestError("bad_params", f"parameter {name!r} must be a whole port number")
    return int(value)


async def _pipe(
    reader: asyncio.StreamReader | asyncssh.SSHReader[bytes],
    writer: asyncio.StreamWriter | asyncssh.SSHWriter[bytes],
) -> None:
    """Bytes from `reader` to `writer` until the end, then the end passed on (half-close: an
    HTTP client that shuts its sending side still gets the answer)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, ConnectionError):
        writer.close()
    except Exception as exc:  # asyncssh's channel errors: the other side is gone
        log.debug("forward pipe ended: %s", exc)
        writer.close()
