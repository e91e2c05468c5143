"""One line under the header: is the daemon there, is RunPod answering, and what to do if not;
with a [budget], the month's spend against it."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from rpdevd.views import ApiView, BudgetView
from tui import format as fmt


class StatusLine(Static):
    text = ""  # what the line says, as plain text (for tests and screen readers' logs)

    def say(self, text: Text) -> None:
        self.text = text.plain
        self.update(text)

    def connected(
        self,
        server: dict[str, Any],
        api: ApiView | None,
        counts: tuple[int, int],
        now: float | None = None,
        budget: BudgetView | None = None,
    ) -> None:
        t = Text("● ", style="green")
        t.append(f"{fmt.safe(server.get('server') or 'rpdevd', 30)}")
        managed, unmanaged = counts
        t.append(f"  ·  {managed} managed, {unmanaged} other pods")
        if budget is not None:  # only with a [budget] in config.toml
            t.append("  ·  ")
            t.append_text(fmt.budget_text(budget))
        if api is not None:
            if api["ok"]:
                t.append("  ·  RunPod API ok", style="green")
            else:
                t.append("  ·  RunPod API: ", style="bold red")
                t.append(fmt.safe(api["error"] or "failing", 60), style="red")
                if api["hint"]:
                    t.append(f" → {fmt.safe(api['hint'], 80)}", style="italic")
                known_at = api["known_at"]
                if api["last_known"] and known_at is not None and now is not None:
                    age = fmt.short_duration(now - known_at)
                    t.append(f"  ·  pods as last known, {age} ago", style="yellow")
        self.set_class(bool(api is not None and not api["ok"]), "-warn")
        self.set_class(False, "-down")
        self.say(t)

    def disconnected(self, reason: str, retry_in: float, attempt: int, can_start: bool) -> None:
        t = Text("⟳ ", style="bold yellow")
        t.append(fmt.safe(reason, 60), style="bold")
        t.append(f"  ·  reconnecting in {retry_in:.1f}s (attempt {attempt})")
        if can_start and "not running" in reason:
            t.append("  ·  press D to start it", style="italic")
        self.set_class(True, "-down")
        self.say(t)
