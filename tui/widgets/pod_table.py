"""The pods table: one row per pod, keyed by pod id, updated in place so the cursor stays put."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from rpdevd.views import PodView, SyncRootView
from tui import format as fmt

# (key, label, narrowest mode that shows it). Narrow modes drop what the detail pane shows.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "Pod", 0),
    ("status", "Status", 0),
    ("gpu", "GPU", 1),
    ("rate", "$/h", 0),
    ("today", "Today", 1),
    ("policy", "Policy", 0),
    ("idle", "Idle", 0),
    ("alias", "SSH alias", 2),
    ("sync", "Sync", 0),
)
NARROW, MEDIUM, FULL = 0, 1, 2
# Table widths (cells) from which the medium and full column sets fit without scrolling.
MODE_WIDTHS = ((150, FULL), (105, MEDIUM))


def mode_for(width: int) -> int:
    return next((mode for least, mode in MODE_WIDTHS if width >= least), NARROW)


class PodTable(DataTable[Text | str]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.mode = NARROW
        self._columns: tuple[str, ...] = ()
        self._order: list[str] = []

    def set_mode(self, mode: int) -> bool:
        """True when the column set changes (the caller re-renders)."""
        if mode == self.mode:
            return False
        self.mode = mode
        return True

    def row_cells(
        self, view: PodView, roots: Sequence[SyncRootView], now: float
    ) -> dict[str, Text | str]:
        managed = view["managed"]
        name_limit = 24 if self.mode == FULL else 14
        name = Text(
            fmt.safe(view["name"] or view["id"], name_limit),
            style="bold" if managed else "bright_black",
        )
        has_problem = any(p.level == "error" for p in fmt.problems(view, roots, now))
        policy = fmt.safe(view["policy"], 10) if managed else "unmanaged"
        return {
            "name": name,
            "status": fmt.status_text(view["status"], has_problem),
            "gpu": fmt.gpu_label(view, 22 if self.mode == FULL else 14),
            "rate": fmt.money(view["cost_per_hr"]),
            "today": fmt.money(view["spend_today"]),
            "policy": Text(policy, style="" if managed else "bright_black"),
            "idle": fmt.idle_label(view, now, self.idle_limit)
            if managed
            else Text("-", style="bright_black"),
            "alias": fmt.safe(view["ssh_alias"] or "-", 24),
            "sync": fmt.sync_label(roots),
        }

    def show(
        self,
        pods: Sequence[PodView],
        roots_by_pod: dict[str, list[SyncRootView]],
        now: float,
    ) -> None:
        """Make the table match `pods` (already in display order)."""
        wanted = tuple(k for k, _, least in COLUMNS if least <= self.mode)
        order = [p["id"] for p in pods]
        selected = self.selected_id
        if wanted != self._columns or order != self._order:
            self.clear(columns=wanted != self._columns)
            if wanted != self._columns:
                for key, label, _ in COLUMNS:
                    if key in wanted:
                        self.add_column(label, key=key)
                self._columns = wanted
            for view in pods:
                cells = self.row_cells(view, roots_by_pod.get(view["id"], []), now)
                self.add_row(*(cells[k] for k in wanted), key=view["id"])
            self._order = order
            if selected in order:
                self.move_cursor(row=order.index(selected))
            return
        for view in pods:
            pod_id = view["id"]
            cells = self.row_cells(view, roots_by_pod.get(pod_id, []), now)
            for key in wanted:
                self.update_cell(pod_id, key, cells[key], update_width=True)

    def tick(self, pods: Sequence[PodView], now: float) -> None:
        """Once a second: only the countdowns move."""
        for view in pods:
            pod_id = view["id"]
            if (
                pod_id in self._order
                and view["managed"]
                and (view["idle_deadline"] or view["hold_until"])
            ):
                self.update_cell(
                    pod_id, "idle", fmt.idle_label(view, now, self.idle_limit), update_width=True
                )

    def select(self, pod_id: str) -> bool:
        if pod_id not in self._order:
            return False
        self.move_cursor(row=self._order.index(pod_id))
        return True

    @property
    def idle_limit(self) -> int:
        return 40 if self.mode == FULL else 24

    @property
    def selected_id(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]
