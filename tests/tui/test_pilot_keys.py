"""Keys and dialogs as a user reads them: `?` lists every key with what it does, docs/tui.md names
each key, the footer shows the ones used most, and a confirm dialog shows its whole text."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.tui.conftest import until
from tests.tui.fixtures import NOW, answers
from tui.app import RpdevApp
from tui.screens.dialogs import ConfirmScreen
from tui.screens.keys import KeysScreen, app_bindings, key_label
from tui.widgets.pod_table import PodTable

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tui.md"
TRAINER = "k7trainer00001"


def make_app() -> RpdevApp:
    app = RpdevApp(static=answers(), clock=lambda: NOW)
    app.localtime = time.gmtime
    return app


def screen_text(app: RpdevApp) -> str:
    """What the terminal shows now, one line per row (borders and all)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def dialog_text(app: RpdevApp) -> str:
    """What the open dialog shows: its rows of the screen, cut to its columns."""
    region = app.screen.query_one(".dialog").region
    rows = screen_text(app).splitlines()[region.y : region.bottom]
    return flat("\n".join(row[region.x : region.right] for row in rows))


def flat(text: str) -> str:
    """The screen's words, with box borders and line breaks folded to single spaces."""
    return re.sub(r"[\s▊▎▌▐▏▕│┃█▀▄▔▁]+", " ", text)


def every_binding(app: RpdevApp) -> list[Any]:
    """What the app answers to, from Textual's own map of it (not from the keys screen)."""
    return [b for bs in app._bindings.key_to_bindings.values() for b in bs if not b.system]


async def loaded(pilot: Any) -> None:
    await until(pilot, lambda: pilot.app.refreshes > 0, "first load")


async def test_question_mark_lists_every_key_with_what_it_does_and_escape_closes_it() -> None:
    app = make_app()
    async with app.run_test(size=(100, 50)) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, KeysScreen), "the keys screen")
        await pilot.pause()
        shown = dialog_text(app)
        bindings = every_binding(app)
        assert len(bindings) >= 20  # the app's 19 and the command palette's
        for b in bindings:
            assert b.tooltip, f"{b.key} says nothing about what it does"
            assert f"{key_label(b)} {flat(b.tooltip)}" in shown, (b.key, shown)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, KeysScreen), "closed")
        # Keys reach the main screen again.
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, KeysScreen), "opened again")
        await pilot.press("question_mark")
        await until(pilot, lambda: not isinstance(app.screen, KeysScreen), "closed by ?")


def test_the_keys_screen_is_generated_from_the_apps_bindings() -> None:
    app = make_app()
    keys = {b.key for b in every_binding(app)}
    assert {b.key for b in app_bindings(app)} == keys
    # Every single key the docs promised and the issue found missing from the footer.
    assert {"m", "c", "x", "u", "d", "t", "H", "ctrl+r", "D", "question_mark"} <= keys


def test_every_key_of_the_app_is_in_docs_tui_md() -> None:
    keys_section = DOCS.read_text().split("## Keys", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| (.+?) \|", keys_section, re.M))
    named = {k for row in documented for k in re.findall(r"`([^`]+)`", row)}
    for b in every_binding(make_app()):
        assert key_label(b) in named, f"{key_label(b)} ({b.description}) is not in docs/tui.md"


async def test_the_footer_shows_the_keys_used_most_and_the_keys_screen_even_at_80_columns() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        footer = await until(
            pilot, lambda: "Stop" in (last := screen_text(app).splitlines()[-1]) and last, "footer"
        )
        for key in ("s Stop", "r Resume", "p Policy", "h Hold", "v VS Code", "? Keys", "q Quit"):
            assert key in footer, footer


async def test_a_confirm_dialog_shows_its_whole_text() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        app.query_one(PodTable).select(TRAINER)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the stop dialog")
        await pilot.pause()
        shown = dialog_text(app)
        assert "Its container disk is wiped; /workspace stays. Billing for GPUs stops." in shown, (
            shown
        )
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "closed")
        question = "rpdevd is not running. Start it now?"
        detail = "The TUI shows and steers the daemon; it keeps retrying in the background."
        app.push_screen(ConfirmScreen(question, detail, yes="Start"))
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the start dialog")
        await pilot.pause()
        shown = dialog_text(app)
        assert question in shown and detail in shown, shown


async def test_a_notice_from_the_launcher_is_shown_at_start_and_kept_on_the_keys_screen() -> None:
    """`rpdev demo` hands the TUI its hint for using the demo from another shell: the TUI covers
    the terminal where the hint was printed."""
    hint = "to use the demo from another shell:\n  . /tmp/demo/env.sh\n  rpdev status"
    app = RpdevApp(static=answers(), clock=lambda: NOW, notice=hint)
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        await loaded(pilot)
        assert any(hint in message for _, message in app.notices), app.notices
        await until(
            pilot, lambda: "to use the demo from another shell:" in screen_text(app), "toast"
        )
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, KeysScreen), "the keys screen")
        await pilot.pause()
        assert flat(hint) in dialog_text(app)
