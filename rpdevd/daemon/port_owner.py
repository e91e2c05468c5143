"""Who holds a local TCP port: for the error of a port forward whose port is taken.

On Linux the listening socket's inode comes from /proc/net/tcp{,6} and the process from the
`socket:[inode]` links under /proc/*/fd (only our own processes can be read there; another
user's is named by its uid). Elsewhere `lsof` answers where it is installed. Where neither can
say, the port is "in use by another program".
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"  # the kernel's TCP_LISTEN, in /proc/net/tcp's `st` column
PROC = Path("/proc")


@dataclass(frozen=True)
class Listener:
    inode: int
    uid: int


@dataclass(frozen=True)
class Owner:
    pid: int
    name: str
    command: str  # its command line, spaces between the arguments; "" when unreadable


def listeners(table: str, port: int) -> list[Listener]:
    """The sockets listening on `port` in the text of /proc/net/tcp or /proc/net/tcp6."""
    found = []
    for line in table.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 10 or cols[3] != LISTEN:
            continue
        _, _, hex_port = cols[1].rpartition(":")
        try:
            if int(hex_port, 16) == port:
                found.append(Listener(inode=int(cols[9]), uid=int(cols[7])))
        except ValueError:
            continue
    return found


def describe(owner: Owner | None, uid: int | None = None) -> str:
    """`in use by NAME (pid N: COMMAND)`, or what is known short of that."""
    if owner is not None:
        text = f"in use by {owner.name} (pid {owner.pid}"
        command = owner.command[:80] + ("..." if len(owner.command) > 80 else "")
        return text + (f": {command})" if command and command != owner.name else ")")
    if uid is not None and uid != os.getuid():
        return f"in use by a program of another user (uid {uid})"
    return "in use by another program"


def _process_of(inodes: set[int], proc: Path = PROC) -> Owner | None:
    links = {f"socket:[{i}]" for i in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in links:
                return _owner(int(entry.name), entry)
    return None


def _owner(pid: int, entry: Path) -> Owner:
    try:
        name = (entry / "comm").read_text(errors="replace").strip()
    except OSError:
        name = "?"
    try:
        raw = (entry / "cmdline").read_bytes()
        command = " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)
    except OSError:
        command = ""
    return Owner(pid=pid, name=name or "?", command=command)


def _from_proc(port: int, proc: Path = PROC) -> str | None:
    found: list[Listener] = []
    for table in ("tcp", "tcp6"):
        try:
            found += listeners((proc / "net" / table).read_text(), port)
        except OSError:
            continue
    if not found:
        return None
    owner = _process_of({f.inode for f in found}, proc)
    return describe(owner, found[0].uid)


def _from_lsof(port: int) -> str | None:
    lsof = shutil.which("lsof")
    if lsof is None:
        return None
    try:
        out = subprocess.run(
            [lsof, "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    pid, name = None, ""
    for line in out.splitlines():
        if line.startswith("p") and line[1:].isdigit():
            pid = int(line[1:])
        elif line.startswith("c") and pid is not None:
            name = line[1:]
            break
    return None if pid is None else describe(Owner(pid=pid, name=name or "?", command=""))


def who_holds(port: int) -> str:
    """What holds local TCP `port`, in words ("in use by jupyter-lab (pid 4242: ...)").
    Blocking (reads /proc or runs lsof): call it in a thread."""
    if PROC.joinpath("net", "tcp").exists():
        found = _from_proc(port)
    else:
        found = _from_lsof(port)
    return found or "in use by another program"
