"""`rpdev tui` as a user runs it."""

from __future__ import annotations

from pathlib import Path

from tests.integration.harness import cli


def test_tui_refuses_without_a_terminal(home: Path) -> None:
    out = cli("tui")
    assert out.returncode == 2
    assert "needs a terminal" in out.stderr and "rpdev status" in out.stderr


def test_tui_help_lists_its_options() -> None:
    out = cli("tui", "--help")
    assert out.returncode == 0
    assert "--theme" in out.stdout and "--no-start" in out.stdout
