"""`rpdev cost [--month YYYY-MM] [--json]`: what each pod ran and cost in a month, and what
idle-stop saved, from the daemon's ledger."""

from __future__ import annotations

import argparse
from typing import Any

from rpdevd.commands._common import JSON_HELP, fail, money, run_call, say, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "cost",
        help="hours, spend and idle-stop savings per pod for a month",
        description="Per pod: hours running, spend (at the pod's $/h), and the hours and dollars "
        "idle-stop saved (docs/guide.md says how a saving is counted). With a [budget] in "
        "config.toml, how much of it is spent.",
    )
    p.add_argument("--month", metavar="YYYY-MM", help="the month to show (default: this month)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=_cost)


def _hours(h: float) -> str:
    return f"{h:.1f}h"


def render(r: dict[str, Any]) -> None:
    rows = [
        [p["name"], p["id"], _hours(p["hours"]), money(p["spend"]), _hours(p["saved_hours"]),
         money(p["saved"])]
        for p in r["pods"]
    ]  # fmt: skip
    if not rows:
        say(f"{r['month']}: no pod ran or was stopped by idle-stop")
    else:
        t = r["total"]
        rows.append(
            ["total", "", _hours(t["hours"]), money(t["spend"]), _hours(t["saved_hours"]),
             money(t["saved"])]
        )  # fmt: skip
        print(f"{r['month']}{' (so far)' if r.get('current') else ''}")
        print(table(rows, ["POD", "ID", "RUNNING", "SPEND", "SAVED", "SAVED $"]))
    budget = r.get("budget")
    if budget:
        say(
            f"budget: {money(budget['spent'])} of {money(budget['monthly'])} "
            f"({budget['percent']:.0f} %)"
        )


def _cost(a: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    if a.month:
        from rpdevd.ledger import parse_month

        try:
            params["month"] = parse_month(a.month)
        except ValueError as exc:
            return fail(str(exc), code=2)
    return run_call("cost", params, a.json, render, timeout=30)
