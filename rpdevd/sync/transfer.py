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


OnResult = Callable[[OpResult], None]


class _Results:
    """The receiver's results turned into OpResults as they arrive, each handed to `on_result`
    (or kept in `kept` without one). The receiver reports the ops in the manifest's order, each
    at most once, so a result is matched to its op by walking the batch's ops (no table of
    them). A file's result waits until the sender has finished with that file (`job.sent` has
    it: whether it was torn is known then); the last few are let go when the stream has ended."""

    def __init__(self, ops: list[Op], job: BulkJob | None, on_result: OnResult | None) -> None:
        self.ops = ops
        self.next = 0  # the first op not matched yet
        self.job = job
        self.kept: list[OpResult] = []
        self.on_result = on_result if on_result is not None else self.kept.append
        self.waiting: list[tuple[str, str, RemoteEntry | None, str]] = []
        self.count = 0

    def _match(self, path: str) -> Op | None:
        ops = self.ops
        for i in range(self.next, len(ops)):
            if ops[i].path == path:
                self.next = i + 1
                return ops[i]
        return None  # none of the batch's, or reported twice: skipped

    def take(self, parsed: list[tuple[str, str, RemoteEntry | None, str]], ended: bool) -> None:
        job = self.job
        if self.waiting:
            parsed = self.waiting + parsed
            self.waiting = []
        for i, (status, path, entry, info) in enumerate(parsed):
            before = self.next
            op = self._match(path)
            if op is None:
                continue
            sent = op.local
            torn = False
            if job is not None and op.kind == "put" and sent is not None and sent.kind == "file":
                if path not in job.sent and not ended:
                    # The sender is still on this file: it and the rest wait for it.
                    self.next = before
                    self.waiting = parsed[i:]
                    return
                sent = job.sent.pop(path, None)
                torn = path in job.torn
            st: Status = "ok" if status == "ok" else "kept" if status == "kept" else "failed"
            self.count += 1
            self.on_result(OpResult(op, st, entry, info, sent, torn))

    def finish(self) -> None:
        """The stream has ended: what waited, then the files the sender could not read."""
        self.take([], ended=True)
        if self.job is not None and self.job.unreadable:
            unreadable = self.job.unreadable
            for op in self.ops:
                if op.path in unreadable:
                    self.on_result(OpResult(op, "unreadable", None, unreadable[op.path]))


def _results(ops: list[Op], job: BulkJob | None, data: bytes) -> list[OpResult]:
    out = _Results(ops, job, None)
    out.take(list(podops.parse_results(data)), ended=True)
    out.finish()
    return out.kept


class PodSession:
    """One exec channel per full pass: it lists the remote root, then either takes the bulk
    stream (and runs the receiver) or is told to finish."""

    def __init__(self, proc: Any) -> None:
        # An asyncssh SSHClientProcess, or a sshpipe.PipeProcess (the same surface).
        self.proc = proc
        self.streamed = False  # a bulk stream began: the channel takes nothing else

    @classmethod
    async def start(
        cls,
        conn: asyncssh.SSHClientConnection,
        script: str,
        timeout: float = 300.0,
        records: remote_mod.ListingRecords | None = None,
    ) -> tuple[PodSession, remote_mod.Raw]:
        proc = await conn.create_process("sh -c " + shlex.quote(script), encoding=None)
        return await cls.listen(proc, timeout, records)

    @classmethod
    async def listen(
        cls,
        proc: Any,
        timeout: float = 300.0,
        records: remote_mod.ListingRecords | None = None,
    ) -> tuple[PodSession, remote_mod.Raw]:
        """Read the listing the session's script prints first (see remote.py for its form),
        handing `records` what has come after each read."""
        session = cls(proc)
        buf = bytearray()
        try:
            async with asyncio.timeout(timeout):
                while not buf.endswith(remote_mod.END):
                    data = await proc.stdout.read(1 << 16)
                    if not data:
                        break
                    buf += data
                    if records is not None:
                        records.feed(buf)
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
        return session, buf  # not copied: a listing of 100,000 paths is 5 MB

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
        self,
        job: BulkJob,
        ops: list[Op],
        progress: Progress | None = None,
        on_result: OnResult | None = None,
    ) -> list[OpResult]:
        """Apply `ops` (whose job `job` is) with the pod-side receiver (needs python3)."""
        self.streamed = True
        return await bulk_apply(self.proc, job, ops, progress, on_result)


async def bulk_apply(
    proc: Any,
    job: BulkJob,
    ops: list[Op],
    progress: Progress | None = None,
    on_result: OnResult | None = None,
) -> list[OpResult]:
    """Send the batch and read the receiver's results while it goes: each is handed to
    `on_result` as it comes (then none are returned), or all are returned at the end. Raises
    TransferError when the receiver stopped part-way: the results handed over until then
    are true, but the batch is not done."""
    total_bytes = sum(
        op.local.size for op in ops if op.kind == "put" and op.local and op.local.kind == "file"
    )
    nfiles = len(job.files)
    results = _Results(ops, job, on_result)
    # The receiver reports as it goes: read while writing, so neither side ever waits on a
    # full pipe, and each result is dealt with while later files are still on the wire.
    reports = asyncio.ensure_future(_read_results(proc, results))

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
        await reports
        done = await proc.wait()
    except BaseException as exc:
        # Broken, or cancelled (the root removed, the daemon stopping, Ctrl-C): end the channel
        # now, so that nothing else is ever read as the rest of a file.
        reports.cancel()
        proc.close()
        if isinstance(exc, stream_errors()):
            raise TransferError(f"the bulk stream broke: {exc}") from exc
        raise
    results.finish()
    expected = sum(1 for op in ops if op.path not in job.missing)
    if done.exit_status not in (0, None) and results.count < expected:
        # The receiver stopped part-way (the stream or the pod broke). The batch is not done:
        # its intents stay, so the next pass recognises what did land as rpdev's.
        err = done.stderr if isinstance(done.stderr, bytes) else b""
        raise TransferError(
            f"the pod's receiver stopped after {results.count} of {expected} changes "
            f"(exit {done.exit_status}): " + err.decode(errors="replace").strip()[-500:]
        )
    return results.kept


async def _read_results(proc: Any, results: _Results) -> None:
    reader = podops.ResultReader()
    while True:
        data = await proc.stdout.read(1 << 16)
        if not data:
            break
        results.take(reader.feed(data), ended=False)
