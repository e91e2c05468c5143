"""Every shared trace and every scenario trace of tests/traces gives its expected outcome."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rpdevd.activity.decide import Decision, Policy, replay
from rpdevd.activity.samples import load_trace

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "tests" / "traces" / "shared"  # the team's example traces, kept here
OWN = REPO / "tests" / "traces"
EXPECTED = {
    k: v
    for k, v in json.loads((OWN / "expected.json").read_text()).items()
    if not k.startswith("_")
}


def outcome(path: Path) -> list[tuple[str, float]]:
    samples = load_trace(path)
    t0 = samples[0].t
    return [(d.action, (d.t - t0) / 60) for d in replay(samples, Policy())]


def shared(name: str) -> Path:
    return SHARED / name


def test_training_then_idle_warns_at_145_and_stops_at_150() -> None:
    assert outcome(shared("training-then-idle.jsonl")) == [("warn", 145), ("stop", 150)]


def test_window_left_open_after_editing_stops_about_minute_70() -> None:
    got = outcome(shared("editing-then-window-left-open.jsonl"))
    assert [a for a, _ in got] == ["warn", "stop"]
    warn, stop = got[0][1], got[1][1]
    assert 68 <= stop <= 72 and stop - warn == 5


def test_held_pod_is_not_stopped_before_the_hold_ends() -> None:
    got = outcome(shared("held-while-idle.jsonl"))
    assert all(m >= 120 for a, m in got if a == "stop")
    assert got == [("warn", 115), ("stop", 120)]


def test_unreachable_while_api_shows_busy_never_stops() -> None:
    assert outcome(shared("unreachable-while-busy.jsonl")) == []


def test_a_download_with_the_cpu_nearly_idle_is_work_until_it_ends() -> None:
    # ~60 MB/s until minute 35 at 3 % CPU: stop at about 65, warning at 60, never mid-download.
    assert outcome(shared("download-then-idle.jsonl")) == [("warn", 60), ("stop", 65)]


def test_a_restart_seen_only_by_uptime_gives_a_full_timeout() -> None:
    got = outcome(shared("restart-seen-only-by-uptime.jsonl"))
    assert [a for a, _ in got] == ["warn", "stop"]
    assert all(m >= 50 for a, m in got if a == "stop")


def test_every_shared_trace_is_kept_and_checked_here() -> None:
    checked = {
        "training-then-idle",
        "editing-then-window-left-open",
        "held-while-idle",
        "unreachable-while-busy",
        "download-then-idle",
        "restart-seen-only-by-uptime",
    }
    assert {p.stem for p in SHARED.glob("*.jsonl")} == checked


def test_every_scenario_trace_has_an_expected_outcome() -> None:
    traces = {p.stem for p in OWN.glob("*.jsonl")}
    assert traces == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_trace(name: str) -> None:
    assert outcome(OWN / f"{name}.jsonl") == [(a, float(m)) for a, m in EXPECTED[name]]


def test_every_decision_names_its_signal_and_reason() -> None:
    for path in [*OWN.glob("*.jsonl"), *SHARED.glob("*.jsonl")]:
        for d in replay(load_trace(path), Policy(), include_keep=True):
            assert d.signal and d.reason, (path.name, d)


def test_stop_reason_names_what_is_open_but_idle() -> None:
    decisions = replay(load_trace(OWN / "notebook-cells-then-memory-held.jsonl"), Policy())
    warn = decisions[0]
    assert warn.action == "warn" and "without compute" in warn.reason
    assert "IDE client" in warn.reason and "stopping in 5m" in warn.reason


def test_cli_replay_prints_one_json_line_per_decision() -> None:
    path = shared("training-then-idle.jsonl")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rpdevd.cli",
            "idle",
            "replay",
            str(path),
            "--idle-timeout",
            "30m",
            "--warn-before",
            "5m",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    expected = [d.to_json() for d in replay(load_trace(path), Policy())]
    assert lines == expected
    assert {"t", "action", "reason"} <= set(lines[0])


def test_cli_replay_policy_options_change_the_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    from rpdevd.cli import main

    assert (
        main(
            [
                "idle",
                "replay",
                str(shared("training-then-idle.jsonl")),
                "--idle-timeout",
                "1h",
                "--warn-before",
                "10m",
            ]
        )
        == 0
    )
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    t0 = load_trace(shared("training-then-idle.jsonl"))[0].t
    assert [(d["action"], (d["t"] - t0) / 60) for d in got] == [("warn", 170), ("stop", 180)]


def test_decision_json_round_trip() -> None:
    d = Decision(1.0, "warn", "r", "idle", 2.0, 3.0)
    assert Decision(**d.to_json()) == d


def test_cli_replay_takes_the_data_thresholds(capsys: pytest.CaptureFixture[str]) -> None:
    from rpdevd.cli import main

    path = str(shared("download-then-idle.jsonl"))
    # At 100 MB/s a 60 MB/s download no longer counts: warned at 25, stopped at 30.
    assert main(["idle", "replay", path, "--net-threshold", "100MB/s"]) == 0
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    t0 = load_trace(path)[0].t
    assert [(d["action"], (d["t"] - t0) / 60) for d in got] == [("warn", 25), ("stop", 30)]
    assert main(["idle", "replay", path, "--disk-threshold", "fast"]) == 2
    assert "not a data rate" in capsys.readouterr().err
