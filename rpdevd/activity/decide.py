"""The idle-stop decision: a pure function of samples and a policy (docs/idle.md).

    decision, state = step(sample, policy, state)   # the daemon, once per sample
    decisions = replay(samples, policy)              # `rpdev idle replay`, tests

`state` is plain data (`IdleState.to_json()` / `from_json`) so the daemon can persist it and carry
an idle countdown across its own restarts. Actions:

- `warn`: the pod will be stopped in `warn_before` unless something happens (names the reason);
- `stop`: stop it now (emitted once per idle period; acting on it is the caller's job, and a
  stop the caller did not carry out is handed back through `stop_not_taken(state)`);
- `cancel`: a pending warning is void (activity, a hold, the pod stopped, or activity unknown);
- `unknown`: activity cannot be read any more (SSH down, no telemetry): nothing will be stopped;
- `keep`: nothing to do (replay hides these unless asked).

Idle time accrues only between two consecutive samples that both show an idle pod, at most
`max_gap` apart: a gap (laptop asleep, daemon down) and an unknown stretch are never idle time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from rpdevd.activity.samples import FOREVER, HoldUntil, Sample, hold_value, later_hold, num
from rpdevd.activity.signals import (
    DISK_BPS,
    NET_BPS,
    Assessment,
    Level,
    Signal,
    Thresholds,
    assess,
)
from rpdevd.durations import format_duration

Action = Literal["warn", "stop", "cancel", "unknown", "keep"]
ACTIONS: tuple[Action, ...] = get_args(Action)
# What drove a decision: an assessment's signal, or one of the decision's own reasons.
DecisionSignal = Signal | Literal["hold", "start", "status", "clock"]


@dataclass(frozen=True)
class Policy:
    idle_timeout: float = 1800.0
    warn_before: float = 300.0
    gpu_util_threshold: float = 10.0  # % on the busiest GPU
    cpu_threshold: float = 20.0  # % of the pod's CPUs
    cpu_cores_threshold: float = 0.9  # cores busy: one single-threaded job on a big pod is work
    net_threshold: float = NET_BPS  # bytes/s in+out: a transfer is work, an open IDE's trickle not
    disk_threshold: float = DISK_BPS  # bytes/s of block I/O
    smoothing: float = 300.0  # seconds of history that make a load "sustained"
    max_gap: float = 300.0  # a longer silence between samples is a gap, not idle time
    slack: float = 5.0  # seconds of scheduling jitter that still count as "on time"

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"policy.{name} must be a non-negative number, not {value!r}")
        if self.idle_timeout <= 0:
            raise ValueError("policy.idle_timeout must be greater than zero")
        if self.warn_before >= self.idle_timeout:
            raise ValueError("policy.warn_before must be shorter than idle_timeout")

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            self.gpu_util_threshold,
            self.cpu_threshold,
            self.cpu_cores_threshold,
            self.smoothing,
            self.net_threshold,
            self.disk_threshold,
        )


@dataclass(frozen=True)
class Decision:
    t: float  # the sample's time
    action: Action
    reason: str
    signal: DecisionSignal
    idle_s: float = 0.0  # idle time accrued so far
    stop_at: float | None = None  # when the pod would be stopped if nothing changes

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IdleState:
    last_t: float | None = None
    last_status: str | None = None
    last_uptime: float | None = None
    idle_s: float = 0.0
    prev_idle: bool = False  # the previous sample was a known-idle one
    warned_at: float | None = None
    warned_stop_at: float | None = None
    stopped: bool = False
    unknown: bool = False
    hold: HoldUntil = None  # last hold known from the pod, used while it cannot be probed
    recent: list[Level] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["recent"] = [list(x) for x in self.recent]
        return d

    @classmethod
    def from_json(cls, obj: Any) -> IdleState:
        """A state read back from the store; anything malformed gives a fresh state (a fresh
        state only ever delays a stop: it restarts the countdown)."""
        if not isinstance(obj, Mapping):
            return cls()
        try:
            status = obj.get("last_status")
            # Levels stored before data rates were sampled have 4 entries, not 6.
            recent = [
                (float(x[0]), *(num(v) for v in x[1:6]), *([None] * (6 - len(x))))
                for x in obj.get("recent") or []
                if isinstance(x, list) and len(x) in (4, 6) and num(x[0]) is not None
            ][-_MAX_RECENT:]
            return cls(
                last_t=num(obj.get("last_t"), lo=0),
                last_status=status if isinstance(status, str) else None,
                last_uptime=num(obj.get("last_uptime"), lo=0),
                idle_s=num(obj.get("idle_s"), lo=0) or 0.0,
                prev_idle=obj.get("prev_idle") is True,
                warned_at=num(obj.get("warned_at"), lo=0),
                warned_stop_at=num(obj.get("warned_stop_at"), lo=0),
                stopped=obj.get("stopped") is True,
                unknown=obj.get("unknown") is True,
                hold=hold_value(obj.get("hold")),
                recent=recent,  # type: ignore[arg-type]
            )
        except (TypeError, ValueError):
            return cls()


_MAX_RECENT = 512


def step(
    sample: Sample, policy: Policy, state: IdleState | None = None
) -> tuple[Decision, IdleState]:
    """Decide on one sample. Never mutates `state`; returns the decision and the next state."""
    prev = state if state is not None else IdleState()
    t = sample.t
    if prev.last_t is not None and t < prev.last_t - policy.max_gap:
        # The clock stepped back (NTP, a suspended laptop): ignoring every sample until it
        # catches up would hide work for that long. Start the count over, as after a gap;
        # a warning already given is withdrawn (a new one comes before any stop).
        fresh = IdleState(last_t=t, last_status=prev.last_status, hold=prev.hold)
        action: Action = "cancel" if prev.warned_at is not None else "keep"
        return Decision(t, action, "the clock went back: idle time counted afresh", "clock"), fresh
    if prev.last_t is not None and t <= prev.last_t:
        return Decision(
            t, "keep", "sample is not newer than the previous one: ignored", "clock", prev.idle_s
        ), prev
    st = replace(prev, recent=list(prev.recent))
    dt = t - prev.last_t if prev.last_t is not None else None
    gap = dt is not None and dt > policy.max_gap
    st.last_t = t
    warned = st.warned_at is not None

    if sample.status != "RUNNING":
        fresh = IdleState(last_t=t, last_status=sample.status)
        if warned:
            return Decision(t, "cancel", f"pod is {sample.status}", "status"), fresh
        return Decision(t, "keep", f"pod is {sample.status}", "status"), fresh

    uptime_over = _restarted(prev.last_uptime, sample.api_uptime_s)
    started = prev.last_status != "RUNNING" or uptime_over
    st.last_status = sample.status
    if sample.api_uptime_s is not None:
        st.last_uptime = sample.api_uptime_s
    notes = []
    if started:
        # A pod that just started or resumed (from anywhere) gets a full idle_timeout.
        st = IdleState(
            last_t=t, last_status=sample.status, last_uptime=st.last_uptime, hold=st.hold
        )
        warned = False
        if uptime_over and prev.last_status == "RUNNING":
            notes.append("RunPod's uptime started over (a restart between two samples)")
        notes.append("pod started: full idle timeout")
    elif gap:
        # A warning sent before the gap may never have been seen: warn again before any stop.
        assert dt is not None
        st.prev_idle = False
        st.warned_at = st.warned_stop_at = None
        notes.append(f"samples resumed after a {format_duration(dt)} gap")

    a = assess(sample, policy.thresholds, st.recent, None if (gap or started) else dt)
    st.recent = [lv for lv in st.recent if lv[0] > t - policy.smoothing][-_MAX_RECENT:]
    st.recent.append(a.level)
    if sample.probed:
        st.hold = sample.hold_until
    # While the pod cannot be probed, the hold last read from it still counts.
    hold = st.hold if sample.probed else later_hold(st.hold, sample.hold_until)

    if not a.known:
        decision, st = _unknown(st, a, t, warned, notes)
    elif a.active:
        st.unknown = False
        st.idle_s, st.prev_idle, st.stopped = 0.0, False, False
        st.warned_at = st.warned_stop_at = None
        action = "cancel" if warned else "keep"
        decision = Decision(t, action, _join(a.detail, notes), a.signal)
    else:
        st.unknown = False
        decision, st = _idle(st, a, policy, t, dt, gap or started, hold, notes)
    if started and prev.warned_at is not None and decision.action == "keep":
        # A restart between two samples voids the warning shown before it.
        decision = replace(decision, action="cancel", signal="start")
    return decision, st


def _idle(
    st: IdleState,
    a: Assessment,
    policy: Policy,
    t: float,
    dt: float | None,
    broken: bool,
    hold: HoldUntil,
    notes: list[str],
) -> tuple[Decision, IdleState]:
    if st.prev_idle and not broken and dt is not None:
        st.idle_s += dt
    st.prev_idle = True
    if st.stopped:
        return Decision(t, "keep", _join("stop already requested", notes), "idle", st.idle_s), st
    warned = st.warned_at is not None
    if hold == FOREVER:
        st.warned_at = st.warned_stop_at = None
        return Decision(
            t, "cancel" if warned else "keep", _join("held until removed", notes), "hold", st.idle_s
        ), st
    # The deadline before clamping to now: the same instant on every sample while nothing
    # changes, later when the idle timeout grows.
    deadline = t + policy.idle_timeout - st.idle_s
    stop_at = max(t, deadline)
    signal: DecisionSignal = "idle"
    if isinstance(hold, float) and hold > stop_at:
        stop_at, deadline, signal = hold, hold, "hold"
    if warned:
        assert st.warned_stop_at is not None
        if deadline > st.warned_stop_at + policy.slack:
            # A hold or a longer idle timeout moved the stop past the announced time: that
            # warning no longer holds (a new one comes before the new time).
            st.warned_at = st.warned_stop_at = None
            why = (
                f"held until {_clock(hold)}"
                if signal == "hold"
                else "the idle timeout is longer now"
            )
            return Decision(t, "cancel", _join(why, notes), signal, st.idle_s, stop_at), st
        # Never before the announced time (the daemon probes again right at it); late is fine.
        if t >= st.warned_stop_at:
            if not a.quiet:
                reason = "a reading is over its threshold: not stopping on it"
                return Decision(
                    t, "keep", _join(reason, notes), "idle", st.idle_s, st.warned_stop_at
                ), st
            st.stopped = True
            st.warned_at = st.warned_stop_at = None
            reason = _stop_reason(st.idle_s, hold, t, a.detail)
            return Decision(t, "stop", _join(reason, notes), signal, st.idle_s, t), st
        return Decision(t, "keep", _join(a.detail, notes), signal, st.idle_s, st.warned_stop_at), st
    if t >= stop_at - policy.warn_before - policy.slack:
        if policy.warn_before <= policy.slack and a.quiet and t >= stop_at:
            # A warning shorter than the scheduling slack could not be seen: stop at the
            # deadline itself, never earlier.
            st.stopped = True
            reason = _stop_reason(st.idle_s, hold, t, a.detail)
            return Decision(t, "stop", _join(reason, notes), signal, st.idle_s, t), st
        st.warned_at = t
        st.warned_stop_at = max(stop_at, t + policy.warn_before)
        left = format_duration(st.warned_stop_at - t)
        why = (
            f"hold ends at {_clock(hold)}"
            if signal == "hold"
            else f"idle for {format_duration(st.idle_s)}"
        )
        reason = f"{why}: {a.detail}; stopping in {left} unless activity resumes"
        return Decision(t, "warn", _join(reason, notes), signal, st.idle_s, st.warned_stop_at), st
    detail = a.detail if signal == "idle" else f"held until {_clock(hold)}; {a.detail}"
    return Decision(t, "keep", _join(detail, notes), signal, st.idle_s, stop_at), st


def _unknown(
    st: IdleState, a: Assessment, t: float, warned: bool, notes: list[str]
) -> tuple[Decision, IdleState]:
    # Unknown is not idle: no idle time accrues, no stop, and the user is told once.
    st.prev_idle = False
    st.warned_at = st.warned_stop_at = None
    reason = _join(f"activity unknown ({a.detail}): not stopping", notes)
    action: Action
    if warned:
        action = "cancel"
    elif not st.unknown:
        action = "unknown"
    else:
        action = "keep"
    st.unknown = True
    return Decision(t, action, reason, "unknown", st.idle_s), st


def stop_not_taken(state: IdleState) -> IdleState:
    """The state after a `stop` decision that was not carried out: the pod is not under
    idle-stop, a hold or a policy change came at the deadline, or RunPod did not stop it.

    A stop is decided once per idle period (`stopped`): without this, every later idle sample
    would keep saying "stop already requested" and no stop would come until the pod showed
    activity or started again. From here the countdown goes on, and a new warning comes before
    any stop. Never mutates `state`."""
    return replace(
        state, recent=list(state.recent), stopped=False, warned_at=None, warned_stop_at=None
    )


def replay(
    samples: Iterable[Sample], policy: Policy, *, include_keep: bool = False
) -> list[Decision]:
    """The daemon's decision over a whole trace, from a fresh state."""
    state: IdleState | None = None
    out = []
    for sample in samples:
        decision, state = step(sample, policy, state)
        if include_keep or decision.action != "keep":
            out.append(decision)
    return out


def _restarted(before: float | None, now: float | None) -> bool:
    # RunPod's container uptime going backwards, by any amount, means the pod restarted between
    # two samples (a stop and resume that no sample showed as EXITED: from RunPod's console, or
    # quicker than a poll). A reading that stands still (a stale poll) is no restart.
    return before is not None and now is not None and now < before


def _stop_reason(idle_s: float, hold: HoldUntil, t: float, detail: str) -> str:
    ended = f"hold ended at {_clock(hold)}, " if isinstance(hold, float) and hold <= t else ""
    return f"{ended}idle for {format_duration(idle_s)}: {detail}"


def _clock(hold: HoldUntil) -> str:
    import time

    if not isinstance(hold, float):
        return str(hold)
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(hold))


def _join(text: str, notes: list[str]) -> str:
    return "; ".join([text, *notes]) if notes else text
