"""`rpdev ssh-config show|diff|install|uninstall`: rpdev's SSH files, handled directly.

These work on the files themselves (no daemon needed): `show` prints the generated Host file,
`diff` what `install` (or `uninstall`) would change in ~/.ssh/config, `install` puts rpdev's one
Include block at the top of ~/.ssh/config, `uninstall` takes it out again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_REFUSED = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ssh-config",
        help="show or install rpdev's generated SSH config",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="ssh_config_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _usage(parser))
    for name, func, help_text in (
        ("show", cmd_show, "print the generated Host entries"),
        ("diff", cmd_diff, "show what install (or --uninstall) would change in ~/.ssh/config"),
        ("install", cmd_install, "add rpdev's Include block at the top of ~/.ssh/config"),
        ("uninstall", cmd_uninstall, "remove rpdev's Include block from ~/.ssh/config"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print the result as JSON, for scripts")
        if name != "show":  # show prints rpdev's own generated file, whatever ~/.ssh/config is
            p.add_argument(
                "--ssh-config",
                metavar="PATH",
                type=Path,
                default=None,
                help=f"the SSH config {'to compare' if name == 'diff' else 'to change'} "
                "(default: ~/.ssh/config)",
            )
        if name == "diff":
            p.add_argument(
                "--uninstall", action="store_true", help="diff for uninstall instead of install"
            )
        p.set_defaults(func=func)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def _refuse(path: Path, error: Exception, as_json: bool) -> int:
    message = f"refusing to change {path}: {error}"
    if as_json:
        _print_json({"ok": False, "path": str(path), "error": message})
    else:
        print(f"rpdev: {message}", file=sys.stderr)
    return EXIT_REFUSED


def cmd_show(args: argparse.Namespace) -> int:
    from rpdevd.sshconfig import generated_path, read_aliases

    path = generated_path()
    try:
        text: str | None = path.read_text("utf-8", "replace")
    except FileNotFoundError:
        text = None
    if args.json:
        aliases = read_aliases(path)
        _print_json(
            {
                "path": str(path),
                "exists": text is not None,
                "text": text or "",
                "aliases": [{"pod_id": k, "alias": v} for k, v in sorted(aliases.items())],
            }
        )
        return 0
    if text is None:
        print(
            f"rpdev: no generated SSH config yet ({path}); the daemon writes it once it "
            "manages a pod",
            file=sys.stderr,
        )
        return 0
    sys.stdout.write(text)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from rpdevd.sshconfig import MarkerError, plan_include, user_config_path

    path = args.ssh_config or user_config_path()
    try:
        plan = plan_include(not args.uninstall, path)
    except (MarkerError, ValueError, OSError) as e:
        return _refuse(path, e, args.json)
    diff = plan.diff() if plan.changes else ""
    if args.json:
        _print_json(
            {
                "path": str(path),
                "action": "uninstall" if args.uninstall else "install",
                "changes": plan.changes,
                "diff": diff,
            }
        )
    elif diff:
        sys.stdout.write(diff)
    else:
        print(f"rpdev: {path} needs no change", file=sys.stderr)
    return 0


def _apply(args: argparse.Namespace, install: bool) -> int:
    from rpdevd.sshconfig import (
        MarkerError,
        generated_path,
        install_include,
        uninstall_include,
        user_config_path,
    )

    path = args.ssh_config or user_config_path()
    try:
        result = install_include(path) if install else uninstall_include(path)
    except (MarkerError, ValueError, OSError) as e:
        return _refuse(path, e, args.json)
    if args.json:
        _print_json(
            {
                "ok": True,
                "path": str(path),
                "written": str(result.path),
                "changed": result.changed,
                "backup": str(result.backup) if result.backup else None,
                "generated": str(generated_path()),
            }
        )
        return 0
    if not result.changed:
        state = "already has" if install else "has no"
        print(f"{path} {state} rpdev's Include block; nothing to do")
    elif install:
        print(f"added rpdev's Include block at the top of {result.path}")
        print(f"  it includes {generated_path()}")
    else:
        print(f"removed rpdev's Include block from {result.path}")
    if result.backup:
        print(f"  the file as it was is saved in {result.backup}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    return _apply(args, install=True)


def cmd_uninstall(args: argparse.Namespace) -> int:
    return _apply(args, install=False)
