"""What the TUI looks like, pinned: main screen, detail pane, an idle warning, 80x24, light, the
budget in the status line.

Fixed data and a fixed clock (no daemon), so the pictures change only when the look does.
Update after an intended change: `pytest tests/tui/test_snapshots.py --snapshot-update`, then
look at the SVGs in tests/tui/__snapshots__/.
"""

from __future__ import annotations

import time
from typing import Any

from rpdevd.protocol import Event
from tests.tui.conftest import until
from tests.tui.fixtures import BUDGET, NOW, answers
from tui.app import RpdevApp
from tui.connection import DaemonEvent
from tui.widgets.pod_table import PodTable


def make_app(**kw: Any) -> RpdevApp:
    app = RpdevApp(static=answers(), clock=lambda: NOW, **kw)
    app.localtime = time.gmtime
    return app


def select(pod_id: str | None = None, warn: bool = False) -> Any:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await until(pilot, lambda: app.refreshes > 0, "first load")
        if pod_id:
            app.query_one(PodTable).select(pod_id)
            await until(pilot, lambda: app.samples.get(pod_id) is not None, "samples")
        await until(pilot, lambda: any(app.events.values()), "history")
        if warn:
            app.post_message(
                DaemonEvent(
                    Event(
                        "idle.warn",
                        "notebook: idle, stops in 4:00",
                        "n0tebook000002",
                        "warning",
                        {"stop_at": NOW + 240, "reason": "no GPU, CPU or SSH activity for 25m"},
                        t=NOW - 60,
                        seq=5,
                    )
                )
            )
            await until(pilot, lambda: app.warned, "warning")
        await pilot.pause(0.2)

    return run_before


def test_main_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(130, 32), run_before=select())


def test_detail_pane(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(110, 44), run_before=select("k7trainer00001"))


def test_idle_warning(snap_compare: Any) -> None:
    assert snap_compare(
        make_app(), terminal_size=(110, 32), run_before=select("n0tebook000002", warn=True)
    )


def test_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=select("sp0trunner0003"))


def test_80x24_light(snap_compare: Any) -> None:
    assert snap_compare(
        make_app(theme="textual-light"), terminal_size=(80, 24), run_before=select("k7trainer00001")
    )


def test_wide_side_by_side(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(210, 40), run_before=select("k7trainer00001"))


def test_budget_in_the_status_line(snap_compare: Any) -> None:
    app = RpdevApp(static=answers(budget=BUDGET), clock=lambda: NOW)
    app.localtime = time.gmtime
    assert snap_compare(app, terminal_size=(130, 32), run_before=select())
