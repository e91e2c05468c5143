"""Two checkouts of rpdev side by side: `sync once` of one tree, taking turns, on one real sshd.

    .venv/bin/python bench/ab.py CHECKOUT_A CHECKOUT_B [--files 100000] [--rounds 20]
        [--first]

For a change too small for `bench/sync.py`'s run to tell from the machine's swings. Each
checkout's `sync once` runs as `python -m rpdevd.cli` with the checkout as its working
directory (so it imports that checkout's sources; they are compiled first, since a checkout
without `.pyc` files under PYTHONDONTWRITEBYTECODE would compile what it imports on every start).
Each round, the two take turns, the order flipping every round:

- by default, the first and the second resync after a first sync, each from a copy of the
  database the first sync (or that first resync) left, into one synced pod directory;
- with `--first`, a first sync into an empty pod directory.

Prints, for each checkout and kind, the median wall time and the median CPU-seconds of the
`sync once` process with the children it waited for (its walks, `ssh`; from `wait4`: the pod's
side is not counted, and the hypervisor's other guests do not count as busy here).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import RPDEV, Pod, make_tree, pod_dir  # noqa: E402


def run(pod: Pod, checkout: Path, local: Path, remote: Path, db: Path) -> tuple[float, float]:
    """Wall seconds and CPU-seconds (with the children it waited for) of one `sync once`."""
    cmd = [sys.executable, "-m", "rpdevd.cli", *pod.rpdev("once", local, remote, db)[len(RPDEV) :]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=checkout, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: sync once failed: {out.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def fresh(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs=2, type=Path, help="checkout A, checkout B")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--first", action="store_true", help="first syncs, not resyncs")
    args = parser.parse_args()
    checkouts = {tag: path.resolve() for tag, path in zip("AB", args.checkouts, strict=True)}
    for path in checkouts.values():
        if not (path / "rpdevd" / "cli.py").is_file():
            raise SystemExit(f"{path}: not a checkout of rpdev")
        compileall.compile_dir(path / "rpdevd", quiet=1)

    base = Path(tempfile.mkdtemp(prefix="rpdev-ab-"))
    work = Path(tempfile.mkdtemp(prefix="rpdev-ab-pod-", dir=pod_dir()))
    pod = Pod(base)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(pod.sshd.start())
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        local = base / "src"
        local.mkdir()
        make_tree(local, args.files, 0, 0, small_max=8 << 10)
        kinds = ("first sync",) if args.first else ("first resync", "second resync")
        if not args.first:
            for tag, checkout in checkouts.items():  # a synced pod directory each, and its states
                db = base / f"{tag}.sqlite"
                run(pod, checkout, local, work / tag, db)
                shutil.copy(db, base / f"{tag}.first resync")
                run(pod, checkout, local, work / tag, db)
                shutil.copy(db, base / f"{tag}.second resync")
                fresh(db)
        for i in range(args.rounds):
            for tag in "AB" if i % 2 == 0 else "BA":
                db = base / f"{tag}.sqlite"
                for kind in kinds:
                    fresh(db)
                    if args.first:
                        shutil.rmtree(work / tag, ignore_errors=True)
                    else:
                        shutil.copy(base / f"{tag}.{kind}", db)
                    results.setdefault((tag, kind), []).append(
                        run(pod, checkouts[tag], local, work / tag, db)
                    )
        print(f"\n{args.files} files, {args.rounds} rounds taking turns, medians:")
        for (tag, kind), got in sorted(results.items()):
            wall = statistics.median(w for w, _ in got)
            cpu = statistics.median(c for _, c in got)
            print(f"{tag} {kind:14} {wall:.3f} s  {cpu:.3f} CPU-s  {checkouts[tag]}")
    finally:
        loop.run_until_complete(pod.sshd.stop())
        loop.close()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
