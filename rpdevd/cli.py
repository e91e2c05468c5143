"""`rpdev`: the command line, a thin client of the daemon.

Each subcommand lives in `rpdevd/commands/<name>.py` with a `register(subparsers)` function that
adds its parser and sets `func` (a callable taking the parsed args and returning an exit code).
Command modules import only the standard library and `rpdevd.client`/`rpdevd.protocol` at module
level, so `rpdev status` starts fast; heavy imports go inside the functions that need them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from rpdevd import __version__, commands

# Which module registers each command, so that `rpdev status` loads one module, not all of
# them (start-up time is most of a CLI call). A test checks this table against the modules.
COMMAND_MODULES = {
    "daemon": "daemon",
    "demo": "demo",
    "doctor": "doctor",
    "events": "status",
    "hold": "hold",
    "idle": "idle",
    "login": "login",
    "manage": "power",
    "open": "open",
    "pods": "status",
    "policy": "power",
    "proxy": "proxy",
    "resume": "power",
    "ssh-config": "ssh_config",
    "status": "status",
    "stop": "power",
    "sync": "sync",
    "tui": "tui",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command` (a known command name) only that command's module loads."""
    parser = argparse.ArgumentParser(
        prog="rpdev",
        description="Keep RunPod pods reachable, synced, and stopped when idle.",
    )
    parser.add_argument("--version", action="version", version=f"rpdev {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command in COMMAND_MODULES:
        names = [COMMAND_MODULES[command]]
    else:
        names = sorted(
            m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")
        )
    for name in names:
        module = importlib.import_module(f"rpdevd.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
