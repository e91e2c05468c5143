"""`python -m rpdevd.sim serve ...`: run a simulated RunPod until SIGTERM/SIGINT.

The API key comes from `--api-key` or, to keep it out of process listings, from the
RPDEV_SIM_API_KEY environment variable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rpdevd.sim")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a simulated RunPod on 127.0.0.1")
    serve.add_argument("--root", type=Path, required=True, help="directory for pods' files")
    serve.add_argument(
        "--api-key",
        default=os.environ.get("RPDEV_SIM_API_KEY"),
        help="the key clients must send (default: $RPDEV_SIM_API_KEY)",
    )
    serve.add_argument(
        "--pubkey-file",
        type=Path,
        required=True,
        help="the account's SSH public keys (authorized on every pod)",
    )
    serve.add_argument("--demo", action="store_true", help="start with the demo pods")
    serve.add_argument(
        "--private-workspace",
        action="store_true",
        help="pods' sessions see their own folder as /workspace, where this machine allows it"
        " (root and unshare: a private mount namespace per pod)",
    )
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: any)")
    serve.add_argument(
        "--port-file", type=Path, help="write the port number here once listening (atomically)"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    from rpdevd.sim.demo import add_demo_pods
    from rpdevd.sim.server import SimRunPod

    if not args.api_key:
        print("error: give --api-key or set RPDEV_SIM_API_KEY", file=sys.stderr)
        return 2
    sim = SimRunPod(
        args.root,
        args.api_key,
        args.pubkey_file.read_text(),
        private_workspace=args.private_workspace,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    url = await sim.start(args.port)
    try:
        if args.demo:
            await add_demo_pods(sim)
        if args.port_file:
            tmp = args.port_file.with_name(args.port_file.name + ".tmp")
            tmp.write_text(url.rsplit(":", 1)[1] + "\n")
            tmp.replace(args.port_file)
        print(url, flush=True)
        await stop.wait()
    finally:
        await sim.stop()
        if args.port_file:
            with contextlib.suppress(OSError):
                args.port_file.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
