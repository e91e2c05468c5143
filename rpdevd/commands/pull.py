"""`rpdev pull`: bring results (plots, logs, metrics, checkpoints) back from a pod, once.

    rpdev pull DEST:REMOTE LOCAL [--pattern PAT ...] [--json]

DEST is what `rpdev sync` takes (an alias from ~/.ssh/config, `[user@]host[:port]`); `-i`, `-o`
and `-F` work as for ssh. Exit codes: 0 done, 1 error (also when a local path could not be
read), 2 bad arguments. The rules are those of docs/sync.md, "Results back".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "pull",
        help="bring files from a pod back here, once (never overwrites your edits)",
        description="Copy the files under REMOTE on the pod that match the patterns into "
        "LOCAL. A local file you changed is kept as a conflict copy, a pulled file you "
        "deleted stays deleted until it changes on the pod; see docs/sync.md.",
    )
    p.add_argument(
        "remote", help="DEST:REMOTE, e.g. mypod.runpod:/workspace/proj or root@1.2.3.4:22022:/w"
    )
    p.add_argument("local", help="local directory (created if missing)")
    p.add_argument(
        "--pattern",
        action="append",
        default=[],
        metavar="PAT",
        help="gitignore-style pattern of what to bring (repeatable; '!pat' leaves out; "
        "default: everything)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "-i", "--identity", action="append", default=[], metavar="FILE", help="as ssh -i"
    )
    p.add_argument(
        "-o",
        dest="ssh_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="SSH option (as ssh -o)",
    )
    p.add_argument("-F", dest="ssh_config", metavar="FILE", help="SSH config file")
    p.add_argument("--db", metavar="FILE", help=argparse.SUPPRESS)
    p.set_defaults(func=_run)


class _Printer:
    """Events -> stderr. A large file's progress: a bar on a terminal, else a line at the start,
    at each quarter and at the end (never with --json, which prints every event as JSON)."""

    def __init__(self, json_mode: bool) -> None:
        self.json = json_mode
        self.tty = sys.stderr.isatty() and not json_mode
        self.bar = False
        self._quarter: dict[str, int] = {}

    def __call__(self, ev: Any) -> None:
        if self.json:
            import json

            print(json.dumps({"event": ev.to_json()}, default=str), file=sys.stderr)
            return
        if ev.kind == "sync.progress":
            self._progress(ev.data)
            return
        self.end_bar()
        if ev.level != "info":
            from rpdevd.text import clean

            print(f"{ev.level}: {clean(ev.message)}", file=sys.stderr)

    def _progress(self, d: dict[str, Any]) -> None:
        from rpdevd.text import clean

        path = clean(str(d.get("path", "")))
        total = max(int(d.get("file_total", 0)), 1)
        done = int(d.get("file_done", 0))
        frac = min(done / total, 1.0)
        line = f"pulling {path}: {done / 1e6:.1f}/{total / 1e6:.1f} MB ({frac * 100:.0f}%)"
        if self.tty:
            sys.stderr.write(f"\r{line}\x1b[K")
            self.bar = True
            if done >= total:
                self.end_bar()
        else:
            quarter = int(frac * 4)
            if self._quarter.get(path, -1) < quarter:
                self._quarter[path] = quarter
                print(line, file=sys.stderr)
        sys.stderr.flush()

    def end_bar(self) -> None:
        if self.bar:
            sys.stderr.write("\n")
            self.bar = False


def _fail(args: argparse.Namespace, message: str, code: int = 1) -> int:
    from rpdevd.commands._common import fail

    if args.json:
        from rpdevd.text import json_dumps

        print(json_dumps({"ok": False, "error": message}))
        return code
    return fail(message, None, code)


def _run(args: argparse.Namespace) -> int:
    from rpdevd.sync.destination import (
        ConnectOptions,
        DestinationError,
        parse_destination,
        parse_option,
    )
    from rpdevd.sync.pullplan import check_pattern

    try:
        dest = parse_destination(args.remote)
        opts = ConnectOptions(
            identities=[Path(i).expanduser() for i in args.identity],
            options=dict(parse_option(o) for o in args.ssh_options),
            config_file=Path(args.ssh_config).expanduser() if args.ssh_config else None,
        )
    except DestinationError as exc:
        return _fail(args, str(exc), 2)
    patterns = tuple(args.pattern) or ("*",)
    for pat in patterns:
        wrong = check_pattern(pat)
        if wrong:
            return _fail(args, f"--pattern {pat!r} {wrong}", 2)
    local = Path(args.local).expanduser().resolve()
    try:
        local.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(args, f"cannot make {local}: {exc.strerror or exc}")
    if not local.is_dir():
        return _fail(args, f"{local} is not a directory", 2)

    import asyncio

    from rpdevd.sync.destination import connect
    from rpdevd.sync.pull import Puller, PullError, PullSpec
    from rpdevd.sync.pullbase import PullBaseline

    printer = _Printer(args.json)
    db = PullBaseline(Path(args.db)) if args.db else PullBaseline()
    spec = PullSpec(
        local_root=local,
        remote_root=dest.path,
        pair_id=f"pull:{dest.label}:{dest.path}:{local}",
        patterns=patterns,
        dest_label=dest.label,
    )
    puller = Puller(spec, baseline=db, on_event=printer)

    async def main() -> Any:
        conn = await connect(dest, opts)
        try:
            return await puller.pull(conn)
        finally:
            conn.close()
            await conn.wait_closed()

    try:
        report = asyncio.run(main())
    except (PullError, ConnectionError, OSError) as exc:
        printer.end_bar()
        return _fail(args, str(exc))
    except Exception as exc:  # noqa: BLE001 - asyncssh errors and the like, shown plainly
        printer.end_bar()
        return _fail(args, str(exc) or type(exc).__name__)
    finally:
        db.close()
    printer.end_bar()
    if args.json:
        from rpdevd.text import json_dumps

        print(json_dumps({"ok": report.ok, **report.to_json()}))
    else:
        print(
            f"pulled {dest.label}:{dest.path} -> {local}: {report.got} files "
            f"({report.bytes / 1e6:.1f} MB), {len(report.conflicts)} conflict copies, "
            f"{len(report.kept)} kept, {report.seconds:.2f}s"
        )
    return 0 if report.ok else 1
