"""The real app against a real daemon on the simulated RunPod: every action changes the daemon's
state, changes from elsewhere reach the table through the event stream, and a daemon restart is
survived."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Input, Label, Log

from rpdevd import paths
from rpdevd.commands.tui import start_daemon_quietly
from tests.tui.conftest import Pods, daemon_call, in_thread, pod_view, until
from tui.app import RpdevApp
from tui.screens.dialogs import (
    ConfirmScreen,
    ForwardAddScreen,
    HoldScreen,
    PolicyScreen,
    SyncAddScreen,
)
from tui.screens.log import LogScreen
from tui.widgets.pod_table import PodTable
from tui.widgets.status_line import StatusLine

pytestmark = pytest.mark.timeout(90)
SIZE = (120, 36)


def cell(app: RpdevApp, pod_id: str, column: str) -> str | None:
    table = app.query_one(PodTable)
    try:
        value = table.get_cell(pod_id, column)
    except Exception:  # noqa: BLE001 - no such row (yet)
        return None
    return value.plain if isinstance(value, Text) else str(value)


def status(app: RpdevApp, pod_id: str) -> str | None:
    """The status word of a row, without the problem marker."""
    text = cell(app, pod_id, "status")
    return text.split()[0] if text else None


def noticed(app: RpdevApp, text: str) -> bool:
    return any(text in message for _, message in app.notices)


async def test_stop_and_resume_ask_first_and_reach_runpod(pods: Pods, daemon_factory) -> None:
    await in_thread(daemon_factory)
    tid = pods.trainer.id
    app = RpdevApp()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: status(app, tid) == "RUNNING", "trainer running")
        assert cell(app, pods.spare.id, "policy") == "unmanaged"
        assert app.query_one(PodTable).select(tid)

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "stop confirmation")
        await pilot.press("n")  # declined: nothing reaches RunPod
        await pilot.pause(0.3)
        assert pods.sim.sim.calls_of("podStop") == []
        assert pods.trainer.status == "RUNNING"

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "stop confirmation")
        await pilot.press("y")
        await until(pilot, lambda: pods.trainer.status == "EXITED", "the pod stopped")
        await until(pilot, lambda: status(app, tid) == "EXITED", "row shows EXITED")
        assert (await in_thread(pod_view, "trainer"))["status"] == "EXITED"

        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "resume confirmation")
        await pilot.press("y")
        await until(pilot, lambda: pods.trainer.status == "RUNNING", "the pod resumed")
        await until(pilot, lambda: status(app, tid) == "RUNNING", "row shows RUNNING")


async def test_policy_timeout_management_and_hold(pods: Pods, daemon_factory) -> None:
    await in_thread(daemon_factory)
    tid, sid = pods.trainer.id, pods.spare.id
    app = RpdevApp()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: cell(app, tid, "policy") == "idle-stop", "trainer row")
        table = app.query_one(PodTable)
        table.select(tid)

        await pilot.press("p")
        screen = await until(
            pilot, lambda: isinstance(app.screen, PolicyScreen) and app.screen, "policy dialog"
        )
        await pilot.click("#policy-keep-alive")
        screen.query_one("#idle-timeout", Input).value = "45m"
        await pilot.click("#save")
        await until(pilot, lambda: cell(app, tid, "policy") == "keep-alive", "row shows policy")
        view = await in_thread(pod_view, "trainer")
        assert view["policy"] == "keep-alive" and view["idle_timeout"] == 2700

        # a bad duration is refused in the dialog, nothing is sent
        await pilot.press("p")
        screen = await until(
            pilot, lambda: isinstance(app.screen, PolicyScreen) and app.screen, "policy dialog"
        )
        screen.query_one("#idle-timeout", Input).value = "soon"
        await pilot.click("#save")
        await until(
            pilot,
            lambda: "not a duration" in str(screen.query_one("#policy-error").render()),
            "the error in the dialog",
        )
        assert isinstance(app.screen, PolicyScreen)
        await pilot.press("escape")

        # take the unmanaged pod under management
        table.select(sid)
        await pilot.press("m")
        await until(pilot, lambda: cell(app, sid, "policy") == "manual", "spare now managed")
        assert (await in_thread(pod_view, "spare"))["managed"] is True

        table.select(tid)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HoldScreen), "hold dialog")
        await pilot.press("1")
        # The daemon in this tree serves every method the TUI calls: a fallback is a failure here.
        await until(
            pilot,
            lambda: (
                (cell(app, tid, "idle") or "").startswith("held") or noticed(app, "not available")
            ),
            "row shows the hold",
        )
        assert not noticed(app, "not available"), app.notices
        hold = (await in_thread(pod_view, "trainer"))["hold_until"]
        assert isinstance(hold, float) and 1700 < hold - time.time() <= 1800


async def test_sync_roots_and_daemon_log(pods: Pods, daemon_factory, tmp_path: Path) -> None:
    await in_thread(daemon_factory)
    tid = pods.trainer.id
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('hi')\n")
    app = RpdevApp(cwd=project)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: cell(app, tid, "status"), "trainer row")
        app.query_one(PodTable).select(tid)
        await pilot.press("a")
        screen = await until(
            pilot, lambda: isinstance(app.screen, SyncAddScreen) and app.screen, "sync dialog"
        )
        assert screen.query_one("#sync-local", Input).value == str(project)
        assert screen.query_one("#sync-remote", Input).value == "/workspace/project"
        await pilot.click("#add")
        roots = await until(
            pilot, lambda: app.roots_of(tid) or noticed(app, "not available"), "the new root"
        )
        assert not noticed(app, "not available"), app.notices
        assert roots[0]["local"] == str(project.resolve())
        assert roots[0]["remote"] == "/workspace/project"
        await pilot.press("u")  # one root: paused without asking which
        await until(pilot, lambda: app.roots_of(tid)[0].get("paused"), "root paused")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "remove confirm")
        await pilot.press("y")
        await until(pilot, lambda: not app.roots_of(tid), "root removed")
        assert daemon_call("sync.list")["roots"] == []

        await pilot.press("l")
        log_screen = await until(
            pilot, lambda: isinstance(app.screen, LogScreen) and app.screen, "log screen"
        )
        log = log_screen.query_one(Log)
        await until(pilot, lambda: log.line_count > 0, "log lines")
        text = "\n".join(log.lines)
        assert "not available" not in text and "rpdevd" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)


async def test_outside_changes_reach_the_table_and_a_restart_is_survived(
    pods: Pods, daemon_factory
) -> None:
    first = await in_thread(daemon_factory)
    tid = pods.trainer.id
    app = RpdevApp()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: status(app, tid) == "RUNNING", "trainer row")
        # another client (the CLI, say) changes the policy: the event refreshes the row
        await in_thread(daemon_call, "pod.set", {"pod": tid, "policy": "manual"})
        await until(pilot, lambda: cell(app, tid, "policy") == "manual", "policy from event")
        # the pod is stopped from RunPod's console: the next poll's event updates the row
        pods.sim.run(pods.sim.sim.stop_pod(tid))
        await until(pilot, lambda: status(app, tid) == "EXITED", "status from poll")
        await until(
            pilot,
            lambda: any(e["kind"] == "pod.status" for e in app.events.get(tid, ())),
            "the pod.status event",
        )

        await in_thread(first.stop)
        line = app.query_one(StatusLine)
        await until(
            pilot, lambda: not app.connected and "reconnecting" in line.text, "reconnecting shown"
        )
        assert app.query_one("#main").has_class("-stale")
        assert status(app, tid) == "EXITED"  # the last known state stays visible
        await in_thread(daemon_factory)
        await until(pilot, lambda: app.connected, "reconnected")
        assert not app.query_one("#main").has_class("-stale")
        # the stream is live again (once the new daemon has seen the account)
        await in_thread(daemon_call, "poll")
        await in_thread(daemon_call, "pod.set", {"pod": tid, "policy": "keep-alive"})
        await until(pilot, lambda: cell(app, tid, "policy") == "keep-alive", "event after restart")


async def test_offers_to_start_a_daemon_that_is_not_running(home: Path) -> None:
    app = RpdevApp(start_daemon=start_daemon_quietly)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "start offer")
            assert "not running" in app.query_one(StatusLine).text
            await pilot.press("y")
            await until(pilot, lambda: app.connected, "connected to the new daemon")
            # no API key here: the status line says so, with what to do
            await until(
                pilot,
                lambda: "rpdev login" in app.query_one(StatusLine).text,
                "API problem and hint",
            )
    finally:
        if paths.socket_path().exists():
            daemon_call("shutdown")
            deadline = time.monotonic() + 15
            while paths.socket_path().exists() and time.monotonic() < deadline:
                time.sleep(0.05)


async def test_forward_a_port_from_the_tui_and_remove_it(pods: Pods, daemon_factory) -> None:
    """`f` asks the daemon for a forward; a local port another program holds is refused in the
    dialog; `F` removes the forward after asking."""
    await in_thread(daemon_factory)
    tid = pods.trainer.id
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free = probe.getsockname()[1]
    probe.close()
    app = RpdevApp()
    try:
        async with app.run_test(size=(120, 44)) as pilot:
            await until(pilot, lambda: status(app, tid) == "RUNNING", "trainer running")
            app.query_one(PodTable).select(tid)
            await pilot.press("f")
            screen = await until(
                pilot, lambda: isinstance(app.screen, ForwardAddScreen) and app.screen, "dialog"
            )
            screen.query_one("#forward-local", Input).value = str(taken)
            screen.query_one("#forward-remote", Input).value = "8888"
            screen.query_one("#forward-local", Input).focus()
            await pilot.press("enter")
            error = screen.query_one("#forward-error", Label)
            await until(pilot, lambda: "in use" in str(error.content), "the port taken")
            assert isinstance(app.screen, ForwardAddScreen)
            assert daemon_call("forward.list")["forwards"] == []

            screen.query_one("#forward-local", Input).value = str(free)
            await pilot.press("enter")
            await until(pilot, lambda: not isinstance(app.screen, ForwardAddScreen), "closed")
            listed = daemon_call("forward.list")["forwards"]
            assert [(f["pod_id"], f["local"], f["remote"]) for f in listed] == [(tid, free, 8888)]
            await until(
                pilot, lambda: app.by_id[tid].get("forwards") or [], "the forward in the view"
            )

            await pilot.press("F")  # one forward: asks about it without a pick
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "remove confirm")
            await pilot.press("y")
            await until(pilot, lambda: not app.by_id[tid].get("forwards"), "forward removed")
            assert daemon_call("forward.list")["forwards"] == []
    finally:
        holder.close()
