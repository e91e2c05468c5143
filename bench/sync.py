"""Sync benchmark: rpdev against rsync, tar-over-ssh, lsyncd and unison on one real sshd.

    .venv/bin/python bench/sync.py [--files 4000] [--big 3] [--big-mb 25] [--edits 30]
    .venv/bin/python bench/sync.py --files 100000 --runs 3     # the scale case (see scale_rows)

Prints one table. Everything runs on 127.0.0.1 against a real OpenSSH sshd started here (the same
server and the same tree for every tool); each first-sync figure is the median of `--runs` runs
into a fresh remote directory, the tools taking turns. Wall times include process start-up and
the SSH handshake, as a user would see them.

The pod's side lives on a tmpfs (`/dev/shm`) where there is one: on a VM whose disk throttles
writeback, the 112 MB each run writes would otherwise decide the race by when the host flushes,
not by the tool (`--pod-dir DIR` puts it elsewhere, e.g. on the disk).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rpdevd.sim.sshd import PodSSHD, generate_keypair  # noqa: E402

PY = sys.executable
# rpdev as a user starts it: its console script, which imports the installed package, compiled
# when it was installed. (`python -m rpdevd.cli` from a checkout imports the checkout's sources
# instead, compiled again on every start where bytecode is not written, as under
# PYTHONDONTWRITEBYTECODE: 0.1 CPU-seconds a start that no user pays.)
_SCRIPT = Path(PY).parent / "rpdev"
RPDEV = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "rpdevd.cli"]


def make_tree(
    root: Path, files: int, big: int, big_mb: int, seed: int = 7, small_max: int = 16 << 10
) -> int:
    """A source tree: small files of 200 B..`small_max` in nested directories, a few big ones,
    executables, symlinks, empty directories, unicode names. Returns its size in bytes."""
    rng = random.Random(seed)
    total = 0
    dirs = [root / f"pkg{i:02d}" / f"mod{j:02d}" for i in range(20) for j in range(10)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        d = dirs[i % len(dirs)]
        name = f"f{i:05d}.py" if i % 7 else f"данные {i:05d} ü.txt"
        data = rng.randbytes(rng.randint(200, small_max))
        (d / name).write_bytes(data)
        total += len(data)
        if i % 50 == 0:
            os.chmod(d / name, 0o755)
    for i in range(big):
        data = rng.randbytes(big_mb << 20)
        (root / f"weights{i}.bin").write_bytes(data)
        total += len(data)
    for i in range(5):
        (root / f"empty{i}" / "nested").mkdir(parents=True)
        os.symlink(f"pkg0{i}/mod00", root / f"link{i}")
    # Written to disk before anything is timed: otherwise the first run's tools share the
    # machine with the kernel writing the new tree back (100,000 files: 20 MB/s for half a
    # minute, which slowed both tools' first resyncs by a tenth and more).
    os.sync()
    return total


class Pod:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.key = generate_keypair(base / "id_ed25519", "bench")
        self.sshd = PodSSHD(base / "pod", authorized_keys=self.key.public)

    @property
    def ssh_opts(self) -> list[str]:
        return self.sshd.ssh_args(self.key.private)[:-1]

    @property
    def ssh_cmd(self) -> str:
        return "ssh " + " ".join(shlex.quote(a) for a in self.ssh_opts)

    @property
    def target(self) -> str:
        return f"{self.sshd.user}@{self.sshd.host}"

    def rpdev(self, sub: str, local: Path, remote: Path, db: Path) -> list[str]:
        return [
            *RPDEV,
            "sync",
            sub,
            str(local),
            f"{self.target}:{self.sshd.port}:{remote}",
            "-i",
            str(self.key.private),
            "-o",
            "StrictHostKeyChecking=no",
            "--db",
            str(db),
            "--no-default-ignores",
            "--no-gitignore",
        ]


def timed(cmd: list[str] | str, shell: bool = False) -> float:
    start = time.perf_counter()
    res = subprocess.run(cmd, shell=shell, capture_output=True)
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {res.stderr.decode(errors='replace')[-500:]}")
    return took


def same_tree(a: Path, b: Path) -> bool:
    return (
        subprocess.run(
            ["diff", "-r", "--no-dereference", str(a), str(b)], capture_output=True
        ).returncode
        == 0
    )


def first_sync(pod: Pod, local: Path, work: Path, runs: int) -> dict[str, float]:
    out: dict[str, list[float]] = {"rpdev": [], "rsync": [], "tar": []}
    for n in range(runs):
        for tool in out:
            remote = work / f"{tool}-{n}"
            if tool == "rpdev":
                t = timed(pod.rpdev("once", local, remote, pod.base / f"db-{n}.sqlite"))
            elif tool == "rsync":
                t = timed(
                    ["rsync", "-a", "-e", pod.ssh_cmd, f"{local}/", f"{pod.target}:{remote}/"]
                )
            else:
                t = timed(
                    f"tar -C {shlex.quote(str(local))} -cf - . | {pod.ssh_cmd} "
                    f"{pod.target} {shlex.quote(f'mkdir -p {remote} && tar -xf - -C {remote}')}",
                    shell=True,
                )
            if not same_tree(local, remote):
                raise RuntimeError(f"{tool}: the copy differs from the source")
            out[tool].append(t)
            if n:  # run 0's copies serve the resync rows
                shutil.rmtree(remote)
    return {k: statistics.median(v) for k, v in out.items()}


def resync(pod: Pod, local: Path, work: Path, runs: int) -> dict[str, float]:
    rp = [
        timed(pod.rpdev("once", local, work / "rpdev-0", pod.base / "db-0.sqlite"))
        for _ in range(runs)
    ]
    rs = [
        timed(["rsync", "-a", "-e", pod.ssh_cmd, f"{local}/", f"{pod.target}:{work}/rsync-0/"])
        for _ in range(runs)
    ]
    return {"rpdev": statistics.median(rp), "rsync": statistics.median(rs)}


def wait_for(path: Path, content: bytes, timeout: float = 20.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if path.read_bytes() == content:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.001)
    raise TimeoutError(f"{path} never got the edit")


def latency(
    start: Callable[[], subprocess.Popen[bytes]], local: Path, remote: Path, edits: int
) -> tuple[float, float]:
    proc = start()
    try:
        probe = local / "pkg00" / "mod00" / "probe.txt"
        probe.write_bytes(b"ready")
        wait_for(remote / "pkg00" / "mod00" / "probe.txt", b"ready", 300)
        time.sleep(1.0)
        samples = []
        for i in range(edits):
            # A new size every time: some peers only compare size and whole-second mtimes.
            content = f"edit {i}\n".encode() * (10 + i)
            t0 = time.perf_counter()
            probe.write_bytes(content)
            t1 = wait_for(remote / "pkg00" / "mod00" / "probe.txt", content)
            samples.append((t1 - t0) * 1000)
            time.sleep(0.25 + random.random() * 0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4000)
    ap.add_argument("--big", type=int, default=3)
    ap.add_argument("--big-mb", type=int, default=25)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--edits", type=int, default=30)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--pod-dir", help="where the pod's copies go (default: /dev/shm if a tmpfs)")
    ap.add_argument(
        "--scale-from",
        type=int,
        default=SCALE_FROM,
        help=f"from this many files on, run the scale case (default {SCALE_FROM})",
    )
    ap.add_argument("--engine-child", nargs=4, help=argparse.SUPPRESS)  # LOCAL DEST KEY PHASE
    args = ap.parse_args()
    if args.engine_child:
        engine_child(*args.engine_child)
        return
    if args.files >= args.scale_from:
        scale_main(args)
        return
    base = Path(tempfile.mkdtemp(prefix="rpdev-syncbench-"))
    env_home = base / "home"
    env_home.mkdir()
    os.environ["HOME"] = str(env_home)  # unison keeps its archives under HOME
    pod = Pod(base)
    loop = asyncio.new_event_loop()  # the sshd's child watcher lives on this loop
    loop.run_until_complete(pod.sshd.start())
    try:
        local = base / "src"
        local.mkdir()
        size = make_tree(local, args.files, args.big, args.big_mb)
        work = Path(tempfile.mkdtemp(prefix="rpdev-syncbench-pod-", dir=args.pod_dir or pod_dir()))
        rows: list[tuple[str, ...]] = []
        fs = first_sync(pod, local, work, args.runs)
        rows.append(
            (
                "first sync (s)",
                f"{fs['rpdev']:.2f}",
                f"rsync -a {fs['rsync']:.2f}; tar|ssh tar {fs['tar']:.2f}",
                f"{fs['rpdev'] / fs['tar']:.2f}x tar (target <= 1.15x)",
            )
        )
        rs = resync(pod, local, work, args.runs)
        rows.append(
            (
                "no-change resync (s)",
                f"{rs['rpdev']:.2f}",
                f"rsync -a {rs['rsync']:.2f}",
                f"{rs['rpdev'] / rs['rsync']:.2f}x rsync (target < 1x)",
            )
        )
        rows += loop.run_until_complete(daemon_rows(pod, local, work, args.runs))
        if not args.skip_latency:
            rows += latency_rows(pod, work, local, args.edits)
        print(
            f"\nsync benchmark: {args.files} small files + {args.big} x {args.big_mb} MB "
            f"({size / 1e6:.0f} MB), real sshd on 127.0.0.1, {os.cpu_count()} CPUs, "
            f"pod side in {work.parent}\n"
        )
        print(install_note(), end="")
        print_table(rows)
    finally:
        loop.run_until_complete(pod.sshd.stop())
        loop.close()
        shutil.rmtree(base, ignore_errors=True)
        if "work" in locals():
            shutil.rmtree(work, ignore_errors=True)


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows + [HEAD]) for i in range(4)]
    for r in [HEAD, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def install_note() -> str:
    """A line when rpdev is installed editable through an import hook (setuptools' default for
    this layout), which every Python start pays for and a regular install does not."""
    import glob
    import sysconfig

    hooks = glob.glob(
        os.path.join(sysconfig.get_paths()["purelib"], "__editable___rpdev*finder.py")
    )
    if not hooks:
        return ""
    return (
        "note: rpdev is installed editable with an import hook (about 15 ms more per start than "
        "a regular install);\n      `pip install -e . --config-settings editable_mode=compat` "
        "measures what a regular install gets\n"
    )


def pod_dir() -> str | None:
    """/dev/shm when it is a tmpfs with room for the copies, else the temp directory."""
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
        with open("/proc/mounts", encoding="utf-8") as mounts:
            tmpfs = any(line.split()[1:3] == [shm, "tmpfs"] for line in mounts)
    except OSError:
        return None
    roomy = st.f_bavail * st.f_frsize > 3 << 30
    return shm if tmpfs and roomy and os.access(shm, os.W_OK) else None


HEAD = ("measure", "rpdev", "peers", "ratio / target")


async def daemon_rows(pod: Pod, local: Path, work: Path, runs: int) -> list[tuple[str, ...]]:
    """The daemon's case: the engine on a connection that is already open (no process start,
    no handshake), as `[[sync]]` entries run."""
    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.destination import ConnectOptions, connect, parse_destination
    from rpdevd.sync.engine import SyncEngine, SyncSpec
    from rpdevd.sync.ignore import IgnoreConfig

    firsts, resyncs = [], []
    for n in range(runs):
        remote = work / f"daemon-{n}"
        dest = parse_destination(f"{pod.target}:{pod.sshd.port}:{remote}")
        conn = await connect(
            dest,
            ConnectOptions(identities=[pod.key.private], options={"stricthostkeychecking": "no"}),
        )
        spec = SyncSpec(
            local,
            dest.path,
            f"bench-{n}",
            ignore=IgnoreConfig(use_defaults=False, use_gitignore=False),
        )
        db = Baseline(pod.base / f"daemon-{n}.sqlite")
        eng = SyncEngine(spec, baseline=db, conn=conn)
        t = time.perf_counter()
        await eng.sync_once()
        firsts.append(time.perf_counter() - t)
        t = time.perf_counter()
        await eng.sync_once()
        resyncs.append(time.perf_counter() - t)
        await eng.close()
        conn.close()
        db.close()
    return [
        ("first sync, open connection (s)", f"{statistics.median(firsts):.2f}", "", ""),
        ("no-change resync, open connection (s)", f"{statistics.median(resyncs):.2f}", "", ""),
    ]


def latency_rows(pod: Pod, work: Path, local: Path, edits: int) -> list[tuple[str, ...]]:
    out = {}

    def measured(tool: str, cmd: list[str], remote: Path) -> None:
        out[tool] = latency(
            lambda: subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            local,
            remote,
            edits,
        )

    remote = work / "lat-rpdev"
    measured("rpdev", pod.rpdev("watch", local, remote, pod.base / "lat.sqlite"), remote)
    if shutil.which("lsyncd"):
        remote = work / "lat-lsyncd"
        remote.mkdir()
        conf = pod.base / "lsyncd.conf"
        conf.write_text(
            "settings { nodaemon = true, insist = true }\n"
            f"sync {{ default.rsync, source = {lua(str(local))}, "
            f"target = {lua(f'{pod.target}:{remote}/')}, delay = 0, "
            f"rsync = {{ archive = true, rsh = {lua(pod.ssh_cmd)} }} }}\n"
        )
        measured("lsyncd", ["lsyncd", str(conf)], remote)
    if shutil.which("unison"):
        remote = work / "lat-unison"
        remote.mkdir()
        unison = [
            "unison",
            str(local),
            f"ssh://{pod.target}/{remote}",
            *("-batch", "-auto", "-repeat", "1", "-times", "-perms", "0", "-links", "true"),
            *("-ui", "text", "-sshargs", " ".join(shlex.quote(a) for a in pod.ssh_opts)),
        ]
        measured("unison", unison, remote)
    rp = out["rpdev"]

    def peers(i: int) -> str:
        # A peer that is not installed is named, not left out quietly.
        return "; ".join(
            f"{tool} {out[tool][i]:.0f}" if tool in out else f"{tool}: not installed"
            for tool in ("lsyncd", "unison")
        )

    return [
        ("edit-to-pod p50 (ms)", f"{rp[0]:.0f}", peers(0), "target <= 100"),
        ("edit-to-pod p95 (ms)", f"{rp[1]:.0f}", peers(1), "target <= 200"),
    ]


SCALE_FROM = 20_000


def busy_seconds() -> float | None:
    """CPU-seconds the whole machine has spent busy since it started (/proc/stat: every CPU's
    user, nice, system, irq and softirq time; not idle, iowait, time the hypervisor stole, or
    guests', which user already counts), None where there is no /proc/stat. The difference
    across a command counts both ends (here the pod's sshd and its walk run on the same
    machine), and whatever else ran meanwhile."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            user, nice, system, _, _, irq, softirq = map(int, f.readline().split()[1:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def run_rss(cmd: list[str], busy: list[float] | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MB of the process and the children it waited for, stdout).
    With `busy`, the machine's busy CPU-seconds meanwhile are appended to it (`busy_seconds`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = busy_seconds()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        after = busy_seconds()
        if busy is not None and before is not None and after is not None:
            busy.append(after - before)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd} failed: {err.read().decode(errors='replace')[-500:]}")
        return took, usage.ru_maxrss // 1024, out.read().decode(errors="replace")


def scale_rows(pod: Pod, local: Path, work: Path, runs: int) -> list[tuple[str, ...]]:
    """rpdev against `rsync -a` on a big tree of small files, in one run: the two take turns
    and the order flips every run (rpdev first in even runs), so neither always goes first
    into a cold cache. Peak RSS of each command with its children (ssh) from wait4."""
    times: dict[str, dict[str, list[float]]] = {
        "first": {"rpdev": [], "rsync": []},
        "resync": {"rpdev": [], "rsync": []},
    }
    rss: dict[str, dict[str, list[int]]] = {
        "first": {"rpdev": [], "rsync": []},
        "resync": {"rpdev": [], "rsync": []},
    }

    def cmd(tool: str, n: int) -> list[str]:
        remote = work / f"{tool}-{n}"
        if tool == "rpdev":
            return pod.rpdev("once", local, remote, pod.base / f"db-{n}.sqlite")
        return ["rsync", "-a", "-e", pod.ssh_cmd, f"{local}/", f"{pod.target}:{remote}/"]

    # Each resync by its place too: the first after a sync compares with the baseline's sets,
    # the second is told by the digests the first kept (docs/sync.md).
    nth: dict[int, dict[str, list[float]]] = {
        1: {"rpdev": [], "rsync": []},
        2: {"rpdev": [], "rsync": []},
    }
    # The machine's busy CPU-seconds during each resync, both ends counted (see busy_seconds):
    # where a tool keeps every CPU busy, the CPU it needs, not the waits, sets its time.
    cpu: dict[str, list[float]] = {"rpdev": [], "rsync": []}
    for n in range(runs):
        order = ("rpdev", "rsync") if n % 2 == 0 else ("rsync", "rpdev")
        for case, place in (("first", 0), ("resync", 1), ("resync", 2)):
            for tool in order:
                took, peak, _ = run_rss(cmd(tool, n), cpu[tool] if place else None)
                times[case][tool].append(took)
                rss[case][tool].append(peak)
                if place:
                    nth[place][tool].append(took)
        for tool in order:
            if not same_tree(local, work / f"{tool}-{n}"):
                raise RuntimeError(f"{tool}: the copy differs from the source")
            if n:
                shutil.rmtree(work / f"{tool}-{n}")
    root = work / "root"
    child = [PY, __file__, "--engine-child", str(local), f"{pod.target}:{pod.sshd.port}:{root}"]
    _, first_rss, _ = run_rss([*child, str(pod.key.private), "first"])
    _, live_rss, latency = run_rss([*child, str(pod.key.private), "live"])
    p50, p95 = latency.split()
    shutil.rmtree(root)
    med = {c: {t: statistics.median(v) for t, v in d.items()} for c, d in times.items()}
    spread = {c: {t: f"{min(v):.2f}-{max(v):.2f}" for t, v in d.items()} for c, d in times.items()}
    return [
        (
            "first sync (s)",
            f"{med['first']['rpdev']:.2f} ({spread['first']['rpdev']})",
            f"rsync -a {med['first']['rsync']:.2f} ({spread['first']['rsync']})",
            f"{med['first']['rpdev'] / med['first']['rsync']:.2f}x rsync (target <= 1x)",
        ),
        (
            "no-change resync (s)",
            f"{med['resync']['rpdev']:.2f} ({spread['resync']['rpdev']})",
            f"rsync -a {med['resync']['rsync']:.2f} ({spread['resync']['rsync']})",
            f"{med['resync']['rpdev'] / med['resync']['rsync']:.2f}x rsync (target <= 0.8x)",
        ),
        *(
            (
                f"  {label} (s)",
                f"{statistics.median(nth[place]['rpdev']):.2f}",
                f"rsync -a {statistics.median(nth[place]['rsync']):.2f}",
                f"{statistics.median(nth[place]['rpdev']) / statistics.median(nth[place]['rsync']):.2f}x rsync",
            )
            for place, label in ((1, "the first after a sync"), (2, "the second"))
        ),
        *(
            [
                (
                    "  a resync's busy CPU-seconds (machine)",
                    f"{statistics.median(cpu['rpdev']):.2f}",
                    f"rsync -a {statistics.median(cpu['rsync']):.2f}",
                    f"both ends, on {os.cpu_count()} CPUs",
                )
            ]
            if cpu["rpdev"] and cpu["rsync"]
            else []
        ),
        (
            "peak RSS, sync once: first sync (MB)",
            f"{max(rss['first']['rpdev'])}",
            f"rsync -a {max(rss['first']['rsync'])}",
            "target <= 100",
        ),
        (
            "peak RSS, sync once: resync (MB)",
            f"{max(rss['resync']['rpdev'])}",
            f"rsync -a {max(rss['resync']['rsync'])}",
            "target <= 100",
        ),
        (
            "edit-to-pod p50 / p95, live root (ms)",
            f"{p50} / {p95}",
            "",
            "target p95 <= 100",
        ),
        (
            "peak RSS, a synced root, live (MB)",
            f"{live_rss}",
            "the engine + LiveSync over asyncssh: a full pass, 20 edits, a full pass",
            "target < 150",
        ),
        (
            "peak RSS, a new root's first sync (MB)",
            f"{first_rss}",
            "the engine over asyncssh",
            "target < 150",
        ),
    ]


def engine_child(local: str, dest: str, key: str, phase: str) -> None:
    """The daemon's half of a `[[sync]]` root, in a process of its own so that its peak RSS is
    its own: the engine over one asyncssh connection, with the baseline in `DEST`'s directory
    plus `.sqlite`. `first`: a first sync into an empty directory. `live`: the root as a
    daemon restarted over it finds it: a full pass, one edit pushed, another full pass (the
    2-minute rescan). Prints the edits' p50 and p95 in ms (`live`)."""
    from rpdevd.sync.baseline import Baseline
    from rpdevd.sync.destination import ConnectOptions, connect, parse_destination
    from rpdevd.sync.engine import SyncEngine, SyncSpec
    from rpdevd.sync.ignore import IgnoreConfig
    from rpdevd.sync.live import LiveSync

    async def main() -> str:
        parsed = parse_destination(dest)
        remote = Path(parsed.path)
        opts = ConnectOptions(identities=[Path(key)], options={"stricthostkeychecking": "no"})
        conn = await connect(parsed, opts)
        spec = SyncSpec(
            Path(local),
            parsed.path,
            "root",
            ignore=IgnoreConfig(use_defaults=False, use_gitignore=False),
        )
        db = Baseline(Path(f"{remote}.sqlite"))
        eng = SyncEngine(spec, baseline=db, conn=conn)
        try:
            if phase == "first":
                report = await eng.sync_once()
                return f"{report.sent}"
            live = LiveSync(eng)
            stop = asyncio.Event()
            task = asyncio.create_task(live.run(stop))
            try:
                while live.state != "watching":
                    await asyncio.sleep(0.05)
                probe = Path(local) / "pkg00" / "mod00" / "rss-probe.txt"
                landed = remote / "pkg00" / "mod00" / "rss-probe.txt"
                samples = []
                for i in range(20):
                    content = f"edit {i}\n".encode() * (10 + i)
                    t0 = time.perf_counter()
                    probe.write_bytes(content)
                    while True:
                        with contextlib.suppress(OSError):
                            if landed.read_bytes() == content:
                                break
                        await asyncio.sleep(0.001)
                    samples.append((time.perf_counter() - t0) * 1000)
                    await asyncio.sleep(0.25 + random.random() * 0.1)
                samples.sort()
                p50, p95 = statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
                probe.unlink()
                live.wake(full=True)
                await asyncio.sleep(0.1)
                while live.state != "watching":
                    await asyncio.sleep(0.05)
            finally:
                stop.set()
                await task
            return f"{p50:.0f} {p95:.0f}"
        finally:
            await eng.close()
            conn.close()
            db.close()

    print(asyncio.run(main()))


def scale_main(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="rpdev-syncbench-"))
    pod = Pod(base)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(pod.sshd.start())
    work = Path(tempfile.mkdtemp(prefix="rpdev-syncbench-pod-", dir=args.pod_dir or pod_dir()))
    try:
        local = base / "src"
        local.mkdir()
        size = make_tree(local, args.files, 0, 0, small_max=8 << 10)
        rows = scale_rows(pod, local, work, args.runs)
        print(
            f"\nsync benchmark, scale: {args.files} small files of 200 B-8 KiB ({size / 1e6:.0f} MB),"
            f" real sshd on 127.0.0.1, {os.cpu_count()} CPUs, pod side in {work.parent};"
            f" medians of {args.runs} runs (2 resyncs each), min-max in brackets,"
            f" load average {os.getloadavg()[0]:.1f}\n"
        )
        print(install_note(), end="")
        print_table(rows)
    finally:
        loop.run_until_complete(pod.sshd.stop())
        loop.close()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def lua(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    main()
