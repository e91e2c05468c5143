"""`rpdev proxy POD`: ssh's ProxyCommand for wake on connect.

Asks the daemon to resume the pod if it is stopped (one resume however many connections wait),
waits until its endpoint is confirmed inside the pod, then pipes stdin/stdout to the pod's SSH
port. Progress goes to stderr only: stdout belongs to the SSH protocol.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("proxy", help="ProxyCommand for wake on connect (used by ssh)")
    p.add_argument("pod", help="the pod: its id or its name (the generated SSH config passes it)")
    p.add_argument(
        "--timeout", type=float, default=600.0, help="give up after this many seconds (default 600)"
    )
    p.set_defaults(func=_proxy)


def _say(text: str) -> None:
    from rpdevd.text import clean

    sys.stderr.write(f"rpdev: {clean(text)}\n")
    sys.stderr.flush()


async def _wake(pod: str, timeout: float) -> dict[str, Any]:
    import asyncio

    from rpdevd.client import AsyncClient
    from rpdevd.views import StatusView, read

    async with AsyncClient(timeout=timeout + 10) as client:
        info = read(StatusView, await client.call("status", timeout=10))
        for p in info["pods"]:
            if pod in (p["id"], p["name"]) and p["status"] != "RUNNING":
                # Said as a request: the daemon may refuse (wake on connect off, a pod stopped
                # for being idle a moment ago); what it does comes next, from its events.
                _say(f"{p['name']} is {p['status']}: asking rpdevd to start it")
        await client.subscribe(["pod.", "endpoint.", "hostkey."], None)

        async def progress() -> None:
            async for ev in client.events():
                if ev.kind in (
                    "pod.status",
                    "pod.resume",
                    "endpoint.confirmed",
                    "pod.error",
                    "endpoint.failed",
                ) and pod in (ev.pod_id, ev.message.split(":")[0]):
                    _say(ev.message)

        task = asyncio.create_task(progress())
        try:
            result: dict[str, Any] = await client.call(
                "pod.wake", {"pod": pod, "timeout": timeout}, timeout=timeout + 10
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return result


async def _pipe(host: str, port: int) -> None:
    """Relay stdin/stdout (ssh's side) to the pod's sshd until the pod closes the connection."""
    import asyncio
    import concurrent.futures
    import threading

    reader, writer = await asyncio.open_connection(host, port)
    loop = asyncio.get_running_loop()
    stdin_fd, stdout_fd = sys.stdin.fileno(), sys.stdout.fileno()
    incoming: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)

    def read_stdin() -> None:
        # A thread of its own that may stay blocked in read() when the pod hangs up first
        # (an executor thread would keep the process from exiting). What it reads once the
        # relay has ended has no loop to go to: dropped without a word (a traceback here
        # would reach the user's terminal through ssh).
        while True:
            try:
                data = os.read(stdin_fd, 65536)
            except OSError:
                data = b""
            put = incoming.put(data)
            try:
                asyncio.run_coroutine_threadsafe(put, loop).result()
            except (RuntimeError, concurrent.futures.CancelledError):
                put.close()  # the loop is closed, or closing: it never runs
                return
            if not data:
                return

    threading.Thread(target=read_stdin, name="stdin", daemon=True).start()

    async def upstream() -> None:
        while True:
            data = await incoming.get()
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    async def downstream() -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            view = memoryview(data)
            while view:
                n = await loop.run_in_executor(None, os.write, stdout_fd, view)
                view = view[n:]

    up = asyncio.create_task(upstream())
    try:
        await downstream()  # the server closing ends the session
    finally:
        up.cancel()
        writer.close()
        # ssh learns the session is over only from EOF on our stdout.
        with contextlib.suppress(OSError):
            os.close(stdout_fd)


def _proxy(a: argparse.Namespace) -> int:
    import asyncio

    from rpdevd.client import DaemonNotRunning
    from rpdevd.commands.daemon import start_daemon
    from rpdevd.protocol import RemoteError

    try:
        try:
            target = asyncio.run(_wake(a.pod, a.timeout))
        except DaemonNotRunning:
            _say("rpdevd is not running: starting it")
            if start_daemon(30, quiet=True) != 0:
                return 1
            target = asyncio.run(_wake(a.pod, a.timeout))
    except RemoteError as exc:
        _say(f"cannot connect to {a.pod}: {exc.message}")
        if exc.hint:
            _say(f"hint: {exc.hint}")
        return 1
    except (OSError, TimeoutError) as exc:
        _say(f"cannot connect to {a.pod}: {exc or type(exc).__name__}")
        return 1
    try:
        asyncio.run(_pipe(target["host"], int(target["port"])))
    except OSError as exc:
        _say(f"connection to {target['host']}:{target['port']} failed: {exc}")
        return 1
    return 0
