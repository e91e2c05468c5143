"""Moving a plan's ops onto the pod.

Bulk (first sync, reconciles after a reconnect): the batch's ops and every file to send go as
one stream (`bulkstream`) over the pass's exec channel to the pod-side receiver
(pod_receiver.py, sent as `podops.RECEIVER`), which writes each file into a staging directory
under the remote root and renames it into place as soon as it is in, re-checking each path
first; files land while later ones are still on the wire. Where the pod has no python3, the
same ops run over SFTP (`sftpops.SftpApplier`) instead. Incremental (edits while watching):
SFTP, see sftpops.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import asyncssh

from rpdevd.sync import podops
from rpdevd.sync import remote as remote_mod
from rpdevd.sync.bulkstream import BulkJob, chunks, send
from rpdevd.sync.model import LocalEntry, RemoteEntry
from rpdevd.sync.plan import Op

Progress = Callable[[int, int, int, int], None]  # bytes done, bytes total, files done, total


class TransferError(Exception):
    """The pod refused or the stream broke; nothing recorded for the ops that did not report."""


def stream_errors() -> tuple[type[BaseException], ...]:
    """What a broken channel raises: asyncssh's errors only where asyncssh is in use (a session
    over the `ssh` binary never imports it)."""
    mod = sys.modules.get("asyncssh")
    return (OSError, mod.Error) if mod is not None else (OSError,)


Status = Literal["ok", "kept", "failed", "unreadable"]


@dataclass(slots=True)
class OpResult:
    """`unreadable`: the local file could not be read; nothing was done on the pod."""

    op: Op
    status: Status
    remote: RemoteEntry | None = None  # what the path holds now (after ok)
    info: str = ""  # conflict copy name (ok), reason (kept/failed/unreadable)
    sent: LocalEntry | None = None  # the local state actually copied (puts)
    torn: bool = False  # the local file changed while it was read: send again


def rpath(remote_root: str, rel: str) -> str:
    return f"{remote_root.rstrip('/')}/{rel}" if remote_root not in ("", ".") else rel


def _results(ops: list[Op], job: BulkJob | None, data: bytes) -> list[OpResult]:
    by_path: dict[str, Op] = {op.path: op for op in ops}
    out = []
    for status, path, entry, info in podops.parse_results(data):
        op = by_path.get(path)
        if op is None:
            continue
        sent = op.local
        torn = False
        if job is not None and op.kind == "put" and op.local and op.local.kind == "file":
            sent = job.sent.get(path)
            torn = path in job.torn
        st: Status = "ok" if status == "ok" else "kept" if status == "kept" else "failed"
        out.append(OpResult(op, st, entry, info, sent, torn))
    if job is not None:
        out += [OpResult(by_path[p], "unreadable", None, why) for p, why in job.unreadable.items()]
    return out


class PodSession:
    """One exec channel per full pass: it lists the remote root, then either takes the bulk
    stream (and runs the receiver) or is told to finish."""

    def __init__(self, proc: Any) -> None:
        # An asyncssh SSHClientProcess, or a sshpipe.PipeProcess (the same surface).
        self.proc = proc
        self.streamed = False  # a bulk stream began: the channel takes nothing else

    @classmethod
    async def start(
        cls, conn: asyncssh.SSHClientConnection, script: str, timeout: float = 300.0
    ) -> tuple[PodSession, bytes]:
        proc = await conn.create_process("sh -c " + shlex.quote(script), encoding=None)
        return await cls.listen(proc, timeout)

    @classmethod
    async def listen(cls, proc: Any, timeout: float = 300.0) -> tuple[PodSession, bytes]:
        """Read the listing the session's script prints first (see remote.py for its form)."""
        session = cls(proc)
        buf = bytearray()
        try:
            async with asyncio.timeout(timeout):
                while not buf.endswith(remote_mod.END):
                    data = await proc.stdout.read(1 << 16)
                    if not data:
                        break
                    buf += data
        except BaseException:
            proc.close()
            raise
        if not buf.endswith(remote_mod.END):
            done = await proc.wait()
            err = done.stderr if isinstance(done.stderr, bytes) else b""
            raise TransferError(
                f"listing the remote root failed (exit {done.exit_status}): "
                + err.decode(errors="replace").strip()[-300:]
            )
        return session, bytes(buf)

    async def finish(self) -> None:
        errors: tuple[type[BaseException], ...] = (TimeoutError, *stream_errors())
        try:
            if not self.streamed:  # after a stream, "done" would land inside it
                self.proc.stdin.write(b"done\n")
                self.proc.stdin.write_eof()
            await asyncio.wait_for(self.proc.wait(), 10)
        except errors:
            pass
        finally:
            self.proc.close()

    async def bulk(
        self, job: BulkJob, ops: list[Op], progress: Progress | None = None
    ) -> list[OpResult]:
        """Apply `ops` (whose job `job` is) with the pod-side receiver (needs python3)."""
        self.streamed = True
        return await bulk_apply(self.proc, job, ops, progress)


async def bulk_apply(
    proc: Any, job: BulkJob, ops: list[Op], progress: Progress | None = None
) -> list[OpResult]:
    total_bytes = sum(
        op.local.size for op in ops if op.kind == "put" and op.local and op.local.kind == "file"
    )
    nfiles = len(job.files)
    # The receiver reports as it goes: read while writing, so neither side ever waits on a
    # full pipe.
    reports = asyncio.ensure_future(proc.stdout.read())

    def tick() -> None:
        if progress:
            progress(job.bytes_done, total_bytes, job.files_done, nfiles)

    try:
        head = f"bulk {job.stage}\n".encode()
        write_with = getattr(proc, "write_with", None)
        if write_with is not None:  # an `ssh` child's pipe: written from a thread
            await write_with(lambda fd: send(job, fd, head), tick)
        else:
            proc.stdin.write(head)
            gen = chunks(job)
            fut = asyncio.ensure_future(asyncio.to_thread(next, gen, b""))
            while True:
                chunk = await fut
                if not chunk:
                    break
                fut = asyncio.ensure_future(asyncio.to_thread(next, gen, b""))
                proc.stdin.write(chunk)
                await proc.stdin.drain()
                tick()
        proc.stdin.write_eof()
        out = await reports
        done = await proc.wait()
    except BaseException as exc:
        # Broken, or cancelled (the root removed, the daemon stopping, Ctrl-C): end the channel
        # now, so that nothing else is ever read as the rest of a file.
        reports.cancel()
        proc.close()
        if isinstance(exc, stream_errors()):
            raise TransferError(f"the bulk stream broke: {exc}") from exc
        raise
    results = _results(ops, job, out)
    expected = sum(1 for op in ops if op.path not in job.missing)
    if done.exit_status not in (0, None) and len(results) - len(job.unreadable) < expected:
        # The receiver stopped part-way (the stream or the pod broke). Nothing of this batch is
        # recorded: its intents stay, so the next pass recognises what did land as rpdev's.
        err = done.stderr if isinstance(done.stderr, bytes) else b""
        raise TransferError(
            f"the pod's receiver stopped after {len(results)} of {expected} changes "
            f"(exit {done.exit_status}): " + err.decode(errors="replace").strip()[-500:]
        )
    return results
