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
from rpdevd.daemon.server import AlreadyRunning
from rpdevd.secrets import find_api_key


class RedactKey(logging.Filter):
    """Defence in depth: whatever a library logs (tracebacks included), no API key the daemon
    has used reaches a log line. The daemon adds keys it learns later (`rpdev login`)."""

    secrets: set[str] = set()

    def __init__(self) -> None:
        super().__init__()
        key = find_api_key()
        if key:
            self.secrets.add(key.value)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        msg = record.getMessage()
        if record.exc_info:
            msg += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        for secret in self.secrets:
            msg = msg.replace(secret, "<redacted>")
        record.msg, record.args = msg, None
        return True


def setup_logging(foreground: bool, verbose: bool = False) -> None:
    paths.ensure_private_dir(paths.state_dir())
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = logging.handlers.RotatingFileHandler(
        paths.log_file(), maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(fmt)
    handlers: list[logging.Handler] = [handler]
    if foreground:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handlers.append(stream)
    redact = RedactKey()
    for h in handlers:
        h.addFilter(redact)
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
