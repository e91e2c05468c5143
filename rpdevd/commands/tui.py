"""`rpdev tui`: the terminal UI. Textual is imported only when the command runs, so the rest of
the CLI starts fast."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tui", help="the terminal UI: every pod, live, steered with single keys")
    p.add_argument("--theme", choices=("dark", "light"), help="colour theme (default: dark)")
    p.add_argument(
        "--no-start",
        action="store_true",
        help="do not offer to start the daemon when it is not running",
    )
    p.set_defaults(func=_tui)


def start_daemon_quietly() -> tuple[bool, str]:
    """Start rpdevd in the background from inside the TUI: (ok, what went wrong).

    start_daemon prints; inside a full-screen app that output would be lost or garble the
    screen, so it is captured and handed back as the message."""
    from rpdevd.commands.daemon import start_daemon

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = start_daemon(quiet=True)
    return code == 0, out.getvalue().strip().removeprefix("rpdev: ")


def run_tui(start_offer: bool = True, theme: str | None = None, notice: str | None = None) -> int:
    """Run the TUI until the user quits; `start_offer` lets it offer to start the daemon;
    `notice` is shown at start and on the keys screen (`?`)."""
    try:
        # The one place in rpdevd that imports the UI, and only when asked to: the contract in
        # pyproject.toml names this exception.
        import tui.app as app_module
    except ImportError as exc:
        print(f"rpdev: the TUI cannot load: {exc}", file=sys.stderr)
        print("  hint: install rpdev with its dependencies (pip install rpdev)", file=sys.stderr)
        return 1
    app = app_module.RpdevApp(
        start_daemon=start_daemon_quietly if start_offer else None,
        theme={"dark": "textual-dark", "light": "textual-light"}.get(theme or ""),
        notice=notice,
    )
    app.run()
    return int(app.return_code or 0)


def _tui(a: argparse.Namespace) -> int:
    if not sys.stdout.isatty():
        print("rpdev: the TUI needs a terminal; use `rpdev status` in scripts", file=sys.stderr)
        return 2
    return run_tui(start_offer=not a.no_start, theme=a.theme)


__all__ = ["run_tui", "start_daemon_quietly"]
