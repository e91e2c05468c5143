"""Typed, validated views of what RunPod's API says about pods (stdlib only).

API data is treated as hostile: fields may be missing, null, of the wrong type, or absurdly long.
`Pod.from_api` never raises for a bad field; it falls back to a documented default. The one
exception is the pod id, which ends up in GraphQL query strings, SSH aliases and file names: a pod
without a valid id cannot be managed, so `from_api` raises `ValueError` and callers skip that pod.
Names are kept raw (they may contain newlines, quotes, anything): whoever renders a name into a
file (the SSH config, say) must escape or slug it there.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

POD_ID_RE = re.compile(r"^[a-z0-9]+$")
POD_ID_MAX_LEN = 64
NAME_MAX_LEN = 512  # a longer name is cut: it is only shown, never used as a key
TEXT_MAX_LEN = 256
STATUS_RE = re.compile(r"^[A-Z_]{1,32}$")
# podHostId looks like "<podid>-<hex>"; it becomes a user name in `<podHostId>@ssh.runpod.io`.
POD_HOST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")

# RunPod: "INTERRUPTABLE" (spot) or "RESERVED" (on-demand); the other spelling is tolerated.
SPOT_POD_TYPES = frozenset({"INTERRUPTABLE", "INTERRUPTIBLE"})


def validate_pod_id(value: object) -> str:
    """Return `value` if it is a RunPod pod id (`^[a-z0-9]+$`, 1-64 chars), else ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"pod id must be a string, not {type(value).__name__}")
    if not value or len(value) > POD_ID_MAX_LEN or not POD_ID_RE.fullmatch(value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise ValueError(f"invalid pod id {shown!r}: expected 1-{POD_ID_MAX_LEN} of [a-z0-9]")
    return value


# ---- defensive field readers: each returns a default instead of raising -----------------------


def _str(value: object, default: str = "", limit: int = TEXT_MAX_LEN) -> str:
    return value[:limit] if isinstance(value, str) else default


def _opt_str(value: object, limit: int = TEXT_MAX_LEN) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _num(value: object) -> float | None:
    """A finite, non-negative number; bools and numeric strings are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) and f >= 0 else None


def _int(value: object) -> int | None:
    f = _num(value)
    if f is None or f != int(f) or f > 2**31:
        return None
    return int(f)


def _percent(value: object) -> float | None:
    f = _num(value)
    return None if f is None else min(f, 100.0 * 64)  # multi-core CPU % can exceed 100


def _bool(value: object) -> bool:
    return value is True


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _host(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value if HOSTNAME_RE.fullmatch(value) else None


def _port_number(value: object) -> int | None:
    n = _int(value)
    return n if n is not None and 1 <= n <= 65535 else None


# ---- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Port:
    ip: str | None  # None when the API gave no usable address
    is_ip_public: bool
    private_port: int | None
    public_port: int | None
    type: str

    @classmethod
    def from_api(cls, raw: object) -> Port:
        d = _map(raw)
        return cls(
            ip=_host(d.get("ip")),
            is_ip_public=_bool(d.get("isIpPublic")),
            private_port=_port_number(d.get("privatePort")),
            public_port=_port_number(d.get("publicPort")),
            type=_str(d.get("type"), limit=16),
        )


@dataclass(frozen=True)
class GpuTelemetry:
    id: str
    util: float | None  # gpuUtilPercent
    mem_util: float | None  # memoryUtilPercent

    @classmethod
    def from_api(cls, raw: object) -> GpuTelemetry:
        d = _map(raw)
        return cls(
            id=_str(d.get("id"), limit=64),
            util=_percent(d.get("gpuUtilPercent")),
            mem_util=_percent(d.get("memoryUtilPercent")),
        )


@dataclass(frozen=True)
class ContainerTelemetry:
    cpu_percent: float | None
    memory_percent: float | None


@dataclass(frozen=True)
class Runtime:
    uptime: int | None  # uptimeInSeconds
    ports: tuple[Port, ...]
    gpus: tuple[GpuTelemetry, ...]
    container: ContainerTelemetry | None

    @classmethod
    def from_api(cls, raw: object) -> Runtime | None:
        if not isinstance(raw, Mapping):
            return None  # null: the pod is starting (or the API sent garbage)
        container_raw = raw.get("container")
        container = None
        if isinstance(container_raw, Mapping):
            container = ContainerTelemetry(
                cpu_percent=_percent(container_raw.get("cpuPercent")),
                memory_percent=_percent(container_raw.get("memoryPercent")),
            )
        return cls(
            uptime=_int(raw.get("uptimeInSeconds")),
            # Bounded: a pod exposes a handful of ports and GPUs; never trust a huge list.
            ports=tuple(Port.from_api(p) for p in _list(raw.get("ports"))[:64]),
            gpus=tuple(GpuTelemetry.from_api(g) for g in _list(raw.get("gpus"))[:64]),
            container=container,
        )


@dataclass(frozen=True)
class Pod:
    id: str
    name: str
    desired_status: str  # RUNNING, EXITED, TERMINATED, ...; "UNKNOWN" for garbage
    pod_type: str  # RESERVED (on-demand), INTERRUPTABLE (spot), ...; "" when missing
    gpu_count: int
    cost_per_hr: float | None
    gpu_display_name: str
    pod_host_id: str | None
    image_name: str
    volume_mount_path: str | None
    last_status_change: str | None
    uptime_seconds: int | None
    lowest_bid_to_resume: float | None  # lowestBidPriceToResume: per GPU, spot pods only
    runtime: Runtime | None

    @classmethod
    def from_api(cls, raw: object) -> Pod:
        """Parse one pod object; ValueError only when it has no valid id (see module doc)."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"pod entry is a {type(raw).__name__}, not an object")
        pod_id = validate_pod_id(raw.get("id"))
        machine = _map(raw.get("machine"))
        status = raw.get("desiredStatus")
        status = status if isinstance(status, str) and STATUS_RE.fullmatch(status) else "UNKNOWN"
        pod_type = raw.get("podType")
        gpu_count = _int(raw.get("gpuCount"))
        host_id = machine.get("podHostId")
        return cls(
            id=pod_id,
            name=_str(raw.get("name"), limit=NAME_MAX_LEN),
            desired_status=status,
            pod_type=pod_type
            if isinstance(pod_type, str) and STATUS_RE.fullmatch(pod_type)
            else "",
            # Missing count: 1, the common case; resume must never silently ask for 0 GPUs.
            gpu_count=1 if gpu_count is None else gpu_count,
            cost_per_hr=_num(raw.get("costPerHr")),
            gpu_display_name=_str(machine.get("gpuDisplayName")),
            pod_host_id=host_id
            if isinstance(host_id, str) and POD_HOST_ID_RE.fullmatch(host_id)
            else None,
            image_name=_str(raw.get("imageName")),
            volume_mount_path=_opt_str(raw.get("volumeMountPath"), limit=4096),
            last_status_change=_opt_str(raw.get("lastStatusChange")),
            uptime_seconds=_int(raw.get("uptimeSeconds")),
            lowest_bid_to_resume=_num(raw.get("lowestBidPriceToResume")),
            runtime=Runtime.from_api(raw.get("runtime")),
        )

    @property
    def is_spot(self) -> bool:
        return self.pod_type in SPOT_POD_TYPES

    @property
    def is_running(self) -> bool:
        return self.desired_status == "RUNNING"

    @property
    def bid_per_gpu(self) -> float | None:
        """The pod's current bid per GPU (spot pods): costPerHr / gpuCount. An inference: a spot
        pod is billed at its bid, and RunPod bids are per GPU."""
        if not self.is_spot or self.cost_per_hr is None or self.gpu_count <= 0:
            return None
        return self.cost_per_hr / self.gpu_count

    @property
    def ssh_endpoint(self) -> Endpoint | None:
        """The public address of the pod's port 22, or None (starting, stopped, no public IP).

        Right after a resume this can still be the PREVIOUS endpoint: confirm it over SSH.
        """
        if self.runtime is None or not self.is_running:
            return None
        for port in self.runtime.ports:
            if (
                port.private_port == 22
                and port.is_ip_public
                and port.ip is not None
                and port.public_port is not None
            ):
                return Endpoint(port.ip, port.public_port)
        return None

    @classmethod
    def from_json(cls, raw: object) -> Pod:
        """The inverse of `to_json` (the daemon's stored state), checked as strictly as an API
        answer: the dict goes back into the API's shape and through `from_api`."""
        d = _map(raw)
        rt = d.get("runtime")
        runtime: dict[str, Any] | None = None
        if isinstance(rt, Mapping):
            container = _map(rt.get("container")) if rt.get("container") is not None else None
            runtime = {
                "uptimeInSeconds": rt.get("uptime"),
                "ports": [
                    {
                        "ip": p.get("ip"),
                        "isIpPublic": p.get("is_ip_public"),
                        "privatePort": p.get("private_port"),
                        "publicPort": p.get("public_port"),
                        "type": p.get("type"),
                    }
                    for p in map(_map, _list(rt.get("ports")))
                ],
                "gpus": [
                    {
                        "id": g.get("id"),
                        "gpuUtilPercent": g.get("util"),
                        "memoryUtilPercent": g.get("mem_util"),
                    }
                    for g in map(_map, _list(rt.get("gpus")))
                ],
                "container": None
                if container is None
                else {
                    "cpuPercent": container.get("cpu_percent"),
                    "memoryPercent": container.get("memory_percent"),
                },
            }
        return cls.from_api(
            {
                "id": d.get("id"),
                "name": d.get("name"),
                "desiredStatus": d.get("desired_status"),
                "podType": d.get("pod_type"),
                "gpuCount": d.get("gpu_count"),
                "costPerHr": d.get("cost_per_hr"),
                "machine": {
                    "gpuDisplayName": d.get("gpu_display_name"),
                    "podHostId": d.get("pod_host_id"),
                },
                "imageName": d.get("image_name"),
                "volumeMountPath": d.get("volume_mount_path"),
                "lastStatusChange": d.get("last_status_change"),
                "uptimeSeconds": d.get("uptime_seconds"),
                "lowestBidPriceToResume": d.get("lowest_bid_to_resume"),
                "runtime": runtime,
            }
        )

    def to_json(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict (snake_case keys)."""
        rt = self.runtime
        endpoint = self.ssh_endpoint
        return {
            "id": self.id,
            "name": self.name,
            "desired_status": self.desired_status,
            "pod_type": self.pod_type,
            "is_spot": self.is_spot,
            "gpu_count": self.gpu_count,
            "cost_per_hr": self.cost_per_hr,
            "gpu_display_name": self.gpu_display_name,
            "pod_host_id": self.pod_host_id,
            "image_name": self.image_name,
            "volume_mount_path": self.volume_mount_path,
            "last_status_change": self.last_status_change,
            "uptime_seconds": self.uptime_seconds,
            "bid_per_gpu": self.bid_per_gpu,
            "lowest_bid_to_resume": self.lowest_bid_to_resume,
            "ssh_endpoint": None
            if endpoint is None
            else {"host": endpoint.host, "port": endpoint.port},
            "runtime": None
            if rt is None
            else {
                "uptime": rt.uptime,
                "ports": [
                    {
                        "ip": p.ip,
                        "is_ip_public": p.is_ip_public,
                        "private_port": p.private_port,
                        "public_port": p.public_port,
                        "type": p.type,
                    }
                    for p in rt.ports
                ],
                "gpus": [{"id": g.id, "util": g.util, "mem_util": g.mem_util} for g in rt.gpus],
                "container": None
                if rt.container is None
                else {
                    "cpu_percent": rt.container.cpu_percent,
                    "memory_percent": rt.container.memory_percent,
                },
            },
        }


@dataclass(frozen=True)
class User:
    """The account behind an API key (`myself`)."""

    id: str
    pub_key: str  # newline-separated SSH public keys; replace it only by appending

    @classmethod
    def from_api(cls, raw: object) -> User:
        d = _map(raw)
        return cls(id=_str(d.get("id")), pub_key=_str(d.get("pubKey"), limit=1 << 20))
