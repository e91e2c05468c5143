"""What the CLI says: commands that change nothing say so, errors read alike, --help explains
every argument."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rpdevd.cli import build_parser
from tests.integration.harness import SimThread, cli, wait_until

pytestmark = pytest.mark.timeout(120)


def test_every_argument_of_every_command_says_what_it_is() -> None:
    missing = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")
            elif not action.help and not isinstance(action, argparse._HelpAction):
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "rpdev")
    assert not missing


def test_a_bad_argument_shows_the_usage_of_its_own_command(home: Path) -> None:
    out = cli("hold", "trainer", "-5m")
    assert out.returncode == 2
    assert out.stderr.startswith("usage: rpdev hold ") and "-5m" in out.stderr


def test_a_sync_error_reads_like_every_other_and_an_alias_gets_its_hint(
    home: Path, tmp_path: Path
) -> None:
    out = cli("sync", "once", str(tmp_path), "nosuchpod.runpod:/workspace/x")
    assert out.returncode == 1
    first = out.stderr.splitlines()[0]
    assert first.startswith("rpdev: ") and "Error:" not in first and ": :" not in first
    assert "rpdev ssh-config install" in out.stderr


@pytest.fixture
def pods(sim: SimThread, start_daemon) -> None:
    sim.run(sim.sim.add_pod(name="trainer", sshd=False))
    sim.run(sim.sim.add_pod(name="archive", status="EXITED", sshd=False))
    start_daemon()
    wait_until(
        lambda: len(json.loads(cli("pods", "--json").stdout or "{}").get("pods", [])) == 2,
        what="the pods",
    )


def test_commands_that_change_nothing_say_so(pods: None) -> None:
    stop = cli("stop", "archive")
    assert stop.returncode == 0 and "archive" in stop.stdout
    assert "is already stopped" in stop.stdout and "requested" not in stop.stdout
    resume = cli("resume", "trainer")
    assert "is already running" in resume.stdout and "requested" not in resume.stdout
    shown = cli("policy", "trainer")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == (
        "trainer: policy manual, idle_timeout 30m, warn_before 5m, wake_on_connect off"
    )
    assert "is already" not in cli("stop", "trainer").stdout


def test_daemon_status_says_when_there_is_no_key(home: Path, start_daemon) -> None:
    start_daemon()
    out = cli("daemon", "status")
    assert "no API key" in out.stdout and "nowhere" not in out.stdout


def test_a_rejected_key_from_the_environment_is_not_sent_to_rpdev_login(
    sim: SimThread, start_daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "wrong-key-abcdef123456")
    start_daemon()
    api = wait_until(
        lambda: (
            (a := json.loads(cli("status", "--json").stdout)["api"]).get("error")
            not in (None, "not polled yet")
            and a
        ),
        what="the rejected key",
    )
    assert "RUNPOD_API_KEY" in api["hint"] and "restart the daemon" in api["hint"]
