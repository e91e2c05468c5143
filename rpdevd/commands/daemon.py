"""`rpdev daemon run|start|stop|status|reload|install-service|uninstall-service`."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rpdevd import paths
from rpdevd.client import Client, DaemonNotRunning
from rpdevd.commands._common import JSON_HELP, ago, fail, print_json, say
from rpdevd.protocol import ProtocolError, RemoteError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("daemon", help="run, start, stop or inspect the background daemon")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = dsub.add_parser("run", help="run the daemon in the foreground")
    r.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    r.set_defaults(func=_run)
    s = dsub.add_parser("start", help="start the daemon in the background")
    s.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="how long to wait for it to answer, in seconds (default: 20)",
    )
    s.set_defaults(func=_start)
    s = dsub.add_parser("stop", help="stop the daemon")
    s.set_defaults(func=_stop)
    s = dsub.add_parser("status", help="is the daemon running, and how is it")
    s.add_argument("--json", action="store_true", help=JSON_HELP)
    s.set_defaults(func=_status)
    s = dsub.add_parser(
        "reload",
        help="read config.toml again and apply the difference (as SIGHUP does)",
        description="Read config.toml again and apply what changed: pods' policies, sync "
        "roots, forwards, intervals and thresholds. A config with an error is refused "
        "(exit 1) and the running config stays.",
    )
    s.add_argument("--json", action="store_true", help=JSON_HELP)
    s.set_defaults(func=_reload)
    s = dsub.add_parser("install-service", help="run rpdevd at login (systemd user unit / launchd)")
    s.set_defaults(func=_install_service)
    s = dsub.add_parser("uninstall-service", help="remove the login service")
    s.set_defaults(func=_uninstall_service)


def _run(a: argparse.Namespace) -> int:
    from rpdevd.daemon.main import run

    return run(foreground=True, verbose=a.verbose)


def ping(timeout: float = 2.0) -> dict[str, object] | None:
    try:
        with Client(timeout=timeout) as c:
            c.call("ping")
            return c.server
    except (DaemonNotRunning, OSError, ProtocolError, RemoteError, TimeoutError):
        return None


# Daemons this process started. They outlive it (never reaped from here); a demo stops its own.
STARTED: list[subprocess.Popen[bytes]] = []


@atexit.register
def _forget_started() -> None:
    # Reap the ones that already exited; the others are meant to outlive us (no warning).
    for proc in STARTED:
        if proc.poll() is None:
            proc.returncode = 0


def start_daemon(timeout: float = 20.0, quiet: bool = False) -> int:
    """Start rpdevd in the background; return once its socket answers."""
    info = ping()
    if info:
        if not quiet:
            print(f"rpdevd is already running (pid {info.get('pid')})")
        return 0
    paths.ensure_private_dir(paths.state_dir())
    out_path = paths.state_dir() / "rpdevd.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rpdevd.daemon.main", "--background"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
        )
    STARTED.append(proc)  # it outlives this call; holding it keeps Popen from warning
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            text = Path(out_path).read_text(errors="replace").strip()
            return fail(
                f"rpdevd exited at start (code {code}): {text[-1500:]}",
                f"details in {paths.log_file()}",
            )
        info = ping(0.5)
        if info:
            if not quiet:
                print(f"rpdevd started (pid {info.get('pid')}); socket {paths.socket_path()}")
            return 0
        time.sleep(0.05)
    return fail(f"rpdevd did not answer within {timeout:g}s", f"see {paths.log_file()}")


def _start(a: argparse.Namespace) -> int:
    return start_daemon(a.timeout)


def _lock_pid() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(paths.lock_path().read_text().strip())
    return None


def _stop(a: argparse.Namespace) -> int:
    try:
        with Client(timeout=5) as c:
            pid = c.call("shutdown").get("pid")
    except DaemonNotRunning:
        print("rpdevd is not running")
        return 0
    except (OSError, ProtocolError, RemoteError, TimeoutError):
        pid = _lock_pid()
        if pid is None:
            return fail("rpdevd does not answer and its pid is unknown")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not paths.socket_path().exists() and ping(0.3) is None:
            print(f"rpdevd stopped (pid {pid})")
            return 0
        time.sleep(0.05)
    return fail(f"rpdevd (pid {pid}) is still running after 15s", f"see {paths.log_file()}")


def _status(a: argparse.Namespace) -> int:
    try:
        with Client(timeout=5) as c:
            st = c.call("status")
    except DaemonNotRunning as exc:
        if a.json:
            print_json({"running": False, "socket": str(paths.socket_path())})
        else:
            print(str(exc))
        return 3
    except (OSError, ProtocolError, RemoteError, TimeoutError) as exc:
        return fail(f"rpdevd does not answer properly: {exc}", f"see {paths.log_file()}")
    if a.json:
        print_json({"running": True, "daemon": st["daemon"], "api": st["api"]})
        return 0
    from rpdevd.views import StatusView, read

    view = read(StatusView, st)
    d, api = view["daemon"], view["api"]
    print(f"rpdevd {d['version']} running, pid {d['pid']}, up {d['uptime_s']:.0f}s")
    print(f"  socket: {d['socket']}\n  log:    {d['log']}\n  config: {d['config'] or 'none'}")
    state = "ok" if api["ok"] else f"FAILING: {api['error']}"
    say(
        f"  RunPod API: {state} (last poll {ago(api['last_poll'])}, "
        + (f"key from {api['key_source']})" if api["key_source"] else "no API key)")
    )
    if api["hint"] and not api["ok"]:
        say(f"  hint: {api['hint']}")
    return 0


def _reload(a: argparse.Namespace) -> int:
    from rpdevd.commands._common import daemon_call
    from rpdevd.views import ReloadView, read

    result, code = daemon_call("daemon.reload")
    if code:
        return code
    if a.json:
        print_json(result)
        return 0
    view = read(ReloadView, result)
    say(f"config reloaded from {view['config'] or 'defaults (no config.toml)'}")
    for line in view["changes"] or ["no changes"]:
        say(f"  {line}")
    return 0


def _install_service(a: argparse.Namespace) -> int:
    from rpdevd.service import install_service

    try:
        print(install_service())
    except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
        return fail(str(exc))
    return 0


def _uninstall_service(a: argparse.Namespace) -> int:
    from rpdevd.service import uninstall_service

    try:
        print(uninstall_service())
    except Exception as exc:  # noqa: BLE001
        return fail(str(exc))
    return 0
