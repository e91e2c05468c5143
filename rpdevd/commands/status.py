"""`rpdev status` and `rpdev pods`: the daemon's view of the pods."""

from __future__ import annotations

import argparse
from typing import Any

from rpdevd.commands._common import JSON_HELP, ago, countdown, money, run_call, safe_text, table
from rpdevd.labels import forward_label, sync_state_label, view_gpu_label
from rpdevd.text import clean
from rpdevd.views import ApiView, BudgetView, EventView, PodsView, PodView, StatusView, read


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="managed pods: status, SSH alias, policy, idle, spend")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=lambda a: run_call("status", {}, a.json, render_status, timeout=10))
    p = sub.add_parser("pods", help="every pod on the RunPod account")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=lambda a: run_call("pods", {}, a.json, render_pods, timeout=10))
    register_events(sub)


def _api_line(api: ApiView) -> str | None:
    if api["ok"]:
        return None
    line = f"RunPod API: {safe_text(api['error'], 500)}"
    if api["hint"]:
        line += f"\n  hint: {safe_text(api['hint'], 500)}"
    if api["state_error"]:
        line += f"\n  stored state: {safe_text(api['state_error'], 300)}"
    known_at = api["known_at"]
    if known_at is not None:
        line += f"\npods as last known, {ago(known_at)} (the SSH config keeps that state)"
    else:
        line += "\nno pods known yet: RunPod has not answered since the daemon started"
    return line


def render_status(raw: Any) -> None:
    result = read(StatusView, raw)
    api_line = _api_line(result["api"])
    if api_line:
        print(api_line)
    pods = result["pods"]
    if not pods:
        n = result["unmanaged"]
        print(
            "no managed pods"
            + (
                f" ({n} on the account: `rpdev pods` lists them; add them "
                "to config.toml or `rpdev manage POD`)"
                if n
                else ""
            )
        )
        line = budget_line(result.get("budget"))
        if line:
            print(line)
        return
    rows = []
    for p in pods:
        ssh = p["ssh_alias"] or "-"
        if p["ssh_host"]:
            ssh += f" ({p['ssh_host']}:{p['ssh_port']})"
        rows.append(
            [
                safe_text(p["name"], 24),
                p["id"],
                p["status"],
                safe_text(view_gpu_label(p), 28),
                money(p["cost_per_hr"]) + "/h",
                money(p["spend_today"]),
                p["policy"],
                safe_text(_idle_text(p), 60),
                _sync_text(p),
                ssh,
            ]
        )
    print(
        table(
            rows, ["NAME", "ID", "STATUS", "GPU", "PRICE", "TODAY", "POLICY", "IDLE", "SYNC", "SSH"]
        )
    )
    for p in pods:
        forwards = p.get("forwards")  # NotRequired: a daemon older than port forwards
        if forwards:
            line = ", ".join(forward_label(f) for f in forwards)
            print(f"{safe_text(p['name'], 24)} forwards: {safe_text(line, 300)}")
    for p in pods:
        bid = p.get("max_bid")  # NotRequired: a daemon older than max_bid
        if bid is not None:
            print(
                f"{safe_text(p['name'], 24)} max_bid: {money(bid)}/GPU/h "
                "(keep-alive resumes it at or below)"
            )
    for p in pods:
        if p["last_error"]:
            print(f"! {safe_text(p['name'], 24)}: {safe_text(p['last_error'], 200)}")
    line = budget_line(result.get("budget"))
    if line:
        print(line)
    include = result["daemon"]["ssh_include"]
    if include == "missing":
        print(
            "\nssh <alias> and VS Code need one Include line at the top of ~/.ssh/config: "
            "`rpdev ssh-config diff` shows it, `rpdev ssh-config install` adds it"
        )
    elif include == "broken":
        print("\n~/.ssh/config has broken rpdev markers: `rpdev ssh-config diff` explains")


def budget_line(budget: BudgetView | None) -> str | None:
    """`budget: $123.40 of $200.00 this month (62 %)`; None without a [budget]."""
    if budget is None:
        return None
    told = budget["told"]
    note = " - over budget" if 100 in told else " - 80 % reached" if 80 in told else ""
    return (
        f"budget: {money(budget['spent'])} of {money(budget['monthly'])} this month "
        f"({budget['percent']:.0f} %){note}"
    )


def _idle_text(p: PodView) -> str:
    """The idle column, its countdown computed now (the daemon's text is from the last probe)."""
    if p["idle_deadline"] and p["status"] == "RUNNING":
        return f"idle, stops in {countdown(p['idle_deadline'])}"
    return p["idle_state"] or "-"


def _sync_text(p: PodView) -> str:
    roots = p["sync"]
    if not roots:
        return "-"
    states = sorted({sync_state_label(r["state"]) for r in roots})
    held = sum(r["held"] for r in roots)
    text = "/".join(states) + (f" ({len(roots)})" if len(roots) > 1 else "")
    return text + (f", {held} held" if held else "")


def render_pods(raw: Any) -> None:
    result = read(PodsView, raw)
    api_line = _api_line(result["api"])
    if api_line:
        print(api_line)
    rows = [
        [
            safe_text(p["name"], 30),
            p["id"],
            p["status"],
            safe_text(view_gpu_label(p), 28),
            money(p["cost_per_hr"]) + "/h",
            "spot" if p["is_spot"] else "on-demand",
            "yes" if p["managed"] else "no",
        ]
        for p in result["pods"]
    ]
    if rows:
        print(table(rows, ["NAME", "ID", "STATUS", "GPU", "PRICE", "TYPE", "MANAGED"]))
    else:
        print("no pods on the account" if result["api"]["ok"] else "no pods known")


def register_events(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("events", help="recent events (stops, warnings, endpoints, errors)")
    p.add_argument("pod", nargs="?", help="only this pod: its id, its name, or its SSH alias")
    p.add_argument(
        "-n",
        "--limit",
        type=int,
        default=30,
        help="how many recent events (default: 30, at most 1000)",
    )
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_events)


def _print_event(raw: Any, as_json: bool) -> None:
    import time

    from rpdevd.text import json_dumps

    if as_json:
        print(json_dumps(raw), flush=True)  # as the daemon sent it
        return
    import sys

    e = read(EventView, raw)
    when = time.strftime("%H:%M:%S", time.localtime(e["t"]))
    # Cut to a terminal line only where a person reads it; a pipe gets every word.
    limit = 160 if sys.stdout.isatty() else None
    mark = {"error": "!", "warning": "*"}.get(e["level"], " ")
    print(f"{when} {mark} {e['kind']:<18} {clean(e['message'], limit)}", flush=True)


def _events(a: argparse.Namespace) -> int:
    from rpdevd.client import Client, DaemonNotRunning
    from rpdevd.commands._common import daemon_call, fail
    from rpdevd.protocol import RemoteError

    params: dict[str, Any] = {"limit": max(1, min(a.limit, 1000))}
    if a.pod:
        params["pod"] = a.pod
    result, code = daemon_call("events", params)
    if code:
        return code
    for e in result["events"]:
        _print_event(e, a.json)
    if not a.follow:
        return 0
    try:
        with Client(timeout=3600 * 24) as c:
            sub_params: dict[str, Any] = {"kinds": []}
            if a.pod:
                sub_params["pod"] = a.pod
            c.call("subscribe", sub_params)
            for ev in c.events():
                if not ev.kind.startswith("live."):  # refresh hints, not events
                    _print_event(ev.to_json(), a.json)
    except (DaemonNotRunning, RemoteError, OSError) as exc:
        return fail(f"event stream ended: {exc}")
    return 0
