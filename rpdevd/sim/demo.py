"""The demo account: a handful of pods that show every state rpdev handles."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rpdevd.sim.pods import SimPod
    from rpdevd.sim.server import SimRunPod


async def add_demo_pods(sim: SimRunPod) -> list[SimPod]:
    """trainer (busy H100), notebook (idle A100), spot-runner (spot 4090), archive (stopped)."""
    trainer = await sim.add_pod(name="trainer", gpu="NVIDIA H100 80GB HBM3", cost_per_hr=2.99)
    sim.set_gpu_util(trainer.id, [87.0], [64.0])
    sim.set_cpu(trainer.id, 140.0, 35.0)
    notebook = await sim.add_pod(name="notebook", gpu="NVIDIA A100 80GB PCIe", cost_per_hr=1.64)
    spot = await sim.add_pod(
        name="spot-runner", gpu="NVIDIA GeForce RTX 4090", spot=True, bid_per_gpu=0.35
    )
    sim.set_gpu_util(spot.id, [42.0], [30.0])
    archive = await sim.add_pod(
        name="archive", gpu="NVIDIA RTX A6000", cost_per_hr=0.79, status="EXITED"
    )
    return [trainer, notebook, spot, archive]
