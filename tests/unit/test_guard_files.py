"""The daemon's side of the guard, pure: its config, heartbeat and log as text."""

from __future__ import annotations

from rpdevd.activity.decide import Policy
from rpdevd.activity.guard import (
    GuardEntry,
    GuardSettings,
    beat_command,
    install_script,
    new_stops,
    parse_beat,
    parse_log,
    render_config,
)
from rpdevd.config import parse_config

SETTINGS = GuardSettings(
    workspace="/workspace",
    policy=Policy(idle_timeout=1800, warn_before=300),
    guard_after=600,
    interval=60,
)


def test_config_hands_over_the_policy_and_a_hold_as_seconds_left() -> None:
    text = render_config(GuardSettings(**{**SETTINGS.__dict__, "hold": 1000.0 + 7200}), 1000.0)
    values = dict(line.split(" ", 1) for line in text.splitlines())
    assert values["idle_timeout"] == "1800" and values["warn_before"] == "300"
    assert values["net_bps"] == "250000" and values["guard_after"] == "600"
    assert values["hold_left"] == "7200"
    forever = render_config(GuardSettings(**{**SETTINGS.__dict__, "hold": "forever"}), 0.0)
    assert "hold forever\n" in forever


def test_a_hostile_workspace_cannot_break_out_of_its_quotes_or_lines() -> None:
    ws = "/w'; rm -rf / #"
    assert "'/w'\"'\"'; rm -rf / #/.rpdev/guard'" in beat_command(ws, 3.0)
    try:
        render_config(GuardSettings(**{**SETTINGS.__dict__, "workspace": "/w\nhold forever"}), 0)
    except ValueError:
        pass
    else:
        raise AssertionError("a line break in a config value was accepted")


def test_install_script_carries_the_key_of_nobody() -> None:
    script = install_script(SETTINGS, 0.0)
    assert "RUNPOD_API_KEY=" not in script.replace("RUNPOD_API_KEY=$key", "")
    assert 'guard.sh" start' in script


def test_the_heartbeat_reply() -> None:
    assert parse_beat("guard running 120\n") is not None
    reply = parse_beat("motd\nguard absent 0\n")
    assert reply is not None and not reply.running
    assert parse_beat("junk") is None


def test_each_stop_is_reported_once_and_a_failed_one_never() -> None:
    log = (
        "100\tstart\t-\t-\tguard started\n"
        "200\ttakeover\t-\t-\tstale\n"
        "260\twarn\t150\t560\tidle\n"
        "560\tstop\t150\t560\tstopped by its guard\n"
        "561\tstop_failed\t150\t-\tHTTP 500\n"
        "620\tstop\t150\t620\tstopped by its guard\n"
        "cut line\n"
        "700\tbogus\t-\t-\tx\n"
    )
    entries = parse_log(log)
    assert [e.action for e in entries] == [
        "start",
        "takeover",
        "warn",
        "stop",
        "stop_failed",
        "stop",
    ]
    stops = new_stops(entries, None)
    assert [(s.t, s.idle_since) for s in stops] == [(620.0, 150.0)]
    assert new_stops(entries, 620.0) == []
    assert new_stops([GuardEntry(5.0, "stop", None, None, "")], 4.0)[0].t == 5.0


def test_config_accepts_short_guard_values_and_guard_false() -> None:
    config = parse_config(
        'guard_after = "5s"\n[[pod]]\nname = "a"\npolicy = "idle-stop"\nguard = false\n'
        '[[pod]]\nname = "b"\nguard_after = "2s"\n'
    )
    assert config.guard_after == 5.0
    assert (config.pods[0].guard, config.pods[0].guard_after) == (False, 5.0)
    assert (config.pods[1].guard, config.pods[1].guard_after) == (True, 2.0)
