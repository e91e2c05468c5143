"""A simulated pod's own `/workspace`: its sshd runs in a private mount namespace.

Run as root where `unshare` exists, a pod's sshd (OpenSSH's or the asyncssh stand-in) starts
through `unshare --mount --propagation private python -m rpdevd.sim.private_root ROOT WORKSPACE --
CMD...`. Inside the new namespace, and only there, this module mounts a tmpfs on ROOT (an empty
folder in the pod's own directory), binds every top-level entry of this machine's `/` into it
(symlinks are copied), binds WORKSPACE (the pod's folder) on `ROOT/workspace`, chroots into ROOT
and execs CMD. Every tool that goes through that sshd (ssh, sftp, rsync, `rpdev sync once`) then
sees the pod's folder as `/workspace`, and nothing is written to this machine's `/`: the mounts
exist in the namespace only and vanish with its last process (the pod's stop kills them all).

Where this cannot be done (not root, no `unshare`, a mount refused), the pod starts as before:
`/workspace` is not the pod's own there, and its folder is reached by its real path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# The wrapper's exit status when the namespace could not be set up: the pod starts without it.
SETUP_FAILED = 97


def unavailable_reason(euid: int, unshare: str | None) -> str | None:
    """Why a private `/workspace` cannot be tried here, or None when it can."""
    if euid != 0:
        return "the simulator does not run as root"
    if unshare is None:
        return "`unshare` is not installed"
    return None


def wrap(cmd: list[str], root: Path, workspace: Path, unshare: str) -> list[str]:
    """`cmd`, started in a private mount namespace whose `/workspace` is `workspace`."""
    return [
        unshare,
        "--mount",
        "--propagation",
        "private",
        sys.executable,
        "-m",
        "rpdevd.sim.private_root",
        str(root),
        str(workspace),
        "--",
        *cmd,
    ]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def build_root(root: Path, workspace: Path) -> None:
    """Inside a private mount namespace: `root` becomes this machine's `/` with `workspace` as
    its `/workspace`, written on a tmpfs of the namespace's own."""
    _mount("-t", "tmpfs", "-o", "mode=0755", "rpdev-pod-root", str(root))
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        if entry.name == "workspace":
            continue  # the host's, if any, is hidden by the pod's own
        target = root / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            target.mkdir()
            _mount("--rbind", entry.path, str(target))
        elif entry.is_file():
            target.touch()
            _mount("--bind", entry.path, str(target))
    (root / "workspace").mkdir()
    _mount("--bind", str(workspace), str(root / "workspace"))


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m rpdevd.sim.private_root ROOT WORKSPACE -- CMD...", file=sys.stderr)
        return 2
    root, workspace, cmd = Path(argv[0]), Path(argv[1]), argv[3:]
    cwd = os.getcwd()
    try:
        build_root(root, workspace)
        os.chroot(root)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        print(f"rpdev-sim: no private /workspace: {detail.strip()}", file=sys.stderr)
        return SETUP_FAILED
    try:
        os.chdir(cwd)  # the same path inside: every top-level folder is bound
    except OSError:
        os.chdir("/")
    program = shutil.which(cmd[0]) or cmd[0]
    os.execv(program, cmd)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
