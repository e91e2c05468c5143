"""The activity probe: one command per interval over the pod's kept-open SSH connection.

The pod side is `probe.sh` (POSIX sh, no Python on the pod), sent on stdin to `sh -s`, so nothing
is installed on the pod and every probe runs the daemon's own version of the script. It prints
raw facts; `parse_probe_output` (pure, tested on real nvidia-smi output) turns them into a
`ProbeReading`, and `ActivityProbe` keeps the CPU and byte counters between two probes so that
`cpu_pct` and the data rates (`net_rx_bps`, `net_tx_bps`, `disk_bps`) are averaged over the whole
interval, not over an instant.

The daemon's own connections never count as activity: the script excludes the sockets of the sshd
that serves its own connection, and `connection_sockets` gives the sockets of any other connection
the daemon holds (sync) to pass as `exclude`.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from rpdevd.activity.hold import parse_hold
from rpdevd.activity.samples import (
    Gpu,
    GpuProc,
    HoldUntil,
    ProbeReading,
    Sample,
    build_sample,
    num,
)

if TYPE_CHECKING:
    import asyncssh

MAX_OUTPUT = 256 * 1024  # a probe prints ~1 KiB; more means something is wrong on the pod
MAX_LINES = 4096
FORMAT = "rpdev-probe 1"


class ProbeError(Exception):
    """The probe ran but its output could not be used."""


@cache
def script() -> str:
    """probe.sh without comments and indentation (it travels on every probe)."""
    text = resources.files("rpdevd.activity").joinpath("probe.sh").read_text(encoding="utf-8")
    lines = (ln.strip() for ln in text.splitlines())
    return "\n".join(ln for ln in lines if ln and not ln.startswith("#")) + "\n"


def build_command(
    *,
    workspace: str = "/workspace",
    sshd_ports: Iterable[int] = (22,),
    exclude: Iterable[str] = (),
    window: float | None = None,
    identify: bool = False,
) -> str:
    """The remote command line; the script itself goes on its stdin."""
    ports = [int(p) for p in sshd_ports if 0 < int(p) < 65536]
    inodes = [i for i in exclude if i.isdigit()]
    args = ["-w", workspace, "-p", ",".join(map(str, ports)) or "22"]
    if inodes:
        args += ["-x", ",".join(inodes)]
    if window:
        args += ["-s", f"{max(0.1, min(window, 5.0)):.1f}"]
    if identify:
        args.append("-i")
    return "sh -s -- " + " ".join(shlex.quote(a) for a in args)


@dataclass(frozen=True)
class CpuCounters:
    uptime: float  # seconds, /proc/uptime
    cg_ns: float | None  # the container's CPU time (cgroup), ns
    busy: float  # /proc/stat jiffies
    total: float


@dataclass(frozen=True)
class IoCounters:
    uptime: float  # seconds, /proc/uptime (the same clock as CpuCounters)
    net_rx: float | None  # bytes received on every interface but lo
    net_tx: float | None  # bytes sent
    disk: float | None  # block I/O bytes read + written by the container's cgroup


@dataclass(frozen=True)
class ProbeResult:
    reading: ProbeReading
    counters: CpuCounters | None
    pod_now: float | None
    io: IoCounters | None = None


def parse_probe_output(
    text: str,
    *,
    local_now: float,
    previous: CpuCounters | None = None,
    previous_io: IoCounters | None = None,
) -> ProbeResult:
    """The script's output -> a reading. ProbeError when it is not probe output at all."""
    lines = [ln.rstrip("\r") for ln in text.splitlines()[:MAX_LINES]]
    # A login shell's rc files may print before or after the probe: look for its frame.
    start = next((i for i, ln in enumerate(lines) if ln.strip() == FORMAT), None)
    if start is None:
        first = next((ln for ln in lines if ln.strip()), "")
        raise ProbeError("not rpdev probe output" + (f": {first[:80]!r}" if first else ""))
    end = next((i for i in range(len(lines) - 1, start, -1) if lines[i].strip() == "end"), None)
    if end is None:
        raise ProbeError("probe output is incomplete")
    lines = lines[start : end + 1]
    fields: dict[str, str] = {}
    multi: dict[str, list[str]] = {
        "cpusample": [],
        "iosample": [],
        "gpu": [],
        "gpu_app": [],
        "ssh_pty": [],
    }
    for line in lines[1:-1]:
        key, _, value = line.partition(" ")
        if key in multi:
            multi[key].append(value)
        else:
            fields.setdefault(key, value)
    pod_now = _float(fields.get("now"))
    samples = [c for c in (_counters(v) for v in multi["cpusample"]) if c is not None]
    cpu_pct, cores = cpu_usage(
        previous or (samples[0] if len(samples) > 1 else None),
        samples[-1] if samples else None,
        ncpu=_int(fields.get("ncpu")),
        quota=fields.get("cgquota"),
    )
    ios = [c for c in (_io_counters(v) for v in multi["iosample"]) if c is not None]
    rx, tx, disk = io_rates(
        previous_io or (ios[0] if len(ios) > 1 else None), ios[-1] if ios else None
    )
    gpus, procs, gpu_error = parse_gpus(
        fields.get("gpu_fields", ""), multi["gpu"], multi["gpu_app"], fields.get("gpu_rc", "absent")
    )
    hold: HoldUntil = None
    hold_error = None
    if "hold" in fields:
        hold, hold_error = parse_hold(
            fields["hold"],
            mtime=_float(fields.get("hold_mtime")),
            pod_now=pod_now or local_now,
            local_now=local_now,
        )
    typed = [_float(v.split()[-1]) for v in multi["ssh_pty"] if v.split()]
    last_input = max((x for x in typed if x is not None), default=None)
    input_idle = (
        max(0.0, pod_now - last_input) if last_input is not None and pod_now is not None else None
    )
    reading = ProbeReading(
        gpus=gpus,
        gpu_procs=procs,
        gpu_error=gpu_error,
        cpu_pct=cpu_pct,
        cpu_cores=cores,
        ssh_sessions=_int(fields.get("ssh_sess")),
        ssh_connections=_int(fields.get("ssh_conn")),
        ssh_input_idle_s=input_idle,
        ide_clients=_int(fields.get("ide")),
        hold_until=hold,
        hold_error=hold_error,
        net_rx_bps=rx,
        net_tx_bps=tx,
        disk_bps=disk,
    )
    return ProbeResult(
        reading, samples[-1] if samples else previous, pod_now, ios[-1] if ios else previous_io
    )


def io_rates(
    before: IoCounters | None, after: IoCounters | None
) -> tuple[float | None, float | None, float | None]:
    """(network in, network out, block I/O) in bytes per second between two counter readings.

    A counter that went backwards (the pod restarted, an interface came and went) gives None
    for that rate: unknown, never a huge or negative number."""
    if before is None or after is None:
        return None, None, None
    wall = after.uptime - before.uptime
    if wall <= 0:
        return None, None, None

    def rate(a: float | None, b: float | None) -> float | None:
        return (b - a) / wall if a is not None and b is not None and b >= a else None

    return (
        rate(before.net_rx, after.net_rx),
        rate(before.net_tx, after.net_tx),
        rate(before.disk, after.disk),
    )


def cpu_usage(
    before: CpuCounters | None, after: CpuCounters | None, *, ncpu: int, quota: str | None
) -> tuple[float | None, float | None]:
    """(percent of the pod's CPUs busy, cores busy) between two counter readings."""
    if before is None or after is None:
        return None, None
    wall = after.uptime - before.uptime
    if wall <= 0:
        return None, None  # counters from another boot, or the same instant
    capacity = float(ncpu) if ncpu > 0 else None
    parts = (quota or "").split()
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit() and int(parts[1]) > 0:
        limit = int(parts[0]) / int(parts[1])
        capacity = min(capacity, limit) if capacity else limit
    if before.cg_ns is not None and after.cg_ns is not None and after.cg_ns >= before.cg_ns:
        cores = (after.cg_ns - before.cg_ns) / 1e9 / wall
        if capacity:
            return min(100.0, 100.0 * cores / capacity), cores
        return None, cores
    dbusy, dtotal = after.busy - before.busy, after.total - before.total
    if dtotal <= 0 or dbusy < 0:
        return None, None
    pct = min(100.0, 100.0 * dbusy / dtotal)
    return pct, (pct / 100.0 * ncpu if ncpu > 0 else None)


def parse_gpus(
    field_list: str, gpu_lines: list[str], app_lines: list[str], rc: str
) -> tuple[tuple[Gpu, ...], tuple[GpuProc, ...], str | None]:
    """nvidia-smi's `--query-gpu` / `--query-compute-apps` CSV (noheader, nounits) -> records.

    No nvidia-smi: no GPUs and no error. nvidia-smi failing: no GPUs and the error, so the
    decision can fall back on RunPod's telemetry. `[N/A]`-style values are None, not 0.
    """
    rc = rc.strip()
    if rc == "absent":
        return (), (), None
    if rc != "0":
        first = next((ln.strip() for ln in gpu_lines if ln.strip()), "")
        return (), (), (first[:200] or f"nvidia-smi exited with status {rc}")
    names = [f.strip() for f in field_list.split(",") if f.strip()] or ["index"]
    gpus = []
    for pos, line in enumerate(gpu_lines[:64]):
        row = _csv_row(line, names)
        if row is None:
            continue
        index = _metric(row.get("index"))
        gpus.append(
            Gpu(
                index=int(index) if index is not None else pos,
                util=_metric(row.get("utilization.gpu"), hi=100),
                mem_used_mib=_metric(row.get("memory.used")),
                mem_total_mib=_metric(row.get("memory.total")),
            )
        )
    procs = []
    for line in app_lines[:256]:
        values = [v.strip() for v in line.split(",")]
        pid = _metric(values[0]) if values else None
        if len(values) < 3 or pid is None:
            continue
        procs.append(
            GpuProc(pid=int(pid), name=", ".join(values[1:-1])[:200], mem_mib=_metric(values[-1]))
        )
    return tuple(gpus), tuple(procs), None


def _csv_row(line: str, names: list[str]) -> dict[str, str] | None:
    values = [v.strip() for v in line.split(",")]
    if len(values) < len(names):
        return None
    if len(values) > len(names) and "name" in names:
        # A GPU name with a comma in it: give the extra pieces back to the name column.
        at = names.index("name")
        extra = len(values) - len(names)
        values[at : at + extra + 1] = [", ".join(values[at : at + extra + 1])]
    elif len(values) > len(names):
        return None
    return dict(zip(names, values, strict=True))


def _metric(value: str | None, hi: float | None = None) -> float | None:
    # "[N/A]", "[Not Supported]", "N/A", "[Unknown Error]" and junk are all unknown.
    if value is None:
        return None
    try:
        return num(float(value.strip()), lo=0, hi=hi)
    except ValueError:
        return None


def _counters(value: str) -> CpuCounters | None:
    parts = value.split()
    if len(parts) < 10:
        return None
    nums = [_float(p) for p in parts]
    uptime = nums[0]
    jiffies = nums[2:10]
    if uptime is None or any(j is None for j in jiffies):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (float(j or 0) for j in jiffies)
    busy = user + nice + system + irq + softirq
    return CpuCounters(uptime=uptime, cg_ns=nums[1], busy=busy, total=busy + idle + iowait + steal)


def _io_counters(value: str) -> IoCounters | None:
    parts = value.split()
    if len(parts) < 4:
        return None
    uptime = _float(parts[0])
    if uptime is None:
        return None
    return IoCounters(uptime, _float(parts[1]), _float(parts[2]), _float(parts[3]))


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return num(float(value.strip()), lo=0)
    except ValueError:
        return None


def _int(value: str | None) -> int:
    f = _float(value)
    return int(f) if f is not None else 0


async def run_script(conn: asyncssh.SSHClientConnection, command: str, timeout: float) -> str:
    """Run `command` with probe.sh on stdin; its stdout, capped at MAX_OUTPUT."""

    async def go() -> str:
        async with conn.create_process(
            command, encoding="utf-8", errors="replace", stderr=None
        ) as proc:
            proc.stdin.write(script())
            proc.stdin.write_eof()
            chunks: list[str] = []
            size = 0
            while size < MAX_OUTPUT:
                chunk = await proc.stdout.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return "".join(chunks)[:MAX_OUTPUT]

    return await asyncio.wait_for(go(), timeout)


async def connection_sockets(
    conn: asyncssh.SSHClientConnection, timeout: float = 20.0
) -> list[str]:
    """The socket inodes that stand for `conn` on the pod: pass them as `exclude` to the probe
    of another connection so that this one (e.g. the sync's) is not counted as a user's."""
    out = await run_script(conn, build_command(identify=True), timeout)
    for line in out.splitlines():
        words = line.split()
        if words and words[0] == "self":
            return [w for w in words[1:] if w.isdigit()]
    raise ProbeError("could not identify the connection on the pod")


class ActivityProbe:
    """Probes one pod. Keep one per pod: it remembers CPU counters between probes."""

    def __init__(
        self,
        *,
        workspace: str = "/workspace",
        sshd_ports: Iterable[int] = (22,),
        timeout: float = 30.0,
        first_window: float = 0.5,
    ) -> None:
        self.workspace = workspace
        self.sshd_ports = tuple(sshd_ports)
        self.timeout = timeout
        self.first_window = first_window
        self.counters: CpuCounters | None = None
        self.io_counters: IoCounters | None = None
        self.last_output_bytes = 0

    async def read(
        self, conn: asyncssh.SSHClientConnection, *, exclude: Iterable[str] = ()
    ) -> ProbeReading:
        """One probe. Raises ProbeError, OSError, asyncssh.Error or TimeoutError on failure."""
        window = None if self.counters is not None else self.first_window
        command = build_command(
            workspace=self.workspace, sshd_ports=self.sshd_ports, exclude=exclude, window=window
        )
        out = await run_script(conn, command, self.timeout + (window or 0))
        self.last_output_bytes = len(out.encode())
        result = parse_probe_output(
            out, local_now=time.time(), previous=self.counters, previous_io=self.io_counters
        )
        self.counters = result.counters
        self.io_counters = result.io
        return result.reading

    async def sample(
        self,
        conn: asyncssh.SSHClientConnection | None,
        *,
        status: str = "RUNNING",
        runtime: Mapping[str, Any] | None = None,
        local_edits: int = 0,
        hold_until: HoldUntil = None,
        exclude: Iterable[str] = (),
        t: float | None = None,
    ) -> Sample:
        """A whole sample: the probe (when there is a connection) merged with RunPod's `runtime`
        telemetry, the sync's edit count and a hold set from the CLI. Never raises for a
        failed probe: that is a sample with probe="unreachable"."""
        reading = None
        error = "no SSH connection"
        if conn is not None:
            try:
                reading = await self.read(conn, exclude=exclude)
            except (ProbeError, OSError, TimeoutError) as exc:
                error = f"probe failed: {exc or type(exc).__name__}"
            except Exception as exc:  # asyncssh.Error and its kin: imported lazily
                if type(exc).__module__.split(".")[0] != "asyncssh":
                    raise
                error = f"probe failed: {exc}"
        return build_sample(
            time.time() if t is None else t,
            status,
            reading,
            probe_error=error,
            runtime=runtime,
            local_edits=local_edits,
            hold_until=hold_until,
        )
