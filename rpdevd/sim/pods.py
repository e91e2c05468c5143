"""One simulated pod: its state, and the JSON RunPod's API would report for it.

A RUNNING pod with `use_sshd` is a real sshd (`PodSSHD`) on 127.0.0.1; every start gives it a
new port and a new host key, as a RunPod pod gets on every stop/resume. Its `/workspace` is a
directory of its own, reported as the pod's `volumeMountPath`; with `private_workspace` (the
demo's), its sessions also see that directory as `/workspace` where the machine allows it
(rpdevd/sim/private_root.py). As on RunPod, its sessions have a
pod-scoped API key in `RUNPOD_API_KEY` (the simulated API takes it for this pod only) and
`runpodctl` first on their PATH (rpdevd/sim/runpodctl.py).
"""

from __future__ import annotations

import random
import secrets
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpdevd.sim.sshd import PodSSHD

ID_ALPHABET = string.ascii_lowercase + string.digits
SIM_IP = "127.0.0.1"
DEFAULT_IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
# sshd's own default PATH for a session, after the pod's bin folder.
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def new_pod_key() -> str:
    """A pod-scoped API key (the shape of a RunPod key; only the simulator knows it)."""
    return "rpa_POD" + secrets.token_hex(20).upper()


def new_pod_id() -> str:
    """14 characters of [a-z0-9], the shape of a RunPod pod id."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(14))


def status_change(verb: str) -> str:
    # RunPod's lastStatusChange is prose, e.g. "Rented by User: Tue Jun 04 2024 10:00:00 GMT...".
    return f"{verb} by User: {time.strftime('%a %b %d %Y %H:%M:%S GMT+0000', time.gmtime())}"


@dataclass
class SimPod:
    id: str
    name: str
    gpu: str
    gpu_count: int
    cost_per_hr: float
    spot: bool
    bid_per_gpu: float | None
    network_volume: bool
    status: str
    image_name: str
    root: Path
    use_sshd: bool
    host_id: str = ""
    sshd: PodSSHD | None = None
    port: int | None = None  # the port sshd listens on now (or a fake one)
    previous_port: int | None = None
    reported_port: int | None = None  # a stale port the API reports until `stale_until`
    stale_until: float = 0.0
    runtime_null_until: float = 0.0
    started_at: float | None = None
    last_status_change: str = ""
    gpu_util: list[float] = field(default_factory=list)
    gpu_mem: list[float] = field(default_factory=list)
    cpu_percent: float = 1.0
    memory_percent: float = 8.0
    lowest_bid: float | None = None
    api_key: str = field(default_factory=new_pod_key, repr=False)  # RUNPOD_API_KEY on the pod

    def __post_init__(self) -> None:
        self.host_id = self.host_id or f"{self.id}-{secrets.token_hex(4)}"
        if not self.gpu_util:
            self.gpu_util = [0.0] * self.gpu_count
            self.gpu_mem = [0.0] * self.gpu_count

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def bindir(self) -> Path:
        """First on the pod's PATH: runpodctl."""
        return self.root / "bin"

    @property
    def pod_type(self) -> str:
        return "INTERRUPTABLE" if self.spot else "RESERVED"

    def env(self) -> dict[str, str]:
        """What a session on the pod sees (RUNPOD_TCP_PORT_22 / _PUBLIC_IP are added by PodSSHD
        from the port it really listens on: inside the pod is the truth)."""
        return {
            "RUNPOD_POD_ID": self.id,
            "RUNPOD_POD_HOSTNAME": self.host_id,
            "RUNPOD_GPU_COUNT": str(self.gpu_count),
            "RUNPOD_CPU_COUNT": "8",
            "RUNPOD_DC_ID": "SIM-LOCAL-1",
            "RUNPOD_VOLUME_MOUNT_PATH": str(self.workspace),
            "RUNPOD_API_KEY": self.api_key,
            "PATH": f"{self.bindir}:{SESSION_PATH}",
            "RPDEV_SIM": "1",
        }

    def new_sshd(self, authorized_keys: str, *, private_workspace: bool = False) -> PodSSHD:
        if self.sshd is None:
            self.sshd = PodSSHD(
                self.root / "sshd",
                authorized_keys=authorized_keys,
                env=self.env(),
                workspace=self.workspace,
                private_workspace=private_workspace,
            )
        return self.sshd

    def state(self) -> dict[str, Any]:
        """The simulator's own view (for tests and `/_sim/state`), not RunPod's."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "spot": self.spot,
            "network_volume": self.network_volume,
            "port": self.port,
            "reported_port": self.current_reported_port(),
            "host": SIM_IP,
            "user": self.sshd.user if self.sshd else None,
            "host_public_key": self.sshd.host_public_key if self.sshd and self.port else None,
            "workspace": str(self.workspace),
            # Whether its sessions see `workspace` as `/workspace` (at its last start), else why not.
            "private_workspace": bool(self.sshd and self.sshd.workspace_private),
            "workspace_note": self.sshd.workspace_note if self.sshd else "not started",
            "sshd": self.use_sshd,
            "gpu_util": list(self.gpu_util),
            "cpu_percent": self.cpu_percent,
        }

    def current_reported_port(self, now: float | None = None) -> int | None:
        now = time.monotonic() if now is None else now
        if self.reported_port is not None and now < self.stale_until:
            return self.reported_port
        return self.port

    # ---- RunPod's view ---------------------------------------------------------------------

    def runtime_view(self, now: float) -> dict[str, Any] | None:
        if self.status != "RUNNING" or self.port is None or now < self.runtime_null_until:
            return None
        uptime = int(time.time() - (self.started_at or time.time()))
        return {
            "uptimeInSeconds": uptime,
            "ports": [
                {
                    "ip": SIM_IP,
                    "isIpPublic": True,
                    "privatePort": 22,
                    "publicPort": self.current_reported_port(now),
                    "type": "tcp",
                },
                # An HTTP proxy port on a private address, as RunPod lists next to ssh.
                {
                    "ip": "100.65.0.2",
                    "isIpPublic": False,
                    "privatePort": 8888,
                    "publicPort": 60888,
                    "type": "http",
                },
            ],
            "gpus": [
                {
                    "id": f"GPU-{self.id[:8]}-{i}",
                    "gpuUtilPercent": self.gpu_util[i],
                    "memoryUtilPercent": self.gpu_mem[i] if i < len(self.gpu_mem) else 0.0,
                }
                for i in range(min(self.gpu_count, len(self.gpu_util)))
            ],
            "container": {"cpuPercent": self.cpu_percent, "memoryPercent": self.memory_percent},
        }

    def view(self, now: float | None = None) -> dict[str, Any]:
        """The pod as RunPod's GraphQL `Pod` type reports it (SDK fields included)."""
        now = time.monotonic() if now is None else now
        running = self.status == "RUNNING"
        return {
            "id": self.id,
            "name": self.name,
            "desiredStatus": self.status,
            "podType": self.pod_type,
            "gpuCount": self.gpu_count,
            "costPerHr": round(self.cost_per_hr, 4),
            "adjustedCostPerHr": round(self.cost_per_hr, 4),
            "lowestBidPriceToResume": self.lowest_bid if self.spot else None,
            "lastStatusChange": self.last_status_change,
            "uptimeSeconds": int(time.time() - self.started_at)
            if running and self.started_at
            else 0,
            "imageName": self.image_name,
            "volumeMountPath": str(self.workspace),
            "containerDiskInGb": 20,
            "volumeInGb": 0 if self.network_volume else 50,
            "memoryInGb": 62,
            "vcpuCount": 8,
            "dockerArgs": "",
            "dockerId": None,
            "env": [f"RUNPOD_POD_ID={self.id}"],
            "machineId": f"sim{self.host_id[-8:]}",
            "port": None,
            "ports": "8888/http,22/tcp",
            "templateId": None,
            "locked": False,
            "networkVolumeId": f"nv{self.id[:10]}" if self.network_volume else None,
            "machine": {"podHostId": self.host_id, "gpuDisplayName": self.gpu, "location": "SIM"},
            "runtime": self.runtime_view(now),
        }


def fake_port() -> int:
    """A port for a pod without sshd (scale tests): in range, and nothing listens there."""
    return random.randint(20000, 29999)
