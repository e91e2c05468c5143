"""Fixed daemon answers for snapshot tests: nothing here depends on the clock, ports or pids."""

from __future__ import annotations

import copy
from typing import Any

NOW = 1_800_000_000.0


def _pod(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "pod",
        "name": "pod",
        "status": "RUNNING",
        "managed": True,
        "policy": "idle-stop",
        "idle_timeout": 1800.0,
        "warn_before": 300.0,
        "wake_on_connect": False,
        "gpu": "H100 80GB HBM3 x1",  # gpu_label's, as the daemon sends it
        "gpu_type": "NVIDIA H100 80GB HBM3",
        "gpu_count": 1,
        "pod_type": "RESERVED",
        "is_spot": False,
        "cost_per_hr": 2.99,
        "spend_today": 0.0,
        "spend_month": 0.0,
        "ssh_alias": None,
        "ssh_host": None,
        "ssh_port": None,
        "endpoint_state": "none",
        "api_endpoint": None,
        "host_key_fingerprint": None,
        "idle_state": "",
        "idle_deadline": None,
        "hold_until": None,
        "warning": None,
        "last_sample": None,
        "sync": [],
        "last_error": None,
        "status_since": NOW - 7200,
        "volume_mount_path": "/workspace",
        "saved_month": 0.0,
        "saved_hours_month": 0.0,
        "as_of": None,
        "last_known": False,
        "max_bid": None,
    }
    base.update(kw)
    return base


def _sample(t: float, gpu: float | None, cpu: float) -> dict[str, Any]:
    return {
        "t": t,
        "status": "RUNNING",
        "probe": "ok",
        "gpus": [{"index": 0, "util": gpu, "mem_used_mib": 60000, "mem_total_mib": 81559}],
        "cpu_pct": cpu,
        "ssh_sessions": 1,
        "ssh_connections": 1,
        "ide_clients": 1,
        "hold_until": None,
        "local_edits": 0,
    }


SAMPLES = [
    _sample(
        NOW - 3600 + i * 60, float((i * 37) % 100) if i > 20 else 5.0, float(20 + (i * 13) % 60)
    )
    for i in range(60)
]

PODS = [
    _pod(
        id="k7trainer00001",
        name="trainer",
        gpu="H100 80GB HBM3 x2",
        gpu_type="NVIDIA H100 80GB HBM3",
        gpu_count=2,
        cost_per_hr=5.98,
        spend_today=12.41,
        spend_month=301.2,
        ssh_alias="trainer.runpod",
        ssh_host="203.0.113.7",
        ssh_port=22041,
        endpoint_state="confirmed",
        api_endpoint="203.0.113.7:22041",
        host_key_fingerprint="SHA256:9a0bcXh2o8Vn1Xq3mJvJpZb2sKq0oT8w1Rz4u7yLk3E",
        idle_state="busy: GPU 97 %",
        last_sample=SAMPLES[-1],
    ),
    _pod(
        id="n0tebook000002",
        name="notebook",
        gpu="RTX A6000 x1",
        gpu_type="NVIDIA RTX A6000",
        cost_per_hr=0.79,
        spend_today=3.10,
        ssh_alias="notebook.runpod",
        ssh_host="203.0.113.9",
        ssh_port=40112,
        endpoint_state="confirmed",
        host_key_fingerprint="SHA256:Qm1vb3Rh0k2n",
        idle_state="idle, stops in 4:00",
        idle_deadline=NOW + 240,
        warning={
            "kind": "idle.warn",
            "message": "rpdev: pod notebook is idle (no GPU, CPU or SSH activity for 25m) "
            "and will be STOPPED at 08:04. To keep it: rpdev hold n0tebook000002 2h",
            "stop_at": NOW + 240,
            "reason": "no GPU, CPU or SSH activity for 25m",
        },
        wake_on_connect=True,
    ),
    _pod(
        id="sp0trunner0003",
        name="spot-runner",
        status="EXITED",
        policy="keep-alive",
        gpu="RTX 4090 x1",
        gpu_type="NVIDIA RTX 4090",
        cost_per_hr=0.34,
        is_spot=True,
        pod_type="INTERRUPTABLE",
        max_bid=0.45,
        spend_today=1.02,
        ssh_alias="spot-runner.runpod",
        last_error="resume failed: There are not enough free GPUs on the host machine to "
        "start this pod.",
    ),
    _pod(
        id="held0000000004",
        name="finetune",
        policy="idle-stop",
        gpu="A100 80GB x1",
        gpu_type="NVIDIA A100 80GB",
        cost_per_hr=1.64,
        spend_today=6.50,
        ssh_alias="finetune.runpod",
        ssh_host="203.0.113.11",
        ssh_port=31999,
        endpoint_state="confirmed",
        idle_state="held 1h20",
        hold_until=NOW + 4800,
    ),
    _pod(
        id="arch1ve0000005",
        name="archive",
        status="EXITED",
        managed=False,
        policy="manual",
        gpu_type="",
        gpu_count=0,
        gpu="CPU",
        cost_per_hr=0.06,
    ),
]

ROOTS = [
    {
        "id": "r1",
        "pod": "k7trainer00001",
        "pod_id": "k7trainer00001",
        "source": "config",
        "held": 0,
        "max_delete": 0,
        "pending": 0,
        "last_sync": None,
        "local": "/home/me/src/llm",
        "remote": "/workspace/llm",
        "state": "live",
        "progress": None,
        "last_error": None,
        "paused": False,
        "pull": ["checkpoints/*.pt", "logs/"],
        "pull_interval": 30.0,
    },
    {
        "id": "r2",
        "pod": "k7trainer00001",
        "pod_id": "k7trainer00001",
        "source": "config",
        "held": 0,
        "max_delete": 0,
        "pending": 0,
        "last_sync": None,
        "local": "/home/me/data/cfg",
        "remote": "/workspace/cfg",
        "state": "syncing",
        # the last sync.progress of the pass running (the daemon's shape)
        "progress": {
            "pair": "r2",
            "bytes_done": 45,
            "bytes_total": 100,
            "files_done": 2,
            "files_total": 5,
        },
        "last_error": None,
        "paused": False,
        "pull": [],
        "pull_interval": 30.0,
    },
    {
        "id": "r3",
        "pod": "held0000000004",
        "pod_id": "held0000000004",
        "source": "config",
        "held": 0,
        "max_delete": 0,
        "pending": 0,
        "last_sync": None,
        "local": "/home/me/src/ft",
        "remote": "/workspace/ft",
        "state": "conflict",
        "progress": None,
        "last_error": "train.py changed on the pod and locally",
        "paused": False,
        "pull": [],
        "pull_interval": 30.0,
    },
]

EVENTS = [
    {
        "seq": 1,
        "t": NOW - 7200,
        "kind": "pod.added",
        "pod_id": "k7trainer00001",
        "level": "info",
        "message": "trainer: RUNNING",
        "data": {},
    },
    {
        "seq": 2,
        "t": NOW - 7100,
        "kind": "endpoint.confirmed",
        "pod_id": "k7trainer00001",
        "level": "info",
        "message": "trainer: 203.0.113.7:22041 confirmed in the pod",
        "data": {},
    },
    {
        "seq": 3,
        "t": NOW - 600,
        "kind": "sync.progress",
        "pod_id": "k7trainer00001",
        "level": "info",
        "message": "/home/me/data/cfg: 45 %",
        "data": {},
    },
    {
        "seq": 4,
        "t": NOW - 300,
        "kind": "pod.error",
        "pod_id": "sp0trunner0003",
        "level": "error",
        "message": "resume failed: not enough free GPUs",
        "data": {},
    },
]


# The status's `budget` with `[budget] monthly = 200` set (None, as the daemon sends it, without).
BUDGET = {"month": "2027-01", "monthly": 200.0, "spent": 123.4, "percent": 61.7, "told": []}


def answers(
    pods: list[dict[str, Any]] | None = None,
    with_sync: bool = True,
    budget: dict[str, Any] | None = None,
) -> dict[str, Any]:
    pods = copy.deepcopy(PODS if pods is None else pods)
    api = {
        "ok": True,
        "error": None,
        "hint": None,
        "last_poll": NOW - 3,
        "key_source": "env",
        "failures": 0,
        "known_at": None,
        "last_known": False,
        "state_error": None,
    }
    out: dict[str, Any] = {
        "status": {
            "daemon": {
                "version": "0.1.0",
                "pid": 1,
                "uptime_s": 0.0,
                "socket": "",
                "log": "",
                "config": None,
                "poll_interval": 0.0,
                "ssh_include": None,
            },
            "api": api,
            "pods": [p for p in pods if isinstance(p, dict) and p.get("managed")],
            "unmanaged": sum(1 for p in pods if isinstance(p, dict) and not p.get("managed")),
            "budget": copy.deepcopy(budget),
        },
        "pods": {"api": api, "pods": pods},
        "events": lambda params: {
            "events": [e for e in EVENTS if not params.get("pod") or e["pod_id"] == params["pod"]]
        },
        "idle.samples": lambda params: {
            "samples": SAMPLES if params.get("pod") == "k7trainer00001" else []
        },
    }
    if with_sync:
        out["sync.list"] = {"roots": copy.deepcopy(ROOTS)}
    return out
