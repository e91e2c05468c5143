"""Applying a plan: its ops sent to the pod and what landed recorded in the baseline.

    runner = BatchRunner(engine, pair_id=..., local_root=..., bulk_min=..., ...)
    await runner.run(plan, report, session)   # hold, send, record

The engine (engine.py) decides what to do; this module does it. The batch's intents are
recorded first, then its ops run: many as one bulk stream through the pod-side receiver (one
round trip), few over SFTP. Each result the pod confirms becomes a baseline row (or a row
dropped), a count in the `SyncReport` and, where it is news, an event; rows are committed a few
thousand at a time while the rest is on the wire. Deletions past the pair's cap wait here for a
yes. Nothing is recorded until the pod confirms it, so a dropped connection loses no change.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rpdevd.sync.baseline import Baseline
from rpdevd.sync.bulkstream import JobParts
from rpdevd.sync.model import BaseRecord, LocalEntry
from rpdevd.sync.plan import Op, Plan, release_held
from rpdevd.sync.podops import encode_manifest
from rpdevd.sync.transfer import OpResult, PodSession

if TYPE_CHECKING:
    from rpdevd.sync.sftpops import SftpApplier

Confirm = Callable[[list[Op]], Awaitable[bool]]

# A bulk batch records the rows the pod confirmed every this many results.
RECORD_EVERY = 4096


@dataclass
class SyncReport:
    sent: int = 0
    bytes: int = 0
    deleted: int = 0
    moved: int = 0
    adopted: int = 0
    conflicts: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # Local paths that could not be read ("path: reason"): nothing at or below them was
    # changed on the pod; the next pass tries them again.
    unreadable: list[str] = field(default_factory=list)
    held: int = 0
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Everything was read and landed, and nothing waits for a yes."""
        return not (self.failed or self.unreadable or self.held)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class BatchHost(Protocol):
    """What a batch needs of the engine that runs it: its state word (the live sync shows it
    while a batch runs), its events, and how it tells of a path it could not read."""

    state: str

    def emit(self, kind: str, message: str, level: str = "info", **data: Any) -> None: ...

    def report_unreadable(self, unknown: dict[str, str], report: SyncReport) -> None: ...


class BatchRunner:
    """Runs one pair's plans on the pod and records what landed; owns what outlives a batch:
    the deletions held for a yes, the edit count, the paths read while they changed."""

    def __init__(
        self,
        host: BatchHost,
        *,
        baseline: Baseline,
        pair_id: str,
        local_root: Path,
        max_delete: int | None,
        bulk_min: int,
        bulk_always: bool,
        sftp: Callable[[], Awaitable[SftpApplier]],
        confirm: Confirm | None = None,
    ) -> None:
        """`bulk_always`: every batch with a session goes through the pod-side receiver (the
        CLI's session of its own: no second connection). `sftp` opens (or returns) the SFTP
        applier for the batches that do not."""
        self.host = host
        self.baseline = baseline
        self.pair_id = pair_id
        self.local_root = local_root
        self.max_delete = max_delete
        self.bulk_min = bulk_min
        self.bulk_always = bulk_always
        self._sftp = sftp
        self._confirm = confirm
        self.approved = False  # the held deletions may run
        self.held: list[Op] = []
        self.torn: set[str] = set()  # read while they changed: to be looked at again
        self.edits = 0
        self._last_progress = 0.0
        # Of the last batch run: whether every op landed and what it recorded is what the plan
        # saw (nothing failed, kept, unreadable, held, torn or read otherwise than planned),
        # and the baseline's sets' generation after its last commit (None: not kept whole).
        self.as_planned = False
        self.generation: bytes | None = None

    def take_edits(self) -> int:
        """Files pushed (sent, moved, deleted) since the last call."""
        n, self.edits = self.edits, 0
        return n

    def take_torn(self) -> set[str]:
        """Paths read while they changed since the last call: to be looked at again."""
        torn, self.torn = self.torn, set()
        return torn

    def _progress(self, done: int, total: int, files: int, nfiles: int) -> None:
        now = time.monotonic()
        if now - self._last_progress < 0.2 and done < total:
            return
        self._last_progress = now
        self.host.emit(
            "sync.progress",
            f"{files}/{nfiles} files",
            bytes_done=done,
            bytes_total=total,
            files_done=files,
            files_total=nfiles,
        )

    async def run(
        self,
        p: Plan,
        report: SyncReport,
        session: PodSession | None,
        full: bool = False,
        parts: JobParts | None = None,
    ) -> None:
        """Run the plan's ops (the held deletions too once confirmed) and record what landed.
        `session`: an open session whose pod runs the receiver (python3), for a bulk stream;
        None: SFTP. `full`: the plan is a full pass's, which settles every intent. `parts`:
        the bulk job of the plan's first ops, made already (`plan.FreshPlan`)."""
        host = self.host
        self.as_planned = not p.held
        for note in p.notes:
            report.notes.append(note)
            host.emit("sync.kept", note, "warning")
        ops = list(p.ops)
        if p.held:
            if self._confirm is not None and await self._confirm(p.held):
                self.approved = True
            if self.approved:
                ops += release_held(p.held)
                self.held = []
            else:
                self.held = p.held
                report.held = len(p.held)
                host.state = "held"
                host.emit(
                    "sync.held",
                    f"{len(p.held)} deletions held: more than max_delete "
                    f"({self.max_delete}); confirm to run them",
                    "warning",
                    count=len(p.held),
                    paths=[op.path for op in p.held[:20]],
                )
        failed = len(report.failed)
        upserts: dict[str, BaseRecord] = dict(p.adopt)
        removals: list[str] = list(p.forget)
        report.adopted += len(p.adopt)
        if ops:
            host.state = "syncing"
            pair = self.pair_id

            def on_result(res: OpResult) -> None:
                self._record_one(res, report, upserts, removals)
                if len(upserts) >= RECORD_EVERY:
                    # Rows the pod confirmed are recorded while the rest is on the wire, in a
                    # short transaction each: a big batch never holds a row per file here.
                    # Removals wait for the batch's end, as do the intents.
                    self.baseline.commit(pair, upserts, (), clear_intents=False)
                    upserts.clear()

            await self._apply(ops, session, on_result, parts)
            if self.approved and not self.held:
                self.approved = False
        # A batch that ran through, or a full pass, leaves nothing for intents to recognise:
        # every path they name is now in the baseline or gone. Kept while something failed or
        # is held.
        done = (bool(ops) or full) and len(report.failed) == failed and not self.held
        self.generation = self.baseline.commit(self.pair_id, upserts, removals, clear_intents=done)

    async def _apply(
        self,
        ops: list[Op],
        session: PodSession | None,
        on_result: Callable[[OpResult], None],
        parts: JobParts | None = None,
    ) -> None:
        """Record the batch's intents, then run it: many ops (files or not) as one bulk stream
        through the pod-side receiver (one round trip), few over SFTP. Each op's result goes
        to `on_result` (in bulk, as the receiver reports it). `parts`: the job of the first
        `parts.ops` of `ops`, made already (the rest is added)."""
        many = len(ops) >= self.bulk_min or self.bulk_always
        if session is not None and many:
            if parts is None:
                parts = JobParts(self.local_root)
            assert parts.ops <= len(ops), "a job of more ops than the batch has"
            parts.add(ops[parts.ops :])
            job = parts.job()
            self.baseline.add_intents(self.pair_id, job.manifest, job.cuts)
            await session.bulk(job, ops, self._progress, on_result)
            return
        self.baseline.add_intents(self.pair_id, encode_manifest(ops, {}))
        applier = await self._sftp()
        for res in await applier.apply(ops, self._progress):
            on_result(res)

    def _record_one(
        self,
        res: OpResult,
        report: SyncReport,
        upserts: dict[str, BaseRecord],
        removals: list[str],
    ) -> None:
        """What one op's result means: a baseline row to write or drop, the report's counts,
        events."""
        op = res.op
        host = self.host
        if res.status != "ok" or res.torn or res.sent not in (None, op.local):
            self.as_planned = False
        if res.status == "unreadable":  # nothing done on the pod; tried again next pass
            host.report_unreadable({op.path: res.info}, report)
            return
        if res.status == "failed":
            report.failed.append(f"{op.path}: {res.info}")
            host.emit("sync.error", f"{op.path!r}: {res.info}", "warning", path=op.path)
            return
        if res.status == "kept":
            report.kept.append(op.path)
            removals.append(op.path)
            host.emit(
                "sync.kept", f"{op.path!r} kept on the pod: {res.info}", "warning", path=op.path
            )
            return
        if res.info:  # a conflict copy was made first
            report.conflicts.append(res.info)
            host.emit(
                "sync.conflict",
                f"{op.path!r} had changed on the pod: its version is kept as {res.info!r}",
                "warning",
                path=op.path,
                copy=res.info,
            )
        if op.kind in ("delete", "rmdir", "clean"):
            if op.kind != "clean":
                removals.append(op.path)
                report.deleted += 1
                self.edits += 1
            return
        local = res.sent or op.local
        if res.remote is None or local is None:
            return
        if res.torn:
            local = LocalEntry(local.kind, -1, -1, local.mode, local.ino, local.target)
            self.torn.add(op.path)
        upserts[op.path] = BaseRecord(local, res.remote)
        if op.kind == "move":
            removals.append(op.src)
            report.moved += 1
        if op.kind in ("put", "move"):
            self.edits += 1
        if op.kind == "put":
            report.sent += 1
            if local.kind == "file":
                report.bytes += max(local.size, 0)
