"""`rpdev sync`: push a local directory to a directory on any SSH destination.

    rpdev sync once  LOCAL DEST:REMOTE [--no-delete] [--max-delete N] [--yes] [--json]
    rpdev sync watch LOCAL DEST:REMOTE [...]
    rpdev sync status [--json]
    rpdev sync add LOCAL POD:REMOTE [--ignore PATTERN ...] [--no-delete] [--max-delete N]
                   [--pull PATTERN ...] [--pull-interval DURATION]
    rpdev sync remove|pause|resume|confirm ID

DEST is an alias from ~/.ssh/config or [user@]host[:port]. `-i`, `-o Key=Value` and `-F` work as
for ssh. Exit codes: 0 done, 1 error, 2 bad arguments, 3 deletions held at the cap.

`add`, `remove`, `pause`, `resume` and `confirm` steer the daemon's live syncs (its `[[sync]]`
roots and those added here, which it keeps across restarts).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

EXIT_HELD = 3


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sync",
        help="live-sync a local directory to a pod (or any SSH host)",
        description="Push a local directory to a pod. Never deletes or overwrites "
        "pod files that rpdev did not write; see docs/sync.md.",
    )
    ss = p.add_subparsers(dest="sync_command", metavar="SUBCOMMAND")
    for name, helptext in (
        ("once", "one full sync, then exit"),
        ("watch", "a full sync, then push every change until interrupted"),
    ):
        sp = ss.add_parser(name, help=helptext, description=helptext)
        sp.add_argument("local", help="local directory")
        sp.add_argument(
            "dest",
            help="DEST:REMOTE, e.g. mypod.runpod:/workspace/proj or "
            "root@1.2.3.4:22022:/workspace/proj",
        )
        sp.add_argument(
            "--delete",
            dest="delete",
            action="store_true",
            default=True,
            help="delete on the pod what rpdev wrote and you deleted (default)",
        )
        sp.add_argument(
            "--no-delete",
            dest="delete",
            action="store_false",
            help="never delete anything on the pod",
        )
        sp.add_argument(
            "--max-delete",
            type=int,
            default=100,
            metavar="N",
            help="hold a batch with more than N deletions until confirmed (default 100)",
        )
        sp.add_argument(
            "--yes", "-y", action="store_true", help="confirm held deletions without asking"
        )
        sp.add_argument("--json", action="store_true", help="print the result as JSON")
        sp.add_argument(
            "-i",
            "--identity",
            action="append",
            default=[],
            metavar="FILE",
            help="private key file (as ssh -i)",
        )
        sp.add_argument(
            "-o",
            dest="ssh_options",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="SSH option (as ssh -o), e.g. "
            "StrictHostKeyChecking=accept-new, UserKnownHostsFile=FILE, Port=2222",
        )
        sp.add_argument(
            "-F", dest="ssh_config", metavar="FILE", help="SSH config file instead of ~/.ssh/config"
        )
        sp.add_argument(
            "--ignore",
            action="append",
            default=[],
            metavar="PATTERN",
            help="extra gitignore-style pattern (repeatable; '!pat' re-includes)",
        )
        sp.add_argument("--no-gitignore", action="store_true", help="do not read .gitignore files")
        sp.add_argument(
            "--no-default-ignores",
            action="store_true",
            help="do not skip .git, __pycache__, .venv, node_modules, ...",
        )
        sp.add_argument("--db", metavar="FILE", help=argparse.SUPPRESS)
        sp.set_defaults(func=_run_once if name == "once" else _run_watch)
    st = ss.add_parser("status", help="what the daemon's syncs are doing")
    st.add_argument("--json", action="store_true", help="print the result as JSON, for scripts")
    st.set_defaults(func=_status)
    cf = ss.add_parser("confirm", help="let a daemon sync's held deletions go through")
    cf.add_argument("id", help="the root's id (rpdev sync status)")
    cf.add_argument("--json", action="store_true", help="print the result as JSON, for scripts")
    cf.set_defaults(func=_confirm)
    _register_roots(ss)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _status(args: argparse.Namespace) -> int:
    from rpdevd.commands._common import daemon_call, print_json, safe_text, table
    from rpdevd.labels import pull_label, root_pod_label, sync_state_label
    from rpdevd.views import PodsView, SyncListView, read

    result, code = daemon_call("sync.status")
    if code:
        return code
    if args.json:
        print_json(result)
        return 0
    roots = read(SyncListView, result)["roots"]
    if not roots:
        print("no sync roots: `rpdev sync add LOCAL POD:REMOTE`, or [[sync]] in config.toml")
        return 0
    # Each root's pod by its name, before RunPod's first answer and after it alike.
    pods, failed = daemon_call("pods")
    views = [] if failed else read(PodsView, pods)["pods"]
    rows = [
        [
            r["id"],
            safe_text(root_pod_label(r, views), 40),
            safe_text(r["local"], 40),
            safe_text(r["remote"], 30),
            sync_state_label(r["state"]),
            str(r["held"] or ""),
            r["source"],
            safe_text(r["last_error"] or "", 60),
        ]
        for r in roots
    ]
    print(table(rows, ["ID", "POD", "LOCAL", "REMOTE", "STATE", "HELD", "FROM", "LAST ERROR"]))
    for r in roots:  # one line each for the roots that pull files back
        pulls = pull_label(r)
        if pulls:
            print(safe_text(f"{r['id']}: {pulls}", 200))
    return 0


def _register_roots(ss: Any) -> None:
    """`add`, `remove`, `pause`, `resume`: the daemon's roots, at run time."""
    ad = ss.add_parser(
        "add",
        help="live-sync a local folder to a pod from now on (kept across daemon restarts)",
        description="Add a root to the daemon's live sync, as a [[sync]] of config.toml would. "
        "The daemon keeps it across restarts until `rpdev sync remove`.",
    )
    ad.add_argument("local", help="local folder")
    ad.add_argument("dest", metavar="POD:REMOTE", help="the pod (name or id) and its folder")
    ad.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATTERN",
        help="extra gitignore-style pattern (repeatable; '!pat' re-includes)",
    )
    ad.add_argument(
        "--no-delete", dest="delete", action="store_false", help="never delete on the pod"
    )
    ad.add_argument(
        "--max-delete",
        type=int,
        default=100,
        metavar="N",
        help="hold a batch with more than N deletions until confirmed (default 100)",
    )
    ad.add_argument(
        "--pull",
        action="append",
        default=[],
        metavar="PATTERN",
        help="bring the pod's files that match back into LOCAL, as `pull` in config.toml "
        "(gitignore-style, repeatable; '!pat' leaves out; never pushed back)",
    )
    ad.add_argument(
        "--pull-interval",
        metavar="DURATION",
        help="with --pull: how often the pod is looked at for new results (default 30s; "
        "also after each full pass of the push)",
    )
    ad.add_argument("--json", action="store_true", help="print the result as JSON, for scripts")
    ad.set_defaults(func=_add)
    for name, helptext, func in (
        ("remove", "stop syncing a root added with `rpdev sync add`", _remove),
        ("pause", "stop pushing a root's changes (what rpdev knows of it is kept)", _pause),
        ("resume", "push a paused root's changes again", _resume),
    ):
        sp = ss.add_parser(name, help=helptext, description=helptext)
        sp.add_argument("id", help="the root's id (rpdev sync status)")
        sp.add_argument("--json", action="store_true", help="print the result as JSON")
        sp.set_defaults(func=func)


def _add(args: argparse.Namespace) -> int:
    from rpdevd.commands._common import fail, run_call, say
    from rpdevd.config import check_pull_interval, check_pull_pattern
    from rpdevd.durations import parse_duration
    from rpdevd.views import SyncRootView, read

    pod, sep, remote = args.dest.partition(":")
    if not sep or not pod or not remote:
        return fail(
            f"{args.dest!r} is not POD:REMOTE", "e.g. rpdev sync add . trainer:/workspace/proj", 2
        )
    if args.max_delete < 0:
        return fail("--max-delete must be zero or more", code=2)
    for pattern in args.pull:
        wrong = check_pull_pattern(pattern)
        if wrong:
            return fail(f"--pull {pattern!r} {wrong}", "e.g. --pull 'outputs/**/*.png'", 2)
    params: dict[str, Any] = {
        "pod": pod,
        "local": str(Path(args.local).expanduser().resolve()),
        "remote": remote,
        "ignore": list(args.ignore),
        "max_delete": args.max_delete,
        "delete": args.delete,
        "pull": list(args.pull),
    }
    if args.pull_interval is not None:
        if not args.pull:
            return fail(
                "--pull-interval goes with --pull", "e.g. --pull logs/ --pull-interval 1m", 2
            )
        try:
            params["pull_interval"] = parse_duration(args.pull_interval)
        except ValueError as exc:
            return fail(f"--pull-interval: {exc}", code=2)
        wrong = check_pull_interval(params["pull_interval"])
        if wrong:
            return fail(f"--pull-interval: {wrong}", "e.g. --pull-interval 30s", 2)

    def added(raw: Any) -> None:
        r = read(SyncRootView, raw)
        say(f"sync root {r['id']} added: {r['local']} -> {pod}:{r['remote']}")
        if args.pull:
            say(f"  pulling {' '.join(repr(p) for p in args.pull)} back into {r['local']}")

    return run_call("sync.add", params, args.json, added)


def _remove(args: argparse.Namespace) -> int:
    from rpdevd.commands._common import run_call, say
    from rpdevd.views import SyncRemovedView, read

    return run_call(
        "sync.remove",
        {"id": args.id},
        args.json,
        lambda r: say(f"sync root {read(SyncRemovedView, r)['removed']} removed"),
    )


def _pause(args: argparse.Namespace) -> int:
    return _set_paused(args, True)


def _resume(args: argparse.Namespace) -> int:
    return _set_paused(args, False)


def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    from rpdevd.commands._common import run_call, say
    from rpdevd.views import SyncRootView, read

    return run_call(
        "sync.pause",
        {"id": args.id, "paused": paused},
        args.json,
        lambda r: say(
            f"sync {'paused' if paused else 'resumed'}: {read(SyncRootView, r)['local']}"
        ),
    )


def _confirm(args: argparse.Namespace) -> int:
    from rpdevd.commands._common import run_call, say
    from rpdevd.views import SyncRootView, read

    return run_call(
        "sync.confirm",
        {"id": args.id},
        args.json,
        lambda r: say(f"held deletions confirmed for {read(SyncRootView, r)['local']}"),
    )


class _Printer:
    """Events -> stderr lines and a progress bar (only on a terminal, never with --json)."""

    def __init__(self, json_mode: bool) -> None:
        self.json = json_mode
        self.tty = sys.stderr.isatty() and not json_mode
        self.bar = False

    def __call__(self, ev: Any) -> None:
        if ev.kind == "sync.progress":
            if not self.tty:
                return
            d = ev.data
            total = max(int(d.get("bytes_total", 0)), 1)
            done = int(d.get("bytes_done", 0))
            frac = min(done / total, 1.0)
            bar = "#" * int(frac * 30)
            sys.stderr.write(
                f"\r[{bar:<30}] {frac * 100:5.1f}% {done / 1e6:8.1f}/"
                f"{total / 1e6:.1f} MB {d.get('files_done', 0)}/"
                f"{d.get('files_total', 0)} files"
            )
            sys.stderr.flush()
            self.bar = True
            return
        self.end_bar()
        if self.json:
            import json

            print(json.dumps({"event": ev.to_json()}), file=sys.stderr)
        elif ev.level != "info" or ev.kind in ("sync.reconnected", "sync.pushed"):
            print(f"{ev.level}: {ev.message}", file=sys.stderr)

    def end_bar(self) -> None:
        if self.bar:
            sys.stderr.write("\n")
            self.bar = False


def _ssh_sessions(dest: Any, opts: Any) -> Any:
    """`sync once` runs its session over the `ssh` binary, started here, before the engine's
    imports: the handshake and the pod's login shell overlap this process's start-up."""
    from rpdevd.sync.sshproc import SshSessions, find_ssh, ssh_argv, user_chose_ciphers

    ssh = find_ssh()
    if ssh is None:
        return None
    config_file = str(opts.config_file) if opts.config_file else None
    sessions = SshSessions(
        ssh_argv(
            ssh,
            dest.host,
            user=dest.user,
            port=dest.port,
            identities=[str(p) for p in opts.identities],
            options=opts.options,
            config_file=config_file,
            fast_ciphers=not user_chose_ciphers(config_file),
        )
    )
    sessions.prestart()
    return sessions


def _build(args: argparse.Namespace, printer: _Printer, use_ssh: bool = False) -> Any:
    from rpdevd.sync.destination import (
        ConnectOptions,
        cli_pair_id,
        parse_destination,
        parse_option,
    )

    dest = parse_destination(args.dest)
    opts = ConnectOptions(
        identities=[Path(i).expanduser() for i in args.identity],
        options=dict(parse_option(o) for o in args.ssh_options),
        config_file=Path(args.ssh_config).expanduser() if args.ssh_config else None,
    )
    sessions = _ssh_sessions(dest, opts) if use_ssh else None
    local = Path(args.local).expanduser().resolve()

    from rpdevd.sync.ignore import IgnoreConfig
    from rpdevd.sync.pullbase import push_excludes_for

    ignore = IgnoreConfig(
        use_defaults=not args.no_default_ignores,
        use_gitignore=not args.no_gitignore,
        # Last, so nothing re-includes them: what `rpdev pull` brings into this folder.
        extra=tuple(args.ignore) + push_excludes_for(local, Path(args.db) if args.db else None),
    )

    from rpdevd.sync.baseline import Baseline

    db = Baseline(Path(args.db)) if args.db else Baseline()
    pair_id = cli_pair_id(dest, local)
    if use_ssh and db.has_rows(pair_id):
        # A resync (`sync once`): its walk starts now, in a process of its own, while the rest
        # of rpdev loads (the engine adopts it: the same root, by the same rules).
        from rpdevd.sync import scanproc

        scanproc.early_start(local, ignore)

    from rpdevd.sync.destination import connect
    from rpdevd.sync.engine import SyncEngine, SyncSpec

    spec = SyncSpec(
        local_root=local,
        remote_root=dest.path,
        pair_id=pair_id,
        dest_label=dest.label,
        ignore=ignore,
        delete=args.delete,
        max_delete=max(args.max_delete, 0),
    )

    async def confirm(held: list[Any]) -> bool:
        if args.yes:
            return True
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            return False
        import asyncio

        printer.end_bar()
        sample = "\n".join(f"  {op.path}" for op in held[:10])
        more = f"\n  ... and {len(held) - 10} more" if len(held) > 10 else ""
        prompt = (
            f"{len(held)} files rpdev wrote were deleted locally (cap {spec.max_delete}):"
            f"\n{sample}{more}\nDelete them on the pod? [y/N] "
        )
        answer = await asyncio.to_thread(input, prompt)
        return answer.strip().lower() in ("y", "yes")

    engine = SyncEngine(
        spec,
        baseline=db,
        connect=lambda: connect(dest, opts),
        on_event=printer,
        confirm=confirm,
        close_connections=True,  # the connection is this command's alone
        open_session=sessions.open if sessions is not None else None,
        scan_in_child=use_ssh,  # `sync once`: nothing else runs in this process
    )
    return engine, db, sessions


def _fail(args: argparse.Namespace, message: str, code: int = 1) -> int:
    from rpdevd.commands._common import fail

    # "failed (exit 255): : cannot connect": an empty part between colons says nothing.
    message = re.sub(r"(:\s*)+:", ":", message.strip()).rstrip(": ")
    hint = _alias_hint(getattr(args, "dest", ""), message)
    if getattr(args, "json", False):
        from rpdevd.text import json_dumps

        print(json_dumps({"ok": False, "error": message, "hint": hint}))
        return code
    return fail(message, hint, code)


def _alias_hint(dest: str, message: str) -> str | None:
    """What to do when ssh does not know an rpdev alias (`trainer.runpod`): the generated
    config is not included in ~/.ssh/config."""
    host = dest.rsplit("@", 1)[-1].split(":", 1)[0]
    if not host.endswith(".runpod") or "resolve" not in message.lower():
        return None
    return (
        f"{host} is an rpdev alias: `rpdev ssh-config install` lets ssh find it "
        "(or pass -F with the generated config: `rpdev ssh-config show --json` gives its path)"
    )


def _run_once(args: argparse.Namespace) -> int:
    printer = _Printer(args.json)
    from rpdevd.sync import scanproc
    from rpdevd.sync.destination import DestinationError

    try:
        return _once(args, printer)
    except DestinationError as exc:
        return _fail(args, str(exc), 2)
    finally:
        scanproc.discard_early()  # a walk started for a pass that did not run


def _once(args: argparse.Namespace, printer: _Printer) -> int:
    engine, db, sessions = _build(args, printer, use_ssh=True)
    _fewer_collections()
    from rpdevd.sync.batch import SyncReport

    async def main() -> SyncReport:
        try:
            report: SyncReport = await engine.sync_once()
            return report
        finally:
            await engine.close()
            if sessions is not None:
                sessions.close()

    from rpdevd.commands._common import run_pass

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
            f"synced {os.path.basename(str(engine.spec.local_root))} -> "
            f"{engine.spec.dest_label}:{engine.spec.remote_root}: {report.sent} sent "
            f"({report.bytes / 1e6:.1f} MB), {report.moved} moved, {report.deleted} deleted, "
            f"{len(report.conflicts)} conflict copies, {report.seconds:.2f}s"
        )
        if report.held:
            print(
                f"{report.held} deletions held (more than --max-delete "
                f"{engine.spec.max_delete}): rerun with --yes to delete them",
                file=sys.stderr,
            )
        if report.unreadable:
            print(
                f"{len(report.unreadable)} local paths could not be read (see above): nothing "
                "at or below them was changed on the pod; the next sync tries them again",
                file=sys.stderr,
            )
    if report.failed or report.unreadable:
        return 1
    return EXIT_HELD if report.held else 0


def _fewer_collections() -> None:
    """A pass of a big tree makes hundreds of thousands of objects that live until it ends
    (entries, ops, results): Python's cycle collector, run every 700 new objects by default,
    walks them again and again (5-8% of a first sync's CPU at 100,000 files). What is loaded
    by now stays until the process ends, and is left out of every collection; the young are
    collected every 10,000 objects. For this one-shot process only: a daemon is left as it
    is."""
    import gc

    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _run_watch(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from rpdevd.sync.destination import DestinationError
    from rpdevd.sync.engine import SyncStopped
    from rpdevd.sync.scan import LocalRootError

    printer = _Printer(args.json)
    try:
        engine, db, _ = _build(args, printer)
    except DestinationError as exc:
        return _fail(args, str(exc), 2)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if not args.json:
            print(
                f"watching {engine.spec.local_root} -> {engine.spec.dest_label}:"
                f"{engine.spec.remote_root} (Ctrl-C to stop)",
                file=sys.stderr,
            )
        from rpdevd.sync.live import LiveSync

        try:
            await LiveSync(engine).run(stop)
        finally:
            await engine.close()

    try:
        asyncio.run(main())
    except (SyncStopped, LocalRootError) as exc:
        printer.end_bar()
        return _fail(args, str(exc))
    finally:
        db.close()
    return 0
