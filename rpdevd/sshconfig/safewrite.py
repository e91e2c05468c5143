"""Safe read-modify-write of small files that ssh reads at any moment.

`update_file(path, change)`: under an exclusive lock, read the file, compute the new bytes, write
them to a temporary file beside it, fsync, rename over it, fsync the directory. A reader (or a
crash) sees the old file or the new one, never a mix; writers queue on the lock, so none loses
another's change. The mode is kept (0600 for a new file), a symlink (dotfile managers) is written
through to its target and stays a symlink, and the first change leaves one backup beside it.

Another tool that rewrites the file without rpdev's lock (SkyPilot also edits ~/.ssh/config)
cannot be excluded, only detected: if the file changed while the new bytes were computed, they are
computed again from the fresh content.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rpdevd import paths

BACKUP_SUFFIX = ".rpdev-backup"
TEMP_MARK = ".rpdev-tmp-"
NEW_FILE_MODE = 0o600
ATTEMPTS = 5


class ConcurrentChangeError(RuntimeError):
    """The file kept changing under us (another program rewriting it in a loop)."""


class ReadOnlyFile(PermissionError):
    """The user made the file read-only: a change is refused, even where root could write it."""


@dataclass(frozen=True)
class WriteResult:
    path: Path  # the file actually written (a symlink's target)
    changed: bool
    backup: Path | None = None  # set when this write made the backup


def lock_dir() -> Path:
    return paths.state_dir() / "locks"


def _lock_file(target: Path, where: Path | None) -> Path:
    # Locks live in rpdev's own state dir, not beside the user's file: no litter in ~/.ssh.
    digest = hashlib.sha256(str(target).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    directory = where if where is not None else lock_dir()
    paths.ensure_private_dir(directory)
    return directory / f"{target.name[:40]}-{digest}.lock"


@contextlib.contextmanager
def locked(target: Path, where: Path | None = None) -> Iterator[None]:
    fd = os.open(_lock_file(target, where), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def resolve(path: Path) -> Path:
    """The file a path names once symlinks are followed (possibly not existing yet)."""
    return Path(os.path.realpath(path))


def _read(target: Path) -> tuple[bytes | None, os.stat_result | None]:
    try:
        with open(target, "rb") as f:
            st = os.fstat(f.fileno())
            return f.read(), st
    except FileNotFoundError:
        return None, None


def _same(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_ino,
        b.st_size,
        b.st_mtime_ns,
        b.st_ctime_ns,
    )


def _stat(target: Path) -> os.stat_result | None:
    try:
        return os.stat(target)
    except FileNotFoundError:
        return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems cannot fsync a directory
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _write_temp(target: Path, data: bytes, mode: int, st: os.stat_result | None) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARK}", dir=target.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            if st is not None and os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
                # root editing someone else's file keeps it theirs (ssh refuses a config
                # owned by another user).
                os.fchown(f.fileno(), st.st_uid, st.st_gid)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _remove_stale_temps(*files: Path) -> None:
    # A writer killed between mkstemp and rename leaves its temp file; under the lock none is live.
    for file in files:
        prefix = f".{file.name}{TEMP_MARK}"
        with contextlib.suppress(OSError):
            for entry in os.scandir(file.parent):
                if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


class _ChangedMeanwhile(Exception):
    pass


def _replace(
    target: Path, data: bytes, st: os.stat_result | None, *, unchanged: bool = False
) -> None:
    """Write `data` to a temp file beside `target`, then rename it over `target`. With
    `unchanged`, first check (after the slow part: writing and fsyncing) that `target` still
    is what `st` saw, so an editor's save that landed meanwhile is never overwritten."""
    mode = stat.S_IMODE(st.st_mode) if st is not None else NEW_FILE_MODE
    tmp = _write_temp(target, data, mode, st)
    try:
        if unchanged and not _same(st, _stat(target)):
            raise _ChangedMeanwhile
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def backup_path(path: Path) -> Path:
    """Beside the path the user named: for a symlinked config that is ~/.ssh, not the dotfiles
    repository the link points into."""
    path = Path(os.path.abspath(path))
    return path.with_name(path.name + BACKUP_SUFFIX)


def update_file(
    path: Path,
    change: Callable[[bytes | None], bytes | None],
    *,
    backup: bool = False,
    lock_in: Path | None = None,
    respect_read_only: bool = False,
) -> WriteResult:
    """Apply `change` (old bytes or None -> new bytes, or None to leave the file alone) safely.

    `change` may run more than once and must be pure. It may raise to refuse; nothing is written.
    With `respect_read_only`, a file without its owner's write bit (`chmod 0400`, made read-only
    on purpose) is never changed: ReadOnlyFile. Only checking permissions would not do: the
    rename replaces the file whatever its mode, and root may write anything.
    """
    target = resolve(Path(path))
    backup_file = backup_path(path)
    # A missing directory (no ~/.ssh yet) is created private, as ssh itself would want it.
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with locked(target, lock_in):
        _remove_stale_temps(target, backup_file)
        for _ in range(ATTEMPTS):
            old, st = _read(target)
            new = change(old)
            if new is None or new == old:
                return WriteResult(target, changed=False)
            if respect_read_only and st is not None and not st.st_mode & stat.S_IWUSR:
                raise ReadOnlyFile(_read_only_message(Path(path), st))
            if not _same(st, _stat(target)):
                continue  # rewritten by someone outside the lock meanwhile: recompute
            made = None
            if backup and old is not None and not os.path.lexists(backup_file):
                made = backup_file
                _replace(made, old, st)
            try:
                _replace(target, new, st, unchanged=True)
            except _ChangedMeanwhile:
                continue  # recompute from what is there now
            return WriteResult(target, changed=True, backup=made)
    raise ConcurrentChangeError(f"{target} kept changing while rpdev tried to update it")


def _read_only_message(path: Path, st: os.stat_result) -> str:
    return (
        f"{path} is read-only (mode {stat.S_IMODE(st.st_mode):04o}), which says it is not to be "
        f"changed, so rpdev leaves it as it is. Make it writable (chmod u+w {path}) and run again, "
        f"or make the change yourself: `rpdev ssh-config diff` shows it"
    )


def write_file(path: Path, data: bytes, *, backup: bool = False) -> WriteResult:
    """Replace a file's content safely (a no-op when it already holds `data`)."""
    return update_file(path, lambda _old: data, backup=backup)
