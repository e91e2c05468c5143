"""The daemon's log, fetched over the socket (the TUI may run where the log file is not)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from rpdevd.text import clean

LogLoader = Callable[[int], Awaitable[list[str] | None]]


class LogScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, loader: LogLoader, lines: int = 500) -> None:
        super().__init__()
        self.loader = loader
        self.lines = lines

    def compose(self) -> ComposeResult:
        yield Static("Daemon log (newest at the bottom)", id="log-title")
        yield Log(id="daemon-log", highlight=True)
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    @work(exclusive=True, group="log")
    async def action_reload(self) -> None:
        lines = await self.loader(self.lines)
        log = self.query_one("#daemon-log", Log)
        log.clear()
        if lines is None:
            log.write_line("The daemon log is not available from this daemon version.")
            return
        # Control characters in a log line must not drive the terminal.
        log.write_lines(clean(line) for line in lines)
