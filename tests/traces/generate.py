"""Writes the scenario traces in this folder (run: .venv/bin/python tests/traces/generate.py).

One sample a minute from T0, in the format of docs/idle.md. Deterministic (seeded noise), so the
files only change when this script does. Expected outcomes: expected.json and README.md.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

T0 = 1_790_000_000.0
HERE = Path(__file__).resolve().parent
A100 = 81920


def gpu(util: float | None, used: float = 0, total: float = A100, index: int = 0) -> dict[str, Any]:
    return {"index": index, "util": util, "mem_used_mib": used, "mem_total_mib": total}


def sample(minute: float, **kw: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "t": T0 + 60 * minute,
        "status": "RUNNING",
        "probe": "ok",
        "gpus": [gpu(0)],
        "gpu_procs": [],
        "cpu_pct": 1.0,
        "ssh_sessions": 0,
        "ssh_connections": 0,
        "ide_clients": 0,
        "hold_until": None,
        "local_edits": 0,
    }
    s.update(kw)
    return s


def unreachable(minute: float, **kw: Any) -> dict[str, Any]:
    return {
        "t": T0 + 60 * minute,
        "status": kw.pop("status", "RUNNING"),
        "probe": "unreachable",
        **kw,
    }


def training_tmux(r: random.Random) -> list[dict[str, Any]]:
    # A job started in tmux, then the user logged out: GPU busy for hours, nobody connected.
    procs = [{"pid": 4242, "name": "python3", "mem_mib": 71000}]
    return [
        sample(m, gpus=[gpu(r.randint(93, 100), 71000)], gpu_procs=procs, cpu_pct=r.uniform(25, 40))
        for m in range(360)
    ]


def dataloader_bound(r: random.Random) -> list[dict[str, Any]]:
    # The GPU waits on the dataloader: 0 % and 100 % on alternate samples, CPU under threshold.
    procs = [{"pid": 77, "name": "python", "mem_mib": 30000}]
    return [
        sample(m, gpus=[gpu(100 if m % 2 else 0, 30000)], gpu_procs=procs, cpu_pct=r.uniform(8, 14))
        for m in range(240)
    ]


NOTEBOOK_CELLS = (10, 27, 45, 62, 80, 97, 115, 133, 150)


def notebook(r: random.Random) -> list[dict[str, Any]]:
    # A kernel holds 10 GiB of GPU memory; a cell runs every 15-20 min (one or two busy samples),
    # then the user goes home and the memory stays held without compute.
    procs = [{"pid": 557, "name": "python3", "mem_mib": 10758}]
    busy = {m for c in NOTEBOOK_CELLS for m in ((c,) if c % 2 else (c, c + 1))}
    return [
        sample(
            m,
            gpus=[gpu(100 if m in busy else 0, 10767)],
            gpu_procs=procs,
            cpu_pct=r.uniform(1, 4),
            ide_clients=1,
            ssh_connections=1,
        )
        for m in range(240)
    ]


def cpu_preprocessing(r: random.Random) -> list[dict[str, Any]]:
    return [sample(m, cpu_pct=r.uniform(80, 90), cpu_cores=r.uniform(6.4, 7.2)) for m in range(240)]


def cpu_single_thread(r: random.Random) -> list[dict[str, Any]]:
    # One single-threaded job on a 16-vCPU pod: 6 % of the pod, but a whole core.
    return [
        sample(m, cpu_pct=r.uniform(5.8, 6.4), cpu_cores=r.uniform(0.93, 1.02)) for m in range(240)
    ]


def window_left_open(r: random.Random) -> list[dict[str, Any]]:
    # Typing in a terminal and an IDE for 20 minutes, then both windows left open overnight.
    out = []
    for m in range(600):
        typed = r.uniform(2, 40) if m <= 20 else 60.0 * (m - 20)
        out.append(
            sample(
                m,
                cpu_pct=r.uniform(1, 3),
                ssh_sessions=1,
                ssh_connections=2,
                ide_clients=1,
                ssh_input_idle_s=round(typed, 1),
            )
        )
    return out


def live_sync_editing(r: random.Random) -> list[dict[str, Any]]:
    # Editing locally; the sync pushes files now and then; no SSH at all; pauses up to 20 min.
    edits, m = set(), 0
    while m < 180:
        edits.add(m)
        m += r.choice((1, 2, 3, 5, 8, 12, 20))
    return [sample(m, local_edits=r.randint(1, 4) if m in edits else 0) for m in range(180)]


def hold_3h(r: random.Random) -> list[dict[str, Any]]:
    return [sample(m, hold_until=T0 + 3 * 3600) for m in range(200)]


def hold_forever(r: random.Random) -> list[dict[str, Any]]:
    return [sample(m, hold_until="forever") for m in range(300)]


def unreachable_no_telemetry(r: random.Random) -> list[dict[str, Any]]:
    # Busy, then SSH fails and RunPod has no telemetry for two hours, then an idle pod again.
    busy = [sample(m, gpus=[gpu(95, 9000)], cpu_pct=30) for m in range(30)]
    dark = [unreachable(m) for m in range(30, 150)]
    return busy + dark + [sample(m) for m in range(150, 200)]


def eight_gpus_one_busy(r: random.Random) -> list[dict[str, Any]]:
    def gpus() -> list[dict[str, Any]]:
        return [
            gpu(r.randint(95, 99) if i == 3 else 0, 60000 if i == 3 else 0, index=i)
            for i in range(8)
        ]

    return [sample(m, gpus=gpus(), cpu_pct=4) for m in range(240)]


def mig_null_cpu_busy(r: random.Random) -> list[dict[str, Any]]:
    # MIG answers [N/A] for utilization: unknown, not 0; the CPU shows the work.
    return [sample(m, gpus=[gpu(None, 9000)], cpu_pct=r.uniform(55, 65)) for m in range(240)]


def mig_null_idle(r: random.Random) -> list[dict[str, Any]]:
    return [sample(m, gpus=[gpu(None, 9000)], cpu_pct=r.uniform(1, 3)) for m in range(60)]


def resumed_after_console_stop(r: random.Random) -> list[dict[str, Any]]:
    # Stopped from RunPod's console at minute 20, resumed at minute 50: a full timeout again.
    out = [sample(m) for m in range(20)]
    out += [unreachable(m, status="EXITED") for m in range(20, 50)]
    return out + [sample(m) for m in range(50, 120)]


def restart_seen_by_uptime(r: random.Random) -> list[dict[str, Any]]:
    # A stop+resume between two samples: only RunPod's container uptime shows it.
    return [
        sample(m, api_uptime_s=600 + 60 * m if m < 21 else 20 + 60 * (m - 21)) for m in range(90)
    ]


def laptop_slept_after_warning(r: random.Random) -> list[dict[str, Any]]:
    # Warned at minute 25, the laptop slept at 27 and woke at 90: warn again, stop 5 min later.
    return [sample(m) for m in range(28)] + [sample(m) for m in range(90, 130)]


def laptop_slept_short_idle(r: random.Random) -> list[dict[str, Any]]:
    # Idle for 10 minutes, a 4h50m gap, then idle again: the gap is not idle time.
    return [sample(m) for m in range(11)] + [sample(m) for m in range(300, 360)]


def background_load(r: random.Random) -> list[dict[str, Any]]:
    # A web UI polling at ~10 % CPU with a blip now and then, a model parked in GPU memory.
    procs = [{"pid": 310, "name": "python", "mem_mib": 20000}]
    return [
        sample(
            m,
            gpus=[gpu(3 if m % 9 == 4 else 0, 20000)],
            gpu_procs=procs,
            cpu_pct=30.0 if m % 20 == 7 else r.uniform(7, 13),
        )
        for m in range(90)
    ]


def work_resumes_after_warning(r: random.Random) -> list[dict[str, Any]]:
    # Warned at 25; the user starts a CPU job at 27: the warning is cancelled, nothing stops.
    return [sample(m, cpu_pct=2.0 if m < 27 else r.uniform(75, 85)) for m in range(120)]


def trickle(r: random.Random) -> dict[str, Any]:
    # What an open terminal, IDE window or polling web UI moves: a few kB/s (docs/idle.md).
    return {"net_rx_bps": r.uniform(100, 4000), "net_tx_bps": r.uniform(60, 600)}


def checkpoint_upload(r: random.Random) -> list[dict[str, Any]]:
    # Training until minute 60, then the checkpoint goes up to a bucket at ~20 MB/s for 20 minutes
    # with the GPU idle and the CPU at a few %: that is work; idle from minute 80.
    procs = [{"pid": 4242, "name": "python3", "mem_mib": 71000}]
    out = [
        sample(m, gpus=[gpu(r.randint(90, 100), 71000)], gpu_procs=procs, cpu_pct=30.0)
        for m in range(60)
    ]
    out += [
        sample(
            m,
            cpu_pct=r.uniform(2, 4),
            cpu_cores=r.uniform(0.1, 0.2),
            net_rx_bps=r.uniform(2e5, 4e5),
            net_tx_bps=r.uniform(18e6, 25e6),
            disk_bps=r.uniform(18e6, 25e6),
        )
        for m in range(60, 80)
    ]
    return out + [sample(m, **trickle(r), disk_bps=r.uniform(0, 8000)) for m in range(80, 140)]


def dataset_copy_from_volume(r: random.Random) -> list[dict[str, Any]]:
    # A dataset copied from /workspace to the container disk: block I/O only, no network.
    out = [
        sample(m, cpu_pct=r.uniform(3, 6), disk_bps=r.uniform(120e6, 180e6), **trickle(r))
        for m in range(45)
    ]
    return out + [sample(m, disk_bps=r.uniform(0, 20000), **trickle(r)) for m in range(45, 100)]


def slow_upload_from_home(r: random.Random) -> list[dict[str, Any]]:
    # rsync from a laptop on a 5-10 Mbit/s uplink until minute 50: slow, and still work.
    out = [
        sample(
            m,
            ssh_connections=1,
            net_rx_bps=r.uniform(600e3, 1.2e6),
            net_tx_bps=r.uniform(10e3, 20e3),
            disk_bps=r.uniform(600e3, 1.2e6),
        )
        for m in range(50)
    ]
    return out + [sample(m, ssh_connections=1, **trickle(r)) for m in range(50, 100)]


def web_ui_and_ide_trickle(r: random.Random) -> list[dict[str, Any]]:
    # An IDE window, a terminal and a web UI polling through a tunnel, nobody working: the
    # kB/s they move are not work.
    return [
        sample(
            m,
            ssh_connections=2,
            ssh_sessions=1,
            ide_clients=1,
            ssh_input_idle_s=600.0 + 60 * m,
            disk_bps=r.uniform(0, 30000),
            **trickle(r),
        )
        for m in range(60)
    ]


def restart_at_short_uptime(r: random.Random) -> list[dict[str, Any]]:
    # Woken on connect at minute 0 (uptime 20 s), stopped and resumed again between minutes 1 and
    # 2: RunPod's uptime reads 25 s after 80 s. A restart at any uptime gives a full timeout.
    return [sample(m, api_uptime_s=20 + 60 * m if m < 2 else 25 + 60 * (m - 2)) for m in range(60)]


SCENARIOS: dict[str, Callable[[random.Random], list[dict[str, Any]]]] = {
    "training-in-tmux-nobody-connected": training_tmux,
    "dataloader-bound-alternating-gpu": dataloader_bound,
    "notebook-cells-then-memory-held": notebook,
    "cpu-preprocessing-gpu-idle": cpu_preprocessing,
    "cpu-single-thread-on-big-pod": cpu_single_thread,
    "ide-and-shell-left-open-overnight": window_left_open,
    "live-sync-editing-no-ssh": live_sync_editing,
    "hold-for-3h-while-idle": hold_3h,
    "hold-forever": hold_forever,
    "unreachable-no-telemetry": unreachable_no_telemetry,
    "eight-gpus-one-busy": eight_gpus_one_busy,
    "mig-null-util-cpu-busy": mig_null_cpu_busy,
    "mig-null-util-idle": mig_null_idle,
    "resumed-after-console-stop": resumed_after_console_stop,
    "restart-seen-by-uptime": restart_seen_by_uptime,
    "laptop-slept-after-warning": laptop_slept_after_warning,
    "laptop-slept-short-idle": laptop_slept_short_idle,
    "background-load-is-not-work": background_load,
    "work-resumes-after-warning": work_resumes_after_warning,
    "checkpoint-upload-after-training": checkpoint_upload,
    "dataset-copy-from-volume": dataset_copy_from_volume,
    "slow-upload-from-home": slow_upload_from_home,
    "web-ui-and-ide-trickle": web_ui_and_ide_trickle,
    "restart-at-short-uptime": restart_at_short_uptime,
}


def main() -> None:
    for name, make in SCENARIOS.items():
        rows = make(random.Random(name))
        for row in rows:
            for key in ("cpu_pct", "cpu_cores"):
                if isinstance(row.get(key), float):
                    row[key] = round(row[key], 1)
            for key in ("net_rx_bps", "net_tx_bps", "disk_bps"):
                if isinstance(row.get(key), float):
                    row[key] = round(row[key])
        with open(HERE / f"{name}.jsonl", "w") as fh:
            fh.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()
