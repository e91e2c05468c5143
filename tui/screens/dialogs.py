"""Small modal dialogs: confirm, hold, policy, sync root add/pick, port forward add/pick. Each
returns its answer via `dismiss` (None for cancel) so the app's action code reads top to bottom.
The dialogs that ask the daemon (sync root, forward) send their request themselves (`submit`) and
stay open with the daemon's error under their fields until it says yes."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, RadioButton, RadioSet
from textual.widgets.option_list import Option

from rpdevd.durations import format_duration, parse_duration
from rpdevd.views import ForwardView, PodView, SyncRootView
from tui import format as fmt

POLICIES = ("manual", "keep-alive", "idle-stop")
# Sends a dialog's request to the daemon: None when it was done, else what went wrong.
Submit = Callable[[dict[str, Any]], Awaitable[str | None]]


class SubmitScreen(ModalScreen[dict[str, Any] | None]):
    """A dialog whose answer the daemon must accept: `send` asks it (once at a time) and
    dismisses with the params sent, or shows the daemon's error in `#<error_id>` and stays."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    error_id = "dialog-error"
    accept_id = "add"  # the button that sends; Enter in any field does too

    def __init__(self, submit: Submit) -> None:
        super().__init__(classes="dialog-screen")
        self.submit = submit
        self.sending = False

    def accept(self) -> None:
        """Read the fields, check them, and `send` the params (or `show_error`)."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.accept()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == self.accept_id:
            self.accept()
        else:
            self.dismiss(None)

    def show_error(self, message: str) -> None:
        # Text, not markup: the daemon's message names pods (their names come from RunPod).
        self.query_one(f"#{self.error_id}", Label).update(Text(message))

    def send(self, params: dict[str, Any]) -> None:
        if not self.sending:
            self.sending = True
            self.show_error("")
            self.run_worker(self._send(params), group="submit", exit_on_error=False)

    async def _send(self, params: dict[str, Any]) -> None:
        try:
            error = await self.submit(params)
        finally:
            self.sending = False
        if error is None:
            self.dismiss(params)
        else:
            self.show_error(error)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes") -> None:
        super().__init__(classes="dialog-screen")
        self.question, self.detail, self.yes = question, detail, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            if self.detail:
                yield Label(self.detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="warning", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


HOLD_CHOICES: tuple[tuple[str, str, float | str | None], ...] = (
    ("1", "30 minutes", 1800.0),
    ("2", "2 hours", 7200.0),
    ("3", "Until I say", "forever"),
    ("0", "Release the hold", None),
)


class HoldScreen(ModalScreen[tuple[float | str | None] | None]):
    """Returns (duration,) where duration is seconds, "forever" or None (release); None = cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        *(
            Binding(key, f"choose({i})", label, show=False)
            for i, (key, label, _) in enumerate(HOLD_CHOICES)
        ),
    ]

    def __init__(self, pod_name: str) -> None:
        super().__init__(classes="dialog-screen")
        self.pod_name = pod_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                f"Hold {fmt.safe(self.pod_name, 30)}: never idle-stop it for…",
                classes="dialog-title",
            )
            yield OptionList(
                *(
                    Option(f"{key}  {label}", id=str(i))
                    for i, (key, label, _) in enumerate(HOLD_CHOICES)
                )
            )

    def action_choose(self, index: int) -> None:
        self.dismiss((HOLD_CHOICES[index][2],))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_choose(int(event.option.id or 0))


class PolicyScreen(ModalScreen[dict[str, Any] | None]):
    """Policy, idle timeout and warning: returns the `pod.set` params that changed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, view: PodView) -> None:
        super().__init__(classes="dialog-screen")
        self.view = view

    def compose(self) -> ComposeResult:
        current = self.view["policy"] if self.view["managed"] else None
        with Vertical(classes="dialog"):
            yield Label(f"Policy for {fmt.safe(self.view['name'], 30)}", classes="dialog-title")
            with RadioSet(id="policy"):
                for p in POLICIES:
                    yield RadioButton(p, value=p == current, id=f"policy-{p}")
            yield Label("Idle timeout (e.g. 30m, 1h30m)")
            yield Input(
                value=fmt.duration_text(self.view["idle_timeout"]).replace("-", ""),
                id="idle-timeout",
            )
            yield Label("Warn before the stop")
            yield Input(
                value=fmt.duration_text(self.view["warn_before"]).replace("-", ""),
                id="warn-before",
            )
            yield Label("", id="policy-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._save()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def _save(self) -> None:
        changes: dict[str, Any] = {}
        pressed = self.query_one("#policy", RadioSet).pressed_button
        if pressed is not None and pressed.id:
            policy = pressed.id.removeprefix("policy-")
            if policy != self.view["policy"] or not self.view["managed"]:
                changes["policy"] = policy
        for key, wid in (("idle_timeout", "#idle-timeout"), ("warn_before", "#warn-before")):
            text = self.query_one(wid, Input).value.strip()
            if not text:
                continue
            try:
                seconds = parse_duration(text)
            except ValueError as exc:
                self.query_one("#policy-error", Label).update(str(exc))
                return
            old = fmt.num(self.view.get(key))
            if old is None or format_duration(seconds) != format_duration(old):
                changes[key] = seconds
        self.dismiss(changes)


class SyncAddScreen(SubmitScreen):
    """A sync root for the pod: the `sync.add` params it sent (local, remote, and pull and
    pull_interval when files are to come back), once the daemon took them."""

    error_id = "sync-error"

    def __init__(self, pod_name: str, submit: Submit, cwd: Path | None = None) -> None:
        super().__init__(submit)
        self.pod_name = pod_name
        self.cwd = cwd or Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                f"Sync a local folder to {fmt.safe(self.pod_name, 30)}", classes="dialog-title"
            )
            yield Label("Local folder")
            yield Input(value=str(self.cwd), id="sync-local")
            yield Label("Remote folder on the pod")
            yield Input(value=f"/workspace/{self.cwd.name}", id="sync-remote")
            yield Label("Pull back (optional): the pod's files to bring back")
            yield Input(placeholder="patterns, e.g. logs/ *.png", id="sync-pull")
            yield Label("Pull every (with pull back; default 30s)")
            yield Input(placeholder="30s", id="sync-pull-interval")
            yield Label("", id="sync-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add", variant="primary", id="add")
                yield Button("Cancel", id="cancel")

    def accept(self) -> None:
        local = Path(os.path.expanduser(self.query_one("#sync-local", Input).value.strip()))
        remote = self.query_one("#sync-remote", Input).value.strip()
        pull = pull_patterns(self.query_one("#sync-pull", Input).value)
        interval = self.query_one("#sync-pull-interval", Input).value.strip()
        if not local.is_dir():
            self.show_error(f"{fmt.safe(local, 60)} is not a folder")
            return
        if not remote.startswith("/") or "\x00" in remote:
            self.show_error("the remote folder must be an absolute path, e.g. /workspace/project")
            return
        params: dict[str, Any] = {"local": str(local.resolve()), "remote": remote}
        if pull:
            params["pull"] = pull
        if interval:
            if not pull:
                self.show_error("the pull interval goes with pull back patterns, e.g. logs/")
                return
            try:
                params["pull_interval"] = parse_duration(interval)
            except ValueError as exc:
                self.show_error(f"pull every: {exc}")
                return
        self.send(params)


def pull_patterns(text: str) -> list[str]:
    """`logs/ *.png, out/**` -> the patterns, split on spaces and commas."""
    return [p for p in re.split(r"[\s,]+", text) if p]


def port_number(text: str) -> int | None:
    """A port from 1 to 65535 as typed, else None."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        return None
    return int(text)


class ForwardAddScreen(SubmitScreen):
    """A port forward to the pod: the `forward.add` params it sent (local, remote, bind), once
    the daemon listens on the local port."""

    error_id = "forward-error"

    def __init__(self, pod_name: str, submit: Submit) -> None:
        super().__init__(submit)
        self.pod_name = pod_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                f"Forward a local port to {fmt.safe(self.pod_name, 30)}", classes="dialog-title"
            )
            yield Label("Local port")
            yield Input(placeholder="e.g. 8888", id="forward-local")
            yield Label("Port on the pod (default: the same)")
            yield Input(id="forward-remote")
            yield Label("Listen on (127.0.0.1: this machine only)")
            yield Input(value="127.0.0.1", id="forward-bind")
            yield Label("", id="forward-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Forward", variant="primary", id="add")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#forward-local", Input).focus()

    def accept(self) -> None:
        local_text = self.query_one("#forward-local", Input).value
        remote_text = self.query_one("#forward-remote", Input).value.strip() or local_text
        local, remote = port_number(local_text), port_number(remote_text)
        if local is None or remote is None:
            self.show_error("ports are whole numbers from 1 to 65535, e.g. 8888")
            return
        bind = self.query_one("#forward-bind", Input).value.strip() or "127.0.0.1"
        self.send({"local": local, "remote": remote, "bind": bind})


class PickRootScreen(ModalScreen[str | None]):
    """Choose one sync root; returns its id."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, roots: Sequence[SyncRootView]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.roots = list(roots)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(
                *(
                    Option(
                        f"{fmt.safe(r['local'], 36)} → {fmt.safe(r['remote'], 30)}"
                        + ("  (paused)" if r["paused"] else ""),
                        id=str(i),
                    )
                    for i, r in enumerate(self.roots)
                )
            )

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.roots[int(event.option.id or 0)]["id"])


def forward_label(f: ForwardView) -> str:
    """`8888->8888 up`, the address first where it is not 127.0.0.1."""
    bind = "" if f["bind"] == "127.0.0.1" else f"{fmt.safe(f['bind'], 40)}:"
    return f"{bind}{f['local']}->{f['remote']} {fmt.safe(f['state'], 20)}"


class PickForwardScreen(ModalScreen[int | None]):
    """Choose one of a pod's port forwards; returns its local port."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, forwards: Sequence[ForwardView]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.forwards = list(forwards)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*(Option(forward_label(f), id=str(f["local"])) for f in self.forwards))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))
