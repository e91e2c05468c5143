"""`rpdev idle replay TRACE` and `rpdev idle export POD`: the idle decision, on the record.

`replay` runs the daemon's own decision code (rpdevd.activity.decide) over a trace of activity
samples, without a daemon: one JSON line per decision, each with `t`, `action`, `reason`,
`signal`, `idle_s` and `stop_at`. `export` writes a pod's stored samples as such a trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rpdevd.commands._common import daemon_call, fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("idle", help="idle detection: replay a trace, export a pod's samples")
    isub = p.add_subparsers(dest="idle_command", metavar="SUBCOMMAND")

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)

    r = isub.add_parser("replay", help="run the idle decision over a trace of samples (JSON lines)")
    r.add_argument("trace", help="a JSON-lines file of activity samples, or - for stdin")
    r.add_argument("--idle-timeout", default="30m", help="stop after this long idle (30m)")
    r.add_argument("--warn-before", default="5m", help="warn this long before a stop (5m)")
    r.add_argument("--gpu-threshold", type=float, help="busiest-GPU %% that is work (10)")
    r.add_argument("--cpu-threshold", type=float, help="CPU %% of the pod that is work (20)")
    r.add_argument(
        "--net-threshold", help="network bytes/s in+out that are work, e.g. 250kB/s (250kB/s)"
    )
    r.add_argument("--disk-threshold", help="block I/O that is work, e.g. 1MB/s (1MB/s)")
    r.add_argument("--smoothing", help="history that makes a load sustained (5m)")
    r.add_argument("--max-gap", help="a longer silence between samples is a gap (5m)")
    r.add_argument("--all", action="store_true", help="also print the 'keep' decisions")
    r.add_argument("--json", action="store_true", help="JSON lines (the default)")
    r.add_argument("--human", action="store_true", help="a readable table instead of JSON")
    r.set_defaults(func=replay_command)

    e = isub.add_parser("export", help="write a pod's stored activity samples as a trace")
    e.add_argument("pod", help="pod id or name")
    e.add_argument("-o", "--output", help="file to write (default: stdout)")
    e.add_argument("--since", help="only samples this recent (e.g. 6h)")
    e.add_argument("--json", action="store_true", help="JSON lines (the default)")
    e.set_defaults(func=export_command)


def _policy(args: argparse.Namespace) -> Any:
    from rpdevd.activity.decide import Policy
    from rpdevd.config import parse_rate
    from rpdevd.durations import parse_duration

    kw: dict[str, float] = {
        "idle_timeout": parse_duration(args.idle_timeout),
        "warn_before": parse_duration(args.warn_before),
    }
    if args.gpu_threshold is not None:
        kw["gpu_util_threshold"] = args.gpu_threshold
    if args.cpu_threshold is not None:
        kw["cpu_threshold"] = args.cpu_threshold
    for option, key in (("net_threshold", "net_threshold"), ("disk_threshold", "disk_threshold")):
        value = getattr(args, option)
        if value is not None:
            kw[key] = parse_rate(value)
    if args.smoothing is not None:
        kw["smoothing"] = parse_duration(args.smoothing)
    if args.max_gap is not None:
        kw["max_gap"] = parse_duration(args.max_gap)
    return Policy(**kw)


def replay_command(args: argparse.Namespace) -> int:
    from rpdevd.activity.decide import replay
    from rpdevd.activity.samples import iter_trace

    try:
        policy = _policy(args)
    except ValueError as exc:
        return fail(str(exc), code=2)
    try:
        if args.trace == "-":
            samples = list(iter_trace(sys.stdin, "<stdin>"))
        else:
            with open(args.trace, encoding="utf-8", errors="replace") as fh:
                samples = list(iter_trace(fh, args.trace))
    except OSError as exc:
        return fail(f"cannot read {args.trace}: {exc.strerror or exc}", code=2)
    except ValueError as exc:
        return fail(str(exc), "each line must be one JSON sample (docs/idle.md)", code=2)
    decisions = replay(samples, policy, include_keep=args.all)
    if args.human:
        _print_human(decisions, samples[0].t if samples else 0.0)
    else:
        for d in decisions:
            print(json.dumps(d.to_json(), ensure_ascii=False))
    return 0


def _print_human(decisions: list[Any], t0: float) -> None:
    import time

    from rpdevd.durations import format_duration

    for d in decisions:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(d.t))
        print(
            f"{when}Z  +{format_duration(d.t - t0):>7}  {d.action:<7}  {d.signal:<11}  {d.reason}"
        )


def export_command(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"pod": args.pod}
    if args.since:
        from rpdevd.durations import parse_duration

        try:
            params["since_s"] = parse_duration(args.since)
        except ValueError as exc:
            return fail(str(exc), code=2)
    result, code = daemon_call("idle.export", params)
    if code:
        return code
    samples = result.get("samples") if isinstance(result, dict) else None
    if not isinstance(samples, list):
        return fail("the daemon answered idle.export without samples")
    lines = "".join(
        json.dumps(s, ensure_ascii=False) + "\n" for s in samples if isinstance(s, dict)
    )
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(lines)
        except OSError as exc:
            return fail(f"cannot write {args.output}: {exc.strerror or exc}")
        print(f"{len(samples)} samples written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(lines)
    return 0
