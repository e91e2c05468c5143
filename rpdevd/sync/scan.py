"""The local tree: one walk that applies the ignore rules and classifies every entry.

Symlinks are never followed. A relative symlink whose target stays inside the root is synced as a
symlink; an absolute one, or one that climbs out, is skipped with a warning (on the pod it would
point somewhere else, or outside the sync root). Fifos, sockets and devices are skipped too.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path

from rpdevd.sync.ignore import IgnoreRules
from rpdevd.sync.model import LocalEntry


class LocalRootError(Exception):
    """The local root is missing, not a directory, or unreadable: nothing may be deleted."""


@dataclass
class ScanResult:
    entries: dict[str, LocalEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
    """The entry at `rel` now (None if absent or not syncable). Does not apply ignore rules."""
    full = os.path.join(root, rel)
    try:
        st = os.lstat(full)
        target = os.readlink(full) if stat.S_ISLNK(st.st_mode) else ""
    except OSError:
        return None
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
    while stack:
        rel_dir = stack.pop()
        full_dir = os.path.join(root, rel_dir) if rel_dir else str(root)
        if rel_dir:
            rules.load_dir(root, rel_dir)
        try:
            it = os.scandir(full_dir)
        except FileNotFoundError:
            if not rel_dir:
                raise LocalRootError(f"local root {root} vanished during the scan") from None
            continue
        except OSError as exc:
            if not rel_dir:
                raise LocalRootError(f"local root {root} cannot be read: {exc.strerror}") from None
            result.warnings.append(f"skipped directory {rel_dir!r}: {exc.strerror}")
            continue
        with it:
            for de in it:
                rel = f"{rel_dir}/{de.name}" if rel_dir else de.name
                try:
                    is_dir = de.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if rules.ignored(rel, is_dir):
                    continue
                entry = stat_one(root, rel, result.warnings)
                if entry is None:
                    continue
                result.entries[rel] = entry
                if entry.kind == "dir":
                    stack.append(rel)
    result.warnings += case_collisions(result.entries)
    return result


def case_collisions(entries: dict[str, LocalEntry]) -> list[str]:
    """Paths that differ only in case: they collide on a case-insensitive filesystem."""
    seen: dict[str, str] = {}
    out = []
    for rel in sorted(entries):
        key = rel.casefold()
        if key in seen:
            out.append(f"{seen[key]!r} and {rel!r} differ only in case")
        else:
            seen[key] = rel
    return out
