"""`rpdev ssh POD [-- CMD...]`: a shell (or one command) on a pod, by its name or id.

The pod is chosen as every command chooses it (an id, a name, an SSH alias). A pod that is not
running, or whose endpoint is not confirmed yet, is woken first through the daemon's `pod.wake`,
as `rpdev proxy` does (wake on connect must be on for a stopped pod), with its progress on
stderr. Then this process becomes the real `ssh`, pointed at the alias rpdev generated: the host
key stays pinned (rpdev's known_hosts, `StrictHostKeyChecking yes`), and the exit status is ssh's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rpdevd.commands._common import POD_HELP, PodChoiceError, daemon_call, fail, pick_pod
from rpdevd.views import PodsView, PodView, read


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ssh",
        help="ssh into a pod by its name or id (wakes it where wake on connect allows)",
        description="Open a shell on the pod, or run CMD there (`rpdev ssh trainer -- nvidia-smi`),"
        " through the SSH alias rpdev keeps for it. Exits with ssh's status.",
    )
    p.add_argument("pod", help=POD_HELP)
    p.add_argument(
        "command", nargs="*", metavar="CMD", help="a command to run on the pod (after `--`)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="how long to wait for the pod to start and its endpoint to be confirmed "
        "(seconds, default 600)",
    )
    p.add_argument("--print", action="store_true", help="print the ssh command instead of running")
    p.set_defaults(func=_ssh)


def default_user_config() -> Path:
    """The ~/.ssh/config ssh reads by default: from the password database, not $HOME."""
    import pwd

    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "config"


def ssh_command(
    alias: str,
    command: list[str],
    *,
    generated: Path,
    user_config: Path,
    include_installed: bool,
    default_config: Path,
) -> list[str]:
    """The ssh command line for `alias`.

    With rpdev's Include in the user's ~/.ssh/config, that file is read (so the user's own
    settings apply too); `-F` names it only where it is not the one ssh reads anyway ($HOME
    pointing elsewhere). Without the Include, `-F` names rpdev's generated file. `--` ends ssh's
    options: ssh reads options again after the host name, and CMD is the pod's, not ssh's."""
    if include_installed:
        options = [] if user_config == default_config else ["-F", str(user_config)]
    else:
        options = ["-F", str(generated)]
    return ["ssh", *options, "--", alias, *command]


def _ready(pod: PodView) -> bool:
    return pod["status"] == "RUNNING" and pod["endpoint_state"] == "confirmed"


def _wake(pod: PodView, timeout: float) -> int:
    """Start the pod (or wait for its endpoint) through the daemon; 0, or the exit code after
    saying why not."""
    import asyncio

    from rpdevd.commands.proxy import _wake as wake
    from rpdevd.protocol import RemoteError

    pod_id, name = pod["id"], pod["name"]
    if pod["status"] != "RUNNING" and not pod["wake_on_connect"]:
        return fail(
            f"{name} is {pod['status']} and wake on connect is off for it",
            f"start it with `rpdev resume {pod_id}`, or turn wake on connect on: "
            f"`rpdev policy {pod_id} --wake-on-connect on`",
        )
    try:
        asyncio.run(wake(pod_id, timeout))
    except RemoteError as exc:
        return fail(f"cannot reach {name}: {exc.message}", exc.hint)
    except (OSError, TimeoutError) as exc:
        return fail(
            f"cannot reach {name}: {exc or type(exc).__name__}", "check `rpdev daemon status`"
        )
    return 0


def _ssh(a: argparse.Namespace) -> int:
    import shutil

    listing, code = daemon_call("pods", timeout=10)
    if code:
        return code
    try:
        pod = pick_pod(read(PodsView, listing)["pods"], a.pod)
    except PodChoiceError as exc:
        return fail(exc.message, exc.hint)
    pod_id, name = pod["id"], pod["name"]
    if not pod["managed"]:
        return fail(
            f"{name} ({pod_id}) is not managed by rpdev, so it has no SSH alias",
            f"take it under management with `rpdev manage {pod_id}`",
        )
    alias = pod["ssh_alias"]
    if not alias or alias.startswith("-"):
        return fail(f"{name} has no SSH alias yet", "wait for the daemon's next poll")
    ssh_files, code = daemon_call("ssh.status", timeout=10)
    if code:
        return code
    from rpdevd.sshconfig.files import user_config_path

    cmd = ssh_command(
        alias,
        list(a.command),
        generated=Path(ssh_files["generated"]),
        user_config=user_config_path(),
        include_installed=ssh_files.get("include") == "installed",
        default_config=default_user_config(),
    )
    if a.print:
        import shlex

        print(shlex.join(cmd))
        return 0
    if shutil.which("ssh") is None:
        return fail("`ssh` is not on PATH", "install the OpenSSH client")
    if not _ready(pod):
        code = _wake(pod, a.timeout)
        if code:
            return code
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(cmd[0], cmd)  # ssh's exit status is ours; no code of ours runs after this
    return 255  # not reached
