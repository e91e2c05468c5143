"""Clients of rpdevd's socket: a blocking one for the CLI and an asyncio one for the TUI and the
proxy. Standard library only (the CLI must start fast)."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpdevd import __version__, paths, protocol
from rpdevd.protocol import Event, ProtocolError, RemoteError

if TYPE_CHECKING:  # asyncio costs ~30 ms to import: only the async client needs it
    import asyncio

START_HINT = "start it with `rpdev daemon start` (or `rpdev daemon run` in the foreground)"


class DaemonNotRunning(Exception):
    """Nothing answers on the socket."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"rpdevd is not running ({why} at {path}): {START_HINT}")
        self.path = path


class Client:
    """Blocking request/response client. Use as a context manager."""

    def __init__(
        self, path: Path | None = None, timeout: float = 30.0, name: str = f"rpdev {__version__}"
    ) -> None:
        self.path = path or paths.socket_path()
        self.timeout = timeout
        self.name = name
        self._sock: socket.socket | None = None
        self._buf = b""
        self._ids = itertools.count(1)
        self.server: dict[str, Any] = {}

    def __enter__(self) -> Client:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(os.fspath(self.path))
        except FileNotFoundError:
            sock.close()
            raise DaemonNotRunning(self.path, "no socket") from None
        except (ConnectionRefusedError, ConnectionResetError):
            sock.close()
            raise DaemonNotRunning(self.path, "socket refuses connections") from None
        except PermissionError:
            sock.close()
            raise DaemonNotRunning(self.path, "socket not accessible") from None
        self._sock = sock
        self._send(protocol.hello(self.name))
        reply = self._recv()
        if reply.get("type") == "error":
            err = protocol.remote_error(reply.get("error"))
            self.close()
            raise err
        if reply.get("type") != "hello":
            self.close()
            raise ProtocolError("no_hello", "the daemon did not answer hello")
        self.server = reply

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _send(self, msg: dict[str, Any]) -> None:
        assert self._sock is not None
        self._sock.sendall(protocol.encode(msg))

    def _recv(self) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buf:
            if len(self._buf) > protocol.MAX_FRAME:
                raise ProtocolError("too_large", "reply exceeds the frame limit")
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(f"rpdevd did not answer within {self.timeout:g}s") from None
            if not chunk:
                raise ConnectionError("rpdevd closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return protocol.decode(line)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        rid = next(self._ids)
        self._send(protocol.request(rid, method, params))
        while True:
            msg = self._recv()
            if msg.get("type") == "response" and msg.get("id") == rid:
                if "error" in msg:
                    raise protocol.remote_error(msg["error"])
                return msg.get("result")
            if msg.get("type") == "error":
                raise protocol.remote_error(msg.get("error"))
            # events for an earlier subscription on this connection are skipped here

    def events(self) -> Any:
        """After `call("subscribe")`: yield events as they come (blocking)."""
        while True:
            msg = self._recv()
            if msg.get("type") == "event":
                yield Event.from_json(msg.get("event") or {})


def call(
    method: str,
    params: dict[str, Any] | None = None,
    *,
    timeout: float = 30.0,
    path: Path | None = None,
) -> Any:
    """One request on a fresh connection."""
    with Client(path, timeout=timeout) as c:
        return c.call(method, params)


class AsyncClient:
    """asyncio client: concurrent requests and one event stream on one connection."""

    def __init__(
        self, path: Path | None = None, name: str = f"rpdev {__version__}", timeout: float = 30.0
    ) -> None:
        import asyncio

        self.path = path or paths.socket_path()
        self.name = name
        self.timeout = timeout
        self.server: dict[str, Any] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        import asyncio

        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(os.fspath(self.path), limit=protocol.MAX_FRAME + 1),
                self.timeout,
            )
        except FileNotFoundError:
            raise DaemonNotRunning(self.path, "no socket") from None
        except (ConnectionRefusedError, ConnectionResetError, PermissionError):
            raise DaemonNotRunning(self.path, "socket refuses connections") from None
        self._reader, self._writer = reader, writer
        writer.write(protocol.encode(protocol.hello(self.name)))
        await writer.drain()
        reply = protocol.decode(await asyncio.wait_for(reader.readline(), self.timeout))
        if reply.get("type") != "hello":
            await self.close()
            raise protocol.remote_error(reply.get("error"))
        self.server = reply
        self._task = asyncio.create_task(self._read_loop())

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _read_loop(self) -> None:
        import asyncio

        assert self._reader is not None
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                msg = protocol.decode(line)
                if msg.get("type") == "event":
                    self._events.put_nowait(Event.from_json(msg.get("event") or {}))
                elif msg.get("type") == "response":
                    fut = self._pending.pop(int(msg.get("id", -1)), None)
                    if fut is not None and not fut.done():
                        if "error" in msg:
                            fut.set_exception(protocol.remote_error(msg["error"]))
                        else:
                            fut.set_result(msg.get("result"))
        except (OSError, ProtocolError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("rpdevd closed the connection"))
            self._pending.clear()
            self._events.put_nowait(None)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        import asyncio

        if self._writer is None or not self.connected:
            raise ConnectionError("not connected to rpdevd")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._writer.write(protocol.encode(protocol.request(rid, method, params)))
        await self._writer.drain()
        return await asyncio.wait_for(fut, timeout or self.timeout)

    async def subscribe(
        self, kinds: list[str] | None = None, pod: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"kinds": kinds or []}
        if pod:
            params["pod"] = pod
        result: dict[str, Any] = await self.call("subscribe", params)
        return result

    async def events(self) -> AsyncIterator[Event]:
        """Events from the subscription until the connection closes."""
        while True:
            ev = await self._events.get()
            if ev is None:
                return
            yield ev

    async def close(self) -> None:
        import asyncio

        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
            self._writer = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


__all__ = ["AsyncClient", "Client", "DaemonNotRunning", "RemoteError", "call"]
