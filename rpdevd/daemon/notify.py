"""What the idle-stop service tells people: a pod's idle state as shown (`show_idle`), short
words for its activity, countdown clocks, desktop notifications."""

from __future__ import annotations

import contextlib
import shutil
import time
from typing import Any

from rpdevd.activity.decide import Decision
from rpdevd.activity.samples import FOREVER
from rpdevd.activity.signals import format_rate
from rpdevd.daemon.state import PodState
from rpdevd.durations import format_duration


def show_idle(
    state: PodState, decision: Decision | None, any_decision: Decision | None = None
) -> None:
    """The pod's `idle_state`, `idle_deadline` (and, once it is not running, `warning`) from a
    decision: `decision` where idle-stop acts on it, else only `any_decision`'s words, with no
    countdown (a pod that will not be stopped shows none)."""
    now = time.time()
    if not state.pod.is_running:
        state.idle_state, state.idle_deadline, state.warning = (
            state.pod.desired_status.lower(),
            None,
            None,
        )
        return
    shown = decision or any_decision
    if shown is None:
        return
    hold = state.hold_until
    if hold == FOREVER or (isinstance(hold, int | float) and hold > now):
        state.idle_state = (
            "held" if hold == FOREVER else f"held {format_duration(float(hold) - now)}"
        )
        state.idle_deadline = None
        return
    if decision is not None and decision.signal == "hold" and decision.stop_at:
        # A hold from the pod's hold file: shown like one set with `rpdev hold`.
        state.idle_state = f"held {format_duration(max(0.0, decision.stop_at - now))}"
        state.idle_deadline = None
        return
    if decision is not None and decision.stop_at and decision.action in ("keep", "warn"):
        if decision.signal == "idle":
            state.idle_deadline = decision.stop_at
            state.idle_state = f"idle, stops in {clock(decision.stop_at - now)}"
            return
    state.idle_deadline = None
    state.idle_state = busy_text(shown.signal, state.last_sample or {}, shown.reason)


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
