"""`rpdev login`: check a RunPod API key with a real API call, then keep it in the OS keyring."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from rpdevd.commands._common import fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("login", help="store your RunPod API key in the OS keyring")
    p.add_argument("--stdin", action="store_true", help="read the key from standard input")
    p.add_argument("--logout", action="store_true", help="remove the stored key")
    p.set_defaults(func=_login)


def _has_terminal() -> bool:
    """Whether this process has a controlling terminal to prompt on (what getpass uses)."""
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:
        return False


def _login(a: argparse.Namespace) -> int:
    import asyncio

    from rpdevd import secrets

    if a.logout:
        removed = secrets.delete_api_key()
        print("removed the key from the keyring" if removed else "no key was stored")
        return 0
    if not a.stdin and not _has_terminal():
        # getpass would fall back to reading stdin in the clear, with a warning of its own.
        return fail(
            "no terminal to ask for the key on",
            "pass the key on standard input: `rpdev login --stdin`",
        )
    try:
        if a.stdin:
            key = sys.stdin.readline().strip()
        else:
            key = getpass.getpass("RunPod API key (input hidden): ").strip()
    except EOFError:  # Ctrl-D at the prompt, or no terminal and stdin at its end
        key = ""
    if not key:
        return fail(
            "no key given",
            "paste the key at the prompt, or pass it on standard input: `rpdev login --stdin`",
        )
    if any(c.isspace() for c in key) or len(key) > 512:
        return fail("that does not look like a RunPod API key")
    import logging

    from rpdevd.api import APIError, AuthError, RunPodAPI, TransientAPIError

    # The API client logs its retries for the daemon's log; here the error below says it all.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        user = asyncio.run(RunPodAPI(key).get_user())
    except AuthError:
        return fail(
            "RunPod rejected this key",
            "create one at https://www.runpod.io/console/user/settings (read/write access)",
        )
    except TransientAPIError as exc:
        return fail(
            f"could not check the key: {exc}",
            "check the network (and https://uptime.runpod.io), then run `rpdev login` again",
        )
    except APIError as exc:
        return fail(f"could not check the key: {exc}", getattr(exc, "hint", None))
    from rpdevd.text import clean

    who = clean(getattr(user, "id", None) or "your account", 80)
    try:
        backend = secrets.store_api_key(key)
    except secrets.NoKeyring as exc:
        print(f"the key works ({who}), but it was NOT stored: {exc}.", file=sys.stderr)
        print(
            "  rpdev never writes the key to a plain file. Instead, set it in the environment "
            "of the daemon:\n    export RUNPOD_API_KEY=...   (in the shell that runs `rpdev daemon "
            "start`;\n    for the login service: systemctl --user set-environment "
            "RUNPOD_API_KEY=...)\n"
            "  or install a keyring backend (e.g. gnome-keyring, or `pip install keyrings.alt` "
            "if you accept its trade-offs).",
            file=sys.stderr,
        )
        return 4
    print(f"the key works ({who}); stored in the OS keyring ({backend}, service 'rpdev')")
    if os.environ.get(secrets.ENV, "").strip():
        print(
            f"note: {secrets.ENV} is set in this shell and wins over the keyring; a daemon "
            f"started with it uses that key until it is restarted without {secrets.ENV}",
            file=sys.stderr,
        )
    else:
        print("a running daemon picks it up at its next poll")
    return 0
