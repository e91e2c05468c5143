"""`rpdev open POD [--cursor]`: open the pod's /workspace in VS Code or Cursor over Remote-SSH."""

from __future__ import annotations

import argparse
import shutil
import subprocess

from rpdevd.commands._common import POD_HELP, daemon_call, fail
from rpdevd.views import StatusView, read


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("open", help="open the pod's /workspace in VS Code (or Cursor)")
    p.add_argument("pod", help=POD_HELP)
    p.add_argument("--cursor", action="store_true", help="use Cursor instead of VS Code")
    p.add_argument("--path", default=None, help="folder on the pod (default: /workspace)")
    p.add_argument("--print", action="store_true", help="print the command instead of running")
    p.set_defaults(func=_open)


def safe_folder(folder: str) -> bool:
    return folder.startswith("/") and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in folder)


def editor_command(alias: str, folder: str, cursor: bool) -> list[str]:
    return ["cursor" if cursor else "code", "--remote", f"ssh-remote+{alias}", folder]


def _open(a: argparse.Namespace) -> int:
    raw, code = daemon_call("status", timeout=10)
    if code:
        return code
    status = read(StatusView, raw)
    pods = [p for p in status["pods"] if a.pod in (p["id"], p["name"], p["ssh_alias"])]
    if not pods:
        return fail(
            f"no managed pod {a.pod!r}", "`rpdev status` lists them; `rpdev manage POD` adds one"
        )
    by_id = [p for p in pods if p["id"] == a.pod]
    if len(pods) > 1 and not by_id:
        ids = ", ".join(p["id"] for p in pods)
        return fail(f"several pods are named {a.pod!r}: {ids}", "use the pod id instead")
    pod = (by_id or pods)[0]
    alias = pod["ssh_alias"]
    if not alias:
        return fail(f"{pod['name']} has no SSH alias yet", "wait for the daemon's next poll")
    if pod["status"] != "RUNNING" and not pod["wake_on_connect"]:
        return fail(
            f"{pod['name']} is {pod['status']}",
            f"`rpdev resume {pod['id']}`, or `rpdev policy {pod['id']} "
            "--wake-on-connect on` to start it when you connect",
        )
    folder = a.path or pod["volume_mount_path"] or "/workspace"
    if not safe_folder(folder):
        # The path comes from RunPod's API (or the command line): it must never read as an
        # option of the editor's or carry control characters into a terminal.
        return fail(f"{folder!r} is not an absolute folder path on the pod", "pass --path DIR")
    cmd = editor_command(alias, folder, a.cursor)
    if a.print:
        import shlex

        print(shlex.join(cmd))
        return 0
    if shutil.which(cmd[0]) is None:
        return fail(
            f"`{cmd[0]}` is not on PATH",
            "in the editor: Command Palette > 'Shell Command: Install ... in PATH'; "
            f"or run: {' '.join(cmd)}",
        )
    return subprocess.run(cmd).returncode
