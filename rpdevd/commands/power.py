"""`rpdev stop POD`, `rpdev resume POD`, `rpdev manage POD`, `rpdev policy POD ...`."""

from __future__ import annotations

import argparse
from typing import Any

from rpdevd.commands._common import run_call


def _done(verb: str) -> Any:
    return lambda r: print(f"{verb} {r['name']} ({r['id']})")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb, method, text in (
        ("stop", "pod.stop", "stop requested for"),
        ("resume", "pod.resume", "resume requested for"),
    ):
        p = sub.add_parser(verb, help=f"{verb} a pod (POD: id or name)")
        p.add_argument("pod")
        p.add_argument("--json", action="store_true")
        p.set_defaults(
            func=lambda a, m=method, t=text: run_call(
                m, {"pod": a.pod}, a.json, _done(t), timeout=120
            )
        )
    p = sub.add_parser("manage", help="take a pod on the account under management")
    p.add_argument("pod")
    p.add_argument("--off", action="store_true", help="stop managing it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(
        func=lambda a: run_call(
            "pod.manage",
            {"pod": a.pod, "managed": not a.off},
            a.json,
            lambda r: print(f"{r['name']}: managed={r['managed']}"),
        )
    )
    p = sub.add_parser("policy", help="set a pod's policy and idle timeouts")
    p.add_argument("pod")
    p.add_argument("policy", nargs="?", choices=["manual", "keep-alive", "idle-stop"])
    p.add_argument("--idle-timeout", help="e.g. 30m")
    p.add_argument("--warn-before", help="e.g. 5m")
    p.add_argument("--wake-on-connect", choices=["on", "off"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_policy)


def _policy(a: argparse.Namespace) -> int:
    params: dict[str, Any] = {"pod": a.pod}
    if a.policy:
        params["policy"] = a.policy
    if a.idle_timeout:
        params["idle_timeout"] = a.idle_timeout
    if a.warn_before:
        params["warn_before"] = a.warn_before
    if a.wake_on_connect:
        params["wake_on_connect"] = a.wake_on_connect == "on"
    return run_call(
        "pod.set",
        params,
        a.json,
        lambda r: print(
            f"{r['name']}: policy {r['policy']}, idle_timeout {r['idle_timeout']:g}s, "
            f"warn_before {r['warn_before']:g}s, wake_on_connect {r['wake_on_connect']}"
        ),
    )
