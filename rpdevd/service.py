"""`rpdev daemon install-service` / `uninstall-service`: run rpdevd at login.

Linux gets a systemd user unit (`~/.config/systemd/user/rpdevd.service`), macOS a launchd agent
(`~/Library/LaunchAgents/io.rpdev.rpdevd.plist`). The unit runs the `rpdevd` script of the
interpreter that runs this code, so the service uses the same installation (venv, pipx) as the
`rpdev` that installed it.

Everything that touches the machine (platform, home, environment, uid, the program that runs
`systemctl`/`launchctl`) comes in through `ServiceHost`, so tests run on a private home with a
recording runner and never start a real service.
"""

from __future__ import annotations

import os
import platform
import plistlib
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

UNIT_NAME = "rpdevd.service"
LAUNCHD_LABEL = "io.rpdev.rpdevd"

# rpdevd's exit codes that a restart cannot fix: 2 is a bad config.toml, 3 is "another rpdevd
# already holds the lock". Restarting on those would only fill the journal.
NO_RESTART_EXIT_CODES = (2, 3)

# Locations whose non-default values must reach the service too, or the daemon would read
# another config and listen on another socket than the CLI looks at.
XDG_VARIABLES = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")


class ServiceError(Exception):
    """The service could not be installed or removed; the message says what to do."""


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


Runner = Callable[[Sequence[str]], RunResult]


def run_command(args: Sequence[str]) -> RunResult:
    """Run `systemctl`/`launchctl`; a missing program or a hang becomes a failed result."""
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        return RunResult(127, "", f"{args[0]}: command not found")
    except subprocess.TimeoutExpired:
        return RunResult(124, "", f"{' '.join(args)}: no answer within 60 s")
    return RunResult(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class ServiceHost:
    """The machine as far as installing a service is concerned."""

    system: str  # platform.system(): "Linux", "Darwin", ...
    home: Path
    environ: Mapping[str, str] = field(default_factory=dict)
    uid: int = 0
    runner: Runner = run_command

    @classmethod
    def current(cls) -> ServiceHost:
        return cls(platform.system(), Path.home(), dict(os.environ), os.getuid(), run_command)


def daemon_command(executable: str | None = None) -> list[str]:
    """The command that runs rpdevd in the foreground, from the given (default: this) interpreter.

    The `rpdevd` script beside the interpreter when there is one (a venv or pipx install), else
    the interpreter itself running the daemon module. The interpreter's path is not resolved:
    a venv's `python` is a symlink, and resolving it would leave the venv.
    """
    exe = Path(executable or sys.executable)
    script = exe.parent / "rpdevd"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [str(exe), "-m", "rpdevd.daemon.main"]


def _check_arg(arg: str) -> str:
    if not arg or any(c in arg for c in "\n\r\0"):
        raise ServiceError(f"cannot put {arg!r} in a service definition")
    return arg


def systemd_quote(arg: str, *, expands_variables: bool = True) -> str:
    """One word of a unit file line, quoted so that it stays one literal word: backslashes and
    quotes escaped, systemd's specifiers (`%`) doubled, and, where systemd would expand
    variables (ExecStart= arguments, not its program path or Environment= values), `$` doubled."""
    _check_arg(arg)
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if expands_variables:
        escaped = escaped.replace("$", "$$")
    return f'"{escaped}"'


def exec_line(command: Sequence[str]) -> str:
    if not command:
        raise ServiceError("no command to run")
    program, *args = command
    words = [systemd_quote(program, expands_variables=False)]
    words += [systemd_quote(a) for a in args]
    return " ".join(words)


def service_environment(host: ServiceHost) -> dict[str, str]:
    """The XDG locations set to something other than their defaults in this environment."""
    defaults = {
        "XDG_CONFIG_HOME": str(host.home / ".config"),
        "XDG_STATE_HOME": str(host.home / ".local" / "state"),
        "XDG_RUNTIME_DIR": f"/run/user/{host.uid}",
    }
    env: dict[str, str] = {}
    for name in XDG_VARIABLES:
        value = host.environ.get(name)
        if value and value != defaults[name]:
            env[name] = _check_arg(value)
    return env


def render_systemd_unit(
    command: Sequence[str], environment: Mapping[str, str] | None = None
) -> str:
    env_lines = "".join(
        f"Environment={systemd_quote(f'{k}={v}', expands_variables=False)}\n"
        for k, v in sorted((environment or {}).items())
    )
    return (
        "# Written by `rpdev daemon install-service`; `rpdev daemon uninstall-service` removes it.\n"
        "[Unit]\n"
        "Description=rpdev daemon: keeps RunPod pods reachable, synced, and stopped when idle\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_line(command)}\n"
        # `systemctl --user reload rpdevd`: rpdevd reads config.toml again on SIGHUP.
        "ExecReload=/bin/kill -HUP $MAINPID\n"
        f"{env_lines}"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        f"RestartPreventExitStatus={' '.join(str(c) for c in NO_RESTART_EXIT_CODES)}\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def render_launchd_plist(command: Sequence[str], log_dir: Path) -> bytes:
    for arg in command:
        _check_arg(arg)
    return plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            # Restart after a crash, not after a clean `rpdev daemon stop`.
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": 30,
            "StandardOutPath": str(log_dir / "rpdevd.out.log"),
            "StandardErrorPath": str(log_dir / "rpdevd.err.log"),
        }
    )


def systemd_unit_path(host: ServiceHost) -> Path:
    config = host.environ.get("XDG_CONFIG_HOME") or str(host.home / ".config")
    return Path(config) / "systemd" / "user" / UNIT_NAME


def launchd_plist_path(host: ServiceHost) -> Path:
    return host.home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def launchd_log_dir(host: ServiceHost) -> Path:
    return host.home / "Library" / "Logs" / "rpdev"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _said(result: RunResult) -> str:
    text = (result.stderr or result.stdout).strip()
    return text.splitlines()[0][:300] if text else f"exit code {result.returncode}"


def _key_note(host: ServiceHost) -> str:
    if host.environ.get("RUNPOD_API_KEY"):
        return (
            "\nNote: RUNPOD_API_KEY is set in this shell, but the service does not see this "
            "shell's environment: store the key with `rpdev login`."
        )
    return ""


def _unsupported(host: ServiceHost) -> ServiceError:
    return ServiceError(
        f"rpdev installs a login service on Linux (systemd) and macOS (launchd), not on "
        f"{host.system or 'this system'}; start the daemon with `rpdev daemon start`."
    )


def _systemd_unreachable(host: ServiceHost) -> str | None:
    """Why `systemctl --user` cannot be used here, or None when it can."""
    probe = host.runner(["systemctl", "--user", "show-environment"])
    if probe.returncode == 0:
        return None
    return _said(probe)


def install_service(host: ServiceHost | None = None, command: Sequence[str] | None = None) -> str:
    """Install and start the login service; returns what was done. Raises ServiceError."""
    host = host or ServiceHost.current()
    command = list(command or daemon_command())
    if host.system == "Linux":
        return _install_systemd(host, command)
    if host.system == "Darwin":
        return _install_launchd(host, command)
    raise _unsupported(host)


def uninstall_service(host: ServiceHost | None = None) -> str:
    """Stop and remove the login service; returns what was done. Raises ServiceError."""
    host = host or ServiceHost.current()
    if host.system == "Linux":
        return _uninstall_systemd(host)
    if host.system == "Darwin":
        return _uninstall_launchd(host)
    raise _unsupported(host)


def _install_systemd(host: ServiceHost, command: list[str]) -> str:
    unit = systemd_unit_path(host)
    _write_atomic(unit, render_systemd_unit(command, service_environment(host)).encode())
    why = _systemd_unreachable(host)
    if why is not None:
        raise ServiceError(
            f"wrote {unit}, but systemd's user manager cannot be reached here ({why}). "
            "That is usual in containers, in WSL without systemd, and in sessions without a "
            "user manager. Start the daemon with `rpdev daemon start` instead, or, where "
            "systemd runs: `systemctl --user daemon-reload && systemctl --user enable --now "
            f"{UNIT_NAME}`."
        )
    for args in (["daemon-reload"], ["enable", "--now", UNIT_NAME]):
        result = host.runner(["systemctl", "--user", *args])
        if result.returncode != 0:
            raise ServiceError(
                f"wrote {unit}, but `systemctl --user {' '.join(args)}` failed: {_said(result)}. "
                "If rpdevd already runs outside the service, stop it with `rpdev daemon stop` "
                "and run this again; `journalctl --user -u rpdevd` shows why it stopped."
            )
    return (
        f"Installed {unit} and started it: rpdevd now starts at login.\n"
        "`systemctl --user status rpdevd` shows it, `journalctl --user -u rpdevd` its output.\n"
        "To keep it running while you are logged out: `loginctl enable-linger`." + _key_note(host)
    )


def _uninstall_systemd(host: ServiceHost) -> str:
    unit = systemd_unit_path(host)
    if not unit.exists():
        return f"No rpdevd service to remove ({unit} does not exist)."
    notes: list[str] = []
    why = _systemd_unreachable(host)
    if why is None:
        result = host.runner(["systemctl", "--user", "disable", "--now", UNIT_NAME])
        if result.returncode != 0:
            notes.append(f"`systemctl --user disable --now {UNIT_NAME}` said: {_said(result)}")
    else:
        notes.append(f"systemd's user manager cannot be reached here ({why}); nothing was stopped")
    unit.unlink()
    if why is None:
        host.runner(["systemctl", "--user", "daemon-reload"])
    return "\n".join([f"Removed {unit}; rpdevd no longer starts at login.", *notes])


def _install_launchd(host: ServiceHost, command: list[str]) -> str:
    plist = launchd_plist_path(host)
    log_dir = launchd_log_dir(host)
    log_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(plist, render_launchd_plist(command, log_dir))
    domain = f"gui/{host.uid}"
    target = f"{domain}/{LAUNCHD_LABEL}"
    # A loaded older copy would make bootstrap fail: unload it first (failing is fine: not loaded).
    host.runner(["launchctl", "bootout", target])
    host.runner(["launchctl", "enable", target])
    result = host.runner(["launchctl", "bootstrap", domain, str(plist)])
    if result.returncode != 0:
        raise ServiceError(
            f"wrote {plist}, but `launchctl bootstrap {domain}` failed: {_said(result)}. "
            "Run it from a logged-in desktop session (not over ssh), or start the daemon with "
            "`rpdev daemon start`. If rpdevd already runs, stop it first with `rpdev daemon stop`."
        )
    return (
        f"Installed {plist} and loaded it: rpdevd now starts at login.\n"
        f"`launchctl print {target}` shows it; its output goes to {log_dir}." + _key_note(host)
    )


def _uninstall_launchd(host: ServiceHost) -> str:
    plist = launchd_plist_path(host)
    if not plist.exists():
        return f"No rpdevd service to remove ({plist} does not exist)."
    target = f"gui/{host.uid}/{LAUNCHD_LABEL}"
    result = host.runner(["launchctl", "bootout", target])
    plist.unlink()
    lines = [f"Removed {plist}; rpdevd no longer starts at login."]
    if result.returncode != 0:
        lines.append(
            f"`launchctl bootout {target}` said: {_said(result)} (it was probably not loaded)"
        )
    return "\n".join(lines)
