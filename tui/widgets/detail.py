"""The detail pane for the selected pod: endpoint, host key, port forwards, activity with
sparklines, sync roots, problems with what to do, and the pod's recent events."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Sparkline, Static

from rpdevd.labels import forward_label, pull_label
from rpdevd.views import EventView, PodView, SampleView, SyncRootView
from tui import format as fmt

HOUR = 3600.0


BLOCKS = "▁▂▃▄▅▆▇█"


class PercentSparkline(Sparkline):
    """A sparkline on a fixed 0-100 % scale. Textual's own scales to the data, so a steady 1 %
    would fill it and a steady 87 % would read as empty."""

    def render(self) -> Text:
        data = [max(0.0, min(100.0, float(v))) for v in (self.data or [])]
        width = max(0, self.size.width)
        if not data or not width:
            return Text("")
        if len(data) > width:  # the busiest reading of each column's span
            data = [
                max(
                    data[
                        i * len(data) // width : max(
                            (i + 1) * len(data) // width, i * len(data) // width + 1
                        )
                    ]
                )
                for i in range(width)
            ]
        text = Text()
        for v in data:
            style = "green" if v < 30 else "yellow" if v < 70 else "red"
            text.append(BLOCKS[min(7, int(round(v / 100 * 7)))], style=style)
        return text


class DetailPane(VerticalScroll):
    def __init__(self, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield Static(id="detail-head")
        yield Static(id="detail-problems")
        yield Static(id="detail-endpoint")
        yield Static(id="detail-activity")
        with Vertical(id="sparks"):
            with Horizontal(classes="spark-row"):
                yield Label("GPU", classes="spark-label")
                yield PercentSparkline([], id="spark-gpu", summary_function=max)
            with Horizontal(classes="spark-row"):
                yield Label("CPU", classes="spark-label")
                yield PercentSparkline([], id="spark-cpu", summary_function=max)
        yield Static(id="detail-sync")
        yield Static(id="detail-events")

    def show(
        self,
        view: PodView | None,
        roots: Sequence[SyncRootView],
        events: Sequence[EventView],
        samples: Sequence[SampleView],
        clock_text: Callable[[float], str],
    ) -> None:
        now = self.clock()
        head = self.query_one("#detail-head", Static)
        if view is None:
            head.update(
                Text(
                    "No pod selected. Pods appear here once the daemon sees them.",
                    style="bright_black",
                )
            )
            for sid in ("problems", "endpoint", "activity", "sync", "events"):
                self.query_one(f"#detail-{sid}", Static).update("")
            self._sparks([], [])
            return
        head.update(self._head(view))
        probs = fmt.problems(view, roots, now)
        box = self.query_one("#detail-problems", Static)
        box.update(Group(*(self._problem(p) for p in probs)) if probs else "")
        box.set_class(bool(probs), "-has-problems")
        self.query_one("#detail-endpoint", Static).update(self._endpoint(view))
        activity = Text("Activity  ", style="bold")
        activity.append(fmt.sample_summary(view["last_sample"], now))
        self.query_one("#detail-activity", Static).update(activity)
        gpu, cpu = fmt.series(samples, now - HOUR)
        self._sparks(gpu, cpu)
        self.query_one("#detail-sync", Static).update(self._sync(roots))
        ev_text = Text("Recent events", style="bold")
        for ev in list(events)[-8:]:
            ev_text.append("\n")
            ev_text.append_text(fmt.event_line(ev, clock_text(ev["t"])))
        if not events:
            ev_text.append("\n  none yet", style="bright_black")
        self.query_one("#detail-events", Static).update(ev_text)

    def _sparks(self, gpu: list[float], cpu: list[float]) -> None:
        # An empty sparkline draws a flat baseline that reads as "0 %": hide it instead.
        self.query_one("#sparks").display = bool(gpu)
        self.query_one("#spark-gpu", Sparkline).data = gpu
        self.query_one("#spark-cpu", Sparkline).data = cpu

    @staticmethod
    def _head(view: PodView) -> Text:
        t = Text(fmt.safe(view["name"], 40), style="bold")
        t.append(f"  {fmt.safe(view['id'], 20)}  ", style="bright_black")
        t.append_text(fmt.status_text(view["status"]))
        t.append(
            f"\n{fmt.gpu_label(view, 40)}  {fmt.money(view['cost_per_hr'], True)}  "
            f"today {fmt.money(view['spend_today'])}  "
            f"month {fmt.money(view['spend_month'])}"
        )
        if view["is_spot"]:
            t.append("  spot", style="magenta")
        max_bid = fmt.num(view.get("max_bid"))
        if max_bid is not None:
            t.append(f"  max bid {fmt.money(max_bid)}/GPU/h")
        if view["managed"]:
            t.append(
                f"\npolicy {fmt.safe(view['policy'], 12)}  "
                f"idle timeout {fmt.duration_text(view['idle_timeout'])}  "
                f"warn {fmt.duration_text(view['warn_before'])}"
                + ("  wake on connect" if view["wake_on_connect"] else "")
            )
        else:
            t.append(
                "\nnot managed by rpdev: press m to take it under management", style="bright_black"
            )
        return t

    @staticmethod
    def _problem(p: fmt.Problem) -> Text:
        style = "bold red" if p.level == "error" else "bold yellow"
        t = Text(f"⚠ {p.title}: ", style=style)
        t.append(p.detail)
        t.append(f"\n  → {p.advice}", style="italic")
        return t

    @staticmethod
    def _endpoint(view: PodView) -> Text:
        t = Text("SSH  ", style="bold")
        alias = view["ssh_alias"]
        t.append(f"ssh {fmt.safe(alias, 40)}" if alias else "no alias yet")
        host, port = view["ssh_host"], view["ssh_port"]
        state = fmt.safe(view["endpoint_state"] or "none", 16)
        if host and port:
            t.append(f"  {fmt.safe(host, 40)}:{fmt.safe(port, 6)}")
        elif view["api_endpoint"]:
            t.append(f"  API says {fmt.safe(view['api_endpoint'], 48)}", style="yellow")
        if state == "none" and view["status"] != "RUNNING":
            t.append("  (no endpoint while stopped)", style="bright_black")
        else:
            t.append(f"  ({state})", style="green" if state == "confirmed" else "yellow")
        fp = view["host_key_fingerprint"]
        t.append("\nHost key  ", style="bold")
        t.append(fmt.safe(fp, 80) if fp else "not learned yet", style="" if fp else "bright_black")
        forwards = view.get("forwards") or []
        if forwards:
            t.append("\nForwards  ", style="bold")
        for i, f in enumerate(forwards):
            t.append("  " if i else "")
            t.append(
                fmt.safe(forward_label(f), 60), style="green" if f["state"] == "up" else "yellow"
            )
        for f in forwards:
            if f["error"]:
                t.append(f"\n  {f['local']}: {fmt.safe(f['error'], 160)}", style="red")
        return t

    @staticmethod
    def _sync(roots: Sequence[SyncRootView]) -> Text:
        t = Text("Sync", style="bold")
        if not roots:
            t.append("\n  no sync roots: press a to add one", style="bright_black")
        for r in roots:
            t.append("\n  ")
            t.append(f"{fmt.safe(r['local'], 36)} → {fmt.safe(r['remote'], 36)}  ")
            t.append_text(fmt.sync_label([r]))
            pulls = pull_label(r)
            if pulls:
                t.append(f"\n    {fmt.safe(pulls, 120)}", style="bright_black")
            if r["last_error"]:
                t.append(f"\n    last error: {fmt.safe(r['last_error'], 120)}", style="red")
        return t
