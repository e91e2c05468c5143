"""Local files opened below a sync root through their directories, one name at a time from the
root without following a symlink (as the walk opens them, `scan._open_dir`): a directory
swapped for a symlink since the scan (by another user who can write in the tree, or a race) is
never read through, which would send whatever it points at.

    below = Below(root)            # kept open along the current path: files of one
    fd = os.open(name, flags, dir_fd=below.parent(rel)[0])   # directory cost one open each
    below.close()

`open_below` does it once, for a few files. A pull lands files the same way, through
directories opened (and made) one name at a time, so that nothing is written through a symlink
(`pull.py`).
"""

from __future__ import annotations

import contextlib
import errno
import os
from stat import S_ISLNK

_ROOT = os.O_RDONLY | os.O_DIRECTORY
_SUBDIR = _ROOT | os.O_NOFOLLOW
SWAPPED = "a directory above it was replaced by a symlink while it was read"


class Swapped(Exception):
    """A directory on the way to a file is a symlink now."""


class Below:
    """The directories of the files being sent (or pulled: `parent(rel, make=True)`), opened
    from the root one name at a time without following a symlink (as the walk opens them), and
    kept open along the current path: a directory swapped for a symlink since the scan is never
    read or written through (it would send whatever it points at, or land a pulled file there),
    and each file is opened by its name in its own directory. Consecutive files mostly share
    their directory (the ops come in the plan's order)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.path: list[str] = []  # the names of the open directories below the root
        self.fds: list[int] = []  # the root's descriptor, then one per name in `path`
        self.last: str | None = None  # `path` joined, once it is all open

    def parent(self, rel: str, make: bool = False) -> tuple[int, str]:
        """(the descriptor of rel's directory, rel's own name). OSError where that directory
        cannot be opened (ENOENT, ENOTDIR: gone, or a file on the way); Swapped where one on
        the way is a symlink now. `make`: a missing one is made (a file about to land)."""
        cut = rel.rfind("/")
        where = rel[:cut] if cut >= 0 else ""
        if where != self.last:  # not the last file's directory (the usual case is)
            self._to(where.split("/") if where else [], make)
            self.last = where
        return self.fds[-1], rel[cut + 1 :]

    def _to(self, names: list[str], make: bool = False) -> None:
        """Open the directories `names` below the root, keeping those already open (and
        making those missing, with `make`)."""
        path, fds = self.path, self.fds
        self.last = None
        if not fds:
            fds.append(os.open(self.root, _ROOT))
        keep = 0
        for have, want in zip(path, names, strict=False):
            if have != want:
                break
            keep += 1
        while len(path) > keep:
            path.pop()
            os.close(fds.pop())
        for part in names[keep:]:
            if make:
                with contextlib.suppress(FileExistsError):  # what is there is opened below
                    os.mkdir(part, dir_fd=fds[-1])
            try:
                fd = os.open(part, _SUBDIR, dir_fd=fds[-1])
            except OSError as exc:
                # A symlink: ELOOP, or (Linux, with O_DIRECTORY) ENOTDIR as for a file.
                if exc.errno == errno.ELOOP:
                    raise Swapped from None
                if exc.errno == errno.ENOTDIR:
                    try:
                        link = S_ISLNK(os.lstat(part, dir_fd=fds[-1]).st_mode)
                    except OSError:
                        link = False
                    if link:
                        raise Swapped from None
                raise
            path.append(part)
            fds.append(fd)

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())
        self.path.clear()
        self.last = None


def open_below(root: str, rel: str, flags: int) -> int:
    """`rel` below `root` opened with `flags` (add O_NOFOLLOW for the file itself), through its
    directories: OSError as `os.open` raises it (ENOENT, ENOTDIR where a directory on the way
    is gone or a file now), Swapped where one is a symlink."""
    below = Below(root)
    try:
        where, name = below.parent(rel)
        return os.open(name, flags, dir_fd=where)
    finally:
        below.close()
