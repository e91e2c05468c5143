"""The selected pod's port forwards in the detail pane: `8888->8888 up`, and a taken local
port's error under them; a pod without forwards shows no forwards line."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from tests.tui.conftest import until
from tests.tui.fixtures import NOW, PODS, answers
from tui.app import RpdevApp
from tui.widgets.pod_table import PodTable

TRAINER = "k7trainer00001"
NOTEBOOK = "n0tebook000002"


def forward(local: int, state: str, error: str | None = None, bind: str = "127.0.0.1") -> dict:
    return {
        "pod": "trainer",
        "pod_id": TRAINER,
        "name": "trainer",
        "local": local,
        "bind": bind,
        "remote": local,
        "source": "config",
        "state": state,
        "error": error,
        "connections": 0,
    }


async def test_the_selected_pods_forwards_are_shown_with_their_state() -> None:
    pods = [dict(p) for p in PODS]
    taken = "local port 127.0.0.1:6006 is in use by tensorboard (pid 42)"
    pods[0]["forwards"] = [
        forward(8888, "up"),
        forward(6006, "error", taken),
        forward(9000, "pod stopped", bind="0.0.0.0"),
    ]
    app = RpdevApp(static=answers(pods=pods), clock=lambda: NOW)
    app.localtime = time.gmtime
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, "first load")
        table = app.query_one(PodTable)
        table.select(TRAINER)
        box = app.query_one("#detail-endpoint", Static)

        def text() -> str:
            content = box.content
            return content.plain if isinstance(content, Text) else str(content)

        await until(pilot, lambda: "Forwards" in text(), "the forwards line")
        assert "8888->8888 up" in text()
        assert "0.0.0.0:9000->9000 pod stopped" in text()
        assert f"6006: {taken}" in text()

        table.select(NOTEBOOK)
        await until(pilot, lambda: "Forwards" not in text(), "the other pod's detail")
