"""The idle-stop service's socket methods: holds, the activity history, the cost ledger."""

from __future__ import annotations

import time
from typing import Any

from rpdevd import ledger as ledger_mod
from rpdevd.activity.samples import FOREVER
from rpdevd.daemon.core import DaemonCore, Register
from rpdevd.daemon.lifecycle import LifecycleService
from rpdevd.daemon.server import RequestError
from rpdevd.durations import format_duration, parse_duration


def register_lifecycle_methods(
    register: Register, daemon: DaemonCore, service: LifecycleService
) -> None:
    m = LifecycleMethods(daemon, service)
    for name, fn in (
        ("pod.hold", m.hold),
        ("idle.export", m.export),
        ("idle.samples", m.export),
        ("ledger", m.ledger),
        ("cost", m.cost),
    ):
        register(name, fn)


class LifecycleMethods:
    def __init__(self, daemon: DaemonCore, service: LifecycleService) -> None:
        self.d = daemon
        self.svc = service

    async def hold(self, params: dict[str, Any]) -> Any:
        state = self.d.pod_param(params)
        value = params.get("duration")
        until: float | str | None
        if value is None or value == "off":
            until = None
        elif value == FOREVER:
            until = FOREVER
        else:
            try:
                seconds = parse_duration(value) if isinstance(value, str) else float(value)
            except (TypeError, ValueError):
                raise RequestError(
                    "bad_params", f"{value!r} is not a duration", "e.g. 30m, 2h, forever, or off"
                ) from None
            if isinstance(value, bool) or not 0 < seconds <= 30 * 86400:
                raise RequestError("bad_params", "a hold lasts between 1s and 30d")
            until = time.time() + seconds
        self.d.update_settings(state, hold_until=until)
        state.hold_until = until
        self.d.bus.emit(
            "idle.hold",
            f"{state.name}: "
            + (
                "hold removed"
                if until is None
                else "held until you remove the hold"
                if until == FOREVER
                else f"held for {format_duration(float(until) - time.time())}"
            ),
            state.id,
            hold_until=until,
        )
        run = self.svc.run_of(state.id)
        run.next_probe = 0.0
        self.svc.wake.set()
        return state.view()

    async def export(self, params: dict[str, Any]) -> Any:
        state = self.d.pod_param(params)
        since = params.get("since")
        since_s = params.get("since_s")
        start = None
        if isinstance(since, int | float) and not isinstance(since, bool):
            start = float(since)
        elif isinstance(since_s, int | float) and not isinstance(since_s, bool):
            start = time.time() - float(since_s)
        samples = [s.to_json() for s in self.svc.history.samples(state.id, since=start)]
        return {"pod": state.id, "samples": samples[-20000:]}

    async def cost(self, params: dict[str, Any]) -> Any:
        """`rpdev cost`: a month's hours, spend and savings per pod (ledger.month_report)."""
        now = time.time()
        month = params.get("month", ledger_mod.month_of(now))
        try:
            month = ledger_mod.parse_month(month if isinstance(month, str) else "")
        except ValueError as exc:
            raise RequestError("bad_params", str(exc)) from None
        pods = [
            ledger_mod.PodCostInput(
                s.id, s.name, self.svc.run_of(s.id).ledger, s.pod.cost_per_hr, s.managed
            )
            for s in self.d.pods.values()
        ]
        return ledger_mod.month_report(pods, month, now, self.d.config.budget_monthly)

    async def ledger(self, params: dict[str, Any]) -> Any:
        now = time.time()
        out = {}
        for state in self.d.pods.values():
            run = self.svc.run_of(state.id)
            out[state.id] = {
                "name": state.name,
                **ledger_mod.summary(run.ledger, state.pod.cost_per_hr, now),
            }
        return {
            "pods": out,
            "saving_definition": ledger_mod.__doc__.split("**")[2].strip()
            if ledger_mod.__doc__
            else "",
        }
