"""`rpdev open POD [--cursor]`: open the pod's /workspace in VS Code or Cursor over Remote-SSH."""

from __future__ import annotations

import argparse
import shutil
import subprocess

from rpdevd.commands._common import daemon_call, fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("open", help="open the pod's /workspace in VS Code (or Cursor)")
    p.add_argument("pod")
    p.add_argument("--cursor", action="store_true", help="use Cursor instead of VS Code")
    p.add_argument("--path", default=None, help="folder on the pod (default: /workspace)")
    p.add_argument("--print", action="store_true", help="print the command instead of running")
    p.set_defaults(func=_open)


def editor_command(alias: str, folder: str, cursor: bool) -> list[str]:
    return ["cursor" if cursor else "code", "--remote", f"ssh-remote+{alias}", folder]


def _open(a: argparse.Namespace) -> int:
    status, code = daemon_call("status", timeout=10)
    if code:
        return code
    pods = [p for p in status["pods"] if a.pod in (p["id"], p["name"], p.get("ssh_alias"))]
    if not pods:
        return fail(
            f"no managed pod {a.pod!r}", "`rpdev status` lists them; `rpdev manage POD` adds one"
        )
    pod = pods[0]
    alias = pod.get("ssh_alias")
    if not alias:
        return fail(f"{pod['name']} has no SSH alias yet", "wait for the daemon's next poll")
    if pod["status"] != "RUNNING" and not pod.get("wake_on_connect"):
        return fail(
            f"{pod['name']} is {pod['status']}",
            f"`rpdev resume {pod['id']}`, or `rpdev policy {pod['id']} "
            "--wake-on-connect on` to start it when you connect",
        )
    folder = a.path or pod.get("volume_mount_path") or "/workspace"
    cmd = editor_command(alias, folder, a.cursor)
    if a.print:
        print(" ".join(cmd))
        return 0
    if shutil.which(cmd[0]) is None:
        return fail(
            f"`{cmd[0]}` is not on PATH",
            "in the editor: Command Palette > 'Shell Command: Install ... in PATH'; "
            f"or run: {' '.join(cmd)}",
        )
    return subprocess.run(cmd).returncode
