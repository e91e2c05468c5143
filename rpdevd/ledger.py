"""The cost ledger: what each pod cost, and what idle-stop saved. Pure functions over plain data.

A pod's bill is its running time x its `costPerHr`. rpdev records running intervals from the
status changes it sees (a pod first seen RUNNING is back-dated by its reported uptime).

**Saved by idle-stop** (definition): for every stop that rpdev's idle-stop made, the time from that
stop until the pod next started (or until now), capped at `SAVING_CAP` (12 h) per stop, x the pod's
$/h at the stop. The cap keeps the estimate conservative: without rpdev, a forgotten pod would run
until someone noticed, which is typically the next working morning, not forever. Stopped pods
still bill for their disk; that cost is not in these figures (the API does not report it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SAVING_CAP = 12 * 3600.0
MAX_INTERVALS = 2000


@dataclass
class PodLedger:
    """Running intervals `[start, end]` (end None while running) and idle stops `[t, $/h]`."""

    intervals: list[list[float | None]] = field(default_factory=list)
    idle_stops: list[list[float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"intervals": self.intervals, "idle_stops": self.idle_stops}

    @classmethod
    def from_json(cls, obj: Any) -> PodLedger:
        if not isinstance(obj, dict):
            return cls()
        intervals = [
            [float(a), None if b is None else float(b)]
            for a, b in (x for x in obj.get("intervals", []) if isinstance(x, list) and len(x) == 2)
            if isinstance(a, int | float) and (b is None or isinstance(b, int | float))
        ]
        stops = [
            [float(x[0]), float(x[1])]
            for x in obj.get("idle_stops", [])
            if isinstance(x, list) and len(x) == 2 and all(isinstance(v, int | float) for v in x)
        ]
        return cls(intervals[-MAX_INTERVALS:], stops[-MAX_INTERVALS:])

    @property
    def running(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] is None

    def started(self, t: float) -> None:
        if not self.running:
            self.intervals.append([t, None])
            del self.intervals[:-MAX_INTERVALS]

    def ended(self, t: float) -> None:
        if self.running:
            start = self.intervals[-1][0]
            assert start is not None
            self.intervals[-1][1] = max(t, start)

    def idle_stopped(self, t: float, cost_per_hr: float) -> None:
        self.idle_stops.append([t, cost_per_hr])
        del self.idle_stops[:-MAX_INTERVALS]


def overlap(intervals: Iterable[list[float | None]], start: float, end: float, now: float) -> float:
    """Seconds of the intervals inside [start, end]; open intervals run until `now`."""
    total = 0.0
    for a, b in intervals:
        assert a is not None
        hi = min(end, now if b is None else b)
        lo = max(start, a)
        if hi > lo:
            total += hi - lo
    return total


def day_start(now: float) -> float:
    d = dt.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return d.timestamp()


def month_start(now: float) -> float:
    d = dt.datetime.fromtimestamp(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return d.timestamp()


def spend(ledger: PodLedger, cost_per_hr: float | None, start: float, now: float) -> float:
    if not cost_per_hr:
        return 0.0
    return overlap(ledger.intervals, start, now, now) / 3600.0 * cost_per_hr


def saved(ledger: PodLedger, start: float, now: float) -> tuple[float, float]:
    """(hours, dollars) idle-stop saved since `start` (see the module's definition)."""
    hours = dollars = 0.0
    for t, rate in ledger.idle_stops:
        if t < start:
            continue
        next_start = min((a for a, _ in ledger.intervals if a is not None and a > t), default=now)
        span = max(0.0, min(next_start, now, t + SAVING_CAP) - t)
        hours += span / 3600.0
        dollars += span / 3600.0 * rate
    return hours, dollars


def summary(ledger: PodLedger, cost_per_hr: float | None, now: float) -> dict[str, float]:
    today, month = day_start(now), month_start(now)
    saved_h, saved_usd = saved(ledger, month, now)
    return {
        "spend_today": round(spend(ledger, cost_per_hr, today, now), 4),
        "spend_month": round(spend(ledger, cost_per_hr, month, now), 4),
        "saved_hours_month": round(saved_h, 3),
        "saved_month": round(saved_usd, 4),
    }
