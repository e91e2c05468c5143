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


# Moving data (docs/idle.md "Moving data") -------------------------------------------------------


def test_a_sustained_download_is_work_with_cpu_and_gpu_idle() -> None:
    # 60 MB/s in for 40 minutes at 3 % CPU, then the trickle of an open terminal.
    download = idle(range(40), cpu_pct=3.0, cpu_cores=0.1, net_rx_bps=60e6, net_tx_bps=2e5)
    after = idle(range(40, 90), net_rx_bps=900, net_tx_bps=700)
    assert actions(download + after) == [("warn", 65), ("stop", 70)]


def test_an_upload_and_a_disk_copy_are_work() -> None:
    upload = idle(range(40), net_rx_bps=3e4, net_tx_bps=5e6)
    assert actions(upload + idle(range(40, 90))) == [("warn", 65), ("stop", 70)]
    copy = idle(range(40), disk_bps=200e6)
    assert actions(copy + idle(range(40, 90), disk_bps=4e3)) == [("warn", 65), ("stop", 70)]
    signals = {d.signal for d in replay(upload[:2] + copy[:1], POLICY, include_keep=True)}
    assert "net" in signals


@pytest.mark.parametrize(
    ("rx", "tx"),
    [
        (66, 63),  # an idle SSH terminal (measured: docs/idle.md)
        (1072, 62),  # `top -d 3` in a terminal
        (1840, 197),  # a web UI polling a 3 kB status every 2 s through a tunnel
        (30_000, 10_000),  # ten times the busiest trickle measured
    ],
)
def test_the_trickle_of_an_open_ide_terminal_or_web_ui_is_not_work(rx: float, tx: float) -> None:
    samples = idle(range(40), ssh_connections=1, ide_clients=1, net_rx_bps=rx, net_tx_bps=tx)
    assert actions(samples) == [("warn", 25), ("stop", 30)]


def test_a_transfer_reason_names_the_rate() -> None:
    d = replay(idle(range(2), net_rx_bps=58.4e6), POLICY, include_keep=True)[-1]
    assert d.signal == "net" and "58.4 MB/s" in d.reason
    warn = replay(idle(range(30), net_rx_bps=1600, net_tx_bps=0), POLICY)[0]
    assert "network 1.6 kB/s" in warn.reason


def test_no_stop_while_a_transfer_reads_over_its_threshold() -> None:
    # 300 kB/s at the deadline's sample, after minutes of nothing: not sustained (the mean over
    # the smoothing window is low), so no work, but no stop on that sample either.
    quiet = {"net_rx_bps": 1000.0, "net_tx_bps": 500.0}
    samples = idle(range(30), **quiet) + [s(30, net_rx_bps=3e5)] + idle(range(31, 40), **quiet)
    assert actions(samples) == [("warn", 25), ("stop", 31)]


def test_thresholds_for_data_are_policy_settings() -> None:
    slow = idle(range(40), net_rx_bps=100e3)  # 100 kB/s: a slow upload from home
    assert actions(slow) == [("warn", 25), ("stop", 30)]
    assert actions(slow, Policy(net_threshold=50e3)) == []
    assert actions(idle(range(40), disk_bps=5e5), Policy(disk_threshold=1e5)) == []


def test_state_stored_before_data_rates_still_loads() -> None:
    old = {"last_t": T0, "last_status": "RUNNING", "recent": [[T0, 0.0, 1.0, 0.1]]}
    st = IdleState.from_json(old)
    assert st.recent == [(T0, 0.0, 1.0, 0.1, None, None)]
    step(s(1), POLICY, st)  # and the decision takes it


# Restarts, however seen ------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [(100, 40), (64, 5), (3600, 3599), (20, 0)])
def test_uptime_starting_over_at_any_value_is_a_restart(before: float, after: float) -> None:
    # Idle 20 minutes, then RunPod's uptime reads lower than the sample before, however little.
    first = [s(m, api_uptime_s=before - 60 * (20 - m)) for m in range(21)]
    then = [s(m, api_uptime_s=after + 60 * (m - 21)) for m in range(21, 60)]
    assert actions(first + then) == [("warn", 46), ("stop", 51)]
    reasons = [d.reason for d in replay(first + then, POLICY, include_keep=True)]
    assert "uptime started over" in reasons[21]


def test_an_uptime_that_stands_still_is_no_restart() -> None:
    # A stale poll repeats the same uptime: the countdown goes on.
    samples = [s(m, api_uptime_s=5000 + 60 * (m // 3)) for m in range(40)]
    assert actions(samples) == [("warn", 25), ("stop", 30)]


def test_a_resume_recorded_between_samples_gives_a_full_timeout() -> None:
    # rpdev asked RunPod to resume the pod (wake on connect, keep-alive, `rpdev resume`) and no
    # poll saw it stopped: the RESUMING sample the daemon records is a fresh start.
    resuming = Sample.from_json({"t": T0 + 60 * 20.5, "status": "RESUMING", "probe": "unreachable"})
    samples = [*idle(range(21)), resuming, *idle(range(21, 60))]
    assert actions(samples) == [("warn", 46), ("stop", 51)]


# A hold that ends --------------------------------------------------------------------------------


def test_a_hold_removed_after_hours_idle_is_warned_before_any_stop() -> None:
    held = idle(range(120), hold_until=FOREVER)
    got = actions(held + idle(range(120, 140)))
    assert got == [("warn", 120), ("stop", 125)]


def test_a_hold_cut_short_to_a_past_time_is_warned_before_any_stop() -> None:
    held = idle(range(60), hold_until=T0 + 60 * 180)
    cut = idle(range(60, 80), hold_until=T0 + 60 * 50)  # rewritten to a time already past
    assert actions(held + cut) == [("warn", 60), ("stop", 65)]


def test_a_hold_that_expires_between_samples_is_warned_first() -> None:
    # Samples every 10 minutes (a long probe interval): the hold ends between two of them.
    samples = [s(m, hold_until=T0 + 60 * 95) for m in range(0, 130, 10)]
    got = actions(samples, Policy(max_gap=900))
    assert got[0][0] == "warn" and got[1][0] == "stop" and got[1][1] - got[0][1] >= 5
