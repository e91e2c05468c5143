"""`rpdev stop POD`, `rpdev resume POD`, `rpdev manage POD`, `rpdev policy POD ...`."""

from __future__ import annotations

import argparse
from typing import Any

from rpdevd.commands._common import JSON_HELP, POD_HELP, fail, run_call, say


def _done(verb: str, already: str, unchanged: str) -> Any:
    """What a stop or a resume did; when the pod was already so, that is said instead."""

    def render(r: dict[str, Any]) -> None:
        if r.get("was") == already:
            say(f"{r['name']} ({r['id']}) is already {unchanged}")
        else:
            say(f"{verb} {r['name']} ({r['id']})")

    return render


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb, method, text, already, unchanged in (
        ("stop", "pod.stop", "stop requested for", "EXITED", "stopped"),
        ("resume", "pod.resume", "resume requested for", "RUNNING", "running"),
    ):
        p = sub.add_parser(verb, help=f"{verb} a pod", description=f"{verb.capitalize()} a pod.")
        p.add_argument("pod", help=POD_HELP)
        p.add_argument("--json", action="store_true", help=JSON_HELP)
        render = _done(text, already, unchanged)
        p.set_defaults(
            func=lambda a, m=method, r=render: run_call(m, {"pod": a.pod}, a.json, r, timeout=120)
        )
    p = sub.add_parser("manage", help="take a pod on the account under management")
    p.add_argument("pod", help=POD_HELP)
    p.add_argument("--off", action="store_true", help="stop managing it")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(
        func=lambda a: run_call(
            "pod.manage",
            {"pod": a.pod, "managed": not a.off},
            a.json,
            lambda r: say(f"{r['name']}: {'managed' if r['managed'] else 'not managed'}"),
        )
    )
    p = sub.add_parser(
        "policy",
        help="show or set a pod's policy and idle timeouts",
        description="With only POD, show the pod's policy; with a policy or an option, set it.",
    )
    p.add_argument("pod", help=POD_HELP)
    p.add_argument(
        "policy",
        nargs="?",
        choices=["manual", "keep-alive", "idle-stop"],
        help="manual: rpdev never stops or resumes it; keep-alive: resume it when it stops on its "
        "own; "
        "idle-stop: stop it once idle (docs/idle.md)",
    )
    p.add_argument("--idle-timeout", help="stop after this long idle, e.g. 30m")
    p.add_argument("--warn-before", help="warn this long before an idle-stop, e.g. 5m")
    p.add_argument("--wake-on-connect", choices=["on", "off"], help="resume the pod on `ssh`")
    p.add_argument(
        "--max-bid",
        metavar="DOLLARS",
        help="spot pods: keep-alive resumes the pod only at or below this price per GPU per hour "
        "(e.g. 0.40; off removes the cap)",
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=_policy)


def _policy(a: argparse.Namespace) -> int:
    from rpdevd.durations import format_duration

    params: dict[str, Any] = {"pod": a.pod}
    if a.policy:
        params["policy"] = a.policy
    if a.idle_timeout:
        params["idle_timeout"] = a.idle_timeout
    if a.warn_before:
        params["warn_before"] = a.warn_before
    if a.wake_on_connect:
        params["wake_on_connect"] = a.wake_on_connect == "on"
    if a.max_bid is not None:
        try:
            params["max_bid"] = None if a.max_bid == "off" else float(a.max_bid.lstrip("$"))
        except ValueError:
            return fail(f"--max-bid {a.max_bid!r} is not a price", "e.g. --max-bid 0.40, or off")
    return run_call(
        "pod.set",
        params,
        a.json,
        lambda r: say(
            f"{r['name']}: policy {r['policy']}, "
            f"idle_timeout {format_duration(r['idle_timeout'])}, "
            f"warn_before {format_duration(r['warn_before'])}, "
            f"wake_on_connect {'on' if r['wake_on_connect'] else 'off'}"
            + ("" if a.max_bid is None else f", max_bid {a.max_bid}")
        ),
    )
