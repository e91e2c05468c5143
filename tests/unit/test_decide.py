"""The idle decision on hand-made sample sequences: the rules one at a time."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from rpdevd.activity.decide import IdleState, Policy, replay, step
from rpdevd.activity.samples import FOREVER, Sample, iter_trace, load_trace
from rpdevd.activity.signals import assess

T0 = 1_790_000_000.0
POLICY = Policy()
OWN_TRACES = __import__("pathlib").Path(__file__).resolve().parents[1] / "traces"


def s(minute: float, **kw: Any) -> Sample:
    base: dict[str, Any] = {
        "t": T0 + 60 * minute,
        "status": "RUNNING",
        "probe": "ok",
        "gpus": [{"index": 0, "util": 0, "mem_used_mib": 0, "mem_total_mib": 24564}],
        "cpu_pct": 1.0,
    }
    base.update(kw)
    return Sample.from_json(base)


def idle(minutes: range, **kw: Any) -> list[Sample]:
    return [s(m, **kw) for m in minutes]


def actions(samples: list[Sample], policy: Policy = POLICY) -> list[tuple[str, float]]:
    return [(d.action, (d.t - T0) / 60) for d in replay(samples, policy)]


def test_idle_pod_warns_then_stops_after_the_timeout() -> None:
    assert actions(idle(range(40))) == [("warn", 25), ("stop", 30)]


def test_stop_is_emitted_once_per_idle_period() -> None:
    assert [a for a, _ in actions(idle(range(200)))] == ["warn", "stop"]


def test_state_survives_a_json_round_trip_each_sample() -> None:
    # The daemon persists the state after every sample; a restart must not change a decision.
    samples = load_trace(OWN_TRACES / "notebook-cells-then-memory-held.jsonl")
    state: IdleState | None = None
    got = []
    for sample in samples:
        decision, state = step(sample, POLICY, state)
        state = IdleState.from_json(json.loads(json.dumps(state.to_json())))
        if decision.action != "keep":
            got.append(decision)
    assert got == replay(samples, POLICY)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "x",
        {"idle_s": "lots", "recent": [[1, 2]]},
        {"last_t": float("nan"), "warned_at": -5},
    ],
)
def test_malformed_state_is_a_fresh_state(bad: Any) -> None:
    state = IdleState.from_json(bad)
    assert state.warned_at is None and state.idle_s >= 0
    decision, _ = step(s(0), POLICY, state)
    assert decision.action == "keep"


def test_a_sample_older_than_the_last_is_ignored() -> None:
    _, state = step(s(10), POLICY)
    decision, after = step(s(5), POLICY, state)
    assert decision.signal == "clock" and after == state


def test_a_clock_stepped_back_counts_idle_time_afresh() -> None:
    """An hour back, mid-warning: the work that follows is seen, and the stop comes a full
    timeout after the work ends, with a new warning (not the old one)."""
    samples = idle(range(27))  # warned at 25
    samples += [s(m - 60, gpus=[{"index": 0, "util": 100}]) for m in range(27, 80)]  # busy
    samples += idle(range(80 - 60, 130 - 60))
    got = [(d.action, round((d.t - T0) / 60)) for d in replay(samples, POLICY)]
    assert got[:2] == [("warn", 25), ("cancel", -33)]
    assert [a for a, _ in got[2:]] == ["warn", "stop"]
    assert got[-1][1] - got[-2][1] == 5 and got[-1][1] >= 20 + 30


def test_warn_before_zero_stops_without_a_warning() -> None:
    assert actions(idle(range(40)), Policy(warn_before=0)) == [("stop", 30)]


@pytest.mark.parametrize(
    "kw",
    [
        {"warn_before": 1800},
        {"idle_timeout": 0},
        {"gpu_util_threshold": -1},
        {"smoothing": math.nan},
    ],
)
def test_policy_refuses_nonsense(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Policy(**kw)


def test_hold_forever_set_after_the_warning_cancels_it() -> None:
    samples = idle(range(27)) + idle(range(27, 60), hold_until=FOREVER)
    assert actions(samples) == [("warn", 25), ("cancel", 27)]


def test_hold_extended_past_the_announced_stop_cancels_the_warning() -> None:
    samples = idle(range(27)) + idle(range(27, 90), hold_until=T0 + 60 * 70)
    assert actions(samples) == [("warn", 25), ("cancel", 27), ("warn", 65), ("stop", 70)]


def test_a_longer_idle_timeout_set_after_the_warning_cancels_it() -> None:
    """Raised from 30 to 60 minutes two minutes into the warning: no stop at minute 30."""
    state = None
    got = []
    for m in range(90):
        policy = POLICY if m < 27 else Policy(idle_timeout=3600.0)
        decision, state = step(s(m), policy, state)
        if decision.action != "keep":
            got.append((decision.action, m))
    assert got == [("warn", 25), ("cancel", 27), ("warn", 55), ("stop", 60)]


def test_expired_hold_does_not_keep_the_pod() -> None:
    assert actions(idle(range(40), hold_until=T0 - 60)) == [("warn", 25), ("stop", 30)]


def test_unreachable_uses_api_telemetry_when_present() -> None:
    dark = [
        Sample.from_json(
            {
                "t": T0 + 60 * m,
                "status": "RUNNING",
                "probe": "unreachable",
                "api_gpu_util": [0],
                "api_cpu_pct": 2,
            }
        )
        for m in range(40)
    ]
    assert actions(dark) == [("warn", 25), ("stop", 30)]
    busy = [
        Sample.from_json(
            {"t": T0 + 60 * m, "status": "RUNNING", "probe": "unreachable", "api_gpu_util": [0, 88]}
        )
        for m in range(60)
    ]
    assert actions(busy) == []


def test_unreachable_without_telemetry_is_unknown_and_cancels_a_warning() -> None:
    dark = [
        Sample.from_json(
            {"t": T0 + 60 * m, "status": "RUNNING", "probe": "unreachable", "api_gpu_util": [None]}
        )
        for m in range(27, 120)
    ]
    got = replay(idle(range(27)) + dark, POLICY)
    assert [(d.action, (d.t - T0) / 60) for d in got] == [("warn", 25), ("cancel", 27)]
    assert "unknown" in got[1].reason and got[1].signal == "unknown"


def test_hold_read_before_ssh_failed_still_counts() -> None:
    dark = [
        Sample.from_json(
            {"t": T0 + 60 * m, "status": "RUNNING", "probe": "unreachable", "api_gpu_util": [0]}
        )
        for m in range(10, 100)
    ]
    got = actions(idle(range(10), hold_until=T0 + 3600) + dark)
    assert got == [("warn", 55), ("stop", 60)]


def test_pod_stopped_elsewhere_cancels_a_pending_warning() -> None:
    stopped = [
        Sample.from_json({"t": T0 + 60 * m, "status": "EXITED", "probe": "unreachable"})
        for m in range(27, 40)
    ]
    assert actions(idle(range(27)) + stopped) == [("warn", 25), ("cancel", 27)]


def test_restart_seen_by_uptime_cancels_a_pending_warning() -> None:
    before = [s(m, api_uptime_s=3600 + 60 * m) for m in range(27)]
    after = [s(m, api_uptime_s=60 * (m - 27)) for m in range(27, 70)]
    assert actions(before + after) == [("warn", 25), ("cancel", 27), ("warn", 52), ("stop", 57)]


def test_no_stop_on_a_sample_that_shows_load() -> None:
    # A one-sample CPU burst is not sustained work, but the stop waits for a quiet sample.
    samples = idle(range(30)) + [s(30, cpu_pct=60.0)] + idle(range(31, 40))
    assert actions(samples) == [("warn", 25), ("stop", 31)]


def test_busiest_gpu_counts_not_the_mean() -> None:
    gpus = [{"index": i, "util": 90 if i == 7 else 0} for i in range(8)]
    assert actions(idle(range(60), gpus=gpus)) == []


def test_held_gpu_memory_without_compute_is_not_work() -> None:
    gpus = [{"index": 0, "util": 0, "mem_used_mib": 70000, "mem_total_mib": 81559}]
    procs = [{"pid": 9, "name": "python3", "mem_mib": 70000}]
    assert actions(idle(range(40), gpus=gpus, gpu_procs=procs)) == [("warn", 25), ("stop", 30)]


def test_open_connections_and_ide_alone_are_not_work() -> None:
    samples = idle(range(40), ssh_connections=3, ssh_sessions=2, ide_clients=2)
    assert actions(samples) == [("warn", 25), ("stop", 30)]


def test_typing_in_a_terminal_is_work() -> None:
    samples = idle(range(60), ssh_sessions=1, ssh_connections=1, ssh_input_idle_s=20)
    assert actions(samples) == []


def test_local_edits_without_ssh_are_work() -> None:
    samples = [s(m, local_edits=1 if m % 20 == 0 else 0) for m in range(120)]
    assert actions(samples) == []


def test_probe_without_any_load_reading_is_unknown() -> None:
    got = actions(idle(range(60), gpus=[], cpu_pct=None))
    assert got == [("unknown", 0)]


def test_sustained_load_is_work_but_a_steady_low_one_is_not() -> None:
    from rpdevd.activity.signals import Thresholds

    th = Thresholds(10, 20, 0.9, 300)
    history = [(T0 + 60 * i, 0.0, 10.0, 0.2) for i in range(4)]
    low = assess(s(4, cpu_pct=12.0), th, history, 60)
    blip = assess(s(4, cpu_pct=35.0), th, history, 60)
    sustained = assess(s(4, cpu_pct=35.0), th, [(h[0], 0.0, 35.0, 0.7) for h in history], 60)
    assert (low.active, blip.active, sustained.active) == (False, False, True)
    assert not blip.quiet and sustained.signal == "cpu"


def test_one_core_busy_on_a_big_pod_is_work() -> None:
    assert actions(idle(range(60), cpu_pct=6.2, cpu_cores=1.0)) == []


# Hostile and malformed samples: bad fields become unknown, never "idle" by accident.


def test_bad_field_values_are_unknown_not_zero() -> None:
    sample = Sample.from_json(
        {
            "t": T0,
            "status": "RUNNING\n",
            "probe": "ok",
            "gpus": [{"index": True, "util": "97"}, {"util": float("nan")}, "x", {"util": 250}],
            "gpu_procs": [{"pid": 1, "name": "evil\nname", "mem_mib": -4}],
            "cpu_pct": True,
            "ssh_sessions": -3,
            "ssh_connections": 1e300,
            "ide_clients": "2",
            "hold_until": "tomorrow",
            "local_edits": float("inf"),
            "zzz": 1,
        }
    )
    assert [g.util for g in sample.gpus] == [None, None, None]
    assert sample.cpu_pct is None and sample.ssh_sessions == 0 and sample.ide_clients == 0
    assert sample.hold_until is None and sample.local_edits == 0
    assert "\n" not in sample.gpu_procs[0].name and sample.gpu_procs[0].mem_mib is None
    assert sample.extra == {"zzz": 1} and sample.to_json()["zzz"] == 1


def test_trace_errors_name_the_line() -> None:
    with pytest.raises(ValueError, match="trace:2"):
        list(iter_trace(['{"t": 1}', "{not json", '{"t": 2}']))
    with pytest.raises(ValueError, match="trace:1"):
        list(iter_trace(['{"status": "RUNNING"}']))
    assert len(list(iter_trace(["", "# comment", '{"t": 5}']))) == 1


def test_sample_round_trips_through_json() -> None:
    line = (
        '{"t": 1800000060.0, "status": "RUNNING", "probe": "ok", "gpus": [{"index": 0, '
        '"util": 97, "mem_used_mib": 60000, "mem_total_mib": 81559}], "gpu_procs": '
        '[{"pid": 447, "name": "python3", "mem_mib": 60000}], "cpu_pct": 41.5, '
        '"ssh_sessions": 0, "ssh_connections": 0, "ide_clients": 0, "hold_until": null, '
        '"local_edits": 0}'
    )
    sample = Sample.from_json(json.loads(line))
    assert sample.to_json() == json.loads(line)
    assert Sample.from_json(sample.to_json()) == sample


def test_cli_replay_reports_a_bad_trace(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from rpdevd.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1}\n[1, 2]\n')
    assert main(["idle", "replay", str(bad)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert main(["idle", "replay", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["idle", "replay", str(bad), "--idle-timeout", "soon"]) == 2
