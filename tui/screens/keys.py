"""`?`: every key of the app with what it does, generated from the app's bindings so the list
cannot drift from what the keys do. The footer shows only the keys used most."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

# Keys that are not the app's own bindings but are what a user needs: the table's.
NAVIGATION = (("↑ ↓", "Select a pod"),)


def key_label(binding: Binding) -> str:
    """`?`, `H`, `Ctrl+R`: how the key is written on the screen and in docs/tui.md."""
    if binding.key_display:
        return binding.key_display
    parts = binding.key.split("+")
    if len(parts) == 1:
        return binding.key
    return "+".join(p.capitalize() for p in parts[:-1]) + "+" + parts[-1].upper()


def app_bindings(app: App[Any]) -> list[Binding]:
    """Every binding the app answers to (its own, in their order, then those it inherits, such
    as the command palette's), without Textual's system ones."""
    # Textual keeps the merged bindings of the app here; there is no public accessor for the
    # app's own (`active_bindings` is the focused screen's chain, the keys screen's while open).
    merged = [b for bs in app._bindings.key_to_bindings.values() for b in bs if not b.system]
    own = {b.key for b in Binding.make_bindings(type(app).BINDINGS)}
    return [b for b in merged if b.key in own] + [b for b in merged if b.key not in own]


def key_rows(app: App[Any]) -> list[tuple[str, str, str]]:
    """(key, name, what it does) for each key of the app."""
    rows = [(k, what, "") for k, what in NAVIGATION]
    for b in app_bindings(app):
        rows.append((key_label(b), b.description, b.tooltip or b.description))
    return rows


class KeysScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", key_display="Esc")]

    def __init__(self, rows: list[tuple[str, str, str]], notice: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.rows = rows
        self.notice = notice

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("what it does", ratio=1)
        for key, name, what in self.rows:
            table.add_row(key, what or name)
        with VerticalScroll(classes="dialog keys-dialog"):
            if self.notice:
                yield Label(self.notice, id="keys-notice", classes="dialog-detail")
            yield Label("Keys (Esc closes)", classes="dialog-title")
            yield Static(table, id="keys-table")

    def action_close(self) -> None:
        self.dismiss(None)
