"""The simulator's controls over HTTP (`POST /_sim/<action>` with a JSON object of arguments).

Another process (the daemon under test, `rpdev demo`) drives the simulated RunPod with these; the
names and arguments are those of the `SimRunPod` methods. `client.py` is a small stdlib client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rpdevd.sim.lifecycle import SimLifecycle

Action = Callable[["SimLifecycle", dict[str, Any]], Awaitable[Any]]


async def _add_pod(sim: SimLifecycle, kw: dict[str, Any]) -> Any:
    return (await sim.add_pod(**kw)).state()


def _pod_action(name: str) -> Action:
    async def run(sim: SimLifecycle, kw: dict[str, Any]) -> Any:
        return (await getattr(sim, name)(**kw)).state()

    return run


def _awaited(name: str) -> Action:
    async def run(sim: SimLifecycle, kw: dict[str, Any]) -> Any:
        await getattr(sim, name)(**kw)
        return None

    return run


def _plain(name: str) -> Action:
    async def run(sim: SimLifecycle, kw: dict[str, Any]) -> Any:
        getattr(sim, name)(**kw)
        return None

    return run


async def _state(sim: SimLifecycle, kw: dict[str, Any]) -> Any:
    return sim.state()


async def _calls(sim: SimLifecycle, kw: dict[str, Any]) -> Any:
    return {
        "requests": sim.requests,
        "calls": [[op, args] for op, args in sim.calls],
        "keys": [[op, key] for op, key in sim.key_uses],  # "account" or "pod:<id>"
    }


CONTROL_ACTIONS: dict[str, Action] = {
    "add_pod": _add_pod,
    "restart": _pod_action("restart"),
    "interrupt": _pod_action("interrupt"),
    "stop_pod": _pod_action("stop_pod"),
    "resume": _pod_action("resume"),
    "remove_pod": _awaited("remove_pod"),
    "set_gpu_util": _plain("set_gpu_util"),
    "set_cpu": _plain("set_cpu"),
    "set_lowest_bid": _plain("set_lowest_bid"),
    "no_free_gpus": _plain("no_free_gpus"),
    "runtime_null_for": _plain("runtime_null_for"),
    "stale_ports_for": _plain("stale_ports_for"),
    "http_errors": _plain("http_errors"),
    "slow": _plain("slow"),
    "malformed_json": _plain("malformed_json"),
    "graphql_error": _plain("graphql_error"),
    "clear_faults": _plain("clear_faults"),
    "state": _state,
    "calls": _calls,
}


async def call_control(sim: SimLifecycle, action: str, kwargs: dict[str, Any]) -> Any:
    return await CONTROL_ACTIONS[action](sim, kwargs)
