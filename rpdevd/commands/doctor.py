"""`rpdev doctor`: what works and what does not, each with what to do."""

from __future__ import annotations

import argparse
import shutil
from typing import Any

from rpdevd.commands._common import JSON_HELP, print_json, say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="check the key, the API, ssh, the daemon and the config")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument("--offline", action="store_true", help="do not call the RunPod API")
    p.set_defaults(func=_doctor)


def _check(name: str, ok: bool, detail: str, hint: str | None = None) -> dict[str, Any]:
    return {"check": name, "ok": ok, "detail": detail, "hint": hint}


def run_checks(offline: bool = False) -> list[dict[str, Any]]:
    import asyncio

    from rpdevd import paths, secrets
    from rpdevd.config import ConfigError, load_config

    checks = []
    cfg_source: str | None = None
    try:
        cfg = load_config()
        cfg_source = str(cfg.source) if cfg.source else None
        checks.append(
            _check(
                "config",
                True,
                f"{cfg.source or paths.config_file()} "
                f"({'found' if cfg.source else 'absent: defaults'}), "
                f"{len(cfg.pods)} pod(s), {len(cfg.syncs)} sync root(s)",
            )
        )
    except ConfigError as exc:
        checks.append(_check("config", False, str(exc), "fix the line it names"))
    key = secrets.find_api_key()
    usable, kr = secrets.keyring_status()
    checks.append(
        _check(
            "keyring",
            # Without a keyring, a key in the environment is the supported way: not a failure.
            usable or (key is not None and key.source == "environment"),
            kr if usable else f"{kr}; the key comes from the environment" if key else kr,
            None if usable else "without a keyring, set RUNPOD_API_KEY in the daemon's environment",
        )
    )
    if key is None:
        checks.append(_check("api key", False, "not found", secrets.NO_KEY_HINT))
    else:
        checks.append(_check("api key", True, f"from {key.source}"))
        if not offline:
            from rpdevd.api import APIError, RunPodAPI

            try:
                pods = asyncio.run(RunPodAPI(key.value).list_pods())
                checks.append(_check("runpod api", True, f"reachable, {len(pods)} pod(s)"))
            except APIError as exc:
                checks.append(_check("runpod api", False, str(exc), getattr(exc, "hint", None)))
    ssh = shutil.which("ssh")
    checks.append(
        _check(
            "ssh client",
            ssh is not None,
            ssh or "not found",
            None if ssh else "install OpenSSH's client",
        )
    )
    checks += daemon_checks(key.source if key else None, cfg_source)
    return checks


def daemon_checks(shell_key: str | None, shell_config: str | None) -> list[dict[str, Any]]:
    """What the running daemon sees (it, not this shell, polls RunPod and acts), and where it
    differs from this shell: another key source, another config, another version."""
    from rpdevd import __version__
    from rpdevd.client import Client, DaemonNotRunning
    from rpdevd.protocol import ProtocolError, RemoteError
    from rpdevd.views import StatusView, read

    try:
        with Client(timeout=5) as c:
            st = read(StatusView, c.call("status"))
    except DaemonNotRunning:
        return [_check("daemon", False, "not running", "rpdev daemon start")]
    except (OSError, ProtocolError, RemoteError, TimeoutError) as exc:
        return [_check("daemon", False, f"does not answer properly: {exc}", "rpdev daemon status")]
    d, api = st["daemon"], st["api"]
    checks = [_check("daemon", True, f"running (pid {d['pid']}, rpdev {d['version']})")]
    if d["version"] != __version__:
        checks.append(
            _check(
                "daemon",
                False,
                f"runs rpdev {d['version']}, this shell {__version__}",
                "restart it: rpdev daemon stop && rpdev daemon start",
            )
        )
    source = api["key_source"]
    if source is None:
        checks.append(
            _check(
                "daemon key",
                False,
                "the daemon has no API key"
                + (f" (this shell has one, from {shell_key})" if shell_key else ""),
                "set RUNPOD_API_KEY in the daemon's environment and restart it, or `rpdev login`"
                if shell_key == "environment"
                else "rpdev login",
            )
        )
    else:
        differs = shell_key is not None and shell_key != source
        checks.append(
            _check(
                "daemon key",
                not differs,
                f"from {source}" + (f"; this shell's is from {shell_key}" if differs else ""),
                "the daemon and this shell use different keys: restart the daemon from this "
                "shell (rpdev daemon stop && rpdev daemon start) if this shell's is the right one",
            )
        )
    if api["ok"]:
        checks.append(_check("daemon api", True, "RunPod answers the daemon"))
    else:
        checks.append(
            _check("daemon api", False, str(api["error"] or "not polled yet"), api["hint"])
        )
    if d["config"] != shell_config:
        checks.append(
            _check(
                "daemon conf",
                False,
                f"the daemon reads {d['config'] or 'no config.toml'}, "
                f"this shell {shell_config or 'no config.toml'}",
                "the daemon and this shell must see the same XDG_CONFIG_HOME; "
                "restart the daemon from this shell",
            )
        )
    return checks


def _doctor(a: argparse.Namespace) -> int:
    checks = run_checks(a.offline)
    if a.json:
        print_json(checks)
    else:
        for c in checks:
            say(f"{'ok  ' if c['ok'] else 'FAIL'} {c['check']:<11} {c['detail']}")
            if c["hint"] and not c["ok"]:
                say(f"     -> {c['hint']}")
    return 0 if all(c["ok"] for c in checks) else 1
