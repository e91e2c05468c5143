"""What one sample says about work on a pod: the per-sample half of the idle decision (pure).

Rules (docs/idle.md explains why):
- GPU: the busiest GPU counts (max, not mean); `null` utilization is unknown, not zero.
  RunPod's own `api_gpu_util` joins in (max), so it covers a failed SSH probe and MIG/vGPU.
- A load level is work when the current reading is over its threshold AND the mean over the
  smoothing window is too: a steady background (a web UI polling at ~10 % CPU, a parked model)
  and one-off blips are not work, sustained load is. Load that stops is idle at once (the current
  reading is low), so smoothing never delays a stop by a window.
- Moving data is work: network in+out (`net_rx_bps + net_tx_bps`) or block I/O (`disk_bps`)
  sustained over its threshold, even with the CPU and GPU nearly idle (a download at 60 MB/s costs
  a tenth of a core). The kB/s of an open IDE, SSH terminal or polling web UI is not.
- GPU memory held without compute is not work; an open SSH connection or IDE window alone is not
  work; files pushed by the live sync and keystrokes in a foreign SSH terminal are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rpdevd.activity.samples import Sample
from rpdevd.durations import format_duration

# One entry of the smoothing window: (t, busiest GPU %, CPU %, CPU cores busy, network bytes/s
# in+out, block I/O bytes/s). Entries stored by older versions have only the first four.
Level = tuple[float, float | None, float | None, float | None, float | None, float | None]

# What drove an assessment: a reading that shows work, a stretch of idleness, or nothing known.
Signal = Literal[
    "gpu", "api_gpu", "cpu", "api_cpu", "net", "disk", "local_edits", "ssh_input", "idle", "unknown"
]

NET_BPS = 250_000.0  # network in+out that is work: see docs/idle.md "Moving data"
DISK_BPS = 1_000_000.0  # block I/O that is work


@dataclass(frozen=True)
class Thresholds:
    gpu_util: float
    cpu_pct: float
    cpu_cores: float
    smoothing: float  # seconds of history for "sustained"
    net_bps: float = NET_BPS
    disk_bps: float = DISK_BPS


@dataclass(frozen=True)
class Assessment:
    known: bool  # False: nothing tells us whether the pod works (probe failed, no telemetry)
    active: bool
    signal: Signal
    detail: str  # human words for the log and the warning
    quiet: bool  # no single reading over a threshold: safe to act on a stop now
    level: Level


def busiest_gpu(sample: Sample) -> tuple[float | None, Literal["gpu", "api_gpu"]]:
    """The busiest known GPU utilization and where it came from (gpu | api_gpu)."""
    best: float | None = None
    source: Literal["gpu", "api_gpu"] = "gpu"
    if sample.probed:
        for g in sample.gpus:
            if g.util is not None and (best is None or g.util > best):
                best = g.util
    for u in sample.api_gpu_util or ():
        if u is not None and (best is None or u > best):
            best, source = u, "api_gpu"
    return best, source


def cpu_levels(sample: Sample) -> tuple[float | None, float | None, Literal["cpu", "api_cpu"]]:
    if sample.probed and sample.cpu_pct is not None:
        return sample.cpu_pct, sample.cpu_cores, "cpu"
    if sample.api_cpu_pct is not None:
        return sample.api_cpu_pct, None, "api_cpu"
    return None, None, "cpu"


def net_rate(sample: Sample) -> float | None:
    """Network bytes per second in and out together; None when the probe read neither."""
    if not sample.probed or (sample.net_rx_bps is None and sample.net_tx_bps is None):
        return None
    return (sample.net_rx_bps or 0.0) + (sample.net_tx_bps or 0.0)


def format_rate(bps: float) -> str:
    """Bytes per second in decimal units: 820 B/s, 2.0 kB/s, 58.4 MB/s."""
    for unit, size in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if bps >= size:
            return f"{bps / size:.1f} {unit}"
    return f"{bps:.0f} B/s"


def _at(level: Sequence[float | None], i: int) -> float | None:
    return level[i] if len(level) > i else None


def _sustained(current: float | None, history: list[float], threshold: float) -> bool:
    if current is None or current < threshold:
        return False
    values = [*history, current]
    return sum(values) / len(values) >= threshold


def assess(sample: Sample, th: Thresholds, recent: Sequence[Level], dt: float | None) -> Assessment:
    """One sample against the thresholds; `recent` holds earlier levels (any age: filtered here),
    `dt` the seconds since the previous sample (None for the first one or after a gap)."""
    gpu, gpu_src = busiest_gpu(sample)
    cpu, cores, cpu_src = cpu_levels(sample)
    net = net_rate(sample)
    disk = sample.disk_bps if sample.probed else None
    level: Level = (sample.t, gpu, cpu, cores, net, disk)
    window = [lv for lv in recent if sample.t - th.smoothing < lv[0] < sample.t]

    def history(i: int) -> list[float]:
        return [v for lv in window if (v := _at(lv, i)) is not None]

    quiet = not (
        (gpu is not None and gpu >= th.gpu_util)
        or (cpu is not None and cpu >= th.cpu_pct)
        or (cores is not None and cores >= th.cpu_cores)
        or (net is not None and net >= th.net_bps)
        or (disk is not None and disk >= th.disk_bps)
    )

    def verdict(active: bool, signal: Signal, detail: str, known: bool = True) -> Assessment:
        return Assessment(known, active, signal, detail, quiet, level)

    if sample.local_edits > 0:
        return verdict(True, "local_edits", f"{sample.local_edits} file(s) pushed by live sync")
    if _sustained(gpu, history(1), th.gpu_util):
        return verdict(True, gpu_src, f"GPU busy at {gpu:.0f}% (busiest GPU)")
    if _sustained(cpu, history(2), th.cpu_pct):
        return verdict(True, cpu_src, f"CPU busy at {cpu:.0f}%")
    if _sustained(cores, history(3), th.cpu_cores):
        return verdict(True, "cpu", f"CPU busy: {cores:.1f} cores")
    if net is not None and _sustained(net, history(4), th.net_bps):
        rx, tx = sample.net_rx_bps or 0.0, sample.net_tx_bps or 0.0
        way = "in" if rx >= tx else "out"
        return verdict(True, "net", f"moving data: {format_rate(net)} over the network ({way})")
    if disk is not None and _sustained(disk, history(5), th.disk_bps):
        return verdict(True, "disk", f"moving data: {format_rate(disk)} of disk I/O")
    typed = sample.ssh_input_idle_s
    # +8 s: the kernel updates a terminal's times at 8 s granularity.
    if sample.probed and typed is not None and typed < (dt or 60.0) + 8.0:
        return verdict(True, "ssh_input", f"typing in an SSH terminal {typed:.0f}s ago")
    if not sample.probed and gpu is None and cpu is None:
        why = sample.probe_error or "SSH probe failed"
        return verdict(False, "unknown", f"{why}; RunPod reports no telemetry", known=False)
    if sample.probed and gpu is None and cpu is None:
        return verdict(False, "unknown", "the probe read neither GPU nor CPU load", known=False)
    return verdict(False, "idle", idle_detail(sample, gpu, cpu, quiet))


def idle_detail(sample: Sample, gpu: float | None, cpu: float | None, quiet: bool) -> str:
    """What an idle pod looks like, for the warning: what is quiet and what is merely open."""
    parts = []
    if gpu is None:
        parts.append("GPU utilization unknown" if sample.gpus else "no GPU load reading")
    else:
        parts.append(f"GPU {gpu:.0f}%")
    parts.append(f"CPU {cpu:.0f}%" if cpu is not None else "CPU unknown")
    net = net_rate(sample)
    if net is not None:
        parts.append(f"network {format_rate(net)}")
    if not quiet:
        parts.append("load not sustained")
    if not sample.probed:
        parts.append(f"from RunPod telemetry ({sample.probe_error or 'SSH probe failed'})")
        return ", ".join(parts)
    held = [p for p in sample.gpu_procs if p.mem_mib]
    if held:
        mib = sum(p.mem_mib or 0 for p in held)
        names = ", ".join(sorted({p.name.rsplit("/", 1)[-1] for p in held}))[:60]
        parts.append(f"{mib:.0f} MiB GPU memory held by {names} without compute")
    opened = []
    if sample.ssh_sessions:
        opened.append(f"{sample.ssh_sessions} SSH terminal(s)")
    if sample.ssh_connections:
        opened.append(f"{sample.ssh_connections} SSH connection(s)")
    if sample.ide_clients:
        opened.append(f"{sample.ide_clients} IDE client(s)")
    if opened:
        idle = sample.ssh_input_idle_s
        typed = f", last keystroke {format_duration(idle)} ago" if idle is not None else ""
        parts.append(" and ".join(opened) + f" open but idle{typed}")
    if sample.hold_error:
        parts.append(f"hold file ignored: {sample.hold_error}")
    return ", ".join(parts)
