"""The cost ledger: spend from running intervals, and what idle-stop saved (as defined)."""

import datetime as dt

from rpdevd.ledger import SAVING_CAP, PodLedger, saved, spend, summary

NOON = dt.datetime(2026, 11, 27, 12, 0).timestamp()
H = 3600.0


def test_spend_counts_running_time_inside_the_window() -> None:
    led = PodLedger()
    led.started(NOON - 14 * H)  # since 22:00 yesterday
    led.ended(NOON - 10 * H)  # 02:00 today
    led.started(NOON - 1 * H)  # still running
    day = dt.datetime(2026, 11, 27).timestamp()
    assert spend(led, 2.0, day, NOON) == (2 + 1) * 2.0
    assert spend(led, None, day, NOON) == 0.0
    assert led.running


def test_started_and_ended_are_idempotent() -> None:
    led = PodLedger()
    led.started(100.0)
    led.started(200.0)
    led.ended(300.0)
    led.ended(400.0)
    assert led.intervals == [[100.0, 300.0]]


def test_saving_runs_until_next_start_capped() -> None:
    led = PodLedger()
    led.started(NOON - 10 * H)
    led.ended(NOON - 8 * H)
    led.idle_stopped(NOON - 8 * H, 3.0)
    led.started(NOON - 5 * H)  # the user came back 3 h later
    hours, dollars = saved(led, NOON - 24 * H, NOON)
    assert (hours, dollars) == (3.0, 9.0)
    led.ended(NOON - 4 * H)
    led.idle_stopped(NOON - 4 * H, 3.0)  # not resumed since: counts until now (4 h)
    assert saved(led, NOON - 24 * H, NOON) == (7.0, 21.0)
    hours, _ = saved(led, NOON - 24 * H, NOON + 48 * H)
    assert hours == 3.0 + SAVING_CAP / H


def test_json_roundtrip_and_garbage() -> None:
    led = PodLedger()
    led.started(1.0)
    led.idle_stopped(2.0, 1.5)
    assert PodLedger.from_json(led.to_json()) == led
    bad = PodLedger.from_json({"intervals": [["x", 1], [1]], "idle_stops": [[1, "a"]]})
    assert bad == PodLedger()
    assert PodLedger.from_json(None) == PodLedger()


def test_summary_fields() -> None:
    led = PodLedger()
    led.started(NOON - H)
    s = summary(led, 1.0, NOON)
    assert s["spend_today"] == 1.0 and s["spend_month"] == 1.0 and s["saved_month"] == 0.0
