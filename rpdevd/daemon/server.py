"""The Unix socket: one daemon per user, one task per client, every frame validated.

Singleton: an `flock` on the lock file held for the daemon's lifetime, plus a probe of an existing
socket (a live one means another daemon answers there: refuse; a dead one is stale: remove it).
The socket is created 0600 inside a 0700 directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rpdevd import protocol
from rpdevd.daemon.bus import EventBus
from rpdevd.protocol import ProtocolError

log = logging.getLogger("rpdevd.server")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
HELLO_TIMEOUT = 5.0


class AlreadyRunning(Exception):
    pass


class RequestError(Exception):
    """A handler's refusal, sent to the client as an error response."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


class UnsafeRuntimeDir(PermissionError):
    """The socket's directory is not one the daemon can trust: nothing was changed."""


def prepare_runtime_dir(path: Path) -> None:
    """Create the socket's directory 0700, or accept an existing one only if it is a real
    directory owned by this user.

    The directory may sit in a shared temp dir where another user can plant a link or a directory
    of their own under the expected name: links are never followed (lstat, then open with
    O_NOFOLLOW and check that very directory), and nothing outside the directory is ever
    changed. Anything else is refused with what to do."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise UnsafeRuntimeDir(_refusal(path, what, st.st_uid))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:  # replaced by a link since the lstat
        what = f"not openable as a directory ({exc.strerror})"
        raise UnsafeRuntimeDir(_refusal(path, what, None)) from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid():
            raise UnsafeRuntimeDir(_refusal(path, "a directory of another user", st.st_uid))
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)  # this very directory, ours: never a link's target
    finally:
        os.close(fd)


def _refusal(path: Path, what: str, uid: int | None) -> str:
    owner = f" (owner uid {uid})" if uid is not None and uid != os.getuid() else ""
    return (
        f"refusing to put the socket in {path}: it is {what}{owner}; rpdev uses only a real "
        f"directory of its own there and changes nothing else. Have it removed (it may be "
        f"someone else's: see `ls -ld {path}`), or set XDG_RUNTIME_DIR to a private directory "
        f"of yours"
    )


def socket_is_live(path: Path, timeout: float = 1.0) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(os.fspath(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Server:
    def __init__(self, socket_path: Path, lock_path: Path, bus: EventBus, server_name: str) -> None:
        self.socket_path = socket_path
        self.lock_path = lock_path
        self.bus = bus
        self.server_name = server_name
        self.handlers: dict[str, Handler] = {}
        self.resolve_pod: Callable[[str], str] | None = None  # name or id -> id
        self._lock_fd: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    def register(self, method: str, handler: Handler) -> None:
        if method not in protocol.METHODS:
            raise ValueError(f"method {method} is not declared in protocol.Method")
        if method in self.handlers:
            raise ValueError(f"method {method} registered twice")
        self.handlers[method] = handler

    def acquire(self) -> None:
        """Take the per-user lock and clear a stale socket. Raises AlreadyRunning."""
        prepare_runtime_dir(self.socket_path.parent)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(f"another rpdevd holds {self.lock_path}") from None
        self._lock_fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        if self.socket_path.exists() or self.socket_path.is_symlink():
            if socket_is_live(self.socket_path):
                self.release()
                raise AlreadyRunning(f"another rpdevd answers on {self.socket_path}")
            log.info("removing stale socket %s", self.socket_path)
            self.socket_path.unlink()

    def release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    async def start(self) -> None:
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._client, path=os.fspath(self.socket_path), limit=protocol.MAX_FRAME + 1
            )
        finally:
            os.umask(old)
        os.chmod(self.socket_path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        for task in list(self._clients):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.release()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        conn = _Connection(self, reader, writer)
        try:
            await conn.serve()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("client connection failed")
        finally:
            await conn.cleanup()
            self._clients.discard(task)


class _Connection:
    def __init__(
        self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.tasks: set[asyncio.Task[None]] = set()
        self.sub_task: asyncio.Task[None] | None = None
        self.sub: Any = None

    async def send(self, msg: dict[str, Any]) -> None:
        try:
            data = protocol.encode(msg)
        except ProtocolError as exc:
            data = protocol.encode(protocol.error(msg.get("id"), exc.code, exc.message))
        self.writer.write(data)
        await self.writer.drain()

    async def read_frame(self, timeout: float | None = None) -> dict[str, Any] | None:
        try:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
        except (asyncio.LimitOverrunError, ValueError):
            await self.send(
                protocol.error(
                    None, "too_large", f"frame exceeds {protocol.MAX_FRAME} bytes; closing"
                )
            )
            return None
        if not line:
            return None
        if not line.endswith(b"\n"):
            return None  # the peer went away mid-frame
        try:
            return protocol.decode(line)
        except ProtocolError:
            raise
        except Exception as exc:  # whatever a frame does to the decoder, the client gets an answer
            log.warning("unreadable frame: %s: %s", type(exc).__name__, exc)
            raise ProtocolError(
                "bad_json", f"frame could not be read ({type(exc).__name__})"
            ) from None

    async def serve(self) -> None:
        try:
            first = await self.read_frame(HELLO_TIMEOUT)
        except TimeoutError:
            return
        except ProtocolError as exc:
            await self.send(protocol.error(None, exc.code, exc.message))
            return
        if first is None:
            return
        try:
            version = protocol.check_client_hello(first)
        except ProtocolError as exc:
            await self.send(protocol.error(None, exc.code, exc.message))
            return
        await self.send(protocol.server_hello(version, self.server.server_name, os.getpid()))
        while True:
            try:
                msg = await self.read_frame()
            except ProtocolError as exc:
                await self.send(protocol.error(None, exc.code, exc.message))
                continue
            if msg is None:
                return
            try:
                req = protocol.parse_request(msg)
            except ProtocolError as exc:
                rid = msg.get("id") if isinstance(msg.get("id"), int) else None
                await self.send(protocol.error(rid, exc.code, exc.message))
                continue
            task = asyncio.create_task(self.handle(req))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def handle(self, req: protocol.Request) -> None:
        """Answer one request; every outcome is a response frame, and nothing is raised (a client
        that left meanwhile just gets nothing)."""
        with contextlib.suppress(ConnectionError):
            await self._answer(req)

    async def _answer(self, req: protocol.Request) -> None:
        try:
            if req.method == "subscribe":
                await self.subscribe(req)
                return
            handler = self.server.handlers.get(req.method)
            if handler is None:
                await self.send(
                    protocol.error(req.id, "unknown_method", f"unknown method {req.method!r}")
                )
                return
            value = await handler(req.params)
        except RequestError as exc:
            await self.send(protocol.error(req.id, exc.code, exc.message, exc.hint))
        except ProtocolError as exc:
            await self.send(protocol.error(req.id, exc.code, exc.message))
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:
            log.exception("method %s failed", req.method)
            await self.send(
                protocol.error(
                    req.id,
                    "internal",
                    f"{req.method} failed: {type(exc).__name__}: {exc}",
                    "see the daemon log (rpdev daemon status shows where)",
                )
            )
        else:
            await self.send(protocol.result(req.id, value))

    async def subscribe(self, req: protocol.Request) -> None:
        kinds = req.params.get("kinds", [])
        if (
            not isinstance(kinds, list)
            or not all(isinstance(k, str) and len(k) < 64 for k in kinds)
            or len(kinds) > 32
        ):
            await self.send(protocol.error(req.id, "bad_params", "kinds must be a list of strings"))
            return
        pod = protocol.param_str(req.params, "pod", required=False, max_len=128)
        if pod and self.server.resolve_pod is not None:
            try:
                pod = self.server.resolve_pod(pod)
            except RequestError as exc:
                await self.send(protocol.error(req.id, exc.code, exc.message, exc.hint))
                return
        if self.sub is not None:
            self.server.bus.unsubscribe(self.sub)
        self.sub = self.server.bus.subscribe(tuple(kinds), pod)
        await self.send(
            protocol.result(req.id, {"subscribed": True, "last_seq": self.server.bus.seq})
        )
        if self.sub_task is None:
            self.sub_task = asyncio.create_task(self.pump())

    async def pump(self) -> None:
        while self.sub is not None:
            ev = await self.sub.queue.get()
            if ev is None:
                await self.send(
                    protocol.error(None, "overflow", "too many unread events; subscribe again")
                )
                self.writer.close()
                return
            await self.send(protocol.event_frame(ev))

    async def cleanup(self) -> None:
        if self.sub is not None:
            self.server.bus.unsubscribe(self.sub)
            self.sub = None
        for t in [*self.tasks, *([self.sub_task] if self.sub_task else [])]:
            t.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1)
