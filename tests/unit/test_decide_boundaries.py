"""The idle decision at its edges: each threshold and time limit on both sides, the words each
decision carries, and the state it hands to the next sample (docs/idle.md)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from rpdevd.activity.decide import Decision, IdleState, Policy, replay, step, stop_not_taken
from rpdevd.activity.samples import FOREVER, Sample

T0 = 1_790_000_000.0
POLICY = Policy()
# No gaps: samples may be far apart without being a gap, so one sample can land on an edge.
WIDE = Policy(max_gap=10_000.0)


def at(t: float, **kw: Any) -> Sample:
    base: dict[str, Any] = {
        "t": T0 + t,
        "status": "RUNNING",
        "probe": "ok",
        "gpus": [{"index": 0, "util": 0}],
        "cpu_pct": 1.0,
    }
    base.update(kw)
    return Sample.from_json(base)


def dark(t: float, **kw: Any) -> Sample:
    """A sample whose SSH probe failed: only RunPod's telemetry (given in kw) speaks."""
    return Sample.from_json({"t": T0 + t, "status": "RUNNING", "probe": "unreachable", **kw})


def run(samples: list[Sample], policy: Policy = POLICY) -> list[tuple[str, float]]:
    return [(d.action, d.t - T0) for d in replay(samples, policy)]


def every(seconds: float, until: float, **kw: Any) -> list[Sample]:
    return [at(i * seconds, **kw) for i in range(int(until // seconds) + 1)]


def last(samples: list[Sample], policy: Policy = POLICY) -> tuple[Decision, IdleState]:
    state = None
    for sample in samples:
        decision, state = step(sample, policy, state)
    assert state is not None
    return decision, state


def clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t))


# Thresholds: a reading at the threshold is work, just under it is not.


@pytest.mark.parametrize(
    ("kw", "busy"),
    [
        ({"gpus": [{"index": 0, "util": 10}]}, True),
        ({"gpus": [{"index": 0, "util": 9.9}]}, False),
        ({"cpu_pct": 20.0}, True),
        ({"cpu_pct": 19.9}, False),
        ({"cpu_pct": 5.0, "cpu_cores": 0.9}, True),
        ({"cpu_pct": 5.0, "cpu_cores": 0.89}, False),
    ],
)
def test_a_reading_at_the_threshold_is_work(kw: dict[str, Any], busy: bool) -> None:
    got = run(every(60, 2400, **kw))
    assert got == ([] if busy else [("warn", 1500), ("stop", 1800)])


def test_api_cpu_telemetry_keeps_an_unreachable_pod_running() -> None:
    """The probe is down and RunPod says the CPU is busy: a CPU-bound job, never stopped."""
    samples = every(60, 300) + [dark(60 * m, api_cpu_pct=95.0) for m in range(6, 120)]
    decisions = replay(samples, POLICY, include_keep=True)
    assert [d.action for d in decisions if d.action != "keep"] == []
    assert decisions[-1].signal == "api_cpu" and decisions[-1].idle_s == 0.0
    assert decisions[-1].reason == "CPU busy at 95%"


def test_api_cpu_telemetry_stands_in_for_a_probe_that_read_no_cpu() -> None:
    samples = [at(60 * m, gpus=[], cpu_pct=None, api_cpu_pct=80.0) for m in range(120)]
    assert run(samples) == []
    quiet = [at(60 * m, gpus=[], cpu_pct=None, api_cpu_pct=3.0) for m in range(40)]
    assert run(quiet) == [("warn", 1500), ("stop", 1800)]


def test_an_idle_unreachable_pod_is_judged_on_telemetry_and_says_so() -> None:
    samples = [
        dark(60 * m, api_gpu_util=[0], api_cpu_pct=2.0, probe_error="timed out") for m in range(26)
    ]
    decision, _ = last(samples)
    assert decision == Decision(
        T0 + 1500,
        "warn",
        "idle for 25m: GPU 0%, CPU 2%, from RunPod telemetry (timed out); "
        "stopping in 5m unless activity resumes",
        "idle",
        1500.0,
        T0 + 1800,
    )


# Time limits.


def test_samples_max_gap_apart_still_count_as_idle_time() -> None:
    assert run(every(300, 2400)) == [("warn", 1500), ("stop", 1800)]


def test_samples_just_over_max_gap_apart_never_accrue_idle_time() -> None:
    assert run(every(301, 30_000)) == []


def test_the_warning_comes_at_the_first_sample_within_warn_before_and_slack() -> None:
    # stop_at = 1800; warn from 1800 - 300 - 5 = 1495 on; the stop at 1800, not a second before.
    assert run([at(0), at(1494)], WIDE) == []
    assert run([at(0), at(1495)], WIDE) == [("warn", 1495)]
    assert run([at(0), at(1495), at(1799)], WIDE) == [("warn", 1495)]
    assert run([at(0), at(1495), at(1800)], WIDE) == [("warn", 1495), ("stop", 1800)]


def test_a_late_warning_still_gives_its_full_warn_before() -> None:
    decision, state = last([at(0), at(1700)], WIDE)
    assert (decision.action, decision.stop_at) == ("warn", T0 + 2000)
    assert (state.warned_at, state.warned_stop_at) == (T0 + 1700, T0 + 2000)
    assert decision.reason == (
        "idle for 28m20s: GPU 0%, CPU 1%; stopping in 5m unless activity resumes"
    )


def test_a_warning_within_the_slack_stops_at_the_deadline_itself() -> None:
    policy = Policy(warn_before=5.0, max_gap=10_000.0)
    assert run([at(0), at(1799)], policy) == [("warn", 1799)]
    assert run([at(0), at(1800)], policy) == [("stop", 1800)]
    decision, state = last([at(0), at(1800)], policy)
    assert decision == Decision(
        T0 + 1800, "stop", "idle for 30m: GPU 0%, CPU 1%", "idle", 1800.0, T0 + 1800
    )
    assert state.stopped and state.warned_at is None
    # A reading over a threshold on the deadline sample (not sustained): a warning, not a stop.
    loaded = [at(0), at(1500), at(1740), at(1800, cpu_pct=30.0)]
    assert run(loaded, policy) == [("warn", 1800)]


def test_a_moved_deadline_within_the_slack_keeps_the_warning() -> None:
    # The idle timeout grows by the slack (5 s) after the warning: the warning stands.
    state = None
    got = []
    for i, t in enumerate([0, 1500, 1560, 1800]):
        policy = WIDE if i < 2 else Policy(idle_timeout=1805.0, max_gap=10_000.0)
        decision, state = step(at(t), policy, state)
        got.append(decision.action)
    assert got == ["keep", "warn", "keep", "stop"]


def test_an_unknown_stretch_is_not_idle_time() -> None:
    samples = every(60, 600)  # 10 idle minutes
    samples += [dark(60 * m) for m in range(11, 21)]  # 10 unknown minutes
    samples += [at(60 * m) for m in range(21, 60)]
    assert run(samples) == [("unknown", 660), ("warn", 36 * 60), ("stop", 41 * 60)]
    decision, state = last(samples[:20])
    assert decision == Decision(
        T0 + 19 * 60,
        "keep",
        "activity unknown (SSH probe failed; RunPod reports no telemetry): not stopping",
        "unknown",
        600.0,
    )
    assert state.unknown and not state.prev_idle and state.warned_at is None


def test_unknown_words_name_why() -> None:
    decision, _ = last([at(0), dark(60, probe_error="connection refused")])
    assert decision == Decision(
        T0 + 60,
        "unknown",
        "activity unknown (connection refused; RunPod reports no telemetry): not stopping",
        "unknown",
        0.0,
    )


def test_uptime_standing_still_is_no_restart_but_any_step_back_is() -> None:
    ups = [at(60 * m, api_uptime_s=10_000.0 + 60 * m) for m in range(27)]
    stale = ups + [at(27 * 60, api_uptime_s=10_000.0 + 26 * 60)]
    assert run(stale) == [("warn", 1500)]
    restart = ups + [at(27 * 60, api_uptime_s=10_000.0 + 26 * 60 - 1)]
    assert run(restart) == [("warn", 1500), ("cancel", 1620)]
    decision, state = last(restart)
    assert decision.signal == "start" and decision.reason.endswith("pod started: full idle timeout")
    assert state.last_uptime == 10_000.0 + 26 * 60 - 1 and state.idle_s == 0.0
    # A sample without an uptime reading keeps the last one known.
    _, state = last(ups + [at(27 * 60)])
    assert state.last_uptime == 10_000.0 + 26 * 60


# The words and numbers of each decision.


def test_an_idle_period_reads_as_it_should() -> None:
    got = replay(every(60, 1920), POLICY, include_keep=True)
    assert got[0] == Decision(
        T0, "keep", "GPU 0%, CPU 1%; pod started: full idle timeout", "idle", 0.0, T0 + 1800
    )
    assert got[1] == Decision(T0 + 60, "keep", "GPU 0%, CPU 1%", "idle", 60.0, T0 + 1800)
    assert got[25] == Decision(
        T0 + 1500,
        "warn",
        "idle for 25m: GPU 0%, CPU 1%; stopping in 5m unless activity resumes",
        "idle",
        1500.0,
        T0 + 1800,
    )
    assert got[26] == Decision(T0 + 1560, "keep", "GPU 0%, CPU 1%", "idle", 1560.0, T0 + 1800)
    assert got[30] == Decision(
        T0 + 1800, "stop", "idle for 30m: GPU 0%, CPU 1%", "idle", 1800.0, T0 + 1800
    )
    assert got[31] == Decision(T0 + 1860, "keep", "stop already requested", "idle", 1860.0)


def test_a_stop_not_taken_warns_again_before_the_next_stop() -> None:
    """A stop the daemon did not carry out (the pod is not under idle-stop, a hold came at the
    deadline, RunPod did not answer) is handed back: the count goes on, with a new warning
    before a new stop, where the stop's own state would say "stop already requested"."""
    decision, stopped = last(every(60, 1800))
    assert decision.action == "stop" and stopped.stopped
    kept = stopped.to_json()
    state = stop_not_taken(stopped)
    assert stopped.to_json() == kept  # the stop's own state is left as it was
    assert not state.stopped and state.warned_at is None and state.warned_stop_at is None
    assert state.idle_s == 1800.0 and state.last_t == T0 + 1800
    got = []
    for sample in every(60, 2220)[31:]:
        decision, state = step(sample, POLICY, state)
        got.append((decision.action, decision.t - T0))
    assert [g for g in got if g[0] != "keep"] == [("warn", 1860.0), ("stop", 2160.0)]


def test_work_during_the_warning_cancels_it_and_resets_the_count() -> None:
    samples = every(60, 1560) + [at(1620, gpus=[{"index": 0, "util": 100}])]
    decision, state = last(samples + [at(1680, gpus=[{"index": 0, "util": 100}])])
    assert decision == Decision(T0 + 1680, "keep", "GPU busy at 100% (busiest GPU)", "gpu")
    edited = every(60, 1500) + [at(1560, local_edits=2)]
    decision, state = last(edited)
    assert (state.idle_s, state.prev_idle, state.warned_at, state.stopped) == (
        0.0,
        False,
        None,
        False,
    )
    assert state.warned_stop_at is None and not state.unknown
    assert decision == Decision(T0 + 1560, "cancel", "2 file(s) pushed by live sync", "local_edits")


def test_a_gap_is_named_and_the_count_goes_on_without_it() -> None:
    got = replay(every(60, 120) + every(60, 660)[10:], POLICY, include_keep=True)
    assert got[3] == Decision(
        T0 + 600,
        "keep",
        "GPU 0%, CPU 1%; samples resumed after a 8m gap",
        "idle",
        120.0,
        T0 + 2280,
    )
    assert got[4].idle_s == 180.0


def test_a_gap_during_a_warning_voids_it_and_warns_again() -> None:
    samples = every(60, 1560) + [at(1560 + 600 + 60 * m) for m in range(10)]
    got = run(samples)
    assert got[0] == ("warn", 1500)
    assert got[1] == ("warn", 2160)  # a new warning first: the old one may not have been seen
    assert got[2] == ("stop", 2160 + 300)


def test_hold_forever_words_and_state() -> None:
    decision, state = last(every(60, 1560) + [at(1620, hold_until=FOREVER)])
    assert decision == Decision(T0 + 1620, "cancel", "held until removed", "hold", 1620.0)
    assert state.warned_at is None and state.warned_stop_at is None and state.hold == FOREVER
    decision, _ = last(every(60, 60, hold_until=FOREVER))
    assert decision == Decision(T0 + 60, "keep", "held until removed", "hold", 60.0)


def test_a_timed_hold_names_its_end() -> None:
    hold = T0 + 3600
    got = replay(every(60, 3660, hold_until=hold), POLICY, include_keep=True)
    assert got[1] == Decision(
        T0 + 60, "keep", f"held until {clock(hold)}; GPU 0%, CPU 1%", "hold", 60.0, hold
    )
    warn = next(d for d in got if d.action == "warn")
    assert warn == Decision(
        T0 + 3300,
        "warn",
        f"hold ends at {clock(hold)}: GPU 0%, CPU 1%; stopping in 5m unless activity resumes",
        "hold",
        3300.0,
        hold,
    )
    stop = next(d for d in got if d.action == "stop")
    assert stop == Decision(
        T0 + 3600,
        "stop",
        f"hold ended at {clock(hold)}, idle for 1h: GPU 0%, CPU 1%",
        "idle",
        3600.0,
        T0 + 3600,
    )


def test_a_hold_ending_after_the_deadline_but_before_the_stop_is_named() -> None:
    hold = T0 + 1700.0
    decision, _ = last([at(t, hold_until=hold) for t in (0, 1500, 1800)], WIDE)
    assert decision.action == "stop"
    assert decision.reason == f"hold ended at {clock(hold)}, idle for 30m: GPU 0%, CPU 1%"


def test_a_hold_just_at_the_deadline_does_not_move_it() -> None:
    _, state = last([at(t, hold_until=T0 + 1800.0) for t in (0, 1500)], WIDE)
    assert state.warned_stop_at == T0 + 1800
    decision, _ = last([at(t, hold_until=T0 + 1801.0) for t in (0, 1500)], WIDE)
    assert (decision.signal, decision.stop_at) == ("hold", T0 + 1801)


def test_a_cancelled_warning_for_a_longer_timeout_says_why() -> None:
    state = None
    for t, policy in [
        (0, WIDE),
        (1500, WIDE),
        (1560, Policy(idle_timeout=3600.0, max_gap=10_000.0)),
    ]:
        decision, state = step(at(t), policy, state)
    assert decision == Decision(
        T0 + 1560, "cancel", "the idle timeout is longer now", "idle", 1560.0, T0 + 3600
    )


def test_load_on_the_stop_sample_keeps_the_pod_and_the_deadline() -> None:
    decision, state = last(every(60, 1740) + [at(1800, cpu_pct=60.0)])
    assert decision == Decision(
        T0 + 1800,
        "keep",
        "a reading is over its threshold: not stopping on it",
        "idle",
        1800.0,
        T0 + 1800,
    )
    assert state.warned_stop_at == T0 + 1800 and not state.stopped


def test_the_pod_stopping_is_named_and_resets_the_state() -> None:
    stopped = Sample.from_json({"t": T0 + 1560, "status": "EXITED", "probe": "unreachable"})
    decision, state = last(every(60, 1500) + [stopped])
    assert decision == Decision(T0 + 1560, "cancel", "pod is EXITED", "status")
    assert state == IdleState(last_t=T0 + 1560, last_status="EXITED")
    decision, _ = last([stopped])
    assert decision == Decision(T0 + 1560, "keep", "pod is EXITED", "status")


def test_a_clock_stepped_back_is_named_and_keeps_what_it_knew() -> None:
    hold = T0 + 99_999.0
    decision, state = last(every(60, 600, hold_until=hold) + [at(-60)])
    assert decision == Decision(
        T0 - 60, "keep", "the clock went back: idle time counted afresh", "clock"
    )
    assert state == IdleState(last_t=T0 - 60, last_status="RUNNING", hold=hold)
    decision, _ = last(every(60, 600) + [at(600 - 300)])
    assert decision.signal == "clock" and decision.reason.startswith("sample is not newer")
    assert decision == Decision(
        T0 + 300, "keep", "sample is not newer than the previous one: ignored", "clock", 600.0
    )
    decision, _ = last(every(60, 600) + [at(600 - 301)])
    assert decision.reason == "the clock went back: idle time counted afresh"


def test_a_warning_after_the_clock_went_back_is_withdrawn() -> None:
    decision, _ = last(every(60, 1560) + [at(0)])
    assert (decision.action, decision.signal) == ("cancel", "clock")


def test_typing_is_work_within_the_sample_interval_and_the_kernel_granularity() -> None:
    # The previous sample 60 s ago: input 67 s ago is within it (+8 s granularity), 68 s is not.
    assert last([at(0), at(60, ssh_input_idle_s=67)])[0].signal == "ssh_input"
    assert last([at(0), at(60, ssh_input_idle_s=68)])[0].signal == "idle"
    # After a gap (no interval known), a minute stands in for it.
    assert last([at(0, ssh_input_idle_s=67)])[0].signal == "ssh_input"
    assert last([at(0), at(120, ssh_input_idle_s=127)], WIDE)[0].signal == "ssh_input"


# Policy and state as data.


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"idle_timeout": 0, "warn_before": 0}, "policy.idle_timeout must be greater than zero"),
        ({"warn_before": 1800}, "policy.warn_before must be shorter than idle_timeout"),
        ({"slack": -1}, "policy.slack must be a non-negative number, not -1"),
        ({"max_gap": float("inf")}, "policy.max_gap must be a non-negative number, not inf"),
        ({"cpu_threshold": "5"}, "policy.cpu_threshold must be a non-negative number, not '5'"),
    ],
)
def test_policy_errors_name_the_setting(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        Policy(**kw)
    assert str(raised.value) == message


def test_zero_thresholds_are_allowed() -> None:
    assert Policy(gpu_util_threshold=0, slack=0, warn_before=0).thresholds.gpu_util == 0


def test_any_idle_timeout_over_zero_is_allowed() -> None:
    assert Policy(idle_timeout=0.5, warn_before=0.25).idle_timeout == 0.5


def test_thresholds_come_from_the_policy() -> None:
    th = Policy(
        gpu_util_threshold=1, cpu_threshold=2, cpu_cores_threshold=3, smoothing=4
    ).thresholds
    assert (th.gpu_util, th.cpu_pct, th.cpu_cores, th.smoothing) == (1, 2, 3, 4)


def test_state_round_trips_every_field() -> None:
    _, made = last(every(60, 120, cpu_cores=0.5))
    state = replace(
        made,
        last_uptime=99.0,
        idle_s=42.0,
        warned_at=T0 - 5,
        warned_stop_at=T0 + 295,
        stopped=True,
        unknown=True,
        hold=FOREVER,
    )
    data = state.to_json()
    assert data["recent"] == [list(lv) for lv in made.recent]
    assert IdleState.from_json(json.loads(json.dumps(data))) == state
    assert IdleState.from_json({**data, "hold": T0 + 1}).hold == T0 + 1


def test_state_fields_read_back_one_by_one() -> None:
    _, made = last(every(60, 120))
    good = made.to_json()
    level = good["recent"][-1]
    assert IdleState.from_json({**good, "last_status": 5}).last_status is None
    assert IdleState.from_json({**good, "prev_idle": 1}).prev_idle is False
    assert IdleState.from_json({**good, "stopped": "yes"}).stopped is False
    assert IdleState.from_json({**good, "unknown": 1}).unknown is False
    assert IdleState.from_json({**good, "last_uptime": -1}).last_uptime is None
    assert IdleState.from_json({**good, "idle_s": None}).idle_s == 0.0
    assert IdleState.from_json({**good, "warned_stop_at": -1}).warned_stop_at is None
    bad = [level, [T0], "x", ["t", *level[1:]], [T0 + 1, "a", *level[2:]]]
    got = IdleState.from_json({**good, "recent": bad}).recent
    assert got == [tuple(level), (T0 + 1, None, *level[2:])]
    many = [[T0 + i, *level[1:]] for i in range(600)]
    kept = IdleState.from_json({**good, "recent": many}).recent
    assert len(kept) == 512 and kept[0][0] == T0 + 88 and kept[-1][0] == T0 + 599
    assert IdleState.from_json({**good, "recent": None}).recent == []


def test_small_stored_numbers_read_back_and_negative_ones_do_not() -> None:
    _, made = last(every(60, 120))
    good = made.to_json()
    for name in ("last_t", "last_uptime", "idle_s", "warned_at", "warned_stop_at"):
        assert getattr(IdleState.from_json({**good, name: 0.5}), name) == 0.5, name
    assert IdleState.from_json({**good, "last_t": -1}).last_t is None
    assert IdleState.from_json({**good, "warned_at": -1}).warned_at is None
    assert IdleState.from_json({**good, "idle_s": -30}).idle_s == 0.0


def test_history_is_bounded_by_the_smoothing_window() -> None:
    _, state = last(every(60, 600))
    # Levels older than `smoothing` (300 s) are dropped; the current one is added.
    assert [lv[0] - T0 for lv in state.recent] == [300.0 + 60 * i for i in range(1, 6)]


def test_replay_hides_keeps_unless_asked() -> None:
    samples = every(60, 120)
    assert replay(samples, POLICY) == []
    assert len(replay(samples, POLICY, include_keep=True)) == 3


# Decisions that carry a note: the first sample after a start, a restart or a gap says so after
# its own words, whatever it decides.


def test_work_on_the_first_sample_names_the_start() -> None:
    decision, _ = last([at(0, cpu_pct=50.0)])
    assert decision == Decision(
        T0, "keep", "CPU busy at 50%; pod started: full idle timeout", "cpu"
    )


def test_an_unknown_first_sample_names_the_start() -> None:
    decision, state = last([dark(0)])
    assert decision == Decision(
        T0,
        "unknown",
        "activity unknown (SSH probe failed; RunPod reports no telemetry): not stopping; "
        "pod started: full idle timeout",
        "unknown",
    )
    assert state.unknown and not state.prev_idle


def test_holds_on_the_first_sample_name_the_start() -> None:
    decision, _ = last([at(0, hold_until=FOREVER)])
    assert decision == Decision(
        T0, "keep", "held until removed; pod started: full idle timeout", "hold"
    )
    hold = T0 + 7200.0
    decision, _ = last([at(0, hold_until=hold)])
    assert decision == Decision(
        T0,
        "keep",
        f"held until {clock(hold)}; GPU 0%, CPU 1%; pod started: full idle timeout",
        "hold",
        0.0,
        hold,
    )


def test_a_restart_between_two_samples_is_named() -> None:
    samples = [at(0, api_uptime_s=5000.0), at(60, api_uptime_s=30.0)]
    decision, state = last(samples)
    assert decision == Decision(
        T0 + 60,
        "keep",
        "GPU 0%, CPU 1%; RunPod's uptime started over (a restart between two samples); "
        "pod started: full idle timeout",
        "idle",
        0.0,
        T0 + 60 + 1800,
    )
    assert state.last_uptime == 30.0 and state.idle_s == 0.0


def test_a_stop_already_requested_stays_requested_across_a_gap() -> None:
    samples = every(60, 1800) + [at(1800 + 600)]
    decision, state = last(samples)
    assert decision == Decision(
        T0 + 2400,
        "keep",
        "stop already requested; samples resumed after a 10m gap",
        "idle",
        1800.0,
    )
    assert state.stopped


def test_a_warning_given_again_after_a_gap_names_the_gap() -> None:
    # Warned at 25 idle minutes, then 10 minutes without samples: the gap adds nothing, and the
    # warning is given again, with its full five minutes.
    decision, state = last(every(60, 1500) + [at(2100)])
    assert decision == Decision(
        T0 + 2100,
        "warn",
        "idle for 25m: GPU 0%, CPU 1%; stopping in 5m unless activity resumes; "
        "samples resumed after a 10m gap",
        "idle",
        1500.0,
        T0 + 2400,
    )
    assert (state.warned_at, state.warned_stop_at) == (T0 + 2100, T0 + 2400)


def test_a_stop_within_the_slack_after_a_gap_names_the_gap() -> None:
    # Load on the deadline sample turns the stop into a warning; after a gap the next quiet
    # sample is at the deadline already: with a warning shorter than the slack, it stops.
    policy = Policy(warn_before=5.0)
    samples = [at(60 * m) for m in range(30)] + [at(1800, cpu_pct=30.0), at(2400)]
    assert run(samples, policy) == [("warn", 1800), ("stop", 2400)]
    decision, state = last(samples, policy)
    assert decision == Decision(
        T0 + 2400,
        "stop",
        "idle for 30m: GPU 0%, CPU 1%; samples resumed after a 10m gap",
        "idle",
        1800.0,
        T0 + 2400,
    )
    assert state.stopped


# More edges of the state carried from sample to sample.


def test_a_sample_at_the_same_time_as_the_previous_one_is_ignored() -> None:
    decision, state = last([at(0), at(60), at(60, cpu_pct=90.0)])
    assert decision == Decision(
        T0 + 60, "keep", "sample is not newer than the previous one: ignored", "clock", 60.0
    )
    assert state.last_t == T0 + 60 and state.idle_s == 60.0


def test_step_never_changes_the_state_it_is_given() -> None:
    _, state = last(every(60, 120))
    before = state.to_json()
    step(at(180), POLICY, state)
    assert state.to_json() == before


def test_a_hold_read_before_a_restart_still_counts_while_the_pod_cannot_be_probed() -> None:
    samples = [
        at(0, hold_until=FOREVER, api_uptime_s=5000.0),
        dark(60, api_uptime_s=10.0, api_cpu_pct=1.0),
    ]
    decision, state = last(samples)
    assert decision == Decision(
        T0 + 60,
        "keep",
        "held until removed; RunPod's uptime started over (a restart between two samples); "
        "pod started: full idle timeout",
        "hold",
    )
    assert state.hold == FOREVER


def test_a_hold_set_while_the_pod_cannot_be_probed_counts() -> None:
    samples = [at(0)] + [dark(60 * m, api_cpu_pct=1.0, hold_until=FOREVER) for m in range(1, 40)]
    assert run(samples) == []
    decision, state = last(samples)
    assert (decision.signal, decision.reason) == ("hold", "held until removed")
    assert state.hold is None  # only a probe sets the pod's own hold


def test_after_a_gap_a_minute_stands_in_for_the_interval_when_judging_typing() -> None:
    # A keystroke 2 minutes ago, seen after a 10-minute gap: not within the last interval.
    decision, _ = last([at(0), at(600, ssh_input_idle_s=120)])
    assert decision.signal == "idle"
    decision, _ = last([at(0), at(600, ssh_input_idle_s=67)])
    assert decision.signal == "ssh_input"


def test_a_hold_that_moves_the_stop_past_a_warning_cancels_it_and_says_until_when() -> None:
    hold = T0 + 3600.0
    decision, state = last(every(60, 1500) + [at(1560, hold_until=hold)])
    assert decision == Decision(
        T0 + 1560, "cancel", f"held until {clock(hold)}", "hold", 1560.0, hold
    )
    assert state.warned_at is None and state.warned_stop_at is None


def test_a_stop_clears_the_warning_and_work_after_it_cancels_nothing() -> None:
    decision, state = last(every(60, 1800))
    assert decision.action == "stop" and state.stopped
    assert state.warned_at is None and state.warned_stop_at is None
    decision, state = last(every(60, 1800) + [at(1860, local_edits=1)])
    assert decision == Decision(T0 + 1860, "keep", "1 file(s) pushed by live sync", "local_edits")
    assert not state.stopped


def test_a_stop_within_the_slack_names_a_hold_that_ended() -> None:
    policy = Policy(warn_before=5.0, max_gap=10_000.0)
    hold = T0 + 1700.0
    decision, _ = last([at(t, hold_until=hold) for t in (0, 1500, 1800)], policy)
    assert decision == Decision(
        T0 + 1800,
        "stop",
        f"hold ended at {clock(hold)}, idle for 30m: GPU 0%, CPU 1%",
        "idle",
        1800.0,
        T0 + 1800,
    )


def test_a_stop_not_taken_clears_every_mark_of_the_stop_and_shares_nothing() -> None:
    """Whatever the stop's state held (a warning, its deadline), none of it survives, and the
    state handed back shares no list with it: stepping on never changes the stop's state."""
    _, stopped = last(every(60, 1800))
    marked = replace(stopped, warned_at=T0 + 1500, warned_stop_at=T0 + 1800)
    kept = marked.to_json()
    state = stop_not_taken(marked)
    assert state.stopped is False
    assert (state.warned_at, state.warned_stop_at) == (None, None)
    assert state.recent == marked.recent and state.recent is not marked.recent
    for sample in every(60, 2220)[31:]:
        _, state = step(sample, POLICY, state)
    assert marked.to_json() == kept
