"""Costs end to end, against a real daemon and a simulated pod that is a real sshd: `rpdev cost`
from the ledger; the monthly budget told once per threshold (an event and a desktop
notification), not again after a restart; a spot pod above its max_bid is not resumed by
keep-alive, which says so, and is resumed once the cap allows it. `rpdev status` shows the
budget (with what was told) and each pod's max_bid."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.harness import SimThread, cli, ssh_config_lines, wait_until, write_config

pytestmark = pytest.mark.timeout(150)


def pod_view(name: str) -> dict:
    out = cli("status", "--json")
    return {p["name"]: p for p in json.loads(out.stdout)["pods"]}.get(name, {})


def events(kind_prefix: str) -> list[dict]:
    out = cli("events", "--json", "-n", "1000")
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [e for e in rows if e["kind"].startswith(kind_prefix)]


@pytest.fixture
def notifications(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `notify-send` on PATH that writes down what it is asked to show."""
    bin_dir, log = home / "bin", home / "notified.log"
    bin_dir.mkdir()
    script = bin_dir / "notify-send"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_cost_and_a_budget_told_once_per_threshold_across_a_restart(
    sim: SimThread, home: Path, client_key, user: str, start_daemon, notifications: Path
) -> None:
    # $3600/h is a dollar a second: the $5 budget is reached within seconds of the pod running.
    pod = sim.run(sim.sim.add_pod(name="trainer", cost_per_hr=3600.0))
    write_config(
        home,
        'poll_interval = "1s"\n[budget]\nmonthly = 5\n[[pod]]\nname = "trainer"\n'
        + ssh_config_lines(client_key.private, user),
    )
    daemon = start_daemon()
    wait_until(lambda: len(events("budget.")) == 2, timeout=60, what="both budget events")
    told = events("budget.")
    assert [e["kind"] for e in told] == ["budget.warning", "budget.exceeded"]
    assert told[0]["level"] == "warning" and told[0]["data"]["percent"] == 80
    assert "of the monthly budget of $5.00" in told[0]["message"]
    # One notification per telling (both thresholds at once after a jump: one), each shown by
    # a process the daemon starts and does not wait for: awaited, not assumed.
    tellings = len({e["data"]["spent"] for e in told})
    notified = wait_until(
        lambda: (
            (n := notifications.read_text().splitlines() if notifications.exists() else [])
            and len(n) >= tellings
            and n
        ),
        timeout=30,
        what=f"{tellings} notification(s)",
    )
    assert len(notified) == tellings and all("budget" in line for line in notified), notified

    report = json.loads(cli("cost", "--json").stdout)
    [row] = report["pods"]
    assert (row["id"], row["name"], row["cost_per_hr"]) == (pod.id, "trainer", 3600.0)
    assert row["hours"] > 0 and row["spend"] == pytest.approx(row["hours"] * 3600, abs=2)
    assert report["budget"]["monthly"] == 5.0 and report["budget"]["percent"] >= 100
    text = cli("cost")
    assert text.returncode == 0 and "trainer" in text.stdout and "budget: $" in text.stdout
    # The status carries the month's spend against the budget, with what was told (the TUI's
    # status line and the VS Code extension read it there).
    status = json.loads(cli("status", "--json").stdout)
    budget = status["budget"]
    assert (budget["monthly"], budget["told"]) == (5.0, [80, 100])
    assert budget["month"] == report["month"]
    assert budget["spent"] >= 5.0 and abs(budget["percent"] - budget["spent"] / 5.0 * 100) <= 0.1
    shown = cli("status").stdout
    assert "budget: $" in shown and "of $5.00 this month" in shown and "over budget" in shown

    daemon.stop()
    start_daemon()
    # The restarted daemon has summed the month (and so looked at the budget) again...
    wait_until(lambda: pod_view("trainer").get("spend_month", 0) > 5, what="costs refreshed")
    wait_until(lambda: pod_view("trainer").get("endpoint_state") == "confirmed", what="endpoint")
    # ...and told nothing twice.
    assert [e["kind"] for e in events("budget.")] == ["budget.warning", "budget.exceeded"]
    assert notifications.read_text().splitlines() == notified


def test_cost_of_another_month_and_a_month_that_is_no_month(
    sim: SimThread, home: Path, start_daemon
) -> None:
    sim.run(sim.sim.add_pod(name="trainer"))
    write_config(home, 'poll_interval = "1s"\n[[pod]]\nname = "trainer"\n')
    start_daemon()
    wait_until(lambda: pod_view("trainer"), what="the pod")
    assert json.loads(cli("status", "--json").stdout)["budget"] is None  # no [budget] set
    assert "budget" not in cli("status").stdout
    old = json.loads(cli("cost", "--month", "2020-01", "--json").stdout)
    assert old["month"] == "2020-01" and old["pods"] == [] and old["budget"] is None
    assert "2020-01: no pod ran" in cli("cost", "--month", "2020-01").stdout
    bad = cli("cost", "--month", "2026-13")
    assert bad.returncode == 2 and "write it as YYYY-MM" in bad.stderr


def test_keep_alive_never_resumes_a_spot_pod_above_its_max_bid_and_says_so(
    sim: SimThread, home: Path, client_key, user: str, start_daemon
) -> None:
    pod = sim.run(sim.sim.add_pod(name="spotty", spot=True, bid_per_gpu=0.35))
    write_config(
        home,
        'poll_interval = "1s"\n[[pod]]\nname = "spotty"\npolicy = "keep-alive"\nmax_bid = 0.40\n'
        + ssh_config_lines(client_key.private, user),
    )
    start_daemon()
    wait_until(lambda: pod_view("spotty").get("endpoint_state") == "confirmed", what="endpoint")
    assert pod_view("spotty")["max_bid"] == 0.4  # shown where the CLI, TUI and editor read it
    assert "spotty max_bid: $0.40/GPU/h" in cli("status").stdout
    sim.call(sim.sim.set_lowest_bid, pod.id, 0.55)  # the spot price went up...
    sim.run(sim.sim.interrupt(pod.id))  # ...and the pod was outbid
    capped = wait_until(lambda: events("keepalive.bid_cap"), what="the bid cap told")
    assert "spot price $0.55/GPU/h is above max_bid $0.40" in capped[0]["message"]
    assert capped[0]["data"] == {"price": 0.55, "max_bid": 0.4}
    state = wait_until(lambda: pod_view("spotty").get("idle_state", "").startswith("not resumed"))
    assert state
    # Held back through many keep-alive rounds and polls: told once, never resumed.
    cli("poll")
    cli("poll")
    assert sim.sim.calls_of("podBidResume") == [] and sim.sim.pods[pod.id].status == "EXITED"
    assert len(events("keepalive.bid_cap")) == 1

    r = cli("policy", "spotty", "--max-bid", "0.60")
    assert r.returncode == 0 and "max_bid 0.60" in r.stdout
    assert pod_view("spotty")["max_bid"] == 0.6
    wait_until(lambda: sim.sim.calls_of("podBidResume"), what="the resume")
    assert sim.sim.calls_of("podBidResume") == [{"podId": pod.id, "bidPerGpu": 0.55, "gpuCount": 1}]
    wait_until(lambda: pod_view("spotty").get("status") == "RUNNING", what="running again")
