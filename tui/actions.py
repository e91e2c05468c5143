"""What the keys and the command palette do. Every action goes through the daemon (`rpc`), so
the daemon's state is the only truth; the app re-renders from the events that follow."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from rpdevd.durations import format_duration
from rpdevd.protocol import ProtocolError, RemoteError
from rpdevd.views import ForwardView, PodView, SyncRootView
from tui import format as fmt
from tui.connection import Link
from tui.screens.dialogs import (
    ConfirmScreen,
    ForwardAddScreen,
    HoldScreen,
    PickForwardScreen,
    PickRootScreen,
    PolicyScreen,
    SyncAddScreen,
    forward_label,
)
from tui.screens.log import LogScreen

ONE_KEY_HOLD = 1800.0
FEATURE_NAMES = {
    "pod.hold": "Holding a pod",
    "sync.list": "Sync roots",
    "sync.add": "Adding a sync root",
    "sync.remove": "Removing a sync root",
    "sync.pause": "Pausing a sync root",
    "sync.confirm": "Confirming held deletions",
    "forward.add": "Adding a port forward",
    "forward.remove": "Removing a port forward",
    "daemon.log": "The daemon log",
    "idle.samples": "Activity history",
}
EDITORS = {"code": "VS Code", "cursor": "Cursor"}


class PodActions(App[int]):
    link: Link
    unsupported: set[str]
    warned: tuple[str, float | None] | None
    by_id: dict[str, PodView]
    start_daemon_fn: Callable[[], tuple[bool, str]] | None
    cwd: Path | None
    # Editors started from here: `code` returns at once, but its process is reaped (polled)
    # rather than left a zombie.
    editor_procs: list[subprocess.Popen[bytes]]

    def selected_view(self) -> PodView | None:
        raise NotImplementedError

    def request_refresh(self) -> None:
        raise NotImplementedError

    def roots_of(self, pod_id: str) -> list[SyncRootView]:
        raise NotImplementedError

    # talking to the daemon ---------------------------------------------------------------
    async def rpc(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        quiet: bool = False,
        timeout: float | None = None,
    ) -> tuple[bool, Any]:
        """(True, result) or (False, None) after telling the user what went wrong."""
        try:
            return True, await self.link.call(method, params, timeout)
        except RemoteError as exc:
            if exc.code == "unknown_method":
                self.unsupported.add(method)
                if not quiet:
                    self.notify(
                        f"{FEATURE_NAMES.get(method, method)} is not available in this "
                        "daemon version: upgrade rpdev and restart the daemon.",
                        severity="warning",
                    )
            elif not quiet:
                self.notify(
                    exc.message + (f"\n→ {exc.hint}" if exc.hint else ""),
                    title=f"{method} failed",
                    severity="error",
                    timeout=10,
                )
        except (ConnectionError, OSError, ProtocolError, TimeoutError):
            if not quiet:
                self.notify("Not connected to rpdevd: reconnecting…", severity="error")
        return False, None

    async def ask(
        self, method: str, params: dict[str, Any], timeout: float | None = None
    ) -> tuple[Any, str | None]:
        """(result, None), or (None, what went wrong) for a dialog to show: `rpc` without the
        notification."""
        try:
            return await self.link.call(method, params, timeout), None
        except RemoteError as exc:
            if exc.code == "unknown_method":
                self.unsupported.add(method)
                return None, (
                    f"{FEATURE_NAMES.get(method, method)} is not available in this daemon "
                    "version: upgrade rpdev and restart the daemon."
                )
            said = fmt.safe(exc.message, 400)
            return None, said + (f"\n→ {fmt.safe(exc.hint, 200)}" if exc.hint else "")
        except (ConnectionError, OSError, ProtocolError, TimeoutError):
            return None, "Not connected to rpdevd: reconnecting…"

    def target(self) -> PodView | None:
        view = self.selected_view()
        if view is None:
            self.notify("No pod selected.", severity="warning")
        return view

    @staticmethod
    def name_of(view: PodView) -> str:
        return fmt.safe(view["name"] or view["id"], 30)

    # power -------------------------------------------------------------------------------
    @work(group="action")
    async def action_stop(self) -> None:
        view = self.target()
        if view is None:
            return
        if await self.push_screen_wait(
            ConfirmScreen(
                f"Stop {self.name_of(view)}?",
                "Its container disk is wiped; /workspace stays. Billing for GPUs stops.",
                yes="Stop",
            )
        ):
            ok, _ = await self.rpc("pod.stop", {"pod": view["id"]}, timeout=60)
            if ok:
                self.notify(f"{self.name_of(view)}: stop requested")

    @work(group="action")
    async def action_resume(self) -> None:
        view = self.target()
        if view is None:
            return
        rate = fmt.money(view["cost_per_hr"], True)
        if await self.push_screen_wait(
            ConfirmScreen(
                f"Resume {self.name_of(view)}?", f"It bills {rate} while running.", yes="Resume"
            )
        ):
            ok, _ = await self.rpc("pod.resume", {"pod": view["id"]}, timeout=60)
            if ok:
                self.notify(f"{self.name_of(view)}: resume requested")

    # policy, hold, management ------------------------------------------------------------
    @work(group="action")
    async def action_policy(self) -> None:
        view = self.target()
        if view is None:
            return
        changes = await self.push_screen_wait(PolicyScreen(view))
        if not changes:
            return
        ok, _ = await self.rpc("pod.set", {"pod": view["id"], **changes})
        if ok:
            said = ", ".join(
                f"{k.replace('_', ' ')} {format_duration(v)}"
                if isinstance(v, float)
                else f"{k} {v}"
                for k, v in changes.items()
            )
            self.notify(f"{self.name_of(view)}: {said}")

    async def hold(self, view: PodView, duration: float | str | None) -> None:
        ok, _ = await self.rpc("pod.hold", {"pod": view["id"], "duration": duration})
        if ok:
            what = (
                "hold released"
                if duration is None
                else "held until you release it"
                if duration == "forever"
                else f"held for {format_duration(float(duration))}"
            )
            self.notify(f"{self.name_of(view)}: {what}")
            if self.warned and self.warned[0] == view["id"] and duration is not None:
                self.warned = None

    @work(group="action")
    async def action_hold(self) -> None:
        view = self.target()
        if view is None:
            return
        choice = await self.push_screen_wait(HoldScreen(self.name_of(view)))
        if choice is not None:
            await self.hold(view, choice[0])

    def warned_view(self) -> PodView | None:
        """The pod an idle-stop warning is out for: the one just warned about while its warning
        stands, else the daemon's own view of warnings (the TUI may have opened, or reconnected,
        after the warning), the soonest stop first. Never simply the selected pod."""
        warned = [v for v in self.by_id.values() if v["warning"] is not None]
        just = self.by_id.get(self.warned[0]) if self.warned else None
        if just is not None and (just in warned or not warned):
            return just  # (the views may lag the event by a refresh)

        def stop_at(v: PodView) -> float:
            return v["warning"]["stop_at"] if v["warning"] else float("inf")

        return min(warned, key=stop_at) if warned else None

    @work(group="action")
    async def action_hold_warned(self) -> None:
        """The one-key answer to an idle-stop warning: holds the warned pod, whichever is
        selected. With no warning out it holds nothing (`h` holds the selected pod)."""
        view = self.warned_view()
        if view is None:
            self.notify("No idle-stop warning is out: h holds the selected pod.")
            return
        await self.hold(view, ONE_KEY_HOLD)

    @work(group="action")
    async def action_manage(self) -> None:
        view = self.target()
        if view is None:
            return
        managed = not view["managed"]
        ok, _ = await self.rpc("pod.manage", {"pod": view["id"], "managed": managed})
        if ok:
            self.notify(
                f"{self.name_of(view)}: "
                + ("now managed by rpdev" if managed else "no longer managed")
            )

    # editors and ssh ---------------------------------------------------------------------
    def action_open_editor(self, binary: str) -> None:
        view = self.target()
        if view is None:
            return
        alias = view["ssh_alias"]
        if not alias:
            self.notify(
                f"{self.name_of(view)} has no SSH alias yet: wait for its endpoint.",
                severity="warning",
            )
            return
        exe = shutil.which(binary)
        name = EDITORS.get(binary, binary)
        if exe is None:
            self.notify(
                f"`{binary}` is not on PATH. In {name}, run “Shell Command: Install "
                f"'{binary}' command in PATH”, then try again.",
                severity="error",
                timeout=10,
            )
            return
        folder = str(view["volume_mount_path"] or "/workspace")
        self.editor_procs = [p for p in self.editor_procs if p.poll() is None]
        try:
            proc = subprocess.Popen(
                [exe, "--remote", f"ssh-remote+{alias}", folder],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            self.notify(f"Could not start {name}: {exc}", severity="error")
            return
        self.editor_procs.append(proc)
        self.notify(f"Opening {alias}:{folder} in {name}")

    def action_copy_ssh(self) -> None:
        view = self.target()
        if view is None:
            return
        alias = view["ssh_alias"]
        if not alias:
            self.notify(f"{self.name_of(view)} has no SSH alias yet.", severity="warning")
            return
        command = f"ssh {fmt.safe(alias, 80)}"
        self.copy_to_clipboard(command)
        self.notify(f"Copied: {command}")

    # sync --------------------------------------------------------------------------------
    @work(group="action")
    async def action_sync_add(self) -> None:
        view = self.target()
        if view is None:
            return
        if "sync.add" in self.unsupported:
            await self.rpc("sync.add", {})
            return
        pod_id = view["id"]

        async def submit(params: dict[str, Any]) -> str | None:
            return (await self.ask("sync.add", {"pod": pod_id, **params}))[1]

        answer = await self.push_screen_wait(SyncAddScreen(self.name_of(view), submit, self.cwd))
        if answer is None:
            return
        pulls = answer.get("pull")
        self.notify(
            f"Syncing {answer['local']} → {self.name_of(view)}:{answer['remote']}"
            + (f", pulling {' '.join(pulls)} back" if pulls else "")
        )
        self.request_refresh()

    async def pick_root(self, view: PodView, verb: str) -> SyncRootView | None:
        roots = self.roots_of(view["id"])
        if not roots:
            self.notify(f"{self.name_of(view)} has no sync roots.", severity="warning")
            return None
        if len(roots) == 1:
            return roots[0]
        root_id = await self.push_screen_wait(PickRootScreen(f"{verb} which sync root?", roots))
        return next((r for r in roots if r["id"] == root_id), None)

    @work(group="action")
    async def action_sync_remove(self) -> None:
        view = self.target()
        root = await self.pick_root(view, "Remove") if view else None
        if view is None or root is None:
            return
        if await self.push_screen_wait(
            ConfirmScreen(
                f"Stop syncing {fmt.safe(root['local'], 40)}?",
                "Files already on the pod stay there.",
                yes="Remove",
            )
        ):
            ok, _ = await self.rpc("sync.remove", {"id": root["id"]})
            if ok:
                self.notify(f"Sync root {fmt.safe(root['local'], 40)} removed")
                self.request_refresh()

    @work(group="action")
    async def action_sync_pause(self) -> None:
        view = self.target()
        root = await self.pick_root(view, "Pause or resume") if view else None
        if view is None or root is None:
            return
        paused = not root["paused"]
        ok, _ = await self.rpc("sync.pause", {"id": root["id"], "paused": paused})
        if ok:
            self.notify(
                f"Sync {fmt.safe(root['local'], 40)} " + ("paused" if paused else "resumed")
            )
            self.request_refresh()

    @work(group="action")
    async def action_sync_confirm(self) -> None:
        """Let a root's held deletions go through, after saying what they are."""
        view = self.target()
        if view is None:
            return
        held = [r for r in self.roots_of(view["id"]) if r["held"] > 0]
        if not held:
            self.notify(f"{self.name_of(view)} has no held deletions.")
            return
        root = held[0]
        if len(held) > 1:
            root_id = await self.push_screen_wait(
                PickRootScreen("Confirm the deletions of which sync root?", held)
            )
            picked = next((r for r in held if r["id"] == root_id), None)
            if picked is None:
                return
            root = picked
        count = root["held"]
        if await self.push_screen_wait(
            ConfirmScreen(
                f"Delete {count} files on {self.name_of(view)}?",
                f"rpdev wrote them from {fmt.safe(root['local'], 60)} and they were deleted "
                "there, more in one go than the cap allows. Files rpdev did not write, or that "
                "changed on the pod, are kept whatever you answer.",
                yes="Delete",
            )
        ):
            ok, _ = await self.rpc("sync.confirm", {"id": root["id"]})
            if ok:
                self.notify(f"{count} held deletions confirmed for {fmt.safe(root['local'], 40)}")
                self.request_refresh()

    # port forwards -----------------------------------------------------------------------
    @work(group="action")
    async def action_forward_add(self) -> None:
        view = self.target()
        if view is None:
            return
        if "forward.add" in self.unsupported:
            await self.rpc("forward.add", {})
            return
        pod_id = view["id"]

        async def submit(params: dict[str, Any]) -> str | None:
            return (await self.ask("forward.add", {"pod": pod_id, **params}))[1]

        answer = await self.push_screen_wait(ForwardAddScreen(self.name_of(view), submit))
        if answer is None:
            return
        where = fmt.safe(answer["bind"], 40)
        self.notify(
            f"{self.name_of(view)}: {where}:{answer['local']} -> port {answer['remote']} on the pod"
        )
        self.request_refresh()

    @work(group="action")
    async def action_forward_remove(self) -> None:
        view = self.target()
        if view is None:
            return
        forwards: list[ForwardView] = list(view.get("forwards") or [])
        if not forwards:
            self.notify(f"{self.name_of(view)} has no port forwards.", severity="warning")
            return
        fwd = forwards[0]
        if len(forwards) > 1:
            local = await self.push_screen_wait(
                PickForwardScreen("Remove which port forward?", forwards)
            )
            picked = next((f for f in forwards if f["local"] == local), None)
            if picked is None:
                return
            fwd = picked
        again = (
            " It is in config.toml: it comes back when the daemon restarts."
            if fwd["source"] == "config"
            else ""
        )
        if await self.push_screen_wait(
            ConfirmScreen(
                f"Remove the forward {forward_label(fwd)}?",
                f"Local port {fwd['local']} stops listening; open connections through it close."
                + again,
                yes="Remove",
            )
        ):
            ok, _ = await self.rpc(
                "forward.remove", {"pod": fwd["pod_id"] or fwd["pod"], "local": fwd["local"]}
            )
            if ok:
                self.notify(f"{self.name_of(view)}: forward of local port {fwd['local']} removed")
                self.request_refresh()

    # the daemon --------------------------------------------------------------------------
    def action_log(self) -> None:
        self.push_screen(LogScreen(self.fetch_log))

    async def fetch_log(self, lines: int) -> list[str] | None:
        ok, result = await self.rpc("daemon.log", {"lines": lines}, quiet=True)
        if ok and isinstance(result, dict):
            return [str(line) for line in result.get("lines") or []]
        return None if "daemon.log" in self.unsupported else ["(could not read the log)"]

    @work(group="action")
    async def action_poll(self) -> None:
        ok, _ = await self.rpc("poll", timeout=40)
        if ok:
            self.request_refresh()

    @work(group="action", exclusive=True)
    async def action_start_daemon(self) -> None:
        await self.start_daemon_now()

    async def start_daemon_now(self) -> None:
        if self.link.connected:
            self.notify("rpdevd is already running.")
            return
        if self.start_daemon_fn is None:
            self.notify("Start the daemon with `rpdev daemon start`.", severity="warning")
            return
        self.notify("Starting rpdevd…")
        ok, message = await asyncio.to_thread(self.start_daemon_fn)
        if ok:
            self.link.retry_now()
        else:
            self.notify(f"rpdevd did not start: {message}", severity="error", timeout=15)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    # the command palette: every action, named for the selected pod -------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        view = self.selected_view()
        name = self.name_of(view) if view else "the selected pod"
        for title, help_text, action in (
            ("Stop pod", f"Stop {name} (asks first)", self.action_stop),
            ("Resume pod", f"Resume {name} (asks first)", self.action_resume),
            (
                "Change policy / idle timeout",
                f"manual, keep-alive or idle-stop for {name}",
                self.action_policy,
            ),
            ("Hold pod", f"Keep {name} from idle-stopping: 30m, 2h, until I say", self.action_hold),
            (
                "Hold the warned pod 30 minutes",
                "The one-key answer to an idle warning (H)",
                self.action_hold_warned,
            ),
            (
                "Take under management / release",
                f"Toggle whether rpdev manages {name}",
                self.action_manage,
            ),
            (
                "Open in VS Code",
                f"code --remote ssh-remote+<alias> for {name}",
                lambda: self.action_open_editor("code"),
            ),
            (
                "Open in Cursor",
                f"cursor --remote ssh-remote+<alias> for {name}",
                lambda: self.action_open_editor("cursor"),
            ),
            ("Copy ssh command", f"ssh <alias> for {name}", self.action_copy_ssh),
            ("Add sync root", f"Live-sync a local folder to {name}", self.action_sync_add),
            ("Remove sync root", f"Stop syncing a folder to {name}", self.action_sync_remove),
            ("Pause / resume sync root", f"Toggle a sync root of {name}", self.action_sync_pause),
            (
                "Confirm held deletions",
                f"Let a sync root's held deletions go through on {name}",
                self.action_sync_confirm,
            ),
            ("Forward a port", f"A local port to a port on {name}", self.action_forward_add),
            ("Remove port forward", f"Stop a port forward to {name}", self.action_forward_remove),
            ("View daemon log", "The last lines of rpdevd's log", self.action_log),
            ("Poll RunPod now", "Ask the daemon for a fresh poll", self.action_poll),
            ("Start the daemon", "Start rpdevd in the background", self.action_start_daemon),
            (
                "Toggle dark / light",
                "Switch between the dark and light themes",
                self.action_toggle_theme,
            ),
        ):
            yield SystemCommand(title, help_text, action)
