"""The app's own behaviour, driven with Pilot against fixed daemon answers: the one-key hold,
clipboard and editors, hostile data, old daemons, coalescing, the palette and the themes."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text

from rpdevd.protocol import Event
from tests.tui.conftest import until
from tests.tui.fixtures import NOW, PODS, answers
from tui.app import RpdevApp
from tui.connection import DaemonEvent, StaticLink
from tui.screens.dialogs import ConfirmScreen, HoldScreen
from tui.widgets.detail import DetailPane
from tui.widgets.pod_table import PodTable
from tui.widgets.status_line import StatusLine

TRAINER = "k7trainer00001"
NOTEBOOK = "n0tebook000002"


def make_app(ans: dict[str, Any] | None = None, **kw: Any) -> RpdevApp:
    app = RpdevApp(static=answers() if ans is None else ans, clock=lambda: NOW, **kw)
    app.localtime = time.gmtime
    return app


def link(app: RpdevApp) -> StaticLink:
    assert isinstance(app.link, StaticLink)
    return app.link


def calls(app: RpdevApp, method: str) -> list[dict[str, Any]]:
    return [p for m, p in link(app).calls if m == method]


async def loaded(pilot: Any) -> None:
    await until(pilot, lambda: pilot.app.refreshes > 0, "first load")


async def test_idle_warning_pops_up_and_one_key_holds_the_warned_pod() -> None:
    ans = answers()
    ans["pod.hold"] = lambda p: {"id": p["pod"], "hold_until": NOW + p["duration"]}
    app = make_app(ans)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        app.query_one(PodTable).select(TRAINER)  # the warning is about another pod
        app.post_message(
            DaemonEvent(
                Event(
                    "idle.warn",
                    "notebook: idle, stopping in 4:00",
                    NOTEBOOK,
                    "warning",
                    {"stop_at": NOW + 240, "reason": "no GPU, CPU or SSH activity for 25m"},
                )
            )
        )
        await until(pilot, lambda: app.warned, "warning registered")
        severity, message = app.notices[-1]
        assert severity == "warning"
        assert "notebook: stops in 4:00" in message and "Press H" in message
        await pilot.press("H")
        await until(pilot, lambda: calls(app, "pod.hold"), "hold sent")
        assert calls(app, "pod.hold") == [{"pod": NOTEBOOK, "duration": 1800.0}]
        assert app.warned is None


async def test_hold_on_an_old_daemon_says_so_instead_of_crashing() -> None:
    app = make_app()  # the fixed daemon has no pod.hold
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HoldScreen), "hold dialog")
        await pilot.press("3")
        await until(pilot, lambda: app.notices, "a message")
        assert "not available in this daemon version" in app.notices[-1][1]
        assert "pod.hold" in app.unsupported
        assert app.is_running


async def test_copy_ssh_command() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        app.query_one(PodTable).select(TRAINER)
        await pilot.press("y")
        assert app.clipboard == "ssh trainer.runpod"
        assert app.notices[-1][1] == "Copied: ssh trainer.runpod"


def fake_editor(bin_dir: Path, name: str, record: Path) -> None:
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


async def test_open_in_vscode_and_a_missing_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv"
    fake_editor(bin_dir, "code", record)
    monkeypatch.setenv("PATH", str(bin_dir))
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        app.query_one(PodTable).select(TRAINER)
        await pilot.press("v")
        await until(pilot, lambda: record.exists() and record.read_text(), "editor started")
        await until(pilot, lambda: all(p.poll() is not None for p in app.editor_procs), "exit")
        assert record.read_text().split("\n")[:3] == [
            "--remote",
            "ssh-remote+trainer.runpod",
            "/workspace",
        ]
        await pilot.press("c")  # no `cursor` on PATH
        severity, message = app.notices[-1]
        assert severity == "error" and "`cursor` is not on PATH" in message


async def test_held_deletions_are_shown_and_confirmed_with_one_key() -> None:
    ans = answers()
    ans["sync.list"]["roots"][1].update(state="held", held=1200, progress=None)
    ans["sync.confirm"] = lambda p: {"id": p["id"]}
    app = make_app(ans)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        app.query_one(PodTable).select(TRAINER)
        cell = app.query_one(PodTable).get_cell(TRAINER, "sync")
        assert "1200 held" in (cell.plain if isinstance(cell, Text) else str(cell))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm dialog")
        await pilot.press("n")  # no: nothing sent
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "dialog gone")
        assert calls(app, "sync.confirm") == []
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm dialog")
        await pilot.press("y")
        await until(pilot, lambda: calls(app, "sync.confirm"), "confirm sent")
        assert calls(app, "sync.confirm") == [{"id": "r2"}]


async def test_hostile_and_malformed_pod_data_renders_safely() -> None:
    bad = [
        dict(
            PODS[0],
            id="evil00000000001",
            name="x\x1b[31m\n  ProxyCommand evil",
            cost_per_hr="NaN",
            gpu_count=None,
            spend_today=float("inf"),
            sync="nope",
            last_sample={"t": "x", "gpus": [{"util": None}, "junk"], "cpu_pct": "1"},
            idle_deadline="soon",
            hold_until=[1],
            warning="x",
        ),
        {"id": "minimal0000002"},
        {"name": "no id at all"},
        "not a dict",
    ]
    app = make_app(answers(pods=bad))  # type: ignore[arg-type]
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        table = app.query_one(PodTable)
        assert table.row_count == 2  # entries without an id are dropped
        name = table.get_cell("evil00000000001", "name")
        plain = name.plain if isinstance(name, Text) else str(name)
        assert "\x1b" not in plain and "\n" not in plain
        assert table.get_cell("evil00000000001", "rate") == "-"
        table.select("evil00000000001")
        await pilot.pause(0.1)
        assert app.query_one(DetailPane).is_mounted


async def test_event_bursts_coalesce_into_few_refreshes() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        before = len(calls(app, "status"))
        for i in range(50):
            app.post_message(DaemonEvent(Event("sync.progress", f"{i}%", TRAINER)))
        await until(pilot, lambda: len(app.events[TRAINER]) >= 50, "events handled")
        # The refresh runs in a worker of its own: awaited, then given time to repeat (it may not).
        await until(pilot, lambda: len(calls(app, "status")) > before, "a refresh")
        await pilot.pause(0.2)
        refreshes = len(calls(app, "status")) - before
        assert 1 <= refreshes <= 3, refreshes


async def test_every_action_is_in_the_command_palette() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
    for title in (
        "Stop pod",
        "Resume pod",
        "Change policy / idle timeout",
        "Hold pod",
        "Take under management / release",
        "Open in VS Code",
        "Open in Cursor",
        "Copy ssh command",
        "Add sync root",
        "Remove sync root",
        "Pause / resume sync root",
        "Confirm held deletions",
        "View daemon log",
        "Toggle dark / light",
    ):
        assert title in titles


async def test_theme_toggle_and_light_start() -> None:
    app = make_app(theme="textual-light")
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert app.theme == "textual-light"
        await pilot.press("t")
        assert app.theme == "textual-dark"


async def test_layout_follows_the_terminal_size() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        table = app.query_one(PodTable)
        assert "alias" not in table._columns and "gpu" not in table._columns
        await pilot.resize_terminal(220, 50)
        await until(pilot, lambda: app.query_one("#main").has_class("-wide"), "side by side")
        await pilot.resize_terminal(170, 40)
        await until(pilot, lambda: "alias" in table._columns, "every column")
        assert not app.query_one("#main").has_class("-wide")


def test_tui_module_is_not_on_the_cli_import_path() -> None:
    import subprocess
    import sys

    code = (
        "import sys, rpdevd.cli as c; c.build_parser(); "
        "print([m for m in ('textual', 'tui') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


async def test_one_key_hold_holds_the_warned_pod_even_when_the_warning_came_before_the_tui() -> (
    None
):
    """docs/tui.md: H holds the pod that was just warned about. Opened after the warning (no
    event seen), with another pod selected, H still holds the warned pod, never the selected."""
    ans = answers()
    ans["pod.hold"] = lambda p: {"id": p["pod"], "hold_until": NOW + p["duration"]}
    app = make_app(ans)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        assert app.warned is None  # no idle.warn event reached this TUI
        app.query_one(PodTable).select(TRAINER)
        await pilot.press("H")
        await until(pilot, lambda: calls(app, "pod.hold"), "hold sent")
        assert calls(app, "pod.hold") == [{"pod": NOTEBOOK, "duration": 1800.0}]


async def test_one_key_hold_with_no_warning_out_holds_nothing() -> None:
    pods = [{**p, "warning": None} for p in PODS]
    ans = answers(pods)
    ans["pod.hold"] = lambda p: {"id": p["pod"], "hold_until": NOW + p["duration"]}
    app = make_app(ans)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(pilot)
        app.query_one(PodTable).select(TRAINER)
        await pilot.press("H")
        await until(
            pilot, lambda: app.notices and "No idle-stop warning" in app.notices[-1][1], "notice"
        )
        assert not calls(app, "pod.hold")


async def test_the_status_line_says_the_pods_are_as_last_known_with_their_age() -> None:
    ans = answers()
    api = {
        **ans["status"]["api"],
        "ok": False,
        "error": "RunPod did not answer list_pods properly: HTTP 503.",
        "known_at": NOW - 7200,
        "last_known": True,
    }
    ans["status"]["api"] = ans["pods"]["api"] = api
    app = make_app(ans)
    async with app.run_test(size=(200, 36)) as pilot:
        await loaded(pilot)
        line = app.query_one(StatusLine).text
        assert "HTTP 503" in line and "pods as last known, 2h ago" in line, line
