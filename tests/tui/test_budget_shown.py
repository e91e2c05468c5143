"""Money in the TUI: the month's spend against `[budget] monthly` in the status line (nothing
about a budget when none is set), refreshed when a budget event comes and said as an alert; a
spot pod's max_bid in its detail."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import Static

from rpdevd.protocol import Event
from tests.tui.conftest import until
from tests.tui.fixtures import BUDGET, NOW, answers
from tui.app import RpdevApp
from tui.connection import DaemonEvent
from tui.widgets.pod_table import PodTable
from tui.widgets.status_line import StatusLine

TRAINER = "k7trainer00001"
SPOT = "sp0trunner0003"


def make_app(ans: dict[str, Any]) -> RpdevApp:
    app = RpdevApp(static=ans, clock=lambda: NOW)
    app.localtime = time.gmtime
    return app


def plain(box: Static) -> str:
    content = box.content
    return content.plain if isinstance(content, Text) else str(content)


async def test_the_status_line_shows_the_months_spend_against_the_budget() -> None:
    app = make_app(answers(budget=BUDGET))
    async with app.run_test(size=(160, 36)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, "first load")
        assert "$123.40 of $200 this month (62 %)" in app.query_one(StatusLine).text


async def test_without_a_budget_nothing_about_one_is_shown() -> None:
    app = make_app(answers())
    async with app.run_test(size=(160, 36)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, "first load")
        line = app.query_one(StatusLine).text
        assert "managed" in line
        assert "this month" not in line and "$" not in line, line


async def test_a_budget_event_refreshes_the_line_and_is_said_as_an_alert() -> None:
    ans = answers(budget=BUDGET)
    app = make_app(ans)
    async with app.run_test(size=(160, 36)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, "first load")
        over = {**BUDGET, "spent": 201.5, "percent": 100.8, "told": [80, 100]}
        ans["status"]["budget"] = over  # what the daemon answers from now on
        message = "2027-01: $201.50 spent, over the monthly budget of $200.00"
        app.post_message(
            DaemonEvent(
                Event(
                    "budget.exceeded",
                    message,
                    None,
                    "error",
                    {"month": "2027-01", "spent": 201.5, "monthly": 200.0, "percent": 100},
                    t=NOW,
                    seq=9,
                )
            )
        )
        await until(
            pilot,
            lambda: "$201.50 of $200 this month (101 %)" in app.query_one(StatusLine).text,
            "the line refreshed",
        )
        assert ("error", message) in app.notices


async def test_a_spot_pods_max_bid_is_in_its_detail_and_absent_without_one() -> None:
    app = make_app(answers())
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, "first load")
        head = app.query_one("#detail-head", Static)
        table = app.query_one(PodTable)
        table.select(SPOT)
        await until(pilot, lambda: "spot-runner" in plain(head), "the spot pod's detail")
        assert "spot  max bid $0.45/GPU/h" in plain(head)
        table.select(TRAINER)
        await until(pilot, lambda: "trainer" in plain(head), "the trainer's detail")
        assert "max bid" not in plain(head)
