"""An `ssh` child process seen through the surface of an asyncssh exec channel (`stdin.write`,
`drain`, `write_eof`, `stdout.read`, `wait()` with `exit_status` and `stderr`, `close`), so
PodSession and the bulk path run unchanged over either. One addition, `write_with`, lets the bulk
path write straight into the pipe from a thread (file bodies by sendfile)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from rpdevd.sync.child import Child

PIPE_SIZE = 1 << 20  # fewer wake-ups per MB of bulk stream than the default 64 KiB pipe


@dataclass
class Completed:
    exit_status: int | None
    stderr: bytes


def _grow(pipe: object) -> None:
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    fileno = getattr(pipe, "fileno", None)
    if setpipe is None or fileno is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fileno(), setpipe, PIPE_SIZE)


class PipeProcess:
    def __init__(
        self,
        popen: Child,
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        readers: list[asyncio.BaseTransport],
    ) -> None:
        self.popen = popen
        self._readers = readers
        self.stdin = stdin
        self.stdout = stdout
        self._stderr = stderr

    @classmethod
    async def wrap(cls, popen: Child) -> PipeProcess:
        loop = asyncio.get_running_loop()
        _grow(popen.stdin)
        _grow(popen.stdout)
        out = asyncio.StreamReader(limit=PIPE_SIZE * 4, loop=loop)
        r1, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(out), popen.stdout
        )
        err = asyncio.StreamReader(limit=PIPE_SIZE, loop=loop)
        r2, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(err), popen.stderr
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, popen.stdin
        )
        transport.set_write_buffer_limits(high=PIPE_SIZE * 4)
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return cls(popen, writer, out, err, [r1, r2])

    async def write_with(self, write: Callable[[int], None], tick: Callable[[], None]) -> None:
        """Run `write(fd)` in a thread on the stdin pipe, in blocking mode, once everything
        written through `stdin` before has gone out; `tick()` every 0.2 s meanwhile."""
        transport = self.stdin.transport
        while transport.get_write_buffer_size():
            await asyncio.sleep(0.001)
        # A descriptor of our own: the transport closes its one when it sees the far end go,
        # and a number closed under a writing thread could be reused by anything.
        fd = os.dup(self.popen.stdin.fileno())
        os.set_blocking(fd, True)
        job = asyncio.ensure_future(asyncio.to_thread(write, fd))
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=0.2)
                tick()
            await job
        except BaseException:
            # Cancelled, or the write failed: stop `ssh` (and what it started) so that the
            # thread's next write fails at once, and let the thread end.
            self.popen.signal(signal.SIGKILL)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(job), 10)
            raise
        finally:
            if job.done():
                os.set_blocking(fd, False)  # the flag is shared with the transport's copy
                os.close(fd)

    async def wait(self) -> Completed:
        code = await asyncio.to_thread(self.popen.wait)
        err = b""
        with contextlib.suppress(Exception):
            err = await asyncio.wait_for(self._stderr.read(1 << 20), 2)
        return Completed(code, err)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stdin.close()
        for transport in self._readers:
            transport.close()
        if self.popen.poll() is None:
            self.popen.signal(signal.SIGTERM)
            self.popen.wait(2)
        self.popen.close()  # kills what is left, reaps it
