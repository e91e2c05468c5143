"""`rpdev doctor` checks the daemon that does the work, and says where it and the shell differ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.harness import API_KEY, cli

pytestmark = pytest.mark.timeout(120)


def checks(*args: str, env: dict[str, str] | None = None) -> dict[str, dict]:
    out = cli("doctor", "--offline", "--json", *args, env=env)
    return {c["check"]: c for c in json.loads(out.stdout)}


def test_doctor_says_the_daemon_has_no_key_when_only_the_shell_has_one(
    home: Path, start_daemon
) -> None:
    start_daemon()  # started without RUNPOD_API_KEY
    seen = checks(env={"RUNPOD_API_KEY": API_KEY})
    assert seen["api key"]["ok"] and seen["api key"]["detail"] == "from environment"
    daemon_key = seen["daemon key"]
    assert not daemon_key["ok"]
    assert "the daemon has no API key" in daemon_key["detail"]
    assert "this shell has one, from environment" in daemon_key["detail"]
    assert "restart" in daemon_key["hint"]
    human = cli("doctor", "--offline", env={"RUNPOD_API_KEY": API_KEY})
    assert human.returncode == 1 and "FAIL daemon key" in human.stdout


def test_doctor_agrees_when_daemon_and_shell_see_the_same(
    home: Path, start_daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", API_KEY)
    monkeypatch.setenv("RUNPOD_API_BASE_URL", "http://127.0.0.1:9/")  # nothing leaves the machine
    start_daemon()
    seen = checks()
    assert seen["daemon"]["ok"] and seen["daemon key"]["ok"]
    assert seen["daemon key"]["detail"] == "from environment"
    assert "daemon conf" not in seen
