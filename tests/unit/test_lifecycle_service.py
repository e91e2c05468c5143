"""The idle-stop service between a decision and the stop: a failed stop is tried again, a hold
or a policy change that lands at the deadline wins, and a countdown that ran out under another
policy does not block idle-stop later. The real LifecycleService, Store, EventBus and connection
pool; the RunPod API and the pod's probe are stand-ins that count calls and return fixed
samples."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rpdevd.activity.samples import Gpu, Sample
from rpdevd.daemon import lifecycle as lifecycle_mod
from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.lifecycle_methods import LifecycleMethods
from rpdevd.daemon.state import PodState
from rpdevd.models import Pod
from tests.daemon_core import Core

T0 = 1_790_000_000.0


class Daemon(Core):
    """The daemon as LifecycleService sees it, with a RunPod that can refuse stops."""

    def kinds(self, prefix: str = "idle.") -> list[str]:
        return super().kinds(prefix)


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    daemon = Daemon(tmp_path / "state.db")
    pod = Pod.from_api(
        {
            "id": "abc123",
            "name": "p",
            "desiredStatus": "RUNNING",
            "costPerHr": 2.0,
            "runtime": {"uptimeInSeconds": 100, "gpus": [], "ports": []},
        }
    )
    state = PodState(pod=pod, managed=True, policy="idle-stop", idle_timeout=1800, warn_before=300)
    daemon.pods[state.id] = state
    service = lifecycle_mod.LifecycleService(daemon, ConnectionPool())
    clock = [T0]
    monkeypatch.setattr(lifecycle_mod.time, "time", lambda: clock[0])
    during_confirm: list[Any] = []

    async def take_sample(state: PodState, run: Any) -> Sample:
        hold = state.hold_until  # read as the probe goes out, as the real one does
        if getattr(run, "confirming", False):
            for action in during_confirm:
                await action()
        return Sample(
            t=clock[0],
            gpus=(Gpu(0, 0.0, 0, 81559),),
            cpu_pct=1.0,
            cpu_cores=0.05,
            api_uptime_s=100 + clock[0] - T0,
            hold_until=hold,
        )

    confirm = service.confirm_stop

    async def confirm_stop(state: PodState, run: Any, before: Any) -> Any:
        run.confirming = True
        try:
            return await confirm(state, run, before)
        finally:
            run.confirming = False

    service.take_sample = take_sample  # type: ignore[method-assign]
    service.confirm_stop = confirm_stop  # type: ignore[method-assign]

    async def minutes(n: int, each: Any = None) -> None:
        run = service.run_of(state.id)
        start = round((clock[0] - T0) / 60)
        for m in range(start, start + n):
            clock[0] = T0 + 60 * m
            if each is not None:
                each(m)
            await service.probe_and_decide(state, run)

    return SimpleNamespace(
        daemon=daemon, state=state, service=service, minutes=minutes, during_confirm=during_confirm
    )


async def test_a_failed_stop_is_tried_again_after_a_new_warning(rig: Any) -> None:
    rig.daemon.refusals = ["TransientAPIError"]
    await rig.minutes(90)
    assert rig.daemon.stops == 2  # the 502, then a stop that went through
    assert rig.daemon.kinds() == [
        "idle.warn",
        "idle.stop_failed",
        "idle.warn",
        "idle.stop",
    ]


async def test_a_stop_runpod_cannot_do_is_not_retried(rig: Any) -> None:
    rig.daemon.refusals = ["StopUnsupported"]
    await rig.minutes(90)
    assert rig.daemon.stops == 1
    assert rig.daemon.kinds() == ["idle.warn", "idle.stop_failed"]


async def test_a_hold_set_during_the_last_probe_wins(rig: Any) -> None:
    async def hold() -> None:
        await LifecycleMethods(rig.daemon, rig.service).hold({"pod": "p", "duration": "2h"})

    rig.during_confirm.append(hold)
    await rig.minutes(31)
    assert rig.daemon.stops == 0
    assert rig.daemon.kinds()[-2:] == ["idle.hold", "idle.cancel"]


async def test_a_countdown_that_ran_out_under_another_policy_does_not_block_idle_stop(
    rig: Any,
) -> None:
    def policy(minute: int) -> None:
        rig.state.policy = "manual" if minute < 40 else "idle-stop"

    await rig.minutes(120, policy)
    assert rig.daemon.stops == 1
    assert rig.daemon.kinds()[-1] == "idle.stop"


async def test_a_longer_idle_timeout_during_the_warning_delays_the_stop(rig: Any) -> None:
    def longer(minute: int) -> None:
        if minute == 27:
            rig.state.idle_timeout = 7200

    await rig.minutes(60, longer)
    assert rig.daemon.stops == 0
    assert rig.daemon.kinds() == ["idle.warn", "idle.cancel"]


async def test_a_pod_that_dies_after_every_resume_is_resumed_less_and_less(
    rig: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep-alive on a pod outbid (or crashing) a minute after each resume: not a resume
    every quarter of a minute all night."""
    import asyncio

    state = rig.state
    state.policy = "keep-alive"
    resumes: list[float] = []
    clock = [T0]
    monkeypatch.setattr(lifecycle_mod.time, "time", lambda: clock[0])

    def pod(status: str) -> Pod:
        return Pod.from_api({"id": "abc123", "name": "p", "desiredStatus": status})

    async def resume_pod(st: PodState, reason: str) -> None:
        resumes.append(clock[0])
        st.pod = pod("RUNNING")

    rig.daemon.resume_pod = resume_pod
    state.pod = pod("EXITED")
    for second in range(0, 2 * 3600, 15):
        clock[0] = T0 + second
        if resumes and state.pod.is_running and clock[0] - resumes[-1] >= 60:
            state.pod = pod("EXITED")  # dies a minute after each resume
        run = rig.service.run_of(state.id)
        run.next_probe = float("inf")  # probes are not what this is about
        rig.service.tick(state, clock[0])
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert 5 <= len(resumes) <= 10, len(resumes)
    gaps = [b - a for a, b in zip(resumes, resumes[1:], strict=False)]
    assert gaps == sorted(gaps)  # each wait at least as long as the one before


async def test_a_runtime_timeout_shorter_than_the_warning_still_idle_stops(rig: Any) -> None:
    """idle_timeout set to 4 minutes at run time, warn_before 5 minutes from the config: the
    warning is shortened, not the idle-stop disabled."""
    rig.state.idle_timeout = 240
    await rig.minutes(10)
    assert rig.daemon.kinds() == ["idle.warn", "idle.stop"]


async def test_a_warning_withdrawn_because_activity_became_unknown_is_cleared(
    rig: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe stops answering during the warning: the stop is off, and the pod's view no
    longer says it will be stopped."""
    await rig.minutes(26)  # warned at 25
    assert rig.state.warning is not None

    async def no_answer(state: PodState, run: Any) -> Sample:
        return Sample(t=lifecycle_mod.time.time(), probe="unreachable")

    monkeypatch.setattr(rig.service, "take_sample", no_answer)
    await rig.minutes(10)
    assert rig.daemon.stops == 0
    assert rig.state.warning is None
    assert rig.daemon.kinds() == ["idle.warn", "idle.cancel", "idle.unknown"]


# A resume is a fresh start, however the daemon learns of it (issue 13.2) -------------------------


def _pod(status: str) -> Pod:
    return Pod.from_api(
        {
            "id": "abc123",
            "name": "p",
            "desiredStatus": status,
            "runtime": {"uptimeInSeconds": 100, "gpus": [], "ports": []}
            if status == "RUNNING"
            else None,
        }
    )


def _warned_at(rig: Any) -> float | None:
    warning = rig.state.warning
    return None if warning is None else (warning["stop_at"] - T0) / 60


@pytest.mark.parametrize("reason", ["requested by user", "wake on connect", "keep-alive: found"])
async def test_a_resume_by_rpdev_gives_a_full_timeout_even_unseen_by_polls(
    rig: Any, reason: str
) -> None:
    """Stop and resume quicker than a poll, and RunPod's uptime (the stand-in's never drops)
    shows nothing: the resume rpdev asked for starts the countdown over."""
    await rig.minutes(20)
    # What Daemon.resume_pod publishes for every resume it makes (CLI/TUI, wake, keep-alive).
    rig.daemon.bus.emit("pod.resume", "p: resume requested", rig.state.id, reason=reason)
    rig.service.take_resumes(T0 + 60 * 20 + 30)
    await rig.minutes(24)  # minutes 21-44: before the fix the warning came at 25
    assert rig.daemon.kinds() == []
    await rig.minutes(10)
    assert rig.daemon.kinds() == ["idle.warn", "idle.stop"]
    assert rig.daemon.stops == 1
    exported = list(rig.service.history.samples(rig.state.id))
    assert any(s.status == "RESUMING" for s in exported)  # on the record for `idle export`


async def test_a_stop_seen_by_a_poll_gives_a_full_timeout_after_the_resume(rig: Any) -> None:
    await rig.minutes(26)  # warned at 25
    assert rig.state.warning is not None
    rig.state.pod = _pod("EXITED")  # stopped by the user; a poll saw it
    rig.service.tick(rig.state, T0 + 60 * 26 + 20)
    assert rig.daemon.kinds() == ["idle.warn", "idle.cancel"]
    rig.state.pod = _pod("RUNNING")  # resumed 11 s later
    await rig.minutes(24)  # minutes 27-50
    assert rig.daemon.kinds() == ["idle.warn", "idle.cancel"]
    await rig.minutes(10)
    assert rig.daemon.kinds() == ["idle.warn", "idle.cancel", "idle.warn", "idle.stop"]


async def test_a_stopped_pod_is_fed_to_the_decision_once(rig: Any) -> None:
    await rig.minutes(3)
    rig.state.pod = _pod("EXITED")
    for second in range(0, 600, 15):
        rig.service.tick(rig.state, T0 + 180 + second)
    statuses = [s.status for s in rig.service.history.samples(rig.state.id)]
    assert statuses == ["RUNNING"] * 3 + ["EXITED"]


def test_the_pod_view_says_a_transfer_keeps_it_busy() -> None:
    from rpdevd.daemon.notify import busy_text

    sample = {"net_rx_bps": 58_000_000, "net_tx_bps": 400_000, "disk_bps": 2_500_000}
    assert busy_text("net", sample, "moving data: ...") == "busy: network 58.4 MB/s"
    assert busy_text("disk", sample, "moving data: ...") == "busy: disk 2.5 MB/s"
    assert busy_text("net", {}, "moving data") == "busy: network"


async def test_a_resume_during_the_last_look_before_a_stop_wins(rig: Any) -> None:
    """The deadline's fresh poll and probe take a while; a resume rpdev asked for meanwhile
    (wake on connect of a pod RunPod still shows running, say) starts the countdown over."""

    async def resumed() -> None:
        rig.daemon.bus.emit("pod.resume", "p: resume requested", rig.state.id, reason="wake")
        rig.service.take_resumes(lifecycle_mod.time.time())

    rig.during_confirm.append(resumed)
    await rig.minutes(31)
    assert rig.daemon.stops == 0
    assert rig.daemon.kinds() == ["idle.warn", "idle.cancel"]
