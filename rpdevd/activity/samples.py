"""One activity sample per pod per probe interval, in the JSON-lines format of docs/idle.md.

A sample is plain data. Everything read from outside (a trace file, the daemon's store, a pod's
probe output) goes through `Sample.from_json`, which checks every field and turns what cannot be
trusted (NaN, negative counts, booleans posing as numbers, wrong types) into "unknown" (None)
instead of failing the whole sample: a bad field must never turn into "idle".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rpdevd.text import clean

FOREVER = "forever"
MAX_LINE = 1 << 20  # a trace line longer than this is not a sample
MAX_LIST = 1024  # GPUs / processes per sample worth looking at

HoldUntil = float | str | None  # epoch seconds, FOREVER, or None


def num(value: Any, *, lo: float | None = None, hi: float | None = None) -> float | None:
    """A finite number within [lo, hi], else None. Booleans are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    if not math.isfinite(f) or (lo is not None and f < lo) or (hi is not None and f > hi):
        return None
    return f


def count(value: Any) -> int:
    """A non-negative count; anything else is 0 (counts only ever add evidence of activity)."""
    f = num(value, lo=0)
    return int(f) if f is not None else 0


def hold_value(value: Any) -> HoldUntil:
    if isinstance(value, str):
        return FOREVER if value.strip().lower() == FOREVER else None
    return num(value, lo=0)


@dataclass(frozen=True)
class Gpu:
    index: int
    util: float | None  # percent; None where the GPU cannot say (MIG, vGPU: "[N/A]")
    mem_used_mib: float | None
    mem_total_mib: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "util": _plain(self.util),
            "mem_used_mib": _plain(self.mem_used_mib),
            "mem_total_mib": _plain(self.mem_total_mib),
        }

    @classmethod
    def from_json(cls, obj: Any, position: int = 0) -> Gpu | None:
        if not isinstance(obj, Mapping):
            return None
        index = num(obj.get("index"), lo=0)
        return cls(
            index=int(index) if index is not None else position,
            util=num(obj.get("util"), lo=0, hi=100),
            mem_used_mib=num(obj.get("mem_used_mib"), lo=0),
            mem_total_mib=num(obj.get("mem_total_mib"), lo=0),
        )


@dataclass(frozen=True)
class GpuProc:
    pid: int
    name: str
    mem_mib: float | None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "name": self.name, "mem_mib": _plain(self.mem_mib)}

    @classmethod
    def from_json(cls, obj: Any) -> GpuProc | None:
        if not isinstance(obj, Mapping):
            return None
        pid = num(obj.get("pid"), lo=0)
        name = obj.get("name")
        return cls(
            pid=int(pid) if pid is not None else 0,
            name=_clean_text(name) if isinstance(name, str) else "?",
            mem_mib=num(obj.get("mem_mib"), lo=0),
        )


# Fields written in this order; the documented ones first (activity-samples.md), then extras.
_PROBE_FIELDS = (
    "gpus",
    "gpu_procs",
    "cpu_pct",
    "ssh_sessions",
    "ssh_connections",
    "ide_clients",
    "hold_until",
    "local_edits",
)
# Written after those, only when known.
_OPTIONAL_FIELDS = (
    "cpu_cores",
    "ssh_input_idle_s",
    "net_rx_bps",
    "net_tx_bps",
    "disk_bps",
    "gpu_error",
    "hold_error",
    "probe_error",
)


@dataclass(frozen=True)
class Sample:
    """What the daemon knew about one pod at time `t`.

    Documented fields follow activity-samples.md. Extras (all optional, written only when set):
    `api_cpu_pct` (RunPod's `runtime.container.cpuPercent`), `api_uptime_s` (`runtime.uptimeInSeconds`:
    a drop means the pod restarted), `cpu_cores` (CPU cores busy, the same interval as `cpu_pct`),
    `ssh_input_idle_s` (seconds since the last keystroke in any foreign SSH terminal),
    `net_rx_bps`, `net_tx_bps` (the container's network bytes per second in and out, every
    interface but `lo`), `disk_bps` (its block I/O, bytes read plus written per second), all
    averaged over the same interval as `cpu_pct`,
    `gpu_error`, `hold_error`, `probe_error` (why a reading is missing). Unknown fields are kept in
    `extra` so an exported trace round-trips.
    """

    t: float
    status: str = "RUNNING"
    probe: str = "ok"  # ok | unreachable
    gpus: tuple[Gpu, ...] = ()
    gpu_procs: tuple[GpuProc, ...] = ()
    cpu_pct: float | None = None
    ssh_sessions: int = 0
    ssh_connections: int = 0
    ide_clients: int = 0
    hold_until: HoldUntil = None
    local_edits: int = 0
    api_gpu_util: tuple[float | None, ...] | None = None
    api_cpu_pct: float | None = None
    api_uptime_s: float | None = None
    cpu_cores: float | None = None
    ssh_input_idle_s: float | None = None
    net_rx_bps: float | None = None
    net_tx_bps: float | None = None
    disk_bps: float | None = None
    gpu_error: str | None = None
    hold_error: str | None = None
    probe_error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def probed(self) -> bool:
        return self.probe == "ok"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": self.t, "status": self.status, "probe": self.probe}
        if self.api_gpu_util is not None:
            out["api_gpu_util"] = [_plain(u) for u in self.api_gpu_util]
        for key in ("api_cpu_pct", "api_uptime_s"):
            if getattr(self, key) is not None:
                out[key] = _plain(getattr(self, key))
        if self.probed:
            out["gpus"] = [g.to_json() for g in self.gpus]
            out["gpu_procs"] = [p.to_json() for p in self.gpu_procs]
            out["cpu_pct"] = _plain(self.cpu_pct)
            out["ssh_sessions"] = self.ssh_sessions
            out["ssh_connections"] = self.ssh_connections
            out["ide_clients"] = self.ide_clients
            out["hold_until"] = _plain(self.hold_until) if self.hold_until != FOREVER else FOREVER
        elif self.hold_until is not None:
            out["hold_until"] = _plain(self.hold_until)
        # local_edits come from this machine's sync, so they are known even when SSH is down.
        out["local_edits"] = self.local_edits
        for key in _OPTIONAL_FIELDS:
            value = getattr(self, key)
            if value is not None:
                out[key] = _plain(value)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Sample:
        """A sample from decoded JSON; ValueError only when `t` itself is missing or bad."""
        if not isinstance(obj, Mapping):
            raise ValueError("a sample must be a JSON object")
        t = num(obj.get("t"), lo=0)
        if t is None:
            raise ValueError("a sample needs a numeric 't' (epoch seconds)")
        status = obj.get("status")
        probe = obj.get("probe")
        api = obj.get("api_gpu_util")
        gpus = obj.get("gpus")
        procs = obj.get("gpu_procs")
        known = {
            "t",
            "status",
            "probe",
            "api_gpu_util",
            *_PROBE_FIELDS,
            "api_cpu_pct",
            "api_uptime_s",
            *_OPTIONAL_FIELDS,
        }
        return cls(
            t=t,
            status=_clean_text(status, 32).upper() if isinstance(status, str) else "UNKNOWN",
            probe="ok" if probe == "ok" else "unreachable",
            gpus=tuple(g for i, x in enumerate(_list(gpus)) if (g := Gpu.from_json(x, i))),
            gpu_procs=tuple(p for x in _list(procs) if (p := GpuProc.from_json(x))),
            cpu_pct=num(obj.get("cpu_pct"), lo=0, hi=100),
            ssh_sessions=count(obj.get("ssh_sessions")),
            ssh_connections=count(obj.get("ssh_connections")),
            ide_clients=count(obj.get("ide_clients")),
            hold_until=hold_value(obj.get("hold_until")),
            local_edits=count(obj.get("local_edits")),
            api_gpu_util=(
                tuple(num(u, lo=0, hi=100) for u in _list(api)) if isinstance(api, list) else None
            ),
            api_cpu_pct=num(obj.get("api_cpu_pct"), lo=0, hi=100),
            api_uptime_s=num(obj.get("api_uptime_s"), lo=0),
            cpu_cores=num(obj.get("cpu_cores"), lo=0),
            ssh_input_idle_s=num(obj.get("ssh_input_idle_s"), lo=0),
            net_rx_bps=num(obj.get("net_rx_bps"), lo=0),
            net_tx_bps=num(obj.get("net_tx_bps"), lo=0),
            disk_bps=num(obj.get("disk_bps"), lo=0),
            gpu_error=_opt_text(obj.get("gpu_error")),
            hold_error=_opt_text(obj.get("hold_error")),
            probe_error=_opt_text(obj.get("probe_error")),
            extra={k: v for k, v in obj.items() if k not in known and isinstance(k, str)},
        )


@dataclass(frozen=True)
class ProbeReading:
    """What one run of probe.sh found on the pod (see probe.parse_probe_output)."""

    gpus: tuple[Gpu, ...] = ()
    gpu_procs: tuple[GpuProc, ...] = ()
    gpu_error: str | None = None
    cpu_pct: float | None = None
    cpu_cores: float | None = None
    ssh_sessions: int = 0
    ssh_connections: int = 0
    ssh_input_idle_s: float | None = None
    ide_clients: int = 0
    hold_until: HoldUntil = None
    hold_error: str | None = None
    net_rx_bps: float | None = None
    net_tx_bps: float | None = None
    disk_bps: float | None = None


def later_hold(a: HoldUntil, b: HoldUntil) -> HoldUntil:
    """The longer of two holds: forever beats any time, a time beats none."""
    if a == FOREVER or b == FOREVER:
        return FOREVER
    values = [x for x in (a, b) if isinstance(x, float | int)]
    return float(max(values)) if values else None


def api_telemetry(runtime: Mapping[str, Any] | None) -> dict[str, Any]:
    """`api_gpu_util`, `api_cpu_pct`, `api_uptime_s` from a RunPod pod's `runtime` object.

    `runtime` is null while a pod boots: then there is no telemetry at all (empty dict).
    """
    if not isinstance(runtime, Mapping):
        return {}
    out: dict[str, Any] = {}
    gpus = runtime.get("gpus")
    if isinstance(gpus, list) and gpus:
        out["api_gpu_util"] = tuple(
            num(g.get("gpuUtilPercent"), lo=0, hi=100) if isinstance(g, Mapping) else None
            for g in gpus[:MAX_LIST]
        )
    container = runtime.get("container")
    if isinstance(container, Mapping):
        out["api_cpu_pct"] = num(container.get("cpuPercent"), lo=0, hi=100)
    out["api_uptime_s"] = num(runtime.get("uptimeInSeconds"), lo=0)
    return {k: v for k, v in out.items() if v is not None}


def build_sample(
    t: float,
    status: str,
    reading: ProbeReading | None,
    *,
    probe_error: str | None = None,
    runtime: Mapping[str, Any] | None = None,
    local_edits: int = 0,
    hold_until: HoldUntil = None,
) -> Sample:
    """Merge the probe's reading (None when SSH failed), RunPod's `runtime` telemetry, the files the
    live sync pushed since the previous sample, and a hold set from the CLI/TUI into one sample."""
    api = api_telemetry(runtime)
    if reading is None:
        # A hold set from the CLI/TUI is known here even when the pod is not.
        return Sample(
            t=t,
            status=status,
            probe="unreachable",
            local_edits=max(0, local_edits),
            hold_until=hold_until,
            probe_error=probe_error or "probe failed",
            **api,
        )
    return Sample(
        t=t,
        status=status,
        probe="ok",
        gpus=reading.gpus,
        gpu_procs=reading.gpu_procs,
        cpu_pct=reading.cpu_pct,
        ssh_sessions=reading.ssh_sessions,
        ssh_connections=reading.ssh_connections,
        ide_clients=reading.ide_clients,
        hold_until=later_hold(reading.hold_until, hold_until),
        local_edits=max(0, local_edits),
        cpu_cores=reading.cpu_cores,
        ssh_input_idle_s=reading.ssh_input_idle_s,
        net_rx_bps=reading.net_rx_bps,
        net_tx_bps=reading.net_tx_bps,
        disk_bps=reading.disk_bps,
        gpu_error=reading.gpu_error,
        hold_error=reading.hold_error,
        **api,
    )


def iter_trace(lines: Iterable[str], source: str = "trace") -> Iterator[Sample]:
    """Samples from JSON lines; blank lines and `#` comments are skipped.

    ValueError names the source and line number of the first line that is not a sample.
    """
    for n, line in enumerate(lines, 1):
        if len(line) > MAX_LINE:
            raise ValueError(f"{source}:{n}: line longer than {MAX_LINE} bytes")
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            yield Sample.from_json(json.loads(s))
        except (json.JSONDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"{source}:{n}: {exc}") from None


def load_trace(path: str | Path) -> list[Sample]:
    p = Path(path)
    with p.open(encoding="utf-8", errors="replace") as fh:
        return list(iter_trace(fh, str(p)))


def dump_trace(samples: Iterable[Sample], out: TextIO) -> int:
    n = 0
    for sample in samples:
        out.write(json.dumps(sample.to_json(), separators=(", ", ": ")) + "\n")
        n += 1
    return n


def _list(value: Any) -> list[Any]:
    return value[:MAX_LIST] if isinstance(value, list) else []


def _plain(value: Any) -> Any:
    # Whole floats print as ints, as in the documented examples ("util": 97).
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _clean_text(value: str, limit: int = 200) -> str:
    # Names and messages come from the pod: drop control characters so they cannot fake log lines.
    return clean(value[:limit])


def _opt_text(value: Any) -> str | None:
    return _clean_text(value) if isinstance(value, str) and value else None
