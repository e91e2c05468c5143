"""`rpdev proxy`'s relay (ssh's ProxyCommand): when the pod hangs up, ssh (and VS Code behind
it) must see the end at once, even while ssh still holds our stdin open."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time


async def test_the_pod_hanging_up_ends_the_relay_at_once() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-pod\r\n")
        await writer.drain()
        writer.close()  # the pod stops, or sshd drops the session

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = (
        "import asyncio; from rpdevd.commands.proxy import _pipe; "
        f"asyncio.run(_pipe('127.0.0.1', {port}))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdin=subprocess.PIPE,  # kept open, as ssh keeps it
        stdout=subprocess.PIPE,
    )
    try:
        start = time.monotonic()
        assert proc.stdout is not None
        out = await asyncio.wait_for(proc.stdout.read(), 10)  # up to EOF
        assert out == b"SSH-2.0-pod\r\n"
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert time.monotonic() - start < 5
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        assert proc.stdin is not None
        proc.stdin.close()
        server.close()
        await server.wait_closed()


def test_what_ssh_sends_after_the_pod_hung_up_is_dropped_quietly() -> None:
    """ssh may still write (or close its end) after the pod has hung up and the relay has
    ended: the thread reading it finds no loop to hand it to, and says nothing (a traceback
    on stderr would reach the user's terminal through ssh)."""
    code = """
import asyncio, os, socket, sys, threading, time
from rpdevd.commands.proxy import _pipe
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
threading.Thread(target=lambda: srv.accept()[0].close(), daemon=True).start()
r, w = os.pipe()
os.dup2(r, 0)
asyncio.run(_pipe("127.0.0.1", srv.getsockname()[1]))
os.write(w, b"late")  # read by the relay's thread once its loop is gone
time.sleep(0.5)
os.close(w)
time.sleep(0.5)
sys.stderr.write("done\\n")
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0
    assert out.stderr == "done\n"
