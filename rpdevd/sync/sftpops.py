"""Ops over SFTP: the incremental path (a few edits at a time), and the bulk fallback for pods
without python3.

A file goes to a temporary name next to its target (`.<name>.rpdev-tmp-<random>`), gets its mode
and mtime, and is renamed into place with `posix-rename@openssh.com`, so a partly written file is
never visible under its final name. Several files are in flight at once; requests for one file
are pipelined (write, setstat, close go out together). Each target path is checked just before it
is replaced, as the pod-side receiver does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from rpdevd.sshlib import asyncssh
from rpdevd.sync.bulkstream import Extents, data_extents
from rpdevd.sync.localdirs import SWAPPED, Swapped, open_below
from rpdevd.sync.model import TMP_MARK, Kind, LocalEntry, RemoteEntry, remote_entry
from rpdevd.sync.plan import Op
from rpdevd.sync.scan import Unreadable, reason
from rpdevd.sync.transfer import OpResult, Progress, rpath

SMALL = 1 << 20
CHUNK = 4 << 20


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _same(cur: RemoteEntry | None, expect: RemoteEntry | None) -> bool:
    return cur is not None and expect is not None and cur.same_content(expect)


async def _pieces(
    fh: BinaryIO, size: int, extents: Extents | None
) -> AsyncIterator[tuple[int, bytes]]:
    """(offset, bytes) of the open local file: all of it (to its end, however far that is
    now), or a sparse file's data extents. A failed read raises Unreadable."""
    spans: Iterable[tuple[int, int | None]] = [(0, None)] if extents is None else extents
    for start, length in spans:
        offset, end = start, None if length is None else start + length
        try:
            fh.seek(start)
            while end is None or offset < end:
                n = CHUNK if end is None else min(CHUNK, end - offset)
                if size <= SMALL:
                    data = fh.read(SMALL + 1) if offset == 0 else b""
                else:
                    data = await asyncio.to_thread(fh.read, n)
                if not data:
                    break
                yield offset, data
                offset += len(data)
        except OSError as exc:
            raise Unreadable(reason(exc)) from None


class SftpApplier:
    def __init__(
        self, sftp: asyncssh.SFTPClient, remote_root: str, local_root: Path, concurrency: int = 16
    ) -> None:
        self.sftp = sftp
        self.remote_root = remote_root
        self.local_root = local_root
        self.sem = asyncio.Semaphore(concurrency)
        self.stamp = ""

    def _r(self, rel: str) -> bytes:
        return os.fsencode(rpath(self.remote_root, rel))

    async def look(self, rel: str) -> RemoteEntry | None:
        """What `rel` is on the pod now (None if absent)."""
        path = self._r(rel)
        try:
            attrs = await self.sftp.lstat(path)
        except asyncssh.SFTPNoSuchFile:
            return None
        kind = _kind(attrs.permissions or 0)
        target = ""
        if kind == "symlink":
            link = await self.sftp.readlink(path)
            target = os.fsdecode(link)
        return remote_entry(
            kind, attrs.size or 0, int(attrs.mtime or 0), attrs.permissions or 0, target
        )

    async def look_many(self, rels: list[str]) -> dict[str, RemoteEntry | None]:
        async def one(rel: str) -> tuple[str, RemoteEntry | None]:
            async with self.sem:
                return rel, await self.look(rel)

        return dict(await asyncio.gather(*(one(r) for r in rels)))

    async def _copy_name(self, rel: str) -> str:
        base = f"{rel}.rpdev-conflict-{self.stamp}"
        name, n = base, 1
        while await self.look(name) is not None:
            n += 1
            name = f"{base}-{n}"
        await self.sftp.rename(self._r(rel), self._r(name))
        return name

    async def _clear(self, rel: str, expect: RemoteEntry | None, for_dir: bool) -> str:
        """Make room at `rel`: "" when free (or ours, replaced by the rename), "=" when a
        directory already stands there for a mkdir, else the conflict copy's name."""
        cur = await self.look(rel)
        if cur is None:
            return ""
        if _same(cur, expect):
            if cur.kind == "dir":
                try:
                    await self.sftp.rmdir(self._r(rel))
                    return ""
                except asyncssh.SFTPError:
                    pass
            else:
                if for_dir:
                    await self.sftp.remove(self._r(rel))
                return ""
        if cur.kind == "dir" and expect is None and for_dir:
            return "="
        return await self._copy_name(rel)

    async def _upload(
        self, rel: str, entry: LocalEntry, tmp: bytes, progress: Callable[[int], None]
    ) -> LocalEntry | None:
        """Copy the local file to `tmp`; the local state sent, or None if it vanished. Raises
        Unreadable when it is there but cannot be read (`tmp` is then removed)."""
        try:
            # Through its directories, never a symlink on the way (`localdirs`).
            fd = open_below(str(self.local_root), rel, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except Swapped:
            raise Unreadable(SWAPPED) from None
        except OSError as exc:
            raise Unreadable(reason(exc)) from None
        fh = open(fd, "rb")  # noqa: SIM115
        with fh:
            st = os.fstat(fh.fileno())
            attrs = asyncssh.SFTPAttrs(
                permissions=entry.mode, atime=entry.mtime_s, mtime=entry.mtime_s
            )
            extents = data_extents(fh.fileno(), st) if st.st_size > SMALL else None
            if extents is not None:  # sparse: its data only, then the size (holes stay holes)
                attrs.size = st.st_size
            rf = await self.sftp.open(
                tmp, "wb", asyncssh.SFTPAttrs(permissions=0o600), encoding=None
            )
            try:
                async for offset, data in _pieces(fh, st.st_size, extents):
                    # asyncssh splits a large write into parallel requests and returns when
                    # all are answered, so the setstat below lands after the data.
                    await rf.write(data, offset)
                    progress(len(data))
                # setstat and close are single requests, answered in order: one round trip.
                await asyncio.gather(rf.setstat(attrs), rf.close())
            except Unreadable:
                await rf.close()
                with contextlib.suppress(asyncssh.SFTPError):
                    await self.sftp.remove(tmp)  # nothing half-read stays on the pod
                raise
            except BaseException:
                await rf.close()
                raise
            after = os.fstat(fh.fileno())
        sent = LocalEntry("file", st.st_size, st.st_mtime_ns, entry.mode, st.st_ino)
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            sent = LocalEntry("file", -1, -1, entry.mode, st.st_ino)  # torn: send again
        return sent

    async def _put(self, op: Op, progress: Callable[[int], None]) -> OpResult:
        lo = op.local
        assert lo is not None
        parent, _, name = op.path.rpartition("/")
        tmp_rel = (
            f"{parent}/.{name}{TMP_MARK}{secrets.token_hex(4)}"
            if parent
            else f".{name}{TMP_MARK}{secrets.token_hex(4)}"
        )
        tmp = self._r(tmp_rel)
        sent: LocalEntry | None = lo
        if lo.kind == "symlink":
            await self.sftp.symlink(os.fsencode(lo.target), tmp)
        else:
            try:
                sent = await self._upload(op.path, lo, tmp, progress)
            except Unreadable as exc:
                return OpResult(op, "unreadable", None, exc.reason)
            if sent is None:
                return OpResult(op, "failed", None, "vanished locally")
        try:
            copy = await self._clear(op.path, op.expect, False)
            await self.sftp.posix_rename(tmp, self._r(op.path))
        except BaseException:
            try:
                await self.sftp.remove(tmp)
            except (asyncssh.Error, OSError):
                pass
            raise
        torn = sent is not None and sent.size == -1
        return OpResult(op, "ok", await self.look(op.path), copy, sent, torn)

    async def _one(self, op: Op, progress: Callable[[int], None]) -> OpResult:
        r = self._r(op.path)
        if op.kind == "put":
            return await self._put(op, progress)
        if op.kind == "mkdir":
            assert op.local is not None
            copy = await self._clear(op.path, op.expect, True)
            if copy != "=":
                await self.sftp.mkdir(r)
            await self.sftp.chmod(r, op.local.mode)
            return OpResult(op, "ok", await self.look(op.path), copy.lstrip("="), op.local)
        if op.kind == "move":
            assert op.local is not None
            if not _same(await self.look(op.src), op.src_expect):
                return OpResult(op, "failed", None, "the source changed on the pod")
            copy = await self._clear(op.path, op.expect, False)
            await self.sftp.posix_rename(self._r(op.src), r)
            await self.sftp.chmod(r, op.local.mode)
            return OpResult(op, "ok", await self.look(op.path), copy, op.local)
        if op.kind == "chmod":
            assert op.local is not None
            if not _same(await self.look(op.path), op.expect):
                return OpResult(op, "kept", None, "changed on the pod")
            await self.sftp.chmod(r, op.local.mode)
            return OpResult(op, "ok", await self.look(op.path), "", op.local)
        if op.kind == "delete":
            if not _same(await self.look(op.path), op.expect):
                return OpResult(op, "kept", None, "changed on the pod")
            await self.sftp.remove(r)
            return OpResult(op, "ok")
        if op.kind == "rmdir":
            try:
                await self.sftp.rmdir(r)
            except asyncssh.SFTPNoSuchFile:
                pass
            except asyncssh.SFTPError:
                return OpResult(op, "kept", None, "not empty: holds files rpdev did not write")
            return OpResult(op, "ok")
        if op.kind == "clean":
            await self._remove_tree(op.path)
            return OpResult(op, "ok")
        raise ValueError(op.kind)

    async def _remove_tree(self, rel: str) -> None:
        cur = await self.look(rel)
        if cur is None:
            return
        if cur.kind != "dir":
            await self.sftp.remove(self._r(rel))
            return
        for name in await self.sftp.listdir(self._r(rel)):
            n = os.fsdecode(name)
            if n not in (".", ".."):
                await self._remove_tree(f"{rel}/{n}")
        await self.sftp.rmdir(self._r(rel))

    async def apply(self, ops: list[Op], progress: Progress | None = None) -> list[OpResult]:
        """Run `ops` in order; ops of one phase that may overlap run concurrently."""
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        total = sum(
            op.local.size for op in ops if op.kind == "put" and op.local and op.local.kind == "file"
        )
        count = sum(1 for op in ops if op.kind == "put")
        done = [0, 0]

        def tick(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], total, done[1], count)

        async def guarded(op: Op) -> OpResult:
            async with self.sem:
                try:
                    res = await self._one(op, tick)
                except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection):
                    raise
                except asyncssh.SFTPError as exc:
                    res = OpResult(op, "failed", None, str(exc.reason))
                if op.kind == "put":
                    done[1] += 1
                    tick(0)
                return res

        results: list[OpResult] = []
        group: list[Op] = []

        async def flush() -> None:
            results.extend(await asyncio.gather(*(guarded(op) for op in group)))
            group.clear()

        for op in ops:
            # mkdir/rmdir order matters (parents, children); so does replacing a directory.
            if op.kind in ("mkdir", "rmdir") or (op.expect and op.expect.kind == "dir"):
                await flush()
                results.append(await guarded(op))
            else:
                group.append(op)
        await flush()
        return results
