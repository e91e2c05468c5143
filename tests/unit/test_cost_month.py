"""`rpdev cost`'s figures: a month's running hours, spend and idle-stop savings per pod, cut at
the month's edges (local time), and the budget thresholds told once each."""

import datetime as dt

import pytest

from rpdevd.ledger import (
    SAVING_CAP,
    PodCostInput,
    PodLedger,
    budget_due,
    month_bounds,
    month_of,
    month_report,
    parse_month,
)

H = 3600.0
MARCH = dt.datetime(2026, 3, 1).timestamp()
APRIL = dt.datetime(2026, 4, 1).timestamp()


def test_months_are_local_calendar_months() -> None:
    assert month_bounds("2026-03") == (MARCH, APRIL)
    assert month_bounds("2026-12")[1] == dt.datetime(2027, 1, 1).timestamp()
    assert month_of(APRIL - 1) == "2026-03" and month_of(APRIL) == "2026-04"
    assert parse_month(" 2026-03 ") == "2026-03"


@pytest.mark.parametrize("text", ["2026-3", "2026-13", "2026-00", "26-03", "March", "2026/03", ""])
def test_a_month_that_is_not_yyyy_mm_is_refused_with_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(text)


def test_running_time_across_the_months_edges_counts_inside_only() -> None:
    led = PodLedger()
    led.started(MARCH - 2 * H)  # from 22:00 on the last day of February
    led.ended(MARCH + 3 * H)  # to 03:00 on March 1st: 3 h in March
    led.started(APRIL - 1 * H)  # running into April: 1 h in March, until now
    now = APRIL + 5 * H
    pod = PodCostInput("abc", "trainer", led, 2.0)
    march = month_report([pod], "2026-03", now)
    assert march["pods"] == [
        {
            "id": "abc",
            "name": "trainer",
            "managed": True,
            "cost_per_hr": 2.0,
            "hours": 4.0,
            "spend": 8.0,
            "saved_hours": 0.0,
            "saved": 0.0,
        }
    ]
    assert march["total"] == {"hours": 4.0, "spend": 8.0, "saved_hours": 0.0, "saved": 0.0}
    assert not march["current"]
    april = month_report([pod], "2026-04", now)
    assert april["current"] and april["pods"][0]["hours"] == 5.0
    assert month_report([pod], "2026-02", now)["pods"][0]["hours"] == 2.0


def test_a_saving_counts_in_the_month_it_falls_in_capped_per_stop() -> None:
    led = PodLedger()
    led.started(APRIL - 10 * H)
    led.ended(APRIL - 4 * H)
    led.idle_stopped(APRIL - 4 * H, 3.0)  # not started again: the cap ends it at 08:00 April 1st
    now = APRIL + 48 * H
    pod = PodCostInput("abc", "trainer", led, 3.0)
    march = month_report([pod], "2026-03", now)["pods"][0]
    april = month_report([pod], "2026-04", now)["pods"][0]
    assert (march["saved_hours"], march["saved"]) == (4.0, 12.0)
    assert (april["saved_hours"], april["saved"]) == (SAVING_CAP / H - 4.0, 24.0)
    assert april["hours"] == 0.0  # kept stopped the whole time: listed for the saving alone


def test_pods_with_nothing_in_the_month_are_left_out_and_the_dearest_comes_first() -> None:
    idle, cheap, dear = PodLedger(), PodLedger(), PodLedger()
    cheap.started(MARCH + H)
    cheap.ended(MARCH + 3 * H)
    dear.started(MARCH + H)
    dear.ended(MARCH + 2 * H)
    pods = [
        PodCostInput("a", "idle", idle, 9.0),
        PodCostInput("b", "cheap", cheap, 0.5),
        PodCostInput("c", "dear", dear, 4.0, managed=False),
        PodCostInput("d", "no price", cheap, None),
    ]
    report = month_report(pods, "2026-03", APRIL)
    assert [(p["name"], p["spend"]) for p in report["pods"]] == [
        ("dear", 4.0),
        ("cheap", 1.0),
        ("no price", 0.0),
    ]
    assert report["total"]["spend"] == 5.0 and report["total"]["hours"] == 5.0
    assert report["budget"] is None
    with_budget = month_report(pods, "2026-03", APRIL, budget=20.0)
    assert with_budget["budget"] == {"monthly": 20.0, "spent": 5.0, "percent": 25.0}


def test_budget_thresholds_are_told_once_each_and_only_when_reached() -> None:
    assert budget_due(159.99, 200.0, []) == []
    assert budget_due(160.0, 200.0, []) == [80]
    assert budget_due(170.0, 200.0, [80]) == []
    assert budget_due(200.0, 200.0, [80]) == [100]
    assert budget_due(500.0, 200.0, []) == [80, 100]  # both at once after a long gap
    assert budget_due(500.0, 200.0, [80, 100]) == []
    assert budget_due(500.0, None, []) == [] and budget_due(500.0, 0.0, []) == []
