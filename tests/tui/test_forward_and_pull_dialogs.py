"""The port forward keys (`f` adds one to the selected pod, `F` removes one) and the sync-add
dialog's pull back field, against fixed daemon answers: what each sends, and the daemon's refusal
shown in the dialog, which stays open until the daemon says yes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.widgets import Input, Label

from rpdevd.protocol import RemoteError
from tests.tui.conftest import until
from tests.tui.fixtures import NOW, PODS, answers
from tui.app import RpdevApp
from tui.connection import StaticLink
from tui.screens.dialogs import (
    ConfirmScreen,
    ForwardAddScreen,
    PickForwardScreen,
    SyncAddScreen,
    pull_patterns,
)
from tui.widgets.pod_table import PodTable

TRAINER = "k7trainer00001"
TAKEN = "local port 127.0.0.1:8888 is in use by jupyter-lab (pid 4242)"


def forward(local: int, remote: int | None = None, source: str = "runtime") -> dict[str, Any]:
    return {
        "pod": "trainer",
        "pod_id": TRAINER,
        "name": "trainer",
        "local": local,
        "bind": "127.0.0.1",
        "remote": remote or local,
        "source": source,
        "state": "up",
        "error": None,
        "connections": 0,
    }


def forward_add(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("local") == 8888:
        raise RemoteError("port_in_use", TAKEN, "stop that program, or forward another local port")
    return {**forward(params["local"], params.get("remote")), "bind": params.get("bind")}


def sync_add(params: dict[str, Any]) -> dict[str, Any]:
    if any(".." in p for p in params.get("pull", [])):
        raise RemoteError("bad_params", "pull pattern '../x' must not contain '..'")
    return {"id": "r1"}


def make_app(pods: list[dict[str, Any]] | None = None, **kw: Any) -> RpdevApp:
    ans = answers(pods=pods)
    ans["forward.add"] = forward_add
    ans["forward.remove"] = lambda params: {**forward(params["local"]), "state": "removed"}
    ans["sync.add"] = sync_add
    app = RpdevApp(static=ans, clock=lambda: NOW, **kw)
    app.localtime = time.gmtime
    return app


def calls(app: RpdevApp, method: str) -> list[dict[str, Any]]:
    assert isinstance(app.link, StaticLink)
    return [p for m, p in app.link.calls if m == method]


def error_text(app: RpdevApp, wid: str) -> str:
    return str(app.screen.query_one(wid, Label).content)


async def selected(pilot: Any) -> RpdevApp:
    app: RpdevApp = pilot.app
    await until(pilot, lambda: app.refreshes > 0, "first load")
    assert app.query_one(PodTable).select(TRAINER)
    return app


async def test_f_forwards_a_port_and_shows_the_daemons_refusal_in_the_dialog() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await selected(pilot)
        await pilot.press("f")
        screen = await until(
            pilot, lambda: isinstance(app.screen, ForwardAddScreen) and app.screen, "dialog"
        )
        assert screen.query_one("#forward-bind", Input).value == "127.0.0.1"
        await pilot.press(*"8888", "enter")
        await until(pilot, lambda: "jupyter-lab" in error_text(app, "#forward-error"), "refusal")
        assert TAKEN in error_text(app, "#forward-error")
        assert isinstance(app.screen, ForwardAddScreen)  # still open, to try another port
        assert calls(app, "forward.add") == [
            {"pod": TRAINER, "local": 8888, "remote": 8888, "bind": "127.0.0.1"}
        ]

        screen.query_one("#forward-local", Input).value = "18888"
        screen.query_one("#forward-remote", Input).value = "8888"
        await pilot.click("#add")
        await until(pilot, lambda: not isinstance(app.screen, ForwardAddScreen), "closed")
        assert calls(app, "forward.add")[-1] == {
            "pod": TRAINER,
            "local": 18888,
            "remote": 8888,
            "bind": "127.0.0.1",
        }
        assert any("18888 -> port 8888" in m for _, m in app.notices), app.notices


async def test_a_port_that_is_no_port_is_said_in_the_dialog_and_not_sent() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await selected(pilot)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ForwardAddScreen), "dialog")
        await pilot.press(*"70000", "enter")
        await until(pilot, lambda: "1 to 65535" in error_text(app, "#forward-error"), "error")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ForwardAddScreen), "cancelled")
        assert calls(app, "forward.add") == []


async def test_capital_f_removes_the_picked_forward_after_asking() -> None:
    pods = [dict(p) for p in PODS]
    pods[0]["forwards"] = [forward(8888), forward(6006, source="config")]
    app = make_app(pods)
    async with app.run_test(size=(120, 40)) as pilot:
        await selected(pilot)
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.screen, PickForwardScreen), "which forward")
        await pilot.press("down", "enter")
        confirm = await until(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "asks first"
        )
        assert "6006->6006" in confirm.question
        assert "config.toml" in confirm.detail  # it comes back at the daemon's restart
        await pilot.press("n")
        await pilot.pause(0.2)
        assert calls(app, "forward.remove") == []

        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.screen, PickForwardScreen), "which forward")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "asks first")
        await pilot.press("y")
        await until(pilot, lambda: calls(app, "forward.remove"), "the removal")
        assert calls(app, "forward.remove") == [{"pod": TRAINER, "local": 8888}]


async def test_capital_f_on_a_pod_without_forwards_says_so() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await selected(pilot)
        await pilot.press("F")
        await until(
            pilot, lambda: any("no port forwards" in m for _, m in app.notices), "the notice"
        )
        assert calls(app, "forward.remove") == []


def test_pull_patterns_split_on_spaces_and_commas() -> None:
    assert pull_patterns(" logs/  *.png,out/**/*.csv ,, ") == ["logs/", "*.png", "out/**/*.csv"]
    assert pull_patterns("  ") == []


async def test_sync_add_sends_pull_patterns_and_shows_the_daemons_refusal(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    app = make_app(cwd=project)
    async with app.run_test(size=(120, 40)) as pilot:
        await selected(pilot)
        await pilot.press("a")
        screen = await until(
            pilot, lambda: isinstance(app.screen, SyncAddScreen) and app.screen, "dialog"
        )
        screen.query_one("#sync-pull-interval", Input).value = "1m"
        await pilot.click("#add")  # an interval without patterns: said here, nothing sent
        await until(pilot, lambda: "pull back" in error_text(app, "#sync-error"), "error")
        assert calls(app, "sync.add") == []

        screen.query_one("#sync-pull", Input).value = "logs/, ../x"
        screen.query_one("#sync-pull", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: calls(app, "sync.add"), "sent")
        await until(pilot, lambda: "'..'" in error_text(app, "#sync-error"), "daemon's refusal")
        assert isinstance(app.screen, SyncAddScreen)

        screen.query_one("#sync-pull", Input).value = "logs/ *.png"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, SyncAddScreen), "closed")
        assert calls(app, "sync.add")[-1] == {
            "pod": TRAINER,
            "local": str(project.resolve()),
            "remote": "/workspace/project",
            "pull": ["logs/", "*.png"],
            "pull_interval": 60.0,
        }
        # no pull back: neither pull nor pull_interval is sent
        await pilot.press("a")
        screen = await until(
            pilot, lambda: isinstance(app.screen, SyncAddScreen) and app.screen, "dialog again"
        )
        await pilot.click("#add")
        await until(pilot, lambda: not isinstance(app.screen, SyncAddScreen), "closed again")
        assert calls(app, "sync.add")[-1] == {
            "pod": TRAINER,
            "local": str(project.resolve()),
            "remote": "/workspace/project",
        }
