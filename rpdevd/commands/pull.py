"""`rpdev pull`: bring results (plots, logs, metrics, checkpoints) back from a pod, once.

    rpdev pull DEST:REMOTE LOCAL [--pattern PAT ...] [--json]
    rpdev pull DEST:REMOTE LOCAL --forget [--json]

DEST is what `rpdev sync` takes (an alias from ~/.ssh/config, `[user@]host[:port]`); `-i`, `-o`
and `-F` work as for ssh. Exit codes: 0 done, 1 error (also when a local path could not be
read), 2 bad arguments. The rules are those of docs/sync.md, "Results back".

`--forget` drops what rpdev remembers of that pull (the files it landed, its patterns) and
touches no file, here or on the pod; see docs/sync.md, "Forgetting a pull".
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
        "deleted stays deleted until it changes on the pod; see docs/sync.md. With --forget "
        "nothing is pulled: what rpdev remembers of this pull is dropped, and no file with it.",
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
    p.add_argument(
        "--forget",
        action="store_true",
        help="pull nothing: forget what rpdev remembers of this pull (the files it landed, "
        "its patterns, which pushes from LOCAL leave out); no file is deleted or changed, "
        "here or on the pod",
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
    from rpdevd.config import check_pull_pattern
    from rpdevd.sync.destination import (
        ConnectOptions,
        DestinationError,
        parse_destination,
        parse_option,
    )

    try:
        dest = parse_destination(args.remote)
        opts = ConnectOptions(
            identities=[Path(i).expanduser() for i in args.identity],
            options=dict(parse_option(o) for o in args.ssh_options),
            config_file=Path(args.ssh_config).expanduser() if args.ssh_config else None,
        )
    except DestinationError as exc:
        return _fail(args, str(exc), 2)
    local = Path(args.local).expanduser().resolve()
    pair_id = f"pull:{dest.label}:{dest.path}:{local}"
    if args.forget:
        return _forget(args, f"{dest.label}:{dest.path}", local, pair_id)
    patterns = tuple(args.pattern) or ("*",)
    for pat in patterns:
        wrong = check_pull_pattern(pat)
        if wrong:
            return _fail(args, f"--pattern {pat!r} {wrong}", 2)
    try:
        local.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(args, f"cannot make {local}: {exc.strerror or exc}")
    if not local.is_dir():
        return _fail(args, f"{local} is not a directory", 2)

    from rpdevd.commands._common import run_pass
    from rpdevd.sync.destination import connect
    from rpdevd.sync.pull import Puller, PullReport, PullSpec
    from rpdevd.sync.pullbase import PullBaseline

    printer = _Printer(args.json)
    db = PullBaseline(Path(args.db)) if args.db else PullBaseline()
    spec = PullSpec(
        local_root=local,
        remote_root=dest.path,
        pair_id=pair_id,
        patterns=patterns,
        dest_label=dest.label,
    )
    puller = Puller(spec, baseline=db, on_event=printer)

    async def main() -> PullReport:
        conn = await connect(dest, opts)
        try:
            return await puller.pull(conn)
        finally:
            conn.close()
            await conn.wait_closed()

    report, code = run_pass(
        main,
        as_json=args.json,
        fail=lambda message: _fail(args, message),
        end_bar=printer.end_bar,
        close=db.close,
    )
    if report is None:
        return code
    if not args.json:
        print(
            f"pulled {dest.label}:{dest.path} -> {local}: {report.got} files "
            f"({report.bytes / 1e6:.1f} MB), {len(report.conflicts)} conflict copies, "
            f"{len(report.kept)} kept, {report.seconds:.2f}s"
        )
    return 0 if report.ok else 1


def _forget(args: argparse.Namespace, source: str, local: Path, pair_id: str) -> int:
    """`--forget`: the pull's rows in the database go; the files, here and on the pod, stay."""
    from rpdevd.commands._common import say
    from rpdevd.sync.pullbase import PullBaseline

    if args.db:
        db = PullBaseline(Path(args.db))
    else:
        from rpdevd import paths

        if not paths.database_file().exists():
            return _forgot_nothing(args, source, local, [])
        db = PullBaseline()
    try:
        gone = db.forget(pair_id)
        others = [] if gone else db.pairs_into(local)
    finally:
        db.close()
    if gone is None:
        return _forgot_nothing(args, source, local, others)
    if args.json:
        from rpdevd.text import json_dumps

        print(
            json_dumps(
                {
                    "ok": True,
                    "forgot": True,
                    "source": source,
                    "local": str(local),
                    "files": gone.files,
                    "patterns": list(gone.patterns),
                }
            )
        )
        return 0
    patterns = " ".join(repr(p) for p in gone.patterns) or "none"
    say(
        f"forgot the pull {source} -> {local}: {gone.files} pulled files and its patterns "
        f"({patterns}); no file was deleted or changed"
    )
    say(
        "  pushes from that folder no longer leave those patterns out, and a next pull "
        "takes every file there as yours"
    )
    return 0


def _forgot_nothing(
    args: argparse.Namespace, source: str, local: Path, others: list[tuple[str, tuple[str, ...]]]
) -> int:
    """Nothing remembered for that pull: an error (a mistyped DEST would otherwise pass
    unnoticed), naming the pulls remembered into LOCAL, as they must be written."""
    prefix, suffix = "pull:", f":{local}"
    names = [
        pair[len(prefix) : -len(suffix)]
        for pair, _ in others
        if pair.startswith(prefix) and pair.endswith(suffix)
    ]
    hint = (
        "pulls remembered into that folder: " + ", ".join(names)
        if names
        else "`rpdev pull --forget` takes the DEST:REMOTE and LOCAL the pull was run with"
    )
    message = f"nothing is remembered of a pull {source} -> {local}"
    if args.json:
        from rpdevd.text import json_dumps

        print(json_dumps({"ok": False, "forgot": False, "error": message, "hint": hint}))
        return 1
    from rpdevd.commands._common import fail

    return fail(message, hint)
