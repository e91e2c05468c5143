"""Pure formatting: daemon data (pod views, sync roots, samples) -> what a cell or line says.

No Textual here beyond Rich `Text` styles, so every rule is testable in microseconds and the
widgets stay thin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text

from rpdevd import labels
from rpdevd.durations import format_duration
from rpdevd.text import clean
from rpdevd.views import (
    BudgetView,
    EventView,
    PodView,
    SampleView,
    SyncProgressView,
    SyncRootView,
)

STATUS_STYLES = {
    "RUNNING": "bold green",
    "EXITED": "bright_black",
    "STOPPED": "bright_black",
    "CREATED": "yellow",
    "RESTARTING": "yellow",
    "STARTING": "yellow",
    "PAUSED": "yellow",
    "TERMINATED": "red",
}


def safe(value: object, limit: int = 60) -> str:
    """Text from the daemon (pod names come from RunPod), made safe for one terminal line."""
    return clean(value, limit)


def num(value: object) -> float | None:
    """A finite number, or None for anything else (hostile or missing fields)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def status_text(status: object, problem: bool = False) -> Text:
    s = safe(status or "?", 12)
    text = Text(s, style=STATUS_STYLES.get(s, ""))
    if problem:
        text.append(" ⚠", style="bold red")
    return text


def gpu_label(view: PodView, limit: int = 20) -> str:
    return safe(labels.view_gpu_label(view), limit)


def money(value: object, per_hour: bool = False) -> str:
    v = num(value)
    if v is None:
        return "-"
    return f"${v:.2f}" + ("/h" if per_hour else "")


def budget_text(budget: BudgetView) -> Text:
    """`$123.40 of $200 this month (62 %)`: yellow from 80 %, red from 100 %."""
    monthly = budget["monthly"]
    limit = f"${monthly:.0f}" if monthly == int(monthly) else money(monthly)
    pct = budget["percent"]
    style = "bold red" if pct >= 100 else "yellow" if pct >= 80 else ""
    return Text(f"{money(budget['spent'])} of {limit} this month ({pct:.0f} %)", style=style)


def clock(seconds: float) -> str:
    """A countdown: 12:40, 1:02:03; never negative."""
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def short_duration(seconds: float) -> str:
    """1h20, 45m, 30s: the shape of the issue's "held 1h20"."""
    s = max(0, int(seconds))
    if s >= 3600:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m:02d}" if m else f"{h}h"
    if s >= 60:
        return f"{s // 60}m"
    return f"{s}s"


def hold_label(hold: object, now: float) -> str | None:
    if hold == "forever":
        return "held until you release it"
    t = num(hold)
    if t is None or t <= now:
        return None
    return f"held {short_duration(t - now)}"


def idle_label(view: PodView, now: float, limit: int = 40) -> Text:
    """What the idle logic thinks now. Countdowns are recomputed locally each second from the
    daemon's deadline, so the column ticks without asking the daemon."""
    state = safe(view["idle_state"], limit)
    held = hold_label(view["hold_until"], now)
    if held:
        return Text(held, style="cyan")
    deadline = view["idle_deadline"]
    warning = view["warning"]
    if deadline is not None and (not state or state.startswith("idle")):
        style = "bold yellow" if warning else "yellow"
        return Text(f"idle, stops in {clock(deadline - now)}", style=style)
    if state.startswith("busy"):
        return Text(state, style="green")
    if state:
        return Text(state)
    if view["status"] == "RUNNING" and view["policy"] == "idle-stop":
        return Text("watching", style="bright_black")
    return Text("-", style="bright_black")


def progress_fraction(progress: SyncProgressView | None) -> float | None:
    """How far a running pass is (0..1, by bytes, else by files); None when none runs."""
    if progress is None:
        return None
    for done, total in (
        (progress["bytes_done"], progress["bytes_total"]),
        (progress["files_done"], progress["files_total"]),
    ):
        if total > 0:
            return min(max(done / total, 0.0), 1.0)
    return None


def sync_label(roots: Sequence[SyncRootView]) -> Text:
    if not roots:
        return Text("-", style="bright_black")
    states = [r["state"] for r in roots]
    if any(s == "conflict" for s in states):
        return Text("conflict", style="bold red")
    if any(r["last_error"] or s == "error" for r, s in zip(roots, states, strict=True)):
        return Text("error", style="red")
    held = sum(max(r["held"], 0) for r in roots)
    if held:
        return Text(f"{held} held", style="bold yellow")
    progress = [p for r in roots if (p := progress_fraction(r["progress"])) is not None and p < 1]
    if progress:
        return Text(f"⟳ {int(min(progress) * 100)}%", style="yellow")
    stalled = [s for s in states if s in labels.STALLED_STATES]
    if stalled:
        return Text(labels.sync_state_label(stalled[0]), style="yellow")
    if all(r["paused"] for r in roots):
        return Text("paused", style="bright_black")
    live = labels.LIVE
    label = live if len(roots) == 1 else f"{len(roots)} {live}"
    return Text(label, style="green")


@dataclass(frozen=True)
class Problem:
    """A failure shown where the pod is, with what to do about it."""

    title: str
    detail: str
    advice: str
    level: str = "error"


def problems(view: PodView, roots: Sequence[SyncRootView], now: float) -> list[Problem]:
    out: list[Problem] = []
    err = view["last_error"]
    if err:
        text = safe(err, 300)
        if "free GPU" in text or "not enough free" in text.lower():
            out.append(
                Problem(
                    "No free GPUs",
                    text,
                    "The pod is tied to a machine whose GPUs are all rented. rpdev "
                    "retries with backoff; try again later, or start a new pod from "
                    "the same volume.",
                )
            )
        else:
            out.append(
                Problem(
                    "Last action failed", text, "Check the daemon log (l); the next poll retries."
                )
            )
    if view["endpoint_state"] == "unreachable":
        out.append(
            Problem(
                "Pod unreachable over SSH",
                "RunPod reports the pod but SSH to it fails.",
                "It will not be idle-stopped while unknown. Check it in RunPod's "
                "console, or stop and resume it (s, r).",
            )
        )
    for root in roots:
        where = safe(root["local"], 40)
        if root["state"] == "conflict":
            out.append(
                Problem(
                    "Sync conflict",
                    f"{where}: {safe(root['last_error'], 200)}",
                    "A file changed on both sides; rpdev kept both. Resolve it on the "
                    "pod, then resume the root (u).",
                )
            )
        elif root["held"] > 0:
            out.append(
                Problem(
                    "Deletions held",
                    f"{where}: {root['held']} files rpdev wrote were deleted "
                    "here, more in one go than the cap allows; nothing was deleted on the pod.",
                    "If that was meant (a branch switch, a moved folder), press d to let them "
                    "go through.",
                    "warning",
                )
            )
        elif root["last_error"]:
            out.append(
                Problem(
                    "Sync error",
                    f"{where}: {safe(root['last_error'], 200)}",
                    "Sync retries by itself; pause the root (u) to stop it trying.",
                )
            )
    warning = view["warning"]
    if warning is not None:
        stop_at = warning["stop_at"]
        when = f" in {clock(stop_at - now)}" if stop_at else " soon"
        out.append(
            Problem(
                f"Idle stop{when}",
                safe(warning["reason"] or "idle", 200),
                "Press H to hold it 30 minutes, or h for more choices.",
                "warning",
            )
        )
    return out


def pod_sort_key(view: PodView) -> tuple[int, str, str]:
    """Managed pods first, then by name: unmanaged pods are there to be taken over."""
    return (0 if view["managed"] else 1, view["name"], view["id"])


def busiest_gpu(sample: SampleView) -> float | None:
    """The busiest GPU counts, not the mean; null readings (MIG) are unknown, not zero."""
    utils = [
        u
        for g in sample.get("gpus") or []
        if isinstance(g, dict) and (u := num(g.get("util"))) is not None
    ]
    if not utils:
        utils = [u for x in sample.get("api_gpu_util") or [] if (u := num(x)) is not None]
    return max(utils) if utils else None


def series(samples: Iterable[SampleView], since: float) -> tuple[list[float], list[float]]:
    """GPU and CPU series for the sparklines, oldest first, from samples newer than `since`."""
    gpu: list[float] = []
    cpu: list[float] = []
    for s in sorted(
        (s for s in samples if isinstance(s, dict)), key=lambda s: num(s.get("t")) or 0.0
    ):
        t = num(s.get("t"))
        if t is None or t < since:
            continue
        g = busiest_gpu(s)
        c = num(s.get("cpu_pct"))
        gpu.append(g if g is not None else 0.0)
        cpu.append(c if c is not None else 0.0)
    return gpu, cpu


def sample_summary(sample: SampleView | None, now: float) -> str:
    if not isinstance(sample, dict):
        return "no activity sample yet"
    t = num(sample.get("t"))
    age = f" ({short_duration(now - t)} ago)" if t else ""
    if sample.get("probe") == "unreachable":
        return f"probe failed: pod unreachable over SSH{age}"
    parts = []
    g = busiest_gpu(sample)
    gpus = [x for x in sample.get("gpus") or [] if isinstance(x, dict)]
    if g is not None:
        parts.append(f"GPU {g:.0f} %" + (f" (busiest of {len(gpus)})" if len(gpus) > 1 else ""))
    elif gpus:
        parts.append("GPU unknown (N/A)")
    mem = [(num(x.get("mem_used_mib")), num(x.get("mem_total_mib"))) for x in gpus]
    used = sum(u for u, _ in mem if u is not None)
    total = sum(t for _, t in mem if t is not None)
    if total:
        parts.append(f"mem {used / 1024:.0f}/{total / 1024:.0f} GiB")
    c = num(sample.get("cpu_pct"))
    if c is not None:
        parts.append(f"CPU {c:.0f} %")
    for key, label in (("ssh_sessions", "ssh"), ("ide_clients", "IDE"), ("local_edits", "edits")):
        n = num(sample.get(key))
        if n:
            parts.append(f"{label} {n:.0f}")
    return (", ".join(parts) or "no signals") + age


def duration_text(seconds: object) -> str:
    v = num(seconds)
    return "-" if v is None else format_duration(v)


def event_line(ev: EventView, clock_text: str) -> Text:
    style = {"error": "red", "warning": "yellow"}.get(ev["level"], "")
    line = Text(f"{clock_text} ", style="bright_black")
    line.append(safe(ev["kind"], 20) + " ", style="bold " + style if style else "bold")
    line.append(safe(ev["message"], 200), style=style)
    return line
