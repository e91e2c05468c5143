"""Results back: files that match a root's pull patterns come down from the pod.

    puller = Puller(spec, baseline=PullBaseline(db), on_event=sink)
    report = await puller.pull(conn)        # one pass: list, plan (pullplan), land, record

One pass lists the pod's remote root with the push's lister (one command), reads each local
candidate's state, plans (pure, `pullplan.plan_pull`) and brings the files down over SFTP
(several at once, each in parallel pieces). A file lands whole: it is written under a temporary
name beside its target (`.<name>.rpdev-tmp-<random>`, which a push never sends), gets the pod's
mode and mtime, the target is checked again (a file changed here since the plan is kept as a
conflict copy) and the temporary is renamed into place. Files of `PROGRESS_MIN` bytes or more
report their progress (`sync.progress` events with `direction: "pull"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR, S_ISLNK
from typing import TYPE_CHECKING, Any

from rpdevd.protocol import Event
from rpdevd.sync import remote as remote_mod
from rpdevd.sync.localdirs import Below, Swapped
from rpdevd.sync.model import CONFLICT_MARK, TMP_MARK, LocalEntry, RemoteEntry
from rpdevd.sync.pullbase import PullBaseline
from rpdevd.sync.pullplan import (
    LocalState,
    Pulled,
    PullOp,
    PullPatterns,
    PullPlan,
    plan_pull,
    wanted,
)
from rpdevd.sync.scan import entry_from_stat, reason
from rpdevd.sync.transfer import rpath

if TYPE_CHECKING:
    import asyncssh

PROGRESS_MIN = 4 << 20  # files at least this large report their progress
IN_FLIGHT = 4
EventSink = Callable[[Event], None]


class PullError(Exception):
    """The pod's side could not be listed (a missing directory, no shell)."""


@dataclass
class PullSpec:
    local_root: Path
    remote_root: str
    pair_id: str  # identity of this pull in the pull baseline
    patterns: tuple[str, ...]
    dest_label: str = ""
    pod_id: str | None = None


@dataclass
class PullReport:
    got: int = 0
    bytes: int = 0
    adopted: int = 0
    conflicts: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # changed here, not on the pod: left alone
    failed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "path: reason": left alone
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.unreadable)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _listing_script(root: str) -> str:
    q = shlex.quote(root)
    return (
        f"[ -d {q} ] || {{ echo 'no such directory on the pod' >&2; exit 4; }}\n"
        + remote_mod.listing_script(root, [], "auto")
    )


async def list_pod(conn: asyncssh.SSHClientConnection, root: str) -> dict[str, RemoteEntry]:
    """Every entry under `root` on the pod (one command); PullError when it cannot be listed.

    The script's last step reads one line (what to do next: nothing, for a pull). That line
    goes only once the listing has ended: a script that stopped early (no such folder) is
    never written to, so its own message is what the user reads, not the closed channel's."""
    proc = await conn.create_process("sh -c " + shlex.quote(_listing_script(root)), encoding=None)
    try:
        try:
            out = await asyncio.wait_for(proc.stdout.readuntil(remote_mod.END), LIST_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            out = exc.partial  # it ended before its listing did
        else:
            with contextlib.suppress(OSError):
                proc.stdin.write(b"done\n")
                proc.stdin.write_eof()
        res = await proc.wait(check=False, timeout=LIST_TIMEOUT)
    finally:
        proc.close()
    rest = res.stdout if isinstance(res.stdout, bytes) else b""
    try:
        return remote_mod.parse_listing(out + rest).entries
    except ValueError:
        err = res.stderr if isinstance(res.stderr, bytes) else b""
        why = err.decode(errors="replace").strip()[-300:] or f"exit {res.exit_status}"
        raise PullError(f"cannot list {root!r} on the pod: {why}") from None


LIST_TIMEOUT = 300.0


_LINKED = "a folder above it is a symlink here"
_IN_THE_WAY = "a folder above it is a file here"
_MOVED = "a folder above it was moved or replaced while it was pulled"
# The temporary a file lands in: new, never through a symlink, not inherited by a child.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _folders(root: Path, rel: str) -> str | None:
    """Why the folders above `rel` (below the root) are not all real folders here, or None
    (also where some are missing: made when the file lands). A folder that is a symlink is
    never written through (planted by another user who can write in the tree, or a link of
    the user's own, it would land the pod's file wherever it points); one that is a file is in
    the way. The landing itself goes through the folders' descriptors (`Puller._land`)."""
    at = root
    for part in rel.split("/")[:-1]:
        at = at / part
        try:
            st = os.lstat(at)
        except FileNotFoundError:
            return None
        if S_ISLNK(st.st_mode):
            return _LINKED
        if not S_ISDIR(st.st_mode):
            return _IN_THE_WAY
    return None


def local_state(root: Path, rel: str) -> LocalState:
    """What `rel` is here: an entry, None (nothing), or why it cannot be read (or written:
    below a symlink)."""
    try:
        why = _folders(root, rel)
        if why is not None:
            return why
        st = os.lstat(root / rel)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return _IN_THE_WAY
    except OSError as exc:
        return reason(exc)
    return entry_from_stat(st) or LocalEntry("other")


def _free_name(where: int, name: str, stamp: str) -> str:
    """A name for a conflict copy of `name` that nothing in the folder `where` has."""
    copy = f"{name}{CONFLICT_MARK}{stamp}"
    n = 2
    while _exists(where, copy):
        copy = f"{name}{CONFLICT_MARK}{stamp}-{n}"
        n += 1
    return copy


def _exists(where: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=where, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _still_there(root: Path, rel: str, where: int) -> str | None:
    """Why `rel`'s folder as it is reached now from the root is not the folder `where` (the
    one its file was written in), or None."""
    below = Below(str(root))
    try:
        now, _ = below.parent(rel)
        a, b = os.fstat(now), os.fstat(where)
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
            return _MOVED
    except Swapped:
        return _LINKED
    except OSError:
        return _MOVED
    finally:
        below.close()
    return None


class Puller:
    def __init__(
        self,
        spec: PullSpec,
        *,
        baseline: PullBaseline,
        on_event: EventSink | None = None,
    ) -> None:
        self.spec = spec
        self.baseline = baseline
        self.patterns = PullPatterns(spec.patterns)
        self._on_event = on_event
        self._stamp = ""
        self._last_progress = 0.0

    def emit(self, kind: str, message: str, level: str = "info", **data: Any) -> None:
        if self._on_event is not None:
            data.setdefault("pair", self.spec.pair_id)
            data.setdefault("direction", "pull")
            self._on_event(Event(kind, message, self.spec.pod_id, level, data, t=time.time()))

    async def pull(self, conn: asyncssh.SSHClientConnection) -> PullReport:
        """One pass. Raises PullError, or what a lost connection raises."""
        report = PullReport()
        start = time.monotonic()
        root = self.spec.local_root
        pod = wanted(await list_pod(conn, self.spec.remote_root), self.patterns)
        base = self.baseline.load(self.spec.pair_id)
        self.baseline.set_pair(self.spec.pair_id, root, self.spec.patterns)
        local = await asyncio.to_thread(
            lambda: {p: local_state(root, p) for p in set(pod) | set(base)}
        )
        plan = plan_pull(pod, local, base)
        await self.run_plan(conn, plan, report)
        report.seconds = time.monotonic() - start
        return report

    async def run_plan(
        self, conn: asyncssh.SSHClientConnection, plan: PullPlan, report: PullReport
    ) -> None:
        for path, why in sorted(plan.unknown.items()):
            report.unreadable.append(f"{path}: {why}")
            self.emit(
                "sync.error",
                f"cannot read {path!r} here ({why}): it is not replaced",
                "warning",
                path=path,
                reason=why,
                unreadable=True,
            )
        for note in plan.notes:
            report.kept.append(note)
            self.emit("sync.kept", note, "warning")
        landed: dict[str, Pulled] = dict(plan.adopt)
        report.adopted += len(plan.adopt)
        if plan.gets:
            self._stamp = time.strftime("%Y%m%d-%H%M%S")
            sftp = await conn.start_sftp_client(path_encoding=None)
            try:
                await self._land_all(sftp, plan, report, landed)
            finally:
                sftp.exit()
        self.baseline.record(self.spec.pair_id, landed, plan.forget)
        if report.got:
            self.emit(
                "sync.pulled",
                f"{report.got} files pulled ({report.bytes / 1e6:.1f} MB)",
                count=report.got,
                bytes=report.bytes,
            )

    async def _land_all(
        self,
        sftp: asyncssh.SFTPClient,
        plan: PullPlan,
        report: PullReport,
        landed: dict[str, Pulled],
    ) -> None:
        from rpdevd.sshlib import asyncssh

        total = plan.bytes_to_get
        done = [0, 0]  # bytes, files
        sem = asyncio.Semaphore(IN_FLIGHT)

        async def one(op: PullOp) -> None:
            async with sem:
                try:
                    rec, copy = await self._land(sftp, op, done, total, len(plan.gets))
                except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection):
                    raise
                except asyncssh.SFTPError as exc:
                    self._failed(op, str(exc.reason), report)
                    return
                except OSError as exc:
                    self._failed(op, reason(exc), report)
                    return
                finally:
                    done[1] += 1
                landed[op.path] = rec
                report.got += 1
                report.bytes += rec.local_size
                if copy:
                    report.conflicts.append(copy)
                    self.emit(
                        "sync.conflict",
                        f"{op.path!r} had changed here: your version is kept as {copy!r}",
                        "warning",
                        path=op.path,
                        copy=copy,
                    )

        await asyncio.gather(*(one(op) for op in plan.gets))

    def _failed(self, op: PullOp, why: str, report: PullReport) -> None:
        report.failed.append(f"{op.path}: {why}")
        self.emit("sync.error", f"{op.path!r}: {why}", "warning", path=op.path)

    def _progress(
        self, op: PullOp, file_done: int, done: list[int], total: int, nfiles: int
    ) -> None:
        now = time.monotonic()
        final = file_done >= op.pod.size
        if not final and file_done and now - self._last_progress < 0.2:
            return
        self._last_progress = now
        self.emit(
            "sync.progress",
            f"{op.path}: {file_done / 1e6:.1f}/{op.pod.size / 1e6:.1f} MB",
            path=op.path,
            file_done=file_done,
            file_total=op.pod.size,
            bytes_done=done[0] + file_done,
            bytes_total=total,
            files_done=done[1],
            files_total=nfiles,
        )

    async def _land(
        self, sftp: asyncssh.SFTPClient, op: PullOp, done: list[int], total: int, nfiles: int
    ) -> tuple[Pulled, str]:
        """Bring one file down and rename it into place. (record, conflict copy or "").
        Everything here is done through the target's folder, opened (and made where missing)
        from the root one name at a time without following a symlink, and kept open: the
        temporary is created in it and written through its descriptor, the conflict copy and
        the rename are names in it. A folder swapped for a symlink at any moment is never
        written through."""
        below = Below(str(self.spec.local_root))
        try:
            try:
                where, name = await asyncio.to_thread(below.parent, op.path, True)
            except Swapped:
                raise OSError(errno.ELOOP, _LINKED) from None
            except NotADirectoryError:
                raise OSError(errno.ENOTDIR, _IN_THE_WAY) from None
            tmp = f".{name}{TMP_MARK}{secrets.token_hex(4)}"
            fd = os.open(tmp, _NEW_FILE, 0o600, dir_fd=where)
            try:
                try:
                    await self._download(sftp, op, fd, done, total, nfiles)
                finally:
                    os.close(fd)
                # Still the folder at that path? One moved away and replaced since would
                # take the file where nobody looks for it: it stays on the pod, reported.
                why = await asyncio.to_thread(_still_there, self.spec.local_root, op.path, where)
                if why is not None:
                    raise OSError(errno.ELOOP, why)
                copy = await asyncio.to_thread(self._make_way, where, name, op)
                os.replace(tmp, name, src_dir_fd=where, dst_dir_fd=where)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=where)
                raise
            st = os.stat(name, dir_fd=where, follow_symlinks=False)
        finally:
            below.close()
        done[0] += op.pod.size
        return Pulled(op.pod.size, op.pod.mtime_s, st.st_size, st.st_mtime_ns), copy

    async def _download(
        self,
        sftp: asyncssh.SFTPClient,
        op: PullOp,
        fd: int,
        done: list[int],
        total: int,
        nfiles: int,
    ) -> None:
        """The pod's file into `fd`, in parallel pieces, with its mode (permission bits) and
        mtime."""
        src = rpath(self.spec.remote_root, op.path).encode("utf-8", "surrogateescape")
        big = op.pod.size >= PROGRESS_MIN
        if big:
            self._progress(op, 0, done, total, nfiles)
        copied = 0
        async with sftp.open(src, "rb") as f:
            attrs = await f.stat()
            async for offset, data in await f.read_parallel():
                os.pwrite(fd, data, offset)
                copied += len(data)
                if big:
                    self._progress(op, copied, done, total, nfiles)
        if attrs.permissions is not None:
            os.fchmod(fd, attrs.permissions & 0o777)
        if attrs.mtime is not None:
            mtime = attrs.mtime * 1_000_000_000 + (attrs.mtime_ns or 0)
            atime = mtime if attrs.atime is None else attrs.atime * 1_000_000_000
            os.utime(fd, ns=(atime + (attrs.atime_ns or 0), mtime))
        if big:
            self._progress(op, op.pod.size, done, total, nfiles)

    def _make_way(self, where: int, name: str, op: PullOp) -> str:
        """Checked again just before the rename: what is at `name` in the folder `where` now
        is replaced only if it is still what the plan expected (the pull's own, unchanged);
        anything else is renamed to a conflict copy. The copy's path (relative to the root),
        or ""."""
        try:
            st = os.stat(name, dir_fd=where, follow_symlinks=False)
        except FileNotFoundError:
            return ""
        now = entry_from_stat(st) or LocalEntry("other")
        exp = op.expect
        if (
            exp is not None
            and now.kind == "file"
            and (now.size, now.mtime_ns)
            == (
                exp.size,
                exp.mtime_ns,
            )
        ):
            return ""
        copy = _free_name(where, name, self._stamp)
        os.rename(name, copy, src_dir_fd=where, dst_dir_fd=where)
        return op.path[: len(op.path) - len(name)] + copy


async def pull_loop(
    puller: Puller,
    connect: Callable[[], Awaitable[asyncssh.SSHClientConnection]],
    stop: asyncio.Event,
    *,
    interval: float,
    lock: asyncio.Lock,
    full_passes: Callable[[], int],
) -> None:
    """The daemon's pulls for one root: a pass after each full pass of the root's push
    (`full_passes()` counts them; none before the first) and every `interval` seconds, never
    while a pass of the push runs (`lock` is held by it). A pass that fails is said once as a
    warning and tried again at the next turn."""
    seen = 0
    last = time.monotonic()
    error: str | None = None
    while not stop.is_set():
        passes = full_passes()
        if passes and (passes != seen or time.monotonic() - last >= interval):
            seen, last = passes, time.monotonic()
            try:
                conn = await connect()
                async with lock:
                    report = await puller.pull(conn)
                error = None if report.ok else error
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a lost pod, a missing folder: next turn
                why = str(exc) or type(exc).__name__
                if why != error:
                    puller.emit("sync.error", f"pull: {why}; trying again", "warning")
                error = why
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), min(1.0, interval))
