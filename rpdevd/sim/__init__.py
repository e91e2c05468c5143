"""A simulated RunPod for the demo and the tests: GraphQL API + real sshd pods on loopback.

See docs/simulator.md. `SimRunPod` is imported lazily so that `rpdevd.sim.sshd` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rpdevd.sim.pods import SimPod
    from rpdevd.sim.server import SimRunPod

__all__ = ["SimPod", "SimRunPod"]


def __getattr__(name: str) -> Any:
    if name == "SimRunPod":
        from rpdevd.sim.server import SimRunPod

        return SimRunPod
    if name == "SimPod":
        from rpdevd.sim.pods import SimPod

        return SimPod
    raise AttributeError(name)
