"""The local walk in a child process, for a resync by `rpdev sync once` on Linux.

A resync of a big tree is three reads and a comparison: this side's walk, the pod's listing, and
the baseline's records from SQLite. In one process the walk's thread and the rest take turns for
one interpreter lock (the walk lets go of it at every `lstat`, and waits to get it back), so the
walk's hundreds of milliseconds add to everything else. In a child of its own, forked (no
interpreter start, no imports), it runs on another core beside the baseline read and the pod's
listing.

The child sends back its ignore rules (the parent needs them afterwards: what is ignored now,
the live half's rules) and its `ScanResult`, or the exception the scan raised, pickled: it is
this process's own image that pickles them, so nothing from outside is unpickled. The records
(100,000 of them for a big tree) follow the pickle in `marshal`'s form, which writes a list of
bytes three times faster than pickle (no memo of each object), through a pipe grown to 1 MiB.

On a machine with more than one core the child shares its walk with a second process once
eight directories are pending (`_walk`): each walks every other one of them and all below it,
and the second hands its part back to the child, which sends the whole.

`rpdev sync once` of a tree it synced before starts that walk as soon as it knows the root and
its rules (`early_start`), before it loads the engine and asyncio; the scan of the same root by
the same rules takes it, and any other stops it, as the early `ssh` is taken or stopped.

A first sync's walk, which sends its entries as it finds them so that the plan is made while it
walks, is forked the same way (`walkstream`).

Only where that is safe: on Linux (on macOS a forked child may crash once system frameworks are
loaded) and in a process without other threads (a forked child inherits locks that other
threads may hold). Elsewhere, and in the daemon, the walk runs in a thread (`available()`).
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from rpdevd.sync.ignore import IgnoreConfig, IgnoreRules
from rpdevd.sync.model import hasher
from rpdevd.sync.scan import Pending, ScanResult, TreeWalk, check_root, reason


class ScanChildError(Exception):
    """The child could not be started, or ended without a result (killed, out of memory)."""


def available() -> bool:
    """Whether a scan may run in a forked child here and now."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


class Walk:
    """A walk running in a forked child since `start`; `result` reads what it found."""

    def __init__(self, key: tuple[Path, IgnoreConfig, bool], pid: int, fd: int) -> None:
        self.key = key
        self._pid: int | None = pid
        self._fd = fd
        self._buf = bytearray()  # what the child wrote, as far as it was read
        self._head = 0  # where its records start in it, once the head is read

    @classmethod
    def start(cls, root: Path, config: IgnoreConfig, records: bool) -> Walk:
        pid, r = fork_child(lambda r, w: _child(r, w, root, config, records))
        return cls((root, config, records), pid, r)

    async def result(self, told: bytes | None = None) -> tuple[IgnoreRules, ScanResult]:
        """The rules the child built and its result, or what it raised, raised here. Where
        the result's digest is `told` (its caller is told what the records would tell), they
        are left unread with the child, which waits to write them (`held`): `result.records`
        is empty, `rest` reads them, `stop` drops them."""
        if self._pid is None:
            raise ScanChildError("the local scan's process was stopped")
        try:
            await _read(self._fd, self._buf, None if told is None else _head_end)
            ok, value, self._head = _unpack_head(self._buf)
        except BaseException:
            self.stop()
            raise
        if not ok:
            self.stop()
            raise value
        rules, result = value
        if told is None or result.digest != told:
            result.records = await self.rest()
        return rules, result

    @property
    def held(self) -> bool:
        """Whether the child still holds the records of the result read (`result`)."""
        return self._pid is not None and self._head > 0

    async def rest(self) -> list[bytes]:
        """The records of the result read (`result`); the child is ended and reaped."""
        if self._pid is None or not self._head:
            raise ScanChildError("the local scan's process was stopped")
        try:
            await _read(self._fd, self._buf)
        finally:
            self.stop()
        try:
            records = marshal.loads(memoryview(self._buf)[self._head :])
        except Exception:
            records = None
        self._buf = bytearray()
        if not isinstance(records, list):
            raise ScanChildError("the local scan's process ended without a result")
        return records

    def stop(self) -> None:
        """End the child (gone already, unless its result was not read) and reap it."""
        if self._pid is not None:
            pid, self._pid = self._pid, None
            end_child(pid, self._fd)


# The walk `rpdev sync once` starts before it loads the engine (see early_start), until a scan
# of the same root, rules and kind takes it.
_early: Walk | None = None


def early_start(root: Path, config: IgnoreConfig) -> None:
    """`rpdev sync once` of a tree synced before: start its walk now, while the rest of rpdev
    loads and the pod is reached, where that is safe (`available`). Never raises."""
    global _early
    if available() and _early is None:
        with contextlib.suppress(ScanChildError):
            _early = Walk.start(root, config, True)


def discard_early() -> None:
    """Stop the walk early_start started that no scan took."""
    global _early
    walk, _early = _early, None
    if walk is not None:
        walk.stop()


async def scan(root: Path, config: IgnoreConfig, records: bool) -> tuple[IgnoreRules, ScanResult]:
    """`scan_tree(root, IgnoreRules.for_root(root, config), records=records)` in a forked
    child (the one early_start started, where it walks the same root by the same rules)."""
    rules, result, _ = await scan_unless_told(root, config, records, None)
    return rules, result


async def scan_unless_told(
    root: Path, config: IgnoreConfig, records: bool, told: bytes | None
) -> tuple[IgnoreRules, ScanResult, Walk | None]:
    """`scan`, but a result whose digest is `told` comes without its records: the walk that
    holds them comes with it (`Walk.rest` reads them, `Walk.stop` drops them); None where the
    result has its records."""
    global _early
    walk, _early = _early, None
    if walk is not None and walk.key != (root, config, records):
        walk.stop()  # another tree's or another rule's: not this pass's
        walk = None
    walk = walk or Walk.start(root, config, records)
    rules, result = await walk.result(told)
    return rules, result, walk if walk.held else None


def fork_child(child: Callable[[int, int], NoReturn]) -> tuple[int, int]:
    """A forked process that runs `child(r, w)` on a new pipe; here, its pid and the pipe's
    reading end (ScanChildError where no pipe or process can be had)."""
    try:
        r, w = os.pipe()
    except OSError as exc:  # out of descriptors
        raise ScanChildError(f"cannot start the local scan's process: {reason(exc)}") from None
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(r)
        os.close(w)
        raise ScanChildError(f"cannot start the local scan's process: {reason(exc)}") from None
    if pid == 0:  # pragma: no cover - the child: measured through what it sends
        child(r, w)
    os.close(w)
    return pid, r


def end_child(pid: int, fd: int) -> None:
    """Close the child's pipe, end it (gone already where its result was read) and reap it."""
    os.close(fd)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def outcome_of(payload: bytes | bytearray) -> tuple[IgnoreRules, ScanResult, list[bytes]]:
    """The rules, result and records a child sent, or what its walk raised, raised here."""
    try:
        ok, value, found = _unpack(payload)
    except Exception:
        raise ScanChildError("the local scan's process ended without a result") from None
    if ok:
        rules, result = value
        return rules, result, found
    raise value


_HEAD = 8  # the pickle's length, then the pickle, then the records (marshal)


def pack(ok: bool, value: object, records: bytes = marshal.dumps([])) -> tuple[bytes, ...]:
    """What the child writes, in parts (the records, already in marshal's form, are not copied
    into one)."""
    data = pickle.dumps((ok, value), protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_HEAD, "big"), data, records


def _unpack(payload: bytes | bytearray) -> tuple[bool, Any, list[bytes]]:
    ok, value, end = _unpack_head(payload)
    records = marshal.loads(memoryview(payload)[end:])
    if not isinstance(records, list):
        raise ValueError("no records")
    return ok, value, records


def _head_end(payload: bytes | bytearray) -> int:
    """Where the head (the pickle's length and the pickle) ends, once `payload` holds it all;
    0 until then."""
    if len(payload) < _HEAD:
        return 0
    end = _HEAD + int.from_bytes(payload[:_HEAD], "big")
    return end if len(payload) >= end else 0


def _unpack_head(payload: bytes | bytearray) -> tuple[bool, Any, int]:
    """The pickled outcome (ok, value), and where the records after it start; ScanChildError
    where it is not all there (the child ended without a result)."""
    end = _head_end(payload)
    try:
        if not end:
            raise ValueError("cut short")
        ok, value = pickle.loads(memoryview(payload)[_HEAD:end])
    except Exception:
        raise ScanChildError("the local scan's process ended without a result") from None
    return ok, value, end


async def _read(fd: int, buf: bytearray, enough: Callable[[bytearray], int] | None = None) -> None:
    """Read what the child writes into `buf` as it comes: to its end, or until `enough(buf)`
    (what follows stays in the pipe, the child waiting to write it)."""
    import asyncio  # here: early_start forks before this process has loaded asyncio

    if enough is not None and enough(buf):
        return
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError as exc:
            data = b""
            buf.clear()
            if not done.done():
                done.set_exception(ScanChildError(f"reading the local scan failed: {exc}"))
        if data:
            buf.extend(data)
            if enough is not None and enough(buf) and not done.done():
                done.set_result(None)
        elif not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)


def setup_child(r: int, w: int) -> None:
    os.close(r)
    # Signals are the parent's business: Ctrl-C ends the child (the parent reports it), and
    # none wakes the parent's event loop through the descriptor they share.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):  # F_SETPIPE_SZ: Linux only
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)


def _child(r: int, w: int, root: Path, config: IgnoreConfig, records: bool) -> NoReturn:
    """Scan, write the pickled outcome, and leave (`answer`)."""

    def setup() -> None:
        setup_child(r, w)

    def outcome() -> tuple[bytes, ...]:
        rules, result = _walk(root, config, records)
        found = marshal.dumps(result.records)
        result.records = []
        # The digest of the records as written: equal bytes, equal records in the same order
        # (and the walk's order is the directories' own, which stays while they do).
        h = hasher()
        h.update(found)
        result.digest = h.digest()
        return pack(True, (rules, result), found)

    answer(w, setup, outcome)


def answer(
    w: int,
    setup: Callable[[], None],
    outcome: Callable[[], tuple[bytes, ...]],
    wrap: Callable[[tuple[bytes, ...]], tuple[bytes, ...]] = lambda parts: parts,
) -> NoReturn:
    """A forked process's end: write what `outcome` gives, or the error it raised (raised
    again by the reader), each as `wrap` frames it, and leave without running anything of the
    parent's (no atexit handlers, no flushing of buffers the parent also holds)."""
    code = 0
    try:
        setup()
        try:
            data = outcome()
        except Exception as exc:  # the walk's own error
            data = _packed_error(exc)
        write_all(w, wrap(data))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


# A walk is shared with a second process once this many directories are pending (each then
# walks every other one of them, and all below it), on a machine with more than one core.
SHARE_AT = 8


def _walk(root: Path, config: IgnoreConfig, records: bool) -> tuple[IgnoreRules, ScanResult]:
    """`scan_tree` of the whole tree, shared with a process of its own where there is a core
    for it: the two walk at once. The records come in one order for one tree (this walk's,
    then the other's), so its digest stays while the tree does."""
    rules = IgnoreRules.for_root(root, config)
    check_root(root)
    walk = TreeWalk(root, rules, records)
    pending = walk.run([("", None)], until=lambda stack: len(stack) >= SHARE_AT)
    other = None
    if shared(pending):
        with contextlib.suppress(OSError):  # no process to be had: walked here alone
            other = Beside.start(walk, pending[1::2])
            pending = pending[::2]
    try:
        walk.run(pending)
    except BaseException:
        if other is not None:
            other.stop()
        raise
    if other is not None:
        walk.merge(*other.result())
    return rules, walk.finish()


def shared(pending: list[Pending]) -> bool:
    """Whether a walk with `pending` directories left once SHARE_AT were pending shares them
    with a second walker (a first sync's walk asks, to walk in the same order)."""
    return bool(pending) and _cores() > 1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# The other walker's process: (its pipe's two ends, the walk it shares, the directories it
# walks, the pid of the walker it shares with); it writes its result and leaves.
BesideChild = Callable[[int, int, TreeWalk, list[Pending], int], NoReturn]


class Beside:
    """Part of a walk, in a process forked from the walk's (whose copy of the rules and of the
    walk so far it starts from): its directories' records come back through a pipe."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid = pid
        self._fd = fd

    @classmethod
    def start(
        cls, walk: TreeWalk, pending: list[Pending], child: BesideChild | None = None
    ) -> Beside:
        """The other walker, forked: `child` (by default, a resync's: `_walk_beside`) walks
        `pending` and writes its result."""
        r, w = os.pipe()
        walker = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            raise
        if pid == 0:  # pragma: no cover - the other walker: measured through its result
            (child or _walk_beside)(r, w, walk, pending, walker)
        os.close(w)
        with contextlib.suppress(OSError):  # F_SETPIPE_SZ: Linux only
            fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, 1 << 20)
        return cls(pid, r)

    def result(self) -> tuple[IgnoreRules, ScanResult, bool]:
        """What it found (raised here: what it raised; ScanChildError: it ended without)."""
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            self.stop()
        try:
            ok, value, found = _unpack(b"".join(chunks))
        except Exception:
            raise ScanChildError("part of the local scan ended without a result") from None
        if not ok:
            raise value
        rules, result, clash = value
        result.records = found
        return rules, result, clash

    def stop(self) -> None:
        """End it (gone already, once its result was read) and reap it."""
        end_child(self._pid, self._fd)


def _walk_beside(r: int, w: int, walk: TreeWalk, pending: list[Pending], walker: int) -> NoReturn:
    """The other walker: its directories, then its result (`answer`); it stops early where
    the walk it shares (process `walker`, its parent) has ended: its result would have no
    reader."""

    def outcome() -> tuple[bytes, ...]:
        mine = TreeWalk(walk.root, walk.rules, walk.records)
        mine.run(pending, until=lambda _: os.getppid() != walker)
        found = marshal.dumps(mine.result.records)
        mine.result.records = []
        return pack(True, (mine.rules, mine.result, mine.clash), found)

    answer(w, lambda: os.close(r), outcome)


def _packed_error(exc: Exception) -> tuple[bytes, ...]:
    try:
        return pack(False, exc)
    except Exception:
        return pack(False, ScanChildError(f"{type(exc).__name__}: {exc}"))


def write_all(fd: int, parts: tuple[bytes, ...]) -> None:
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]
