"""SyncEngine: one local directory kept in step with one directory on a pod.

    engine = SyncEngine(spec, baseline=Baseline(db), conn=conn_or_None, connect=factory)
    report = await engine.sync_once()        # one full pass
    await LiveSync(engine).run(stop_event)   # full pass, then live until stopped (sync/live.py)

A full pass: scan locally, list the pod (one round trip), plan (pure), then apply and record
(sync/batch.py: one bulk stream or SFTP, each result the pod confirms into the baseline). The
live half (sync/live.py) drives the engine through its public methods: `full_pass`, `look`,
`plan_paths`, `apply_plan`, `connect`/`disconnect`.
Nothing is recorded until the pod confirms it, so a dropped connection loses no change. The daemon
hands in its kept-open connection; `take_edit_count()` feeds its idle logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpdevd.protocol import Event
from rpdevd.sync import remote as remote_mod
from rpdevd.sync import scanproc, walkstream
from rpdevd.sync.baseline import Baseline, PairRecords
from rpdevd.sync.batch import BatchRunner, Confirm, SyncReport
from rpdevd.sync.bulkstream import JobParts
from rpdevd.sync.compare import Comparison, entries_of
from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
from rpdevd.sync.model import BaseRecord, LocalEntry, RemoteEntry
from rpdevd.sync.plan import FreshPlan, Plan, plan
from rpdevd.sync.recordsets import Told
from rpdevd.sync.scan import ScanResult, scan_tree
from rpdevd.sync.transfer import PodSession, TransferError, stream_errors

if TYPE_CHECKING:
    import asyncssh

    from rpdevd.sync.sftpops import SftpApplier

Connect = Callable[[], Awaitable["asyncssh.SSHClientConnection"]]
EventSink = Callable[[Event], None]
# Opens a session channel running `script` (e.g. over the `ssh` binary, see sshproc).
OpenSession = Callable[[str], Awaitable[Any]]


def disconnects() -> tuple[type[BaseException], ...]:
    """What a lost connection raises (asyncssh's errors once asyncssh is in use)."""
    return (*stream_errors(), TransferError, asyncio.TimeoutError, EOFError)


async def _settle(task: asyncio.Future[tuple[PodSession, remote_mod.Raw]]) -> None:
    """Cancel a listing that is no longer wanted; a session it already opened is finished."""
    task.cancel()
    with contextlib.suppress(BaseException):
        session, _ = await task
        await session.finish()


async def _compared(
    compare: Comparison,
    touched: set[str],
    scanning: asyncio.Future[Walked],
    listing: asyncio.Future[tuple[PodSession, remote_mod.Raw]],
    listed: remote_mod.ListingRecords,
) -> set[str] | None:
    """`touched` and the paths where the scan or the listing disagrees with the baseline's
    sets (None: every path), each side compared as soon as it is there, the first one first."""
    result: set[str] | None = touched
    pending: set[asyncio.Future[Any]] = {scanning, listing}
    while pending and result is not None:
        done, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
        if scanning in done:
            result = _union(result, compare.local(scanning.result()[0]))
        if listing in done and result is not None:
            result = _union(result, compare.pod(listed, listing.result()[1]))
    return result


def _union(paths: set[str], more: set[str] | None) -> set[str] | None:
    """Paths to plan, and more of them (None: every path)."""
    return None if more is None else paths | more


def unreadable_message(path: str, why: str) -> str:
    return f"cannot read {path!r} ({why}): nothing at or below it is changed on the pod"


def _fresh_plan(raw: remote_mod.Raw) -> FreshPlan:
    """A first sync's plan, against the pod's listing `raw` (whole)."""
    return FreshPlan(remote_mod.parse_listing(raw, None).entries)


# A local walk's result, and the walk still holding its records (`_scan_beside`).
Walked = tuple[ScanResult, "scanproc.Walk | None"]


class SyncStopped(Exception):
    """The sync cannot go on safely (e.g. the local root vanished or emptied)."""


@dataclass
class SyncSpec:
    local_root: Path
    remote_root: str
    pair_id: str  # stable identity of this pair in the baseline (the daemon: the pod id + path)
    dest_label: str = ""
    pod_id: str | None = None
    ignore: IgnoreConfig = field(default_factory=IgnoreConfig)
    delete: bool = True
    max_delete: int | None = 100  # as the CLI and [[sync]] default
    step_ms: int = 30
    debounce_ms: int = 300
    rescan_interval: float = 120.0
    bulk_min: int = 16  # a full pass with at least this many files sends them as one bulk stream
    live_max: int = 64  # more hints than this in one batch: do a full pass instead
    lister: str = "auto"  # tests force the pod-side lister: find | python | sh


class SyncEngine:
    def __init__(
        self,
        spec: SyncSpec,
        *,
        baseline: Baseline,
        conn: asyncssh.SSHClientConnection | None = None,
        connect: Connect | None = None,
        on_event: EventSink | None = None,
        confirm: Confirm | None = None,
        close_connections: bool = False,
        open_session: OpenSession | None = None,
        scan_in_child: bool = False,
    ) -> None:
        """`conn` and whatever `connect()` returns may be shared (the daemon keeps one
        connection per pod): the engine closes them only with `close_connections=True` (the
        CLI, whose factory opens a connection for the engine alone). Its own SFTP and exec
        channels it always closes. With `open_session` a full pass runs its one session through
        it (the CLI: the `ssh` binary) and sends every batch through the pod-side receiver, so the
        connection from `connect` is opened only for a pod without python3. With `scan_in_child`
        a resync walks the local tree in a forked child where that is safe (`scanproc`)."""
        if conn is None and connect is None:
            raise ValueError("SyncEngine needs a connection or a connect() factory")
        self.spec = spec
        self.baseline = baseline
        self._conn = conn
        self._close_connections = close_connections
        self._owns_conn = close_connections
        self._connect = connect
        self._open_session = open_session
        self._scan_in_child = scan_in_child
        self._on_event = on_event
        self._sftp: asyncssh.SFTPClient | None = None
        self._applier: SftpApplier | None = None
        self._python3 = False
        self.state = "idle"
        self.last_error: str | None = None
        self._unreadable_error: str | None = None
        self.last_sync: float | None = None
        self.rules = IgnoreRules.for_root(spec.local_root, spec.ignore)
        # Applies each plan and records what landed; holds what waits for a yes.
        self.batches = BatchRunner(
            self,
            baseline=baseline,
            pair_id=spec.pair_id,
            local_root=spec.local_root,
            max_delete=spec.max_delete,
            bulk_min=spec.bulk_min,
            bulk_always=open_session is not None,
            sftp=self._ensure_applier,
            confirm=confirm,
        )

    # ----- what other parts call -------------------------------------------------------------

    def take_edit_count(self) -> int:
        """Files pushed (sent, moved, deleted) since the last call."""
        return self.batches.take_edits()

    def approve_deletes(self) -> None:
        """Let the held deletions run on the next pass."""
        self.batches.approved = True

    @property
    def holding(self) -> bool:
        """Deletions wait for a yes (`approve_deletes`)."""
        return bool(self.batches.held)

    @property
    def known(self) -> PairRecords:
        """What rpdev last wrote, path by path (the baseline as of the last pass or batch), read
        from the database as asked: a live sync looks up a batch's few paths."""
        return PairRecords(self.baseline, self.spec.pair_id)

    def take_torn(self) -> set[str]:
        """Paths read while they changed since the last call: to be looked at again."""
        return self.batches.take_torn()

    def status(self) -> dict[str, Any]:
        return {
            "pair": self.spec.pair_id,
            "local": str(self.spec.local_root),
            "dest": self.spec.dest_label,
            "remote": self.spec.remote_root,
            "state": self.state,
            "pending": len(self.batches.torn),
            "held": len(self.batches.held),
            "last_sync": self.last_sync,
            "last_error": self.last_error,
        }

    async def close(self) -> None:
        await self._drop_conn()

    # ----- events ----------------------------------------------------------------------------

    def emit(self, kind: str, message: str, level: str = "info", **data: Any) -> None:
        """Send an event about this pair to the sink handed in (if any)."""
        if self._on_event is not None:
            data.setdefault("pair", self.spec.pair_id)
            self._on_event(Event(kind, message, self.spec.pod_id, level, data, t=time.time()))

    # ----- connection ------------------------------------------------------------------------

    @property
    def can_connect(self) -> bool:
        """A `connect()` factory was handed in: a lost connection can be opened again here."""
        return self._connect is not None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def connect(self) -> None:
        """Open the connection now if there is none (raises what the factory raises)."""
        await self._ensure_conn()

    async def disconnect(self, conn: asyncssh.SSHClientConnection | None = None) -> None:
        """Drop the connection (closed only if this engine owns it); use `conn` from now on
        if one is handed in (e.g. the daemon's, after a pod restart)."""
        await self._drop_conn()
        if conn is not None:
            self._conn = conn
            self._owns_conn = self._close_connections

    async def _drop_conn(self) -> None:
        sftp, self._sftp, self._applier = self._sftp, None, None
        if sftp is not None:
            sftp.exit()
        conn, self._conn = self._conn, None
        if conn is not None and self._owns_conn:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2)

    async def _ensure_conn(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            if self._connect is None:
                raise ConnectionError("no connection: waiting for reconnect()")
            self._conn = await self._connect()
            self._owns_conn = self._close_connections
        return self._conn

    async def _ensure_applier(self) -> SftpApplier:
        from rpdevd.sync.sftpops import SftpApplier

        if self._applier is None:
            conn = await self._ensure_conn()
            self._sftp = await conn.start_sftp_client(path_encoding=None)
            self._applier = SftpApplier(self._sftp, self.spec.remote_root, self.spec.local_root)
        return self._applier

    # ----- a full pass -----------------------------------------------------------------------

    def listing_script(self) -> str:
        """The script a full pass's session runs (the CLI starts it early with this)."""
        return remote_mod.listing_script(
            self.spec.remote_root, self.rules.prune_names(), self.spec.lister
        )

    async def _list_remote(
        self, records: remote_mod.ListingRecords | None = None
    ) -> tuple[PodSession, remote_mod.Raw]:
        script = self.listing_script()
        if self._open_session is not None:
            proc = await self._open_session(script)
            session, listing = await PodSession.listen(proc, records=records)
        else:
            conn = await self._ensure_conn()
            session, listing = await PodSession.start(conn, script, records=records)
        self._python3 = remote_mod.has_python3(listing)
        return session, listing

    def _scan(self, records: bool) -> ScanResult:
        self.rules = IgnoreRules.for_root(self.spec.local_root, self.spec.ignore)
        return scan_tree(self.spec.local_root, self.rules, records=records)

    async def _scan_beside(self, records: bool, child: bool, told: bytes | None = None) -> Walked:
        """The local walk, run beside this process's own work: in a forked child (`scanproc`),
        or in a thread (also where the child could not be started or ended without a
        result: the walk is done again here, never taken as empty). A child's result whose
        digest is `told` comes without its records, and with the walk that holds them
        (`_records_of`)."""
        if child:
            try:
                self.rules, result, held = await scanproc.scan_unless_told(
                    self.spec.local_root, self.spec.ignore, records, told
                )
                return result, held
            except scanproc.ScanChildError as exc:
                self._walked_here(exc)
        return await asyncio.to_thread(self._scan, records), None

    async def _records_of(self, held: scanproc.Walk) -> list[bytes]:
        """The records a told walk's child still holds; walked again here where it cannot
        give them."""
        try:
            return await held.rest()
        except scanproc.ScanChildError as exc:
            self._walked_here(exc)
        return (await asyncio.to_thread(self._scan, True)).records

    def _walked_here(self, exc: scanproc.ScanChildError) -> None:
        self.emit("sync.warning", f"{exc}: the tree is walked in this process", "warning")

    async def _plan_as_walked(
        self,
        listing: asyncio.Future[tuple[PodSession, remote_mod.Raw]],
        made: list[tuple[Plan, JobParts]],
    ) -> Walked:
        """A first sync's walk in a forked child that sends its entries as it finds them, each
        part planned (`FreshPlan`) and put into the bulk job's manifest as it comes (those that
        come before the pod's listing, once it is in): the plan is ready soon after the walk
        ends, and goes into `made`.
        Where the tree has unreadable paths none is made (`plan`, with `unknown`, makes it);
        where the child could not be started or ended without a result, the walk is done in
        a thread (`_scan_beside`)."""
        root = self.spec.local_root
        local: dict[str, LocalEntry] = {}
        parts = JobParts(root)
        fresh: FreshPlan | None = None
        waiting: list[dict[str, LocalEntry]] = []  # parts not planned yet: no listing yet
        stream = None
        try:
            stream = walkstream.EntryStream.start(root, self.spec.ignore)
            while (part := await stream.next_part()) is not None:
                local.update(part)
                waiting.append(part)
                if fresh is None and listing.done():
                    fresh = _fresh_plan(listing.result()[1])
                if fresh is not None:
                    for ready in waiting:
                        parts.add(fresh.add(ready))
                    waiting.clear()
            self.rules, scanned = stream.outcome()
            fresh = fresh or _fresh_plan((await listing)[1])
            for ready in waiting:
                parts.add(fresh.add(ready))
        except scanproc.ScanChildError as exc:
            self._walked_here(exc)
            return await self._scan_beside(False, False)
        finally:
            if stream is not None:
                stream.stop()
        scanned.entries = local
        if not scanned.unreadable:
            made.append((fresh.finish(local), parts))
        return scanned, None

    def _keep_walked(self, digest: bytes | None, report: SyncReport) -> None:
        """After a first sync's batch: where everything it planned landed as it was walked,
        the sets hold the walk's records and no more, so the next resync's scan of the tree
        as it is (the walk's `digest`, taken in a resync's order) is told it agrees with them
        and reads no local set (`compare.Comparison`); kept with the sets' generation that
        the batch's last commit made (another program's commit since makes it moot)."""
        batches = self.batches
        if digest and batches.as_planned and report.ok and batches.generation is not None:
            self.baseline.remember(self.spec.pair_id, batches.generation, Told(digest), None)

    def _ignored_now(self, base: dict[str, BaseRecord], local: dict[str, LocalEntry]) -> set[str]:
        return {
            p
            for p, b in base.items()
            if p not in local and self.rules.ignored_path(p, b.local.kind == "dir")
        }

    async def sync_once(self, passes: int = 3) -> SyncReport:
        """Full passes until nothing is left to do (at most `passes`)."""
        report = SyncReport()
        start = time.monotonic()
        for _ in range(passes):
            failed = len(report.failed)
            self.batches.torn.clear()
            await self.full_pass(report)
            # Another pass only for what did not land: failures, files changed while read.
            if len(report.failed) == failed and not self.batches.torn:
                break
        report.seconds = time.monotonic() - start
        return report

    async def full_pass(self, report: SyncReport) -> Plan | None:
        """Scan here, list the pod, plan, apply, record. Raises what a lost connection raises
        (`disconnects()`), SyncStopped when going on would be unsafe."""
        self.state = "scanning"
        pair = self.spec.pair_id
        # The listing (handshake, the pod's login shell, its walk) is the long pole: its
        # request goes out first. The local walk runs meanwhile, in a forked child or a thread
        # (`_scan_beside`), and the baseline's record sets are read here. The listing's records
        # are gathered as they come, while the pod is still listing.
        listed = remote_mod.ListingRecords()
        listing = asyncio.ensure_future(self._list_remote(listed))
        await asyncio.sleep(0)
        intents = self.baseline.load_intents(pair)
        # Nothing recorded (a first sync): every path is to be planned, nothing to compare.
        fresh = not intents and not self.baseline.has_rows(pair)
        compare = None if fresh else Comparison(self.baseline, pair)
        if compare is None:
            listed.wanted = False
            self.baseline.start_sets(pair)
        elif compare.seen and compare.seen.pod:
            listed.wanted = False  # told by its digest, most likely: records only if not
        child = not fresh and self._scan_in_child and scanproc.available()
        # A walk told by its digest keeps its records in its child until the plan needs them.
        told = (
            compare.seen.local.digest if compare and compare.seen and compare.seen.local else None
        )
        # A first sync's plan, where it is made while the tree is walked (`_plan_as_walked`).
        made: list[tuple[Plan, JobParts]] = []
        if fresh and self._scan_in_child and scanproc.available():
            scanning = asyncio.ensure_future(self._plan_as_walked(listing, made))
        else:
            scanning = asyncio.ensure_future(self._scan_beside(not fresh, child, told))
        try:
            await asyncio.sleep(0)  # the walk starts first
            if not child:
                # Beside a walking thread, reading the baseline would take turns with it for
                # the interpreter's lock: read after it. A child walks on another core.
                await asyncio.wait([scanning])
            # The paths where the scan, the baseline and the listing disagree (None: all).
            touched: set[str] | None = None
            if compare is not None:
                compare.prefetch(scan_digest=child)
                touched = await _compared(compare, set(intents), scanning, listing, listed)
            scanned, held = await scanning
            session, raw = await listing
        except BaseException:
            await _settle(listing)
            with contextlib.suppress(BaseException):
                _, held = await scanning
                if held is not None:
                    held.stop()
            raise
        try:
            if held is not None and (touched is None or touched):
                scanned.records = await self._records_of(held)  # the plan reads them
                held = None
            self._emit_warnings(scanned.warnings, report)
            unknown = scanned.unreadable
            self.report_unreadable(unknown, report)
            # Records still held: the scan agreed with the sets everywhere, nothing to plan.
            self._refuse_emptied(bool(scanned.entries or scanned.records or held))
            parts, walked = None, None
            if touched is not None and not touched:
                p = Plan()  # scan, baseline and pod agree everywhere
            elif made:
                p, parts = made[0]  # a first sync's, made while the tree was walked
                walked = scanned.digest  # taken in a resync's order
            else:
                local = scanned.entries if fresh else entries_of(scanned.records, touched)
                p = self._plan_differing(local, raw, touched, intents, unknown)
                del local  # what the plan's ops need of it, they hold
            if compare is not None and p.empty():
                # Nothing to do: what the comparison told is kept for the next pass (where
                # there is work, the pass's commits make the sets' next generation anyway).
                compare.remember()
            del raw, scanned, touched, compare  # done with: freed first
            # The bulk stream goes through the pod-side receiver: only where python3 runs.
            await self.batches.run(
                p, report, session if self._python3 else None, full=True, parts=parts
            )
            self._keep_walked(walked, report)
        finally:
            if held is not None:
                held.stop()
            await session.finish()
        self.last_sync = time.time()
        self.state = "idle"
        if not report.unreadable and self.last_error == self._unreadable_error:
            self.last_error = self._unreadable_error = None  # everything reads again
        return p

    def _refuse_emptied(self, walked_any: bool) -> None:
        """SyncStopped where the local root is empty but paths were synced from it."""
        synced = 0 if walked_any else self.baseline.count(self.spec.pair_id)
        if synced:
            raise SyncStopped(
                f"local root {self.spec.local_root} is empty but {synced} paths were "
                "synced from it: refusing to delete anything on the pod"
            )

    def _plan_differing(
        self,
        local: dict[str, LocalEntry],
        raw: remote_mod.Raw,
        touched: set[str] | None,
        intents: dict[str, RemoteEntry],
        unknown: dict[str, str],
    ) -> Plan:
        """A full pass's plan of the paths that differ (`touched`; None: all). Their baseline
        rows are loaded for this plan only (between passes nothing of it stays in memory: `known` reads
        the database)."""
        pair = self.spec.pair_id
        base = (
            self.baseline.load_paths(pair, touched)
            if touched is not None
            else self.baseline.load(pair)
        )
        return plan(
            local,
            remote_mod.parse_listing(raw, touched).entries,
            base,
            intents=intents,
            ignored=self._ignored_now(base, local),
            delete=self.spec.delete,
            max_delete=self._max_delete(),
            unknown=unknown,
        )

    def _max_delete(self) -> int | None:
        """The deletion cap a plan keeps to (None: the user approved the held deletions)."""
        return None if self.batches.approved else self.spec.max_delete

    def _emit_warnings(self, warnings: list[str], report: SyncReport) -> None:
        for w in warnings:
            if w not in report.warnings:
                report.warnings.append(w)
                self.emit("sync.warning", w, "warning")

    def report_unreadable(self, unknown: dict[str, str], report: SyncReport) -> None:
        """Tell the user about local paths that could not be read (left alone on the pod), and
        keep the last such message as the root's last error until a pass reads everything."""
        for path, why in sorted(unknown.items()):
            line = f"{path}: {why}"
            if line in report.unreadable:
                continue
            report.unreadable.append(line)
            message = unreadable_message(path, why)
            self.emit("sync.error", message, "warning", path=path, reason=why, unreadable=True)
            self.last_error = self._unreadable_error = message

    # ----- a batch of paths (the live half) --------------------------------------------------

    async def look(self, paths: list[str]) -> dict[str, RemoteEntry | None]:
        """What the pod has at each path (None: nothing), over SFTP."""
        applier = await self._ensure_applier()
        return await applier.look_many(paths)

    def plan_paths(
        self,
        local: dict[str, LocalEntry],
        remote: dict[str, RemoteEntry],
        paths: set[str],
        *,
        ignored: set[str],
        unknown: dict[str, str],
    ) -> Plan:
        """The plan for `paths` alone (pure): their entries here and on the pod against what
        rpdev last wrote there, with this pair's delete rules and cap."""
        return plan(
            local,
            remote,
            {p: rec for p in paths if (rec := self.baseline.get(self.spec.pair_id, p)) is not None},
            ignored=ignored,
            delete=self.spec.delete,
            max_delete=self._max_delete(),
            unknown=unknown,
        )

    async def apply_plan(self, p: Plan, report: SyncReport) -> None:
        """Run a batch's plan over SFTP and record what landed."""
        await self.batches.run(p, report, None)
