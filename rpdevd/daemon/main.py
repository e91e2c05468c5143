"""`rpdevd` / `rpdev daemon run`: the daemon in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import signal
import sys
import threading

from rpdevd import __version__, paths
from rpdevd.config import ConfigError, load_config
from rpdevd.daemon.redact import RedactKey
from rpdevd.daemon.server import AlreadyRunning
from rpdevd.secrets import find_api_key
from rpdevd.text import clean


class LogFormatter(logging.Formatter):
    """Every log line, formatted in one place, so that no call site can forget: API keys
    redacted, and text from outside (pod names, messages from RunPod or a pod) cleaned, so that
    a name can neither send escape sequences to a terminal reading the log nor forge lines of
    it. The message is one line; a traceback keeps its lines, each cleaned and indented, so
    that only a record's first line starts at the left margin."""

    def format(self, record: logging.LogRecord) -> str:
        # A copy: the record itself stays as it was for any other handler.
        view = logging.makeLogRecord(record.__dict__)
        view.message = clean(RedactKey.redact(record.getMessage()))
        if self.usesTime():
            view.asctime = self.formatTime(view, self.datefmt)
        head = self.formatMessage(view)
        extra = []
        if record.exc_info:
            extra.append(self.formatException(record.exc_info))
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        if not extra:
            return head
        lines = RedactKey.redact("\n".join(extra)).split("\n")
        return head + "".join(f"\n  {clean(line)}" for line in lines)


def setup_logging(foreground: bool, verbose: bool = False) -> None:
    key = find_api_key()
    if key:
        RedactKey.secrets.add(key.value)
    paths.ensure_private_dir(paths.state_dir())
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler = logging.handlers.RotatingFileHandler(
        paths.log_file(), maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(LogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [handler]
    if foreground:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(LogFormatter("%(levelname)s %(name)s: %(message)s"))
        handlers.append(stream)
    for h in handlers:
        root.addHandler(h)
    for noisy in ("asyncssh", "urllib3", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _amain() -> int:
    from rpdevd.daemon.app import Daemon
    from rpdevd.daemon.services import attach_services

    daemon = Daemon(load_config())
    attach_services(daemon)
    loop = asyncio.get_running_loop()

    def arm_watchdog() -> None:
        # A shutdown must end: should anything hang (a stuck thread, a peer that never answers),
        # the process exits anyway once the grace period is over.
        watchdog = threading.Timer(SHUTDOWN_GRACE, _force_exit)
        watchdog.daemon = True
        watchdog.start()

    daemon.on_shutdown = arm_watchdog
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.shutdown)
    # SIGHUP reads config.toml again, as `rpdev daemon reload` does (a daemon's usual HUP).
    loop.add_signal_handler(signal.SIGHUP, daemon.reloader.reload_soon)
    await daemon.run()
    return 0


SHUTDOWN_GRACE = 10.0


def _force_exit() -> None:
    logging.getLogger("rpdevd").error("shutdown took over %ss: exiting now", SHUTDOWN_GRACE)
    logging.shutdown()
    os._exit(0)


def run(foreground: bool = True, verbose: bool = False) -> int:
    try:
        load_config()
    except ConfigError as exc:
        print(f"rpdevd: {exc}", file=sys.stderr)
        return 2
    setup_logging(foreground, verbose)
    log = logging.getLogger("rpdevd")
    log.info("rpdevd %s starting; socket %s", __version__, paths.socket_path())
    try:
        return asyncio.run(_amain())
    except AlreadyRunning as exc:
        print(f"rpdevd: already running: {exc}", file=sys.stderr)
        print(
            "  hint: `rpdev daemon status` shows it; `rpdev daemon stop` stops it", file=sys.stderr
        )
        log.error("refusing to start: %s", exc)
        return 3
    except PermissionError as exc:
        print(f"rpdevd: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rpdevd", description="The rpdev daemon.")
    parser.add_argument("--version", action="version", version=f"rpdevd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument(
        "--background",
        action="store_true",
        help="log only to the log file (used by `rpdev daemon start`)",
    )
    args = parser.parse_args(argv)
    return run(foreground=not args.background, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
