"""`rpdev forward [POD LOCAL[:REMOTE]] [--remove POD LOCAL]`: port forwards over the daemon's
kept-open connection to each pod, listed, added at run time, or removed."""

from __future__ import annotations

import argparse
from typing import Any

from rpdevd.commands._common import JSON_HELP, POD_HELP, fail, run_call, safe_text, say, table
from rpdevd.views import ForwardListView, ForwardView, read


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "forward",
        help="list, add or remove port forwards to pods (Jupyter, TensorBoard)",
        description="Without arguments: the current forwards. With POD LOCAL[:REMOTE]: forward "
        "local port LOCAL to port REMOTE (default: the same) on the pod's 127.0.0.1, over the "
        "daemon's connection to it; it stays while the pod stops and resumes. Forwards in "
        "config.toml ([[forward]]) are there from the daemon's start.",
    )
    p.add_argument("pod", nargs="?", help=POD_HELP)
    p.add_argument("ports", nargs="?", metavar="LOCAL[:REMOTE]", help="e.g. 8888 or 16006:6006")
    p.add_argument(
        "--bind",
        metavar="ADDR",
        help="the local address to listen on (default 127.0.0.1: this machine only; "
        "0.0.0.0 lets anyone who can reach this machine reach the pod's port)",
    )
    p.add_argument("--remove", action="store_true", help="remove the forward of POD's LOCAL port")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=_forward)


def parse_ports(text: str) -> tuple[int, int]:
    """`8888` -> (8888, 8888); `16006:6006` -> (16006, 6006). ValueError otherwise."""
    local, sep, remote = text.partition(":")
    ports = []
    for part in (local, remote if sep else local):
        if not part.isascii() or not part.isdigit() or not 1 <= int(part) <= 65535:
            raise ValueError(f"{text!r} is not LOCAL[:REMOTE] with ports from 1 to 65535")
        ports.append(int(part))
    return ports[0], ports[1]


def render_list(result: ForwardListView) -> None:
    forwards = result["forwards"]
    if not forwards:
        print(
            "no port forwards: add one with `rpdev forward POD 8888` or [[forward]] in config.toml"
        )
        return
    rows = [
        [
            safe_text(f["name"] or f["pod"], 24),
            f"{f['bind']}:{f['local']}",
            str(f["remote"]),
            f["state"],
            str(f["connections"]),
            f["source"],
        ]
        for f in forwards
    ]
    print(table(rows, ["POD", "LOCAL", "REMOTE", "STATE", "CONNS", "FROM"]))
    for f in forwards:
        if f["error"]:
            say(f"! {f['local']}: {f['error']}")


def _added(f: ForwardView) -> None:
    name = f["name"] or f["pod"]
    say(f"{name}: {f['bind']}:{f['local']} -> port {f['remote']} on the pod ({f['state']})")
    host = f["bind"] if f["bind"] not in ("0.0.0.0", "::") else "localhost"
    if ":" in host:
        host = f"[{host}]"
    say(f"  e.g. http://{host}:{f['local']}/")
    if f["bind"] not in ("127.0.0.1", "::1", "localhost"):
        say(f"  listening on {f['bind']}: anyone who can reach this machine reaches it")


def _removed(f: ForwardView) -> None:
    say(f"{f['name'] or f['pod']}: forward of local port {f['local']} removed")


def _forward(a: argparse.Namespace) -> int:
    if a.remove:
        if not a.pod or not a.ports or not a.ports.isdigit():
            return fail(
                "--remove needs POD and the LOCAL port",
                "e.g. rpdev forward --remove trainer 8888",
                2,
            )
        params: dict[str, Any] = {"pod": a.pod, "local": int(a.ports)}
        return run_call("forward.remove", params, a.json, lambda r: _removed(read(ForwardView, r)))
    if a.pod is None:
        return run_call("forward.list", {}, a.json, lambda r: render_list(read(ForwardListView, r)))
    if a.ports is None:
        return fail("which port? e.g. rpdev forward POD 8888 (or 18888:8888)", code=2)
    try:
        local, remote = parse_ports(a.ports)
    except ValueError as exc:
        return fail(
            str(exc), "e.g. rpdev forward trainer 8888 or rpdev forward trainer 16006:6006", 2
        )
    params = {"pod": a.pod, "local": local, "remote": remote}
    if a.bind:
        params["bind"] = a.bind
    return run_call("forward.add", params, a.json, lambda r: _added(read(ForwardView, r)))
