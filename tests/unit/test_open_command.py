"""`rpdev open`: the folder it hands the editor comes from RunPod's API; it must never be read
as an option of the editor's."""

from __future__ import annotations

import pytest

from rpdevd.commands.open import editor_command, safe_folder


@pytest.mark.parametrize(
    "folder", ["--extensionDevelopmentPath=/tmp/x", "workspace", "/w\nx", "/w\x1b[31m", ""]
)
def test_hostile_folders_are_refused(folder: str) -> None:
    assert not safe_folder(folder)


def test_the_command_vscode_and_cursor_expect() -> None:
    assert safe_folder("/workspace/my project")
    assert editor_command("trainer.runpod", "/workspace", cursor=True) == [
        "cursor",
        "--remote",
        "ssh-remote+trainer.runpod",
        "/workspace",
    ]
