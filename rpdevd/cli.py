"""`rpdev`: the command line, a thin client of the daemon.

Each subcommand lives in `rpdevd/commands/<name>.py` with a `register(subparsers)` function that
adds its parser and sets `func` (a callable taking the parsed args and returning an exit code).
Command modules import only the standard library and `rpdevd.client`/`rpdevd.protocol` at module
level, so `rpdev status` starts fast; heavy imports go inside the functions that need them.
"""

from __future__ import annotations

import importlib
import os
import sys

from rpdevd import __version__, commands

TYPE_CHECKING = False  # type-only imports (see rpdevd/sync/destination.py)
if TYPE_CHECKING:
    import argparse

# Which module registers each command, so that `rpdev status` loads one module, not all of
# them (start-up time is most of a CLI call). A test checks this table against the modules.
COMMAND_MODULES = {
    "cost": "cost",
    "daemon": "daemon",
    "demo": "demo",
    "doctor": "doctor",
    "events": "status",
    "forward": "forward",
    "hold": "hold",
    "idle": "idle",
    "login": "login",
    "manage": "power",
    "open": "open",
    "pods": "status",
    "policy": "power",
    "proxy": "proxy",
    "pull": "pull",
    "resume": "power",
    "ssh": "ssh",
    "ssh-config": "ssh_config",
    "status": "status",
    "stop": "power",
    "sync": "sync",
    "tui": "tui",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command` (a known command name) only that command's module loads."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="rpdev",
        description="Keep RunPod pods reachable, synced, and stopped when idle.",
    )
    parser.add_argument("--version", action="version", version=f"rpdev {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command in COMMAND_MODULES:
        names = [COMMAND_MODULES[command]]
    else:
        import pkgutil

        names = sorted(
            m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")
        )
    for name in names:
        module = importlib.import_module(f"rpdevd.commands.{name}")
        module.register(sub)
    _name_parsers(parser)
    return parser


def _name_parsers(parser: argparse.ArgumentParser) -> None:
    """Each (sub)command's parser leaves itself in the parsed args as `parser_`: the deepest
    one given wins, as with any default."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.set_defaults(parser_=child)
                _name_parsers(child)


# Commands that run threads and children of their own and end the ordinary way; every other
# command's process is over once its output is flushed (see run()).
ORDINARY_EXIT = {"daemon", "demo", "tui"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    early = argv[:2] == ["sync", "once"]
    if early:
        # The SSH handshake is the long pole of a one-shot sync: start it before argparse.
        from rpdevd.sync import sshproc

        sshproc.early_start(argv[2:])
    try:
        parser = build_parser(argv[0] if argv else None)
        args, extra = parser.parse_known_args(argv)
        if extra:
            # Said with the usage of the command that was given them (`rpdev hold trainer -5m`
            # shows hold's), not the top level's.
            getattr(args, "parser_", parser).error(f"unrecognized arguments: {' '.join(extra)}")
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
    finally:
        if early:
            sshproc.discard_early()


def run() -> None:
    """The `rpdev` console script: main(), then, for commands whose work is done when they
    return, an exit that skips the interpreter's teardown (tens of milliseconds of collecting
    and unloading modules, longer than many commands take).

    No input ends in a traceback: output into a pipe whose reader has gone (`rpdev pods | head
    -1`) ends quietly with 141, as a program killed by SIGPIPE would; input that ends before it
    was read (Ctrl-D, `</dev/null`) is said so."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        code = _reader_gone()
    except EOFError:
        print("rpdev: the input ended before anything was read (Ctrl-D?)", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    if sys.argv[1:2] and sys.argv[1] in ORDINARY_EXIT:
        sys.exit(code)
    try:
        sys.stderr.flush()
    except OSError:
        code = code or 1
    os._exit(code)


def _reader_gone() -> int:
    # Python's own advice (see the signal module's docs): point stdout at /dev/null, so that
    # the flush at exit has nowhere to fail, and leave with SIGPIPE's status.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + 13  # SIGPIPE


if __name__ == "__main__":
    run()
