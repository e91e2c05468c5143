"""What the idle-stop service tells people: short words for a pod's activity, countdown clocks,
desktop notifications."""

from __future__ import annotations

import contextlib
import shutil
from typing import Any

from rpdevd.activity.signals import format_rate


def busy_text(signal: str, sample: dict[str, Any], reason: str) -> str:
    """Short words for what the idle logic thinks: "busy: GPU 97 %", "busy: CPU 55 %"."""
    if signal in ("gpu", "api_gpu"):
        utils = [g.get("util") for g in sample.get("gpus") or [] if isinstance(g, dict)]
        utils += list(sample.get("api_gpu_util") or [])
        known = [u for u in utils if isinstance(u, int | float)]
        return f"busy: GPU {max(known):.0f} %" if known else "busy: GPU"
    if signal in ("cpu", "api_cpu"):
        cpu = sample.get("cpu_pct") if signal == "cpu" else sample.get("api_cpu_pct")
        return f"busy: CPU {cpu:.0f} %" if isinstance(cpu, int | float) else "busy: CPU"
    if signal in ("net", "disk"):
        keys = ("net_rx_bps", "net_tx_bps") if signal == "net" else ("disk_bps",)
        rates = [v for k in keys if isinstance(v := sample.get(k), int | float)]
        what = "network" if signal == "net" else "disk"
        return f"busy: {what} {format_rate(sum(rates))}" if rates else f"busy: {what}"
    return {
        "local_edits": "busy: live edits",
        "ssh_input": "busy: typing over SSH",
        "unknown": "unknown: not stopping",
        "hold": "held",
    }.get(signal, reason.split(";")[0][:40])


def clock(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def notify_desktop(title: str, body: str) -> None:
    """A desktop notification where one can be shown (notify-send, osascript); silent otherwise."""
    import subprocess

    if shutil.which("notify-send"):
        cmd = ["notify-send", "-a", "rpdev", "-u", "critical", title, body]
    elif shutil.which("osascript"):
        cmd = [
            "osascript",
            "-e",
            "on run argv",
            "-e",
            "display notification (item 2 of argv) with title (item 1 of argv)",
            "-e",
            "end run",
            title,
            body,
        ]
    else:
        return
    with contextlib.suppress(OSError):
        subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
