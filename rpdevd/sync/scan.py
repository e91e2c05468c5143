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

import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from rpdevd.sync.ignore import IgnoreRules
from rpdevd.sync.model import LocalEntry


class LocalRootError(Exception):
    """The local root is missing, not a directory, or unreadable: nothing may be deleted."""


@dataclass
class ScanResult:
    entries: dict[str, LocalEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Paths whose state could not be read, with the reason: unknown, never deleted.
    unreadable: dict[str, str] = field(default_factory=dict)


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


def scan_tree(root: Path, rules: IgnoreRules, start: str = "") -> ScanResult:
    """Every syncable, non-ignored entry under `root/start` ('' for the whole tree)."""
    check_root(root)
    result = ScanResult()
    stack = [start]
    clash = False  # two names in one directory that differ only in case
    while stack:
        rel_dir = stack.pop()
        if rel_dir:
            rules.load_dir(root, rel_dir)
        try:
            found = _list_dir(root, rel_dir, rules, result.warnings)
        except FileNotFoundError:
            if not rel_dir:
                raise LocalRootError(f"local root {root} vanished during the scan") from None
            continue  # gone since its parent was listed: a deletion like any other
        except Unreadable as exc:
            if not rel_dir:
                raise LocalRootError(f"local root {root} cannot be read: {exc.reason}") from None
            result.unreadable[rel_dir] = exc.reason
            continue
        if rel_dir in rules.unreadable:  # its ignore rules are unknown, so is what it holds
            why = rules.unreadable[rel_dir]
            if not rel_dir:
                raise LocalRootError(f"local root {root}: cannot read its ignore rules ({why})")
            result.unreadable[rel_dir] = why
            continue
        for rel, entry in found:
            result.entries[rel] = entry
            if entry.kind == "dir":
                stack.append(rel)
        # Paths that differ only in case differ so first in one directory: looked for there,
        # a directory at a time (no second copy of every path at once).
        if not clash and len(found) > 1:
            clash = len({rel.casefold() for rel, _ in found}) < len(found)
    if clash:
        result.warnings += case_collisions(result.entries)
    return result


_PERMS = tuple(range(0o1000))


def _list_dir(
    root: Path, rel_dir: str, rules: IgnoreRules, warnings: list[str]
) -> list[tuple[str, LocalEntry]]:
    """The syncable, non-ignored entries of one directory, all or nothing: any entry that
    cannot be examined makes the whole directory Unreadable (its listing would be partial).
    The hot loop of a scan (every entry of the tree): the entry's own `lstat` through its
    DirEntry, its record built with tuple.__new__ (a named tuple's __new__ runs Python code)."""
    full_dir = os.path.join(root, rel_dir) if rel_dir else str(root)
    prefix = rel_dir + "/" if rel_dir else ""
    ignored = rules.dir_matcher(rel_dir)
    new = tuple.__new__
    perms = _PERMS  # one int object per mode (most of a tree shares two or three)
    out: list[tuple[str, LocalEntry]] = []
    try:
        with os.scandir(full_dir) as it:
            for de in it:
                rel = prefix + de.name
                if ignored(rel, de.is_dir(follow_symlinks=False)):
                    continue
                try:
                    st = de.stat(follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    continue  # gone since the directory was listed: a deletion
                mode = st.st_mode
                perm = perms[mode & 0o777]
                if S_ISREG(mode):
                    entry = new(
                        LocalEntry,
                        ("file", st.st_size, st.st_mtime_ns, perm, st.st_ino, ""),
                    )
                elif S_ISDIR(mode):
                    entry = new(LocalEntry, ("dir", 0, 0, perm, st.st_ino, ""))
                else:
                    found = stat_one(root, rel, warnings)  # symlinks and the rest: rare
                    if found is None:
                        continue
                    entry = found
                out.append((rel, entry))
    except FileNotFoundError:
        raise
    except NotADirectoryError:
        raise FileNotFoundError(rel_dir) from None  # replaced by a file since: not this dir
    except Unreadable:
        raise
    except OSError as exc:
        raise Unreadable(reason(exc)) from None
    return out


def case_collisions(entries: dict[str, LocalEntry]) -> list[str]:
    """Paths that differ only in case: they collide on a case-insensitive filesystem."""
    first: dict[str, str] = {}
    clash = set()
    for rel in entries:  # one pass without sorting: a clash is rare
        key = rel.casefold()
        if first.setdefault(key, rel) is not rel:
            clash.add(key)
    if not clash:
        return []
    del first
    seen: dict[str, str] = {}
    out = []
    for rel in sorted(p for p in entries if p.casefold() in clash):
        key = rel.casefold()
        if key in seen:
            out.append(f"{seen[key]!r} and {rel!r} differ only in case")
        else:
            seen[key] = rel
    return out
