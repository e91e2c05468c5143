"""The local tree: one walk that applies the ignore rules and classifies every entry.

Symlinks are never followed. A relative symlink whose target stays inside the root is synced as a
symlink; an absolute one, or one that climbs out, is skipped with a warning (on the pod it would
point somewhere else, or outside the sync root). Fifos, sockets and devices are skipped too.

A directory that cannot be listed (no permission, a failed mount), or holds an entry that cannot
be examined, is *unreadable*: its state is unknown, so it is reported in `ScanResult.unreadable`
and nothing at or below it may be deleted or changed (see `plan.plan`'s `unknown`). It is never
taken as empty.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import Any

from rpdevd.sync.ignore import IgnoreRules, never_ignored
from rpdevd.sync.model import LocalEntry, local_record, local_record_path


class LocalRootError(Exception):
    """The local root is missing, not a directory, or unreadable: nothing may be deleted."""


@dataclass
class ScanResult:
    entries: dict[str, LocalEntry] = field(default_factory=dict)
    # With `scan_tree(records=True)` the entries come as `model.local_record` bytes instead,
    # `entries` left empty: a full pass compares them with the baseline's as sets and builds
    # entries only for the paths where something differs (`model.entry_from_record`).
    records: list[bytes] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Paths whose state could not be read, with the reason: unknown, never deleted.
    unreadable: dict[str, str] = field(default_factory=dict)
    # The records' digest (`model.hasher`), where the scan took one (a forked walk's: see
    # scanproc): a scan with the digest of one compared before is told what that one was.
    digest: bytes | None = None


class Unreadable(Exception):
    """A path exists but its state cannot be read (not a vanished path: that is a deletion)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def entry_from_stat(st: os.stat_result, target: str = "") -> LocalEntry | None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return LocalEntry("file", st.st_size, st.st_mtime_ns, stat.S_IMODE(mode) & 0o777, st.st_ino)
    if stat.S_ISDIR(mode):
        return LocalEntry("dir", 0, 0, stat.S_IMODE(mode) & 0o777, st.st_ino)
    if stat.S_ISLNK(mode):
        return LocalEntry("symlink", st.st_size, st.st_mtime_ns, 0o777, st.st_ino, target)
    return None


def symlink_inside(rel: str, target: str) -> bool:
    """Whether a symlink at `rel` pointing at `target` stays inside the root (judged on the text,
    as the pod will read it)."""
    if not target or target.startswith("/") or "\x00" in target:
        return False
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    return joined != ".." and not joined.startswith("../") and not joined.startswith("/")


def check_root(root: Path) -> None:
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise LocalRootError(f"local root {root} does not exist") from None
    except OSError as exc:
        raise LocalRootError(f"local root {root} cannot be read: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise LocalRootError(f"local root {root} is not a directory")


def stat_one(root: Path, rel: str, warnings: list[str] | None = None) -> LocalEntry | None:
    """The entry at `rel` now (None if absent or not syncable). Does not apply ignore rules.
    Raises Unreadable when the path may exist but cannot be examined."""
    full = os.path.join(root, rel)
    try:
        st = os.lstat(full)
        target = os.readlink(full) if stat.S_ISLNK(st.st_mode) else ""
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise Unreadable(reason(exc)) from None
    entry = entry_from_stat(st, target)
    if entry is None:
        if warnings is not None:
            warnings.append(f"skipped {rel!r}: not a regular file, directory or symlink")
        return None
    if entry.kind == "symlink" and not symlink_inside(rel, target):
        if warnings is not None:
            warnings.append(f"skipped symlink {rel!r} -> {target!r}: it points outside the root")
        return None
    return entry


def scan_tree(
    root: Path, rules: IgnoreRules, start: str = "", *, records: bool = False
) -> ScanResult:
    """Every syncable, non-ignored entry under `root/start` ('' for the whole tree), as
    `entries`, or as `records` with `records=True`."""
    check_root(root)
    walk = TreeWalk(root, rules, records)
    walk.run([(start, None)])
    return walk.finish()


# A directory to walk, with the identity (device, inode) its parent's listing saw (None: the
# first, not seen in a listing).
Pending = tuple[str, tuple[int, int] | None]


class TreeWalk:
    """One walk of a tree, depth first: `run` walks the directories on a stack and those found
    below them, into `result`; `finish` ends it. A walk may be shared out: stopped while
    directories are still pending (`run`'s `until`), they can be walked elsewhere (another
    process: see scanproc), and what that found `merge`d back before `finish`."""

    def __init__(self, root: Path, rules: IgnoreRules, records: bool) -> None:
        self.root = root
        self.rules = rules
        self.records = records
        self.result = ScanResult()
        self.clash = False  # two names in one directory that differ only in case
        # Handed each directory's entries (or records) as they are found, where set.
        self.sink: Callable[[list[Any]], None] | None = None

    def run(
        self, stack: list[Pending], until: Callable[[list[Pending]], bool] | None = None
    ) -> list[Pending]:
        """Walk the stack's directories, and theirs below them, until none is left, or until
        `until(stack)` holds (asked before each directory); returns what is left."""
        root, rules, result, records = self.root, self.rules, self.result, self.records
        while stack:
            if until is not None and until(stack):
                break
            rel_dir, seen = stack.pop()
            if rel_dir:
                rules.load_dir(root, rel_dir)
            try:
                found, dirs, names = _list_dir(root, rel_dir, rules, result.warnings, records, seen)
            except FileNotFoundError:
                if not rel_dir:
                    raise LocalRootError(f"local root {root} vanished during the scan") from None
                continue  # gone since its parent was listed: a deletion like any other
            except Unreadable as exc:
                if not rel_dir:
                    raise LocalRootError(
                        f"local root {root} cannot be read: {exc.reason}"
                    ) from None
                result.unreadable[rel_dir] = exc.reason
                continue
            if rel_dir in rules.unreadable:  # its ignore rules are unknown, so is what it holds
                why = rules.unreadable[rel_dir]
                if not rel_dir:
                    raise LocalRootError(f"local root {root}: cannot read its ignore rules ({why})")
                result.unreadable[rel_dir] = why
                continue
            if records:
                result.records += found
            else:
                result.entries.update(found)
            if self.sink is not None:
                self.sink(found)
            stack += dirs
            # Paths that differ only in case differ so first in one directory: looked for
            # there, a directory at a time (no second copy of every path at once).
            if not self.clash and len(names) > 1:
                self.clash = case_clash(names)
        return stack

    def merge(self, rules: IgnoreRules, result: ScanResult, clash: bool) -> None:
        """Take in what a walk of some of this one's pending directories found (after this
        one's own records), with the ignore rules it read on the way."""
        self.rules.merge(rules)
        self.result.entries.update(result.entries)
        self.result.records += result.records
        self.result.warnings += result.warnings
        self.result.unreadable.update(result.unreadable)
        self.clash = self.clash or clash

    def finish(self) -> ScanResult:
        """The result, with a warning for each pair of paths that differ only in case."""
        result = self.result
        if self.clash:
            paths = map(local_record_path, result.records) if self.records else iter(result.entries)
            result.warnings += case_collisions(paths)
        return result


_PERMS = tuple(range(0o1000))
_FILE = "file"
_DIR = "dir"


def _list_dir(
    root: Path,
    rel_dir: str,
    rules: IgnoreRules,
    warnings: list[str],
    records: bool,
    seen: tuple[int, int] | None = None,
) -> tuple[list[Any], list[tuple[str, tuple[int, int]]], list[str]]:
    """The syncable, non-ignored entries of one directory (`(path, entry)` pairs, or records
    with `records`), its directories and the names seen, all or nothing: any entry that cannot
    be examined makes the whole directory Unreadable (its listing would be partial).
    The hot loop of a scan (every entry of the tree): the entry's own `lstat` through its
    DirEntry, relative to the directory's descriptor (the kernel resolves one name, not the
    whole path, for each), its record formatted in one go or its entry built with
    tuple.__new__ (a named tuple's __new__ runs Python code); the ignore rules asked only
    where there are any.
    A directory below the root is opened without following a symlink, and must be the one its
    parent's listing saw (`seen`: a parent of it swapped for a symlink since would lead
    elsewhere): one put in its place since is not read through (it would sync whatever it
    points at); its state is unknown for this pass."""
    full_dir = os.path.join(root, rel_dir) if rel_dir else str(root)
    prefix = rel_dir + "/" if rel_dir else ""
    ignored = rules.dir_matcher(rel_dir)
    check = ignored is not never_ignored
    new = tuple.__new__
    perms = _PERMS  # one int object per mode (most of a tree shares two or three)
    found: list[Any] = []
    dirs: list[tuple[str, tuple[int, int]]] = []
    names: list[str] = []
    fd = _open_dir(full_dir, rel_dir, seen)
    try:
        with os.scandir(fd) as it:
            for de in it:
                name = de.name
                rel = prefix + name
                if check and ignored(rel, de.is_dir(follow_symlinks=False)):
                    continue
                try:
                    st = de.stat(follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    continue  # gone since the directory was listed: a deletion
                mode = st.st_mode
                perm = perms[mode & 0o777]
                if S_ISREG(mode):
                    if records:
                        found.append(
                            b"%s\0file\0%d\0%d\0%d\0%d\0"
                            % (
                                _encode(rel, _UTF8, _ESC),
                                st.st_size,
                                st.st_mtime_ns,
                                perm,
                                st.st_ino,
                            )
                        )
                    else:
                        found.append(
                            (
                                rel,
                                new(
                                    LocalEntry,
                                    (_FILE, st.st_size, st.st_mtime_ns, perm, st.st_ino, ""),
                                ),
                            )
                        )
                elif S_ISDIR(mode):
                    dirs.append((rel, (st.st_dev, st.st_ino)))
                    if records:
                        found.append(
                            b"%s\0dir\x000\x000\0%d\0%d\0"
                            % (_encode(rel, _UTF8, _ESC), perm, st.st_ino)
                        )
                    else:
                        found.append((rel, new(LocalEntry, (_DIR, 0, 0, perm, st.st_ino, ""))))
                else:
                    entry = stat_one(root, rel, warnings)  # symlinks and the rest: rare
                    if entry is None:
                        continue
                    found.append(local_record(rel, entry) if records else (rel, entry))
                names.append(name)
    except FileNotFoundError:
        raise
    except NotADirectoryError:
        raise FileNotFoundError(rel_dir) from None  # replaced by a file since: not this dir
    except Unreadable:
        raise
    except OSError as exc:
        raise Unreadable(reason(exc)) from None
    finally:
        os.close(fd)
    return found, dirs, names


_ROOT = os.O_RDONLY | os.O_DIRECTORY
_SUBDIR = _ROOT | os.O_NOFOLLOW


def _open_dir(full_dir: str, rel_dir: str, seen: tuple[int, int] | None = None) -> int:
    """A descriptor of the directory to list: FileNotFoundError where it is gone or became a
    file (a deletion, as for a vanished file), Unreadable where it cannot be opened, is a
    symlink now, or is not the directory `seen` (device, inode) any more."""
    try:
        fd = os.open(full_dir, _SUBDIR if rel_dir else _ROOT)
    except FileNotFoundError:
        raise FileNotFoundError(rel_dir) from None
    except OSError as exc:
        # A symlink now: ELOOP, or (Linux, with O_DIRECTORY) ENOTDIR as for a file.
        if exc.errno == errno.ELOOP or (
            isinstance(exc, NotADirectoryError) and os.path.islink(full_dir)
        ):
            raise Unreadable("replaced by a symlink while it was read") from None
        if isinstance(exc, NotADirectoryError):
            raise FileNotFoundError(rel_dir) from None  # a file now: this directory is gone
        raise Unreadable(reason(exc)) from None
    if seen is not None:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != seen:
            os.close(fd)
            raise Unreadable("replaced by another directory while it was read")
    return fd


_encode = str.encode
_UTF8 = "utf-8"
_ESC = "surrogateescape"


def case_clash(names: list[str]) -> bool:
    """Whether two of one directory's names differ only in case. The names are folded all at
    once, joined by a "/" that no name holds and that folds to itself (case folding maps each
    character alone); ASCII names (most) are lower-cased, which for them is folding."""
    joined = "/".join(names)
    folded = joined.lower() if joined.isascii() else joined.casefold()
    return len(set(folded.split("/"))) < len(names)


def case_collisions(paths: Iterable[str]) -> list[str]:
    """Paths that differ only in case: they collide on a case-insensitive filesystem."""
    first: dict[str, str] = {}
    clash = set()
    every = []
    for rel in paths:  # one pass without sorting: a clash is rare
        every.append(rel)
        key = rel.casefold()
        if first.setdefault(key, rel) is not rel:
            clash.add(key)
    if not clash:
        return []
    del first
    seen: dict[str, str] = {}
    out = []
    for rel in sorted(p for p in every if p.casefold() in clash):
        key = rel.casefold()
        if key in seen:
            out.append(f"{seen[key]!r} and {rel!r} differ only in case")
        else:
            seen[key] = rel
    return out
