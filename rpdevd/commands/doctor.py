"""`rpdev doctor`: what works and what does not, each with what to do."""

from __future__ import annotations

import argparse
import shutil
from typing import Any

from rpdevd.commands._common import JSON_HELP, print_json


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
    try:
        cfg = load_config()
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
    from rpdevd.commands.daemon import ping

    info = ping()
    checks.append(
        _check(
            "daemon",
            info is not None,
            f"running (pid {info.get('pid')})" if info else "not running",
            None if info else "rpdev daemon start",
        )
    )
    return checks


def _doctor(a: argparse.Namespace) -> int:
    checks = run_checks(a.offline)
    if a.json:
        print_json(checks)
    else:
        for c in checks:
            print(f"{'ok ' if c['ok'] else 'FAIL'} {c['check']:<11} {c['detail']}")
            if c["hint"] and not c["ok"]:
                print(f"     -> {c['hint']}")
    return 0 if all(c["ok"] for c in checks) else 1
