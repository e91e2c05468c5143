"""Small modal dialogs: confirm, hold, policy, sync root add/pick. Each returns its answer via
`dismiss` (None for cancel) so the app's action code reads top to bottom."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, RadioButton, RadioSet
from textual.widgets.option_list import Option

from rpdevd.durations import format_duration, parse_duration
from rpdevd.views import PodView, SyncRootView
from tui import format as fmt

POLICIES = ("manual", "keep-alive", "idle-stop")


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


class SyncAddScreen(ModalScreen[tuple[str, str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, pod_name: str, cwd: Path | None = None) -> None:
        super().__init__(classes="dialog-screen")
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
            yield Label("", id="sync-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add", variant="primary", id="add")
                yield Button("Cancel", id="cancel")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._add()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self._add()
        else:
            self.dismiss(None)

    def _add(self) -> None:
        error = self.query_one("#sync-error", Label)
        local = Path(os.path.expanduser(self.query_one("#sync-local", Input).value.strip()))
        remote = self.query_one("#sync-remote", Input).value.strip()
        if not local.is_dir():
            error.update(f"{fmt.safe(local, 60)} is not a folder")
            return
        if not remote.startswith("/") or "\x00" in remote:
            error.update("the remote folder must be an absolute path, e.g. /workspace/project")
            return
        self.dismiss((str(local.resolve()), remote))


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
