"""Faults the simulated RunPod can be told to show, each for a number of requests or seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# RunPod's own texts (see the RunPod facts guide) ...
NO_FREE_GPUS = "There are not enough free GPUs on the host machine to start this pod."
SPOT_AS_ON_DEMAND = "Cannot resume a spot pod as an on demand pod."
# ... and plausible ones where RunPod's text is not known (docs/simulator.md lists them).
NETWORK_VOLUME_STOP = (
    "This pod has a network volume attached and cannot be stopped, only terminated."
)
POD_NOT_FOUND = "Pod not found."
ON_DEMAND_AS_SPOT = "Cannot resume an on demand pod as a spot pod."
TERMINATED = "This pod has been terminated."


@dataclass
class HttpFault:
    status: int
    body: str  # "html" (like a proxy's error page) or "json" (a GraphQL errors object)
    retry_after: float | None


@dataclass
class GraphQLFault:
    message: str
    operation: str | None  # None: any operation
    times: int


@dataclass
class Faults:
    http: list[HttpFault] = field(default_factory=list)
    slow: list[float] = field(default_factory=list)  # one delay per coming request
    malformed: int = 0
    graphql: list[GraphQLFault] = field(default_factory=list)
    no_free_gpus: dict[str, int] = field(default_factory=dict)  # pod id or "all" -> times
    runtime_null_seconds: float = 0.0
    stale_seconds: float = 0.0
    stale_mode: str = "closed"  # "closed": the old port; "other": another pod's sshd

    def take_slow(self) -> float:
        return self.slow.pop(0) if self.slow else 0.0

    def take_http(self) -> HttpFault | None:
        return self.http.pop(0) if self.http else None

    def take_malformed(self) -> bool:
        if self.malformed > 0:
            self.malformed -= 1
            return True
        return False

    def take_graphql(self, operation: str) -> str | None:
        for fault in self.graphql:
            if fault.operation in (None, operation) and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.graphql.remove(fault)
                return fault.message
        return None

    def take_no_free_gpus(self, pod_id: str) -> bool:
        for key in (pod_id, "all"):
            if self.no_free_gpus.get(key, 0) > 0:
                self.no_free_gpus[key] -= 1
                return True
        return False

    def summary(self) -> dict[str, Any]:
        return {
            "http": len(self.http),
            "slow": len(self.slow),
            "malformed": self.malformed,
            "graphql": [(f.message, f.operation, f.times) for f in self.graphql],
            "no_free_gpus": dict(self.no_free_gpus),
            "runtime_null_seconds": self.runtime_null_seconds,
            "stale_seconds": self.stale_seconds,
            "stale_mode": self.stale_mode,
        }
