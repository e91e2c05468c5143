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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rpdev",
        description="Keep RunPod pods reachable, synced, and stopped when idle.",
    )
    parser.add_argument("--version", action="version", version=f"rpdev {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rpdevd.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
