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
import re
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

    def stopped_earlier(self, t: float, cost_per_hr: float) -> None:
        """A stop at `t` that rpdev learnt of later (the pod's guard stopped it while the daemon
        was away): the running interval that `t` falls in ends there, and the saving counts from
        there, as for a stop the daemon made."""
        for interval in self.intervals:
            start, end = interval
            if start is not None and end is not None and start <= t < end:
                interval[1] = t
        self.idle_stopped(t, cost_per_hr)


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


def saved(
    ledger: PodLedger, start: float, now: float, end: float | None = None
) -> tuple[float, float]:
    """(hours, dollars) idle-stop saved inside [start, end] (end: now), as the module defines
    it; a saving that spans the window's edge counts for the part inside."""
    end = now if end is None else min(end, now)
    hours = dollars = 0.0
    for t, rate in ledger.idle_stops:
        if t >= end:
            continue
        next_start = min((a for a, _ in ledger.intervals if a is not None and a > t), default=now)
        span = max(0.0, min(next_start, end, t + SAVING_CAP) - max(t, start))
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


# Months, for `rpdev cost` and the budget: local time, as "today" and "this month" above.
MONTH_RE = re.compile(r"(\d{4})-(\d{2})")


def parse_month(text: str) -> str:
    """A month as `YYYY-MM` (checked, normalised); ValueError with what to write otherwise."""
    m = MONTH_RE.fullmatch(text.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
        raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-03")
    return f"{m.group(1)}-{m.group(2)}"


def month_of(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[float, float]:
    """[start, end) of a `YYYY-MM` month, in local time."""
    year, mon = (int(x) for x in parse_month(month).split("-"))
    start = dt.datetime(year, mon, 1)
    end = dt.datetime(year + 1, 1, 1) if mon == 12 else dt.datetime(year, mon + 1, 1)
    return start.timestamp(), end.timestamp()


@dataclass(frozen=True)
class PodCostInput:
    """What the month's figures of one pod are computed from."""

    id: str
    name: str
    ledger: PodLedger
    cost_per_hr: float | None
    managed: bool = True


def pod_month(entry: PodCostInput, start: float, end: float, now: float) -> dict[str, Any]:
    """One pod's month: hours running, spend (at its current $/h), hours and dollars saved."""
    seconds = overlap(entry.ledger.intervals, start, min(end, now), now)
    rate = entry.cost_per_hr or 0.0
    saved_h, saved_usd = saved(entry.ledger, start, now, end)
    return {
        "id": entry.id,
        "name": entry.name,
        "managed": entry.managed,
        "cost_per_hr": entry.cost_per_hr,
        "hours": round(seconds / 3600.0, 3),
        "spend": round(seconds / 3600.0 * rate, 4),
        "saved_hours": round(saved_h, 3),
        "saved": round(saved_usd, 4),
    }


def month_report(
    pods: Iterable[PodCostInput], month: str, now: float, budget: float | None = None
) -> dict[str, Any]:
    """The month's figures per pod (those that ran or were kept stopped in it), with totals and,
    where a monthly budget is set, how much of it is spent."""
    start, end = month_bounds(month)
    rows = [pod_month(p, start, end, now) for p in pods]
    rows = [r for r in rows if r["hours"] or r["saved_hours"]]
    rows.sort(key=lambda r: (-r["spend"], r["name"], r["id"]))
    total = {
        key: round(sum(r[key] for r in rows), 4)
        for key in ("hours", "spend", "saved_hours", "saved")
    }
    return {
        "month": parse_month(month),
        "current": start <= now < end,
        "pods": rows,
        "total": total,
        "budget": budget_spent(budget, total["spend"]),
    }


def budget_spent(monthly: float | None, spent: float) -> dict[str, float] | None:
    """How much of a monthly budget `spent` is (None without a budget): `rpdev cost`'s figures
    and the daemon's status give it the same way."""
    if not monthly or monthly <= 0:
        return None
    return {
        "monthly": monthly,
        "spent": round(spent, 4),
        "percent": round(100.0 * spent / monthly, 1),
    }


BUDGET_THRESHOLDS = (80, 100)  # percent of `[budget] monthly` that raise an event


def budget_due(spent: float, monthly: float | None, told: Iterable[int]) -> list[int]:
    """The thresholds (percent) that `spent` has reached and that were not told yet this month."""
    if not monthly or monthly <= 0:
        return []
    done = set(told)
    return [p for p in BUDGET_THRESHOLDS if p not in done and spent >= monthly * p / 100.0]
