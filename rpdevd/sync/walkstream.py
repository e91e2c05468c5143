"""A first sync's walk, in a forked child that sends its entries a part at a time as it finds
them, so that the plan is made while the tree is walked (`plan.FreshPlan`, `engine`).

    stream = EntryStream.start(root, config)     # with the event loop running
    while (part := await stream.next_part()) is not None:
        ...                                      # a few thousand entries, in the walk's order
    rules, result = stream.outcome()             # warnings, unreadable paths, the digest

Each directory's entries come in a part no later than those of what it holds (a directory is
found in its parent's listing, before it is read). The child is forked as a resync's walk is
(`scanproc`: only where that is safe, and its errors raised here), shares its walk with a
second walker as a resync's does (two cores), walks in a resync's order and takes the digest
a resync's scan of the same tree takes, which a first sync that lands everything as walked
keeps for the next resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from rpdevd.sync import scanproc
from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
from rpdevd.sync.model import LocalEntry, hasher, local_record
from rpdevd.sync.scan import Pending, ScanResult, TreeWalk, check_root
from rpdevd.sync.scanproc import (
    SHARE_AT,
    Beside,
    ScanChildError,
    answer,
    end_child,
    fork_child,
    outcome_of,
    pack,
    setup_child,
    write_all,
)

# A first sync's walk (`EntryStream`) sends frames: a kind, the length (8 bytes, big-endian),
# then the bytes. `_PART`: some entries, as marshal's (paths, fields); `_END`: the outcome, as
# `pack` writes it, its entries left out (the parts had them).
_PART = b"E"
_END = b"R"
_FRAME = 9
PART_ENTRIES = 4096  # entries a part, about


class EntryStream:
    """A first sync's walk, in a forked child that sends its entries a part at a time as it
    finds them (a few thousand each, directory by directory, in the walk's order), so that the
    plan is made while the tree is walked (`plan.FreshPlan`) rather than after it. Where
    there are two cores the walk is shared as a resync's is (`scanproc`): a second walker
    walks every other pending directory, and its parts follow the child's own, while this
    process plans what has come. Its output is read as the parts are asked for: what the
    reader has not taken waits in the pipe (1 MiB: a few parts), where the child waits for
    it, and never piles up here."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid: int | None = pid
        self._fd = fd
        self._buf = bytearray()
        self._ended = False  # the pipe's end was read
        self._outcome: bytes | None = None  # the last frame's bytes, once it came
        os.set_blocking(fd, False)

    @classmethod
    def start(cls, root: Path, config: IgnoreConfig) -> EntryStream:
        """Fork the walk (ScanChildError where no process can be had)."""
        pid, r = fork_child(lambda r, w: _stream_child(r, w, root, config))
        return cls(pid, r)

    async def next_part(self) -> dict[str, LocalEntry] | None:
        """The next part of the walk's entries; None once it has ended (then `outcome`)."""
        while self._outcome is None:
            if self._pid is None:
                raise ScanChildError("the local scan's process was stopped")
            buf = self._buf
            if len(buf) >= _FRAME:
                size = int.from_bytes(buf[1:_FRAME], "big")
                if len(buf) - _FRAME >= size:
                    kind = bytes(buf[:1])
                    with memoryview(buf) as view:
                        payload = view[_FRAME : _FRAME + size].tobytes()
                    del buf[: _FRAME + size]
                    if kind == _PART:
                        return _entries(payload)
                    if kind == _END and not buf:
                        self._outcome = payload
                        return None
                    self.stop()
                    raise ScanChildError("the local scan's process sent what it should not")
            if self._ended:
                self.stop()
                raise ScanChildError("the local scan's process ended without a result")
            try:
                data = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                await self._readable()
                continue
            except OSError:
                data = b""
            if data:
                buf += data
            else:
                self._ended = True
        return None

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self._fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(self._fd)

    def outcome(self) -> tuple[IgnoreRules, ScanResult]:
        """Once every part is read: the rules the child built and its result without its
        entries, or what the walk raised, raised here."""
        payload, self._outcome = self._outcome, None
        self.stop()
        if payload is None:
            raise ScanChildError("the local scan's process ended without a result")
        rules, result, _ = outcome_of(payload)
        return rules, result

    def stop(self) -> None:
        """End the child (gone already, once its outcome was read) and reap it."""
        if self._pid is not None:
            pid, self._pid = self._pid, None
            end_child(pid, self._fd)


def _entries(payload: bytes) -> dict[str, LocalEntry]:
    paths, fields = marshal.loads(payload)
    new = tuple.__new__
    return dict(zip(paths, [new(LocalEntry, f) for f in fields], strict=True))


class _Parts:
    """A walk's sink (`TreeWalk.sink`): its entries gathered into parts of PART_ENTRIES or so,
    each handed to `out` as it is sent (marshal's (paths, fields)), and their records
    (`model.local_record`, the bytes the baseline keeps) for the walk's digest."""

    def __init__(self, out: Callable[[bytes], object]) -> None:
        self.out = out
        self.records: list[bytes] = []
        self._part: list[tuple[str, LocalEntry]] = []

    def __call__(self, found: list[tuple[str, LocalEntry]]) -> None:
        self._part.extend(found)
        self.records.extend([local_record(p, e) for p, e in found])
        if len(self._part) >= PART_ENTRIES:
            self.flush()

    def flush(self) -> None:
        """Hand over what is gathered, if anything."""
        if self._part:
            part, self._part = self._part, []
            self.out(marshal.dumps(([p for p, _ in part], [tuple(e) for _, e in part])))


def _send(w: int, data: bytes) -> None:
    write_all(w, (_PART + len(data).to_bytes(_FRAME - 1, "big"), data))


def _half_beside(r: int, w: int, walk: TreeWalk, pending: list[Pending], walker: int) -> NoReturn:
    """The other walker of a first sync's walk: after its result (`answer`), one marshal'd
    list of its records (marshal'd too), then its parts as the stream sends them. It stops
    early where the walk it shares (process `walker`) has ended."""

    def outcome() -> tuple[bytes, ...]:
        mine = TreeWalk(walk.root, walk.rules, False)
        parts: list[bytes] = []
        mine.sink = sink = _Parts(parts.append)
        mine.run(pending, until=lambda _: os.getppid() != walker)
        sink.flush()
        mine.result.entries = {}
        found = marshal.dumps([marshal.dumps(sink.records), *parts])
        return pack(True, (mine.rules, mine.result, mine.clash), found)

    answer(w, lambda: os.close(r), outcome)


def _stream_child(r: int, w: int, root: Path, config: IgnoreConfig) -> NoReturn:
    """Walk, sending the entries a part at a time, then the outcome; and leave (`answer`).

    The outcome's digest is the one a resync's walk (`_walk`) of the tree, as it is, will
    take: the walk goes in that walk's order (its first walker's part, then its second's,
    where it shares: the second walker, `_half_beside`, walks beside the first), and the
    digest is of the entries' records, as that walk takes it. A first sync that lands
    everything as it was walked keeps it, so that the next resync's scan is told by it
    (`engine`)."""
    sink = _Parts(lambda data: _send(w, data))

    def outcome() -> tuple[bytes, ...]:
        rules = IgnoreRules.for_root(root, config)
        check_root(root)
        walk = TreeWalk(root, rules, False)
        walk.sink = sink
        pending = walk.run([("", None)], until=lambda stack: len(stack) >= SHARE_AT)
        other = None
        if scanproc.shared(pending):
            with contextlib.suppress(OSError):  # no process to be had: walked here alone
                other = Beside.start(walk, pending[1::2], _half_beside)
        try:
            walk.run(pending[::2] if other is not None else pending)
        except BaseException:
            if other is not None:
                other.stop()
            raise
        sink.flush()
        if other is not None:
            # The other half, after this one: its parts as it sent them, its records after
            # these, and what else it found. (`Beside.result` hands over what `_half_beside`
            # wrote after its result as the result's records.)
            rules_there, there, clash = other.result()
            blob, *parts = there.records
            there.records = []
            for data in parts:
                _send(w, data)
                if walk.clash or clash:  # its paths, for the case collisions `finish` names
                    walk.result.entries.update(_entries(data))
            sink.records.extend(marshal.loads(blob))
            walk.merge(rules_there, there, clash)
        result = walk.finish()
        result.entries = {}
        h = hasher()
        h.update(marshal.dumps(sink.records))
        result.digest = h.digest()
        return pack(True, (rules, result))

    def framed(parts: tuple[bytes, ...]) -> tuple[bytes, ...]:
        size = sum(len(p) for p in parts)
        return (_END + size.to_bytes(_FRAME - 1, "big"), *parts)

    answer(w, lambda: setup_child(r, w), outcome, framed)
