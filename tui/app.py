"""The rpdev TUI: every pod with its state, steered with single keys, live on the event stream.

The app holds a plain copy of what the daemon said (`status`, `pods`, `sync.list`, events,
samples) and re-renders from it. Any event refreshes that copy with one round of calls; bursts
coalesce into one round. Countdowns tick locally from the daemon's deadlines.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.css.query import NoMatches
from textual.events import Resize
from textual.widgets import DataTable, Footer, Header

from rpdevd import views
from rpdevd.protocol import EventKind, Method
from rpdevd.views import (
    ApiView,
    BudgetView,
    EventsView,
    EventView,
    PodsView,
    PodView,
    SampleView,
    StatusView,
    SyncListView,
    SyncRootView,
)
from tui import format as fmt
from tui.actions import PodActions
from tui.connection import Connected, Connection, DaemonEvent, Disconnected, Link, StaticLink
from tui.screens.dialogs import ConfirmScreen
from tui.screens.keys import KeysScreen, key_rows
from tui.widgets.detail import DetailPane
from tui.widgets.pod_table import PodTable, mode_for
from tui.widgets.status_line import StatusLine

WIDE_WIDTH = 200  # side by side from here; the table then gets 3/5 of the width
EVENTS_PER_POD = 50
HOUR = 3600.0
# Events that need the user's attention even when the pod is not selected.
ALERT_KINDS = (
    EventKind.POD_ERROR,
    EventKind.SYNC_CONFLICT,
    EventKind.SYNC_ERROR,
    EventKind.SYNC_HELD,
    EventKind.HOSTKEY_CHANGED,
    EventKind.API_ERROR,
    EventKind.BUDGET_WARNING,
    EventKind.BUDGET_EXCEEDED,
)
StartDaemon = Callable[[], tuple[bool, str]]


class RpdevApp(PodActions, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "rpdev"
    SUB_TITLE = "RunPod pods"
    # The footer shows the keys used most; `?` lists every one with what it does (the tooltip),
    # generated from this list (tui/screens/keys.py), and docs/tui.md names each (a test checks).
    BINDINGS = [
        Binding("s", "stop", "Stop", tooltip="Stop the selected pod (asks first)"),
        Binding(
            "r", "resume", "Resume", tooltip="Resume the selected pod (asks first, says the cost)"
        ),
        Binding("p", "policy", "Policy", tooltip="Change the policy, idle timeout and warning"),
        Binding(
            "h", "hold", "Hold", tooltip="Keep the pod from idle-stopping: 30m, 2h, until I say"
        ),
        Binding(
            "H",
            "hold_warned",
            "Hold warned pod",
            show=False,
            tooltip="Hold the pod an idle-stop warning is out for, 30 minutes",
        ),
        Binding(
            "m",
            "manage",
            "Manage",
            show=False,
            tooltip="Take the pod under management, or release it",
        ),
        Binding(
            "v", "open_editor('code')", "VS Code", tooltip="Open the pod's /workspace in VS Code"
        ),
        Binding(
            "c",
            "open_editor('cursor')",
            "Cursor",
            show=False,
            tooltip="Open the pod's /workspace in Cursor",
        ),
        Binding(
            "y", "copy_ssh", "Copy ssh", show=False, tooltip="Copy `ssh <alias>` to the clipboard"
        ),
        Binding(
            "a",
            "sync_add",
            "Sync+",
            show=False,
            tooltip="Add a sync root: a local folder to the pod",
        ),
        Binding(
            "x",
            "sync_remove",
            "Sync-",
            show=False,
            tooltip="Remove a sync root (asks first; files on the pod stay)",
        ),
        Binding("u", "sync_pause", "Sync pause", show=False, tooltip="Pause or resume a sync root"),
        Binding(
            "d",
            "sync_confirm",
            "Confirm deletions",
            show=False,
            tooltip="Let a sync root's held deletions go through (asks first)",
        ),
        Binding(
            "f",
            "forward_add",
            "Forward+",
            show=False,
            tooltip="Forward a local port to a port on the pod",
        ),
        Binding(
            "F",
            "forward_remove",
            "Forward-",
            show=False,
            tooltip="Remove a port forward of the pod (asks first)",
        ),
        Binding("l", "log", "Log", show=False, tooltip="View the daemon's log"),
        Binding(
            "ctrl+r", "poll", "Poll now", show=False, tooltip="Ask the daemon to poll RunPod now"
        ),
        Binding(
            "D",
            "start_daemon",
            "Start daemon",
            show=False,
            tooltip="Start the daemon (when it is not running)",
        ),
        Binding("t", "toggle_theme", "Theme", show=False, tooltip="Switch dark / light theme"),
        Binding(
            "question_mark", "keys", "Keys", key_display="?", tooltip="Every key, with what it does"
        ),
        Binding("q", "quit", "Quit", tooltip="Quit (the daemon keeps running)"),
    ]

    def __init__(
        self,
        *,
        socket_path: Path | None = None,
        static: dict[str, Any] | None = None,
        start_daemon: StartDaemon | None = None,
        clock: Callable[[], float] = time.time,
        theme: str | None = None,
        cwd: Path | None = None,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        # Said at start and kept on the keys screen (`?`): what the launcher wants the user to
        # read while the TUI covers the terminal (the demo: how to use it from another shell).
        self.notice = notice
        self.clock = clock
        self.localtime: Callable[[float], time.struct_time] = time.localtime
        self.cwd = cwd
        self.start_daemon_fn = start_daemon
        self.link: Link = (
            StaticLink(self, static) if static is not None else Connection(self, socket_path)
        )
        if theme:
            self.theme = theme
        self.server: dict[str, Any] | None = None
        # The daemon's answers, read once through rpdevd.views.read: typed from here on.
        self.api: ApiView | None = None
        self.budget: BudgetView | None = None  # this month's spend, with a [budget] set
        self.pods: list[PodView] = []
        self.by_id: dict[str, PodView] = {}
        self.roots: list[SyncRootView] = []
        self.events: dict[str, deque[EventView]] = {}
        self.samples: dict[str, list[SampleView]] = {}
        self.unsupported: set[str] = set()
        self.warned: tuple[str, float | None] | None = None
        self.notices: list[tuple[str, str]] = []
        self.editor_procs = []
        self.connected = False
        self.refreshes = 0
        self._dirty = False
        self._refreshing = False
        self._offered_start = False

    # layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine("connecting to rpdevd…", id="status-line")
        with Container(id="main"):
            yield PodTable(id="pods")
            yield DetailPane(clock=self.clock, id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(PodTable).focus()
        self.run_worker(self.link.run(), name="daemon-link", group="link", exit_on_error=False)
        self.set_interval(1.0, self._tick)
        if self.notice:
            self.notify(f"{self.notice}\n(? shows this again)", timeout=60)

    def on_resize(self, event: Resize) -> None:
        width = event.size.width
        wide = width >= WIDE_WIDTH
        self.query_one("#main").set_class(wide, "-wide")
        if self.query_one(PodTable).set_mode(mode_for(width * 3 // 5 if wide else width)):
            self.render_all()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        # Kept for tests and for the palette's "recent messages"; markup off because messages
        # carry text from the daemon and from RunPod.
        self.notices.append((severity, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def action_keys(self) -> None:
        if not isinstance(self.screen, KeysScreen):
            self.push_screen(KeysScreen(key_rows(self), self.notice))

    # the daemon link ---------------------------------------------------------------------
    def on_connected(self, message: Connected) -> None:
        self.connected = True
        self.server = message.server
        self.unsupported.clear()
        self.events.clear()
        self.samples.clear()
        self.query_one("#main").set_class(False, "-stale")
        self.load_history()
        self.request_refresh()

    def on_disconnected(self, message: Disconnected) -> None:
        self.connected = False
        self.query_one("#main").set_class(True, "-stale")
        self.query_one(StatusLine).disconnected(
            message.reason, message.retry_in, message.attempt, self.start_daemon_fn is not None
        )
        if message.not_running and self.start_daemon_fn and not self._offered_start:
            self._offered_start = True
            self.offer_start()

    @work(group="offer")
    async def offer_start(self) -> None:
        if await self.push_screen_wait(
            ConfirmScreen(
                "rpdevd is not running. Start it now?",
                "The TUI shows and steers the daemon; it keeps retrying in the background.",
                yes="Start",
            )
        ):
            await self.start_daemon_now()

    def on_daemon_event(self, message: DaemonEvent) -> None:
        if message.event.kind.startswith("live."):
            self.request_refresh()  # a new sample, sync progress: the view, not the event log
            return
        ev = message.event.to_json()
        if message.event.pod_id:
            self.events.setdefault(message.event.pod_id, deque(maxlen=EVENTS_PER_POD)).append(ev)
        kind = message.event.kind
        if kind == EventKind.IDLE_WARN:
            self.idle_warning(ev)
        elif (
            kind in (EventKind.IDLE_CANCEL, EventKind.IDLE_STOP)
            and self.warned
            and self.warned[0] == message.event.pod_id
        ):
            self.warned = None
        elif kind in ALERT_KINDS and message.event.level in ("error", "warning"):
            self.notify(
                f"{self.pod_label(message.event.pod_id)}{fmt.safe(ev['message'], 200)}",
                title=kind,
                severity="error" if message.event.level == "error" else "warning",
                timeout=10,
            )
        self.request_refresh()

    def idle_warning(self, ev: EventView) -> None:
        pod_id = ev["pod_id"]
        if pod_id is None:
            return
        data = ev["data"]  # idle.warn's: stop_at, reason
        stop_at = fmt.num(data.get("stop_at"))
        self.warned = (pod_id, stop_at)
        when = f"in {fmt.clock(stop_at - self.clock())}" if stop_at else "soon"
        reason = fmt.safe(data.get("reason") or ev["message"] or "idle", 120)
        self.notify(
            f"{self.pod_label(pod_id)}stops {when}: {reason}.\nPress H to hold it 30 minutes.",
            title="Idle stop coming",
            severity="warning",
            timeout=30,
        )

    def pod_label(self, pod_id: str | None) -> str:
        if not pod_id:
            return ""
        view = self.by_id.get(pod_id)
        return f"{fmt.safe(view['name'] if view else pod_id, 30)}: "

    # loading -----------------------------------------------------------------------------
    def request_refresh(self) -> None:
        self._dirty = True
        if not self._refreshing:
            self._refreshing = True
            self._refresh_loop()

    @work(group="refresh")
    async def _refresh_loop(self) -> None:
        try:
            while self._dirty:
                self._dirty = False
                await self.load_state()
        finally:
            self._refreshing = False

    async def load_state(self) -> None:
        ok, raw = await self.rpc(Method.STATUS, quiet=True)
        if not ok or not isinstance(raw, dict):
            return
        status = views.read(StatusView, raw)
        self.api = status["api"] if isinstance(raw.get("api"), dict) else None
        self.budget = status.get("budget")
        ok_pods, answer = await self.rpc(Method.PODS, quiet=True)
        if ok_pods and isinstance(answer, dict):
            listed = views.read(PodsView, answer)["pods"]
        else:
            listed = status["pods"]
        self.pods = sorted((v for v in listed if v["id"]), key=fmt.pod_sort_key)
        self.by_id = {v["id"]: v for v in self.pods}
        if Method.SYNC_LIST not in self.unsupported:
            ok_sync, answer = await self.rpc(Method.SYNC_LIST, quiet=True)
            if ok_sync:
                self.roots = views.read(SyncListView, answer)["roots"]
        for view in self.pods:  # the newest sample moves the sparkline without a fetch
            sample = view["last_sample"]
            known = self.samples.get(view["id"])
            if (
                sample is not None
                and known is not None
                and (
                    not known
                    or (fmt.num(sample.get("t")) or 0) > (fmt.num(known[-1].get("t")) or 0)
                )
            ):
                known.append(sample)
        self.refreshes += 1
        self.render_all()

    @work(group="history", exclusive=True)
    async def load_history(self) -> None:
        ok, result = await self.rpc(Method.EVENTS, {"limit": 300}, quiet=True)
        if ok:
            for ev in views.read(EventsView, result)["events"]:
                pod_id = ev["pod_id"]
                if pod_id is not None:
                    self.events.setdefault(pod_id, deque(maxlen=EVENTS_PER_POD))
                    if ev not in self.events[pod_id]:
                        self.events[pod_id].append(ev)
            for q in self.events.values():
                ordered = sorted(q, key=lambda e: e["seq"])
                q.clear()
                q.extend(ordered)
        self.render_detail()

    @work(group="samples", exclusive=True)
    async def load_samples(self, pod_id: str) -> None:
        if Method.IDLE_SAMPLES in self.unsupported:
            return
        ok, result = await self.rpc(
            Method.IDLE_SAMPLES, {"pod": pod_id, "since": self.clock() - HOUR}, quiet=True
        )
        if ok and isinstance(result, dict):
            self.samples[pod_id] = [s for s in result.get("samples") or [] if isinstance(s, dict)][
                -720:
            ]
            self.render_detail()

    # rendering ---------------------------------------------------------------------------
    def roots_of(self, pod_id: str) -> list[SyncRootView]:
        view = self.by_id.get(pod_id)
        if self.roots or Method.SYNC_LIST not in self.unsupported:
            names = (pod_id, view["name"] if view else None)
            return [r for r in self.roots if r["pod_id"] == pod_id or r["pod"] in names]
        return view["sync"] if view else []

    def render_all(self) -> None:
        try:
            table = self.query_one(PodTable)
        except NoMatches:  # a resize before the first compose
            return
        if self.connected and self.server is not None:
            managed = sum(1 for p in self.pods if p["managed"])
            self.query_one(StatusLine).connected(
                self.server,
                self.api,
                (managed, len(self.pods) - managed),
                self.clock(),
                self.budget,
            )
        table.show(self.pods, {p["id"]: self.roots_of(p["id"]) for p in self.pods}, self.clock())
        self.render_detail()

    def render_detail(self) -> None:
        view = self.selected_view()
        pod_id = view["id"] if view else None
        self.query_one(DetailPane).show(
            view,
            self.roots_of(pod_id) if pod_id else [],
            list(self.events.get(pod_id, ())) if pod_id else [],
            self.samples.get(pod_id, []) if pod_id else [],
            self.clock_text,
        )

    def clock_text(self, t: float) -> str:
        return time.strftime("%H:%M:%S", self.localtime(t)) if t else "--:--:--"

    def selected_view(self) -> PodView | None:
        pod_id = self.query_one(PodTable).selected_id
        return self.by_id.get(pod_id) if pod_id else None

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        pod_id = event.row_key.value if event.row_key else None
        if pod_id and pod_id not in self.samples:
            self.samples[pod_id] = []
            self.load_samples(pod_id)
        self.render_detail()

    def _tick(self) -> None:
        self.editor_procs = [p for p in self.editor_procs if p.poll() is None]
        tables = self.query(PodTable)
        if not tables:
            return  # the app is closing: its widgets are gone before its timers
        if self.pods:
            tables.first().tick(self.pods, self.clock())
            view = self.selected_view()
            if view and (view["idle_deadline"] or view["hold_until"] or view["warning"]):
                self.render_detail()
