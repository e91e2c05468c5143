"""Lifecycle in the daemon: the activity probe, idle-stop (warn, then a fresh look, then stop),
holds, and the cost ledger; each tick also hands every managed pod to keep-alive (keepalive.py).

The decision itself is `rpdevd.activity.decide.step`, a pure function also used by
`rpdev idle replay`; this module only feeds it samples and carries out what it decides. Besides
the probes' samples it feeds it (and records) a status-only sample whenever a pod is seen not
running, and one with status RESUMING whenever rpdev asks RunPod to resume a pod (`rpdev resume`,
wake on connect, keep-alive): either makes the next running sample a fresh start with a full
`idle_timeout`, even when no poll ever saw the pod stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rpdevd import ledger as ledger_mod
from rpdevd.activity.decide import Decision, IdleState, Policy, step, stop_not_taken
from rpdevd.activity.history import SampleHistory
from rpdevd.activity.probe import ActivityProbe
from rpdevd.activity.samples import FOREVER, Sample
from rpdevd.daemon.budget import BudgetWatch, month_spent
from rpdevd.daemon.connections import ConnectionPool
from rpdevd.daemon.core import DaemonCore
from rpdevd.daemon.keepalive import KeepAlive
from rpdevd.daemon.notify import clock, notify_desktop, show_idle
from rpdevd.daemon.server import RequestError
from rpdevd.daemon.state import PodState
from rpdevd.models import Pod

log = logging.getLogger("rpdevd.lifecycle")

# Refusals a retry cannot change (RunPod cannot stop this pod, or the pod or key is gone).
PERMANENT_STOP_ERRORS = {"StopUnsupported", "PodNotFound", "AuthError"}


def _held(hold_until: Any, now: float) -> bool:
    return hold_until == FOREVER or (isinstance(hold_until, int | float) and hold_until > now)


HOLD_HINT = "touch /workspace/.rpdev/hold (or write e.g. 2h into it), or run: rpdev hold {pod} 2h"


@dataclass
class _PodRun:
    probe: ActivityProbe | None = None
    idle: IdleState = field(default_factory=IdleState)
    next_probe: float = 0.0
    task: asyncio.Task[None] | None = None
    ledger: ledger_mod.PodLedger = field(default_factory=ledger_mod.PodLedger)
    unknown_reported: bool = False


def runtime_dict(pod: Pod) -> dict[str, Any] | None:
    """The pod's runtime telemetry in the API's own shape (what samples are built from)."""
    rt = pod.runtime
    if rt is None:
        return None
    return {
        "uptimeInSeconds": rt.uptime,
        "gpus": [
            {"id": g.id, "gpuUtilPercent": g.util, "memoryUtilPercent": g.mem_util} for g in rt.gpus
        ],
        "container": None
        if rt.container is None
        else {"cpuPercent": rt.container.cpu_percent, "memoryPercent": rt.container.memory_percent},
    }


class LifecycleService:
    name = "lifecycle"

    def __init__(
        self,
        daemon: DaemonCore,
        pool: ConnectionPool,
        edits: Callable[[str], int] | None = None,
    ) -> None:
        self.d = daemon
        self.pool = pool
        self.runs: dict[str, _PodRun] = {}
        self.history = SampleHistory(daemon.store.db)
        self.sem = asyncio.Semaphore(daemon.config.probe_concurrency)
        self.wake = asyncio.Event()
        self.edit_counter = edits  # the sync's: pod_id -> files pushed since the last call
        # Every resume rpdev asks for (CLI/TUI, wake on connect, keep-alive) is a fresh start.
        self.resumes = daemon.bus.subscribe(("pod.resume",))
        self.budget = BudgetWatch(daemon.store, daemon.bus)
        self.keepalive = KeepAlive(daemon)

    def run_of(self, pod_id: str) -> _PodRun:
        run = self.runs.get(pod_id)
        if run is None:
            run = _PodRun()
            run.idle = IdleState.from_json(self.d.store.get(f"idle:{pod_id}"))
            run.ledger = ledger_mod.PodLedger.from_json(self.d.store.get(f"ledger:{pod_id}"))
            self.runs[pod_id] = run
        return run

    # status changes: the ledger ----------------------------------------------------------
    def pods_changed(self, changed: list[PodState]) -> None:
        now = time.time()
        for state in changed:
            run = self.run_of(state.id)
            if state.pod.is_running and not run.ledger.running:
                first = not run.ledger.intervals
                uptime = (
                    state.pod.uptime_seconds
                    or (state.pod.runtime.uptime if state.pod.runtime else None)
                    or 0
                )
                run.ledger.started(now - min(uptime, 86400) if first else now)
                run.next_probe = 0.0
            elif not state.pod.is_running and run.ledger.running:
                run.ledger.ended(now)
            self.d.store.put(f"ledger:{state.id}", run.ledger.to_json())
        self.wake.set()

    def refresh_costs(self, now: float) -> None:
        for state in self.d.pods.values():
            run = self.run_of(state.id)
            s = ledger_mod.summary(run.ledger, state.pod.cost_per_hr, now)
            state.spend_today, state.spend_month = s["spend_today"], s["spend_month"]
            state.saved = s
        self.budget.check(self.d.config.budget_monthly, month_spent(self.d.pods.values()), now)

    # the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            self.wake.clear()
            now = time.time()
            try:
                self.take_resumes(now)
                self.refresh_costs(now)
                for state in list(self.d.pods.values()):
                    if state.managed:
                        self.tick(state, now)
            except Exception:
                log.exception("lifecycle tick failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 1.0)

    def tick(self, state: PodState, now: float) -> None:
        if state.restored:
            return  # known only from the stored state: nothing is decided on it (a keep-alive
            # resume of a pod someone stopped meanwhile, say) until RunPod reports it again
        run = self.run_of(state.id)
        self._update_hold(state, now)
        if state.pod.is_running:
            if (run.task is None or run.task.done()) and now >= run.next_probe:
                run.task = asyncio.create_task(self.probe_and_decide(state, run))
        else:
            if run.task is None or run.task.done():
                self.status_seen(state, run, state.pod.desired_status, now)
            show_idle(state, None)
        self.keepalive.tick(state, now)  # after the view: a spot pod held back says why there

    # restarts: seen stopped, or resumed by rpdev ---------------------------------------------
    def take_resumes(self, now: float) -> None:
        """Resumes rpdev asked for since the last look: each pod's countdown starts over."""
        if self.resumes not in self.d.bus.subscribers:  # cut off after falling behind
            self.resumes = self.d.bus.subscribe(("pod.resume",))
        while not self.resumes.queue.empty():
            ev = self.resumes.queue.get_nowait()
            state = self.d.pods.get(ev.pod_id or "") if ev is not None else None
            if state is not None:
                reason = ev.data.get("reason") if ev is not None else None
                self.status_seen(state, self.run_of(state.id), "RESUMING", now, reason)

    def status_seen(
        self, state: PodState, run: _PodRun, status: str, now: float, why: Any = None
    ) -> None:
        """Feed the decision a sample that only says the pod is not running (once per status):
        the next running sample is a fresh start, and a pending warning is void."""
        if run.idle.last_status == status or status == "RUNNING":
            return
        note = f"resume requested ({why})" if status == "RESUMING" and why else f"pod is {status}"
        # Always newer than the last sample, so that the decision (and a replay) takes it.
        t = max(now, (run.idle.last_t or 0.0) + 0.001)
        sample = Sample(t=t, status=status, probe="unreachable", probe_error=note)
        decision, run.idle = step(sample, self.policy(state), run.idle)
        self.history.add(state.id, sample)
        self.d.store.put(f"idle:{state.id}", run.idle.to_json())
        run.next_probe = 0.0
        if state.warning is not None:  # whatever the decision's state said: that stop is off
            state.warning = None
            self.d.bus.emit(
                "idle.cancel",
                f"{state.name}: stop cancelled ({note})",
                state.id,
                reason=note,
                signal=decision.signal,
            )

    def _update_hold(self, state: PodState, now: float) -> None:
        if isinstance(state.hold_until, int | float) and state.hold_until <= now:
            state.hold_until = None
            self.d.update_settings(state, hold_until=None)

    # probe + decision --------------------------------------------------------------------
    async def take_sample(self, state: PodState, run: _PodRun) -> Sample:
        if run.probe is None:
            run.probe = ActivityProbe(
                workspace=state.pod.volume_mount_path or "/workspace",
                sshd_ports=tuple({22, state.ssh_port or 22}),
            )
        run.probe.sshd_ports = tuple({22, state.ssh_port or 22})
        conn = await self.pool.get(state.id)
        edits = self.edit_counter(state.id) if self.edit_counter else 0
        async with self.sem:
            sample = await run.probe.sample(
                conn,
                status=state.pod.desired_status,
                runtime=runtime_dict(state.pod),
                local_edits=edits,
                hold_until=state.hold_until,
            )
        if sample.probe != "ok" and conn is not None:
            self.pool.discard(state.id, conn)
        return sample

    async def probe_and_decide(self, state: PodState, run: _PodRun) -> None:
        interval = self.d.config.probe_interval
        try:
            sample = await self.take_sample(state, run)
            self.history.add(state.id, sample)
            state.last_sample = sample.to_json()
            before = run.idle
            decision, run.idle = step(sample, self.policy(state), before)
            if decision.action == "stop" and state.policy != "idle-stop":
                # Not acted upon: the countdown goes on, should the policy become idle-stop.
                run.idle = stop_not_taken(run.idle)
            elif decision.action == "stop":
                try:
                    decision = await self.confirm_stop(state, run, before)
                except BaseException:
                    run.idle = before  # nothing was stopped: decide again at the next probe
                    raise
            self.d.store.put(f"idle:{state.id}", run.idle.to_json())
            await self.act(state, run, decision)
            self.d.bus.emit("live.sample", state.idle_state, state.id)
            next_in = interval
            if decision.stop_at:
                next_in = max(1.0, min(interval, decision.stop_at - time.time() + 0.5))
            run.next_probe = time.time() + next_in
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("probe of %s failed", state.id)
            run.next_probe = time.time() + interval

    def policy(self, state: PodState) -> Policy:
        # A warning as long as the timeout itself (a runtime timeout shorter than the config's
        # warn_before) would make no policy at all, and no idle-stop: it is shortened to half.
        warn = (
            state.warn_before if state.warn_before < state.idle_timeout else state.idle_timeout / 2
        )
        config = self.d.config
        return Policy(
            idle_timeout=state.idle_timeout,
            warn_before=warn,
            max_gap=max(300.0, 3 * config.probe_interval),
            gpu_util_threshold=config.gpu_threshold,
            cpu_threshold=config.cpu_threshold,
            net_threshold=config.net_threshold,
            disk_threshold=config.disk_threshold,
        )

    async def confirm_stop(self, state: PodState, run: _PodRun, before: IdleState) -> Decision:
        """At the deadline: a fresh status check and a fresh probe; stop only if still idle."""
        decided = run.idle
        with contextlib.suppress(asyncio.TimeoutError):
            await self.d.wait_for_poll(20)
        if run.probe is not None:
            # The last probe was moments ago: CPU over that sliver would mostly be the probes'
            # own. Measure over a window of the fresh probe's own instead.
            run.probe.counters = None
        fresh = await self.take_sample(state, run)
        self.history.add(state.id, fresh)
        state.last_sample = fresh.to_json()
        if run.idle is not decided:
            # Seen stopped, or resumed by rpdev, meanwhile (status_seen): decide from that.
            before = run.idle
        decision, run.idle = step(fresh, self.policy(state), before)
        return decision

    async def act(self, state: PodState, run: _PodRun, decision: Decision) -> None:
        idle_stop = state.policy == "idle-stop"
        show_idle(state, decision if idle_stop else None, decision)
        if decision.action == "cancel":
            # Whatever the reason (activity unknown included): the announced stop is off.
            if idle_stop or state.warning is not None:
                state.warning = None
                self.d.bus.emit(
                    "idle.cancel",
                    f"{state.name}: stop cancelled ({decision.reason})",
                    state.id,
                    reason=decision.reason,
                    signal=decision.signal,
                )
            if decision.signal != "unknown":
                run.unknown_reported = False
                return
        if decision.action == "unknown" or (
            decision.signal == "unknown" and not run.unknown_reported
        ):
            if not run.unknown_reported:
                run.unknown_reported = True
                self.d.bus.emit(
                    "idle.unknown",
                    f"{state.name}: activity unknown ({decision.reason}); it will not be stopped",
                    state.id,
                    level="warning",
                    reason=decision.reason,
                )
            return
        if decision.signal != "unknown":
            run.unknown_reported = False  # told again only after activity was known meanwhile
        else:
            return
        if not idle_stop:
            return
        if decision.action == "warn":
            await self.warn(state, decision)
        elif decision.action == "stop":
            await self.stop(state, run, decision)

    async def warn(self, state: PodState, decision: Decision) -> None:
        stop_at = decision.stop_at or time.time() + state.warn_before
        text = (
            f"rpdev: pod {state.name} is idle ({decision.reason}) and will be STOPPED at "
            f"{time.strftime('%H:%M', time.localtime(stop_at))}. To keep it: "
            + HOLD_HINT.format(pod=state.id)
        )
        state.warning = {
            "kind": "idle.warn",
            "message": text,
            "stop_at": stop_at,
            "reason": decision.reason,
        }
        self.d.bus.emit(
            "idle.warn",
            f"{state.name}: stops in {clock(stop_at - time.time())} "
            f"unless something happens ({decision.reason})",
            state.id,
            level="warning",
            stop_at=stop_at,
            reason=decision.reason,
            signal=decision.signal,
        )
        notify_desktop(f"rpdev: {state.name} stops soon", text)
        conn = await self.pool.get(state.id)
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    conn.run(
                        "command -v wall >/dev/null 2>&1 && wall", input=text + "\n", check=False
                    ),
                    10,
                )

    async def stop(self, state: PodState, run: _PodRun, decision: Decision) -> None:
        # A hold or a policy change that arrived while the deadline's fresh probe ran (the
        # moment users react to the warning) still wins.
        if state.policy != "idle-stop" or _held(state.hold_until, time.time()):
            self._stop_not_taken(state, run)
            state.warning = None
            self.d.bus.emit(
                "idle.cancel",
                f"{state.name}: stop cancelled (held, or no longer idle-stop)",
                state.id,
                reason="held or policy changed",
            )
            return
        try:
            await self.d.stop_pod(state, f"idle-stop: {decision.reason}")
        except RequestError as exc:
            permanent = exc.code in PERMANENT_STOP_ERRORS
            if not permanent:
                # RunPod failed to answer: the countdown starts over (a new warning first), so
                # an idle pod is not left running for good over one bad reply.
                self._stop_not_taken(state, run)
            # e.g. a pod with a network volume: RunPod cannot stop it. Reported, never terminated.
            self.d.bus.emit(
                "idle.stop_failed",
                f"{state.name}: idle-stop failed: {exc.message}"
                + ("" if permanent else "; it will be tried again after a new warning"),
                state.id,
                level="error",
                hint=exc.hint,
            )
            state.last_error = exc.message
            return
        state.warning = None
        self.d.update_settings(state, idle_stopped_at=time.time())
        run.ledger.idle_stopped(time.time(), state.pod.cost_per_hr or 0.0)
        self.d.store.put(f"ledger:{state.id}", run.ledger.to_json())
        self.d.bus.emit(
            "idle.stop",
            f"{state.name}: stopped after being idle ({decision.reason})",
            state.id,
            reason=decision.reason,
        )

    def _stop_not_taken(self, state: PodState, run: _PodRun) -> None:
        """Tell the decision its stop was not carried out; stored at once, since the state was
        stored with the stop before it was tried (and the guard reads it from the store)."""
        run.idle = stop_not_taken(run.idle)
        self.d.store.put(f"idle:{state.id}", run.idle.to_json())

    def record_guard_stop(self, state: PodState, t: float) -> None:
        """The pod's guard stopped it at `t` while the daemon was away (rpdevd/daemon/guard.py):
        the ledger ends that running interval there and counts the saving from there."""
        run = self.run_of(state.id)
        run.ledger.stopped_earlier(t, state.pod.cost_per_hr or 0.0)
        self.d.store.put(f"ledger:{state.id}", run.ledger.to_json())
