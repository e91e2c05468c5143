"""`rpdev hold POD 2h | forever | --off`: keep a pod from being idle-stopped."""

from __future__ import annotations

import argparse
from typing import Any

from rpdevd.commands._common import JSON_HELP, POD_HELP, fail, run_call, say
from rpdevd.views import PodView, read


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("hold", help="keep a pod from idle-stop for a while (e.g. 2h, forever)")
    p.add_argument("pod", help=POD_HELP)
    p.add_argument("duration", nargs="?", help="e.g. 30m, 2h, 1d, or forever")
    p.add_argument("--off", action="store_true", help="remove the hold")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=_hold)


def _render(raw: Any) -> None:
    r = read(PodView, raw)
    hold = r["hold_until"]
    if hold is None:
        say(f"{r['name']}: no hold")
    elif isinstance(hold, str):  # the one text it holds: "forever"
        say(f"{r['name']}: held until you run `rpdev hold {r['id']} --off`")
    else:
        import time

        say(f"{r['name']}: held until {time.strftime('%Y-%m-%d %H:%M', time.localtime(hold))}")


def _hold(a: argparse.Namespace) -> int:
    if a.off == bool(a.duration):
        return fail("give a duration (e.g. 2h, forever) or --off", code=2)
    return run_call(
        "pod.hold", {"pod": a.pod, "duration": None if a.off else a.duration}, a.json, _render
    )
