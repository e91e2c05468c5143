"""The simulated account's pods and how they move: RUNNING / EXITED / TERMINATED.

Both the GraphQL mutations (`api_*`, called by RunPod clients) and the test controls (`restart`,
`interrupt`, the faults) land here. Transitions of one pod are serialised by a per-pod lock, so
a resume racing a restart cannot start two sshds.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from rpdevd.sim import faults as msg
from rpdevd.sim.faults import Faults, GraphQLFault, HttpFault
from rpdevd.sim.pods import SimPod, fake_port, new_pod_id, status_change
from rpdevd.sim.runpodctl import install

STATUSES = ("RUNNING", "EXITED", "TERMINATED")


class SimAPIError(Exception):
    """Becomes one entry of a GraphQL `errors` array: only the message reaches the client."""


class SimLifecycle:
    def __init__(
        self, root: Path, authorized_keys: str, *, private_workspace: bool = False
    ) -> None:
        self.root = root
        # Pods' sessions see their own folder as `/workspace` where possible (private_root.py).
        self.private_workspace = private_workspace
        self.pub_key = authorized_keys  # the account's pubKey: authorized on every pod start
        self.pods: dict[str, SimPod] = {}
        self.faults = Faults()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # (operation, "account" or "pod:<id>"): which key each API call came with.
        self.key_uses: list[tuple[str, str]] = []
        self.requests = 0  # GraphQL HTTP requests received, faults included
        self._locks: dict[str, asyncio.Lock] = {}

    # ---- bookkeeping ----------------------------------------------------------------------

    def record(self, operation: str, args: dict[str, Any]) -> None:
        self.calls.append((operation, args))

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        return [args for op, args in self.calls if op == operation]

    def check_fault(self, operation: str) -> None:
        message = self.faults.take_graphql(operation)
        if message is not None:
            raise SimAPIError(message)

    def pod(self, pod_id: str) -> SimPod:
        try:
            return self.pods[pod_id]
        except KeyError:
            raise KeyError(f"no simulated pod {pod_id!r}") from None

    def _lock(self, pod_id: str) -> asyncio.Lock:
        return self._locks.setdefault(pod_id, asyncio.Lock())

    # ---- RunPod's views -------------------------------------------------------------------

    def pod_views(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [p.view(now) for p in self.pods.values()]

    def pod_view(self, pod_id: object) -> dict[str, Any] | None:
        pod = self.pods.get(pod_id) if isinstance(pod_id, str) else None
        return None if pod is None else pod.view()

    def network_volumes(self) -> list[dict[str, Any]]:
        return [
            {
                "id": f"nv{p.id[:10]}",
                "name": f"{p.name}-volume",
                "size": 100,
                "dataCenterId": "SIM-LOCAL-1",
            }
            for p in self.pods.values()
            if p.network_volume
        ]

    # ---- adding pods ----------------------------------------------------------------------

    async def add_pod(
        self,
        name: str = "pod",
        gpu: str = "NVIDIA H100 80GB HBM3",
        gpu_count: int = 1,
        cost_per_hr: float = 2.99,
        spot: bool = False,
        bid_per_gpu: float | None = None,
        network_volume: bool = False,
        status: str = "RUNNING",
        sshd: bool = True,
        pod_id: str | None = None,
        image_name: str | None = None,
    ) -> SimPod:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        pod_id = pod_id or new_pod_id()
        if pod_id in self.pods:
            raise ValueError(f"pod {pod_id} exists")
        if spot:
            bid_per_gpu = bid_per_gpu or round(cost_per_hr / max(gpu_count, 1), 4)
            cost_per_hr = bid_per_gpu * gpu_count  # a spot pod is billed at its bid
        pod = SimPod(
            id=pod_id,
            name=name,
            gpu=gpu,
            gpu_count=gpu_count,
            cost_per_hr=cost_per_hr,
            spot=spot,
            bid_per_gpu=bid_per_gpu if spot else None,
            network_volume=network_volume,
            status="EXITED",
            image_name=image_name or "runpod/pytorch:2.4.0-py3.11-cuda12.4.1",
            root=self.root / "pods" / pod_id,
            use_sshd=sshd,
            lowest_bid=bid_per_gpu if spot else None,
        )
        pod.workspace.mkdir(parents=True, exist_ok=True)
        pod.last_status_change = status_change("Exited")
        self.pods[pod_id] = pod
        if status == "RUNNING":
            async with self._lock(pod_id):
                await self._start(pod, "Rented")
        elif status == "TERMINATED":
            pod.status = "TERMINATED"
        return pod

    async def remove_pod(self, pod_id: str) -> None:
        """Forget a pod entirely (RunPod drops terminated pods from the list after a while)."""
        pod = self.pod(pod_id)
        async with self._lock(pod_id):
            if pod.sshd is not None:
                await pod.sshd.stop()
            self.pods.pop(pod_id, None)

    # ---- transitions ----------------------------------------------------------------------

    async def _start(self, pod: SimPod, verb: str) -> None:
        """Give the pod a new port (and host key, in the sshd) and mark it RUNNING."""
        now = time.monotonic()
        old = pod.port
        if pod.use_sshd:
            self._install_runpodctl(pod)
            sshd = pod.new_sshd(self.pub_key, private_workspace=self.private_workspace)
            sshd.authorized_keys = self.pub_key  # a changed pubKey applies at the next start
            pod.port = await sshd.start()
        else:
            pod.port = fake_port()
        pod.previous_port = old if old is not None else pod.previous_port
        pod.status = "RUNNING"
        pod.started_at = time.time()
        pod.last_status_change = status_change(verb)
        pod.runtime_null_until = now + self.faults.runtime_null_seconds
        pod.reported_port = None
        if self.faults.stale_seconds > 0 and pod.previous_port is not None:
            pod.reported_port = self._stale_port(pod)
            pod.stale_until = now + self.faults.stale_seconds

    def _install_runpodctl(self, pod: SimPod) -> None:
        # Written at every start, with the API's address now, as RunPod's image brings it each time.
        install(pod.bindir, getattr(self, "base_url", None))
        # Login shells reset PATH from /etc/profile; the pod's ~/.profile puts runpodctl first.
        home = pod.root / "sshd" / "home"  # PodSSHD's home of the pod
        home.mkdir(parents=True, exist_ok=True)
        (home / ".profile").write_text(f'PATH="{pod.bindir}:$PATH"\nexport PATH\n')

    def _stale_port(self, pod: SimPod) -> int | None:
        if self.faults.stale_mode == "other":
            for other in self.pods.values():
                if (
                    other is not pod
                    and other.status == "RUNNING"
                    and other.use_sshd
                    and other.port is not None
                ):
                    return other.port  # answered by ANOTHER pod's sshd
        return pod.previous_port  # nothing listens there any more

    async def _halt(self, pod: SimPod, status: str, *, kill: bool = False) -> None:
        if pod.sshd is not None:
            if kill:
                pod.sshd.kill()  # SIGKILL first, then reap: a spot interruption
            await pod.sshd.stop()
        if pod.port is not None:
            pod.previous_port = pod.port
        pod.port = None
        pod.reported_port = None
        pod.started_at = None
        pod.status = status
        pod.last_status_change = status_change("Exited" if status == "EXITED" else "Terminated")

    async def stop_all_sshd(self) -> None:
        await asyncio.gather(
            *(p.sshd.stop() for p in self.pods.values() if p.sshd is not None),
            return_exceptions=True,
        )

    # ---- mutations, as RunPod's API does them ----------------------------------------------

    def _api_pod(self, pod_id: str) -> SimPod:
        pod = self.pods.get(pod_id)
        if pod is None:
            raise SimAPIError(msg.POD_NOT_FOUND)
        if pod.status == "TERMINATED":
            raise SimAPIError(msg.TERMINATED)
        return pod

    async def api_stop(self, pod_id: str) -> dict[str, Any]:
        pod = self._api_pod(pod_id)
        if pod.network_volume:
            raise SimAPIError(msg.NETWORK_VOLUME_STOP)
        async with self._lock(pod_id):
            if pod.status == "RUNNING":
                await self._halt(pod, "EXITED")
        return pod.view()

    async def api_resume(
        self, pod_id: str, gpu_count: int | None, bid_per_gpu: float | None
    ) -> dict[str, Any]:
        pod = self._api_pod(pod_id)
        if bid_per_gpu is None and pod.spot:
            raise SimAPIError(msg.SPOT_AS_ON_DEMAND)
        if bid_per_gpu is not None and not pod.spot:
            raise SimAPIError(msg.ON_DEMAND_AS_SPOT)
        async with self._lock(pod_id):
            if pod.status == "RUNNING":
                return pod.view()  # resuming a running pod changes nothing
            if self.faults.take_no_free_gpus(pod_id):
                raise SimAPIError(msg.NO_FREE_GPUS)
            if gpu_count is not None and gpu_count > 0 and gpu_count != pod.gpu_count:
                per_gpu = pod.cost_per_hr / max(pod.gpu_count, 1)
                pod.gpu_count = gpu_count
                pod.cost_per_hr = per_gpu * gpu_count
                pod.gpu_util = [0.0] * gpu_count
                pod.gpu_mem = [0.0] * gpu_count
            if bid_per_gpu is not None:
                pod.bid_per_gpu = bid_per_gpu
                pod.cost_per_hr = bid_per_gpu * pod.gpu_count
            await self._start(pod, "Rented")
        return pod.view()

    async def api_terminate(self, pod_id: str) -> None:
        pod = self._api_pod(pod_id)
        async with self._lock(pod_id):
            await self._halt(pod, "TERMINATED")

    # ---- test controls ---------------------------------------------------------------------

    async def restart(self, pod_id: str) -> SimPod:
        """A reset: the pod comes back RUNNING on a new port with a new host key."""
        pod = self.pod(pod_id)
        async with self._lock(pod_id):
            await self._halt(pod, "EXITED")
            await self._start(pod, "Reset")
        return pod

    async def interrupt(self, pod_id: str) -> SimPod:
        """A spot interruption (or a crash): sshd and its sessions killed at once, EXITED."""
        pod = self.pod(pod_id)
        async with self._lock(pod_id):
            await self._halt(pod, "EXITED", kill=True)
        return pod

    async def stop_pod(self, pod_id: str) -> SimPod:
        """Stopped from outside (the RunPod console, say), bypassing every fault."""
        pod = self.pod(pod_id)
        async with self._lock(pod_id):
            if pod.status == "RUNNING":
                await self._halt(pod, "EXITED")
        return pod

    async def resume(self, pod_id: str) -> SimPod:
        """Started from outside, bypassing faults and spot rules."""
        pod = self.pod(pod_id)
        async with self._lock(pod_id):
            if pod.status != "RUNNING":
                await self._start(pod, "Rented")
        return pod

    def set_gpu_util(self, pod_id: str, util: list[float], mem: list[float] | None = None) -> None:
        pod = self.pod(pod_id)
        pod.gpu_util = [float(u) for u in util]
        pod.gpu_mem = [float(m) for m in (mem if mem is not None else util)]

    def set_cpu(self, pod_id: str, pct: float, memory: float | None = None) -> None:
        pod = self.pod(pod_id)
        pod.cpu_percent = float(pct)
        if memory is not None:
            pod.memory_percent = float(memory)

    def set_lowest_bid(self, pod_id: str, bid_per_gpu: float) -> None:
        self.pod(pod_id).lowest_bid = float(bid_per_gpu)

    # ---- faults ------------------------------------------------------------------------------

    def no_free_gpus(self, pod_id: str = "all", times: int = 1) -> None:
        """The next `times` resumes of `pod_id` (or of any pod: "all") fail for lack of GPUs."""
        self.faults.no_free_gpus[pod_id] = self.faults.no_free_gpus.get(pod_id, 0) + times

    def runtime_null_for(self, seconds: float) -> None:
        """From now on, every start reports `runtime: null` for `seconds` (0 turns it off)."""
        self.faults.runtime_null_seconds = float(seconds)

    def stale_ports_for(self, seconds: float, mode: str = "closed") -> None:
        """From now on, for `seconds` after every resume/restart the API reports the previous
        port: closed (mode "closed") or answered by another pod's sshd (mode "other")."""
        if mode not in ("closed", "other"):
            raise ValueError("mode must be 'closed' or 'other'")
        self.faults.stale_seconds = float(seconds)
        self.faults.stale_mode = mode

    def http_errors(
        self,
        status: int = 500,
        times: int = 1,
        body: str = "html",
        retry_after: float | None = None,
    ) -> None:
        if not 400 <= status <= 599 or body not in ("html", "json"):
            raise ValueError("status must be 4xx/5xx and body 'html' or 'json'")
        self.faults.http.extend(HttpFault(status, body, retry_after) for _ in range(times))

    def slow(self, seconds: float, times: int = 1) -> None:
        self.faults.slow.extend([float(seconds)] * times)

    def malformed_json(self, times: int = 1) -> None:
        self.faults.malformed += times

    def graphql_error(self, message: str, times: int = 1, operation: str | None = None) -> None:
        """The next `times` calls of `operation` (any, if None) fail with this message."""
        self.faults.graphql.append(GraphQLFault(str(message), operation, times))

    def clear_faults(self) -> None:
        self.faults = Faults()

    def state(self) -> dict[str, Any]:
        return {"pods": [p.state() for p in self.pods.values()], "faults": self.faults.summary()}
