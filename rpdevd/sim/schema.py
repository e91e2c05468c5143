"""The slice of RunPod's GraphQL schema that rpdev and the runpod SDK use, on graphql-core.

Field names and shapes follow RunPod's schema (and the SDK's query texts in
`runpod/api/queries` and `runpod/api/mutations`), so an unknown field in a query fails here as it
would on RunPod. Resolvers are thin: the state lives in `SimRunPod`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import build_schema

from rpdevd.sim.lifecycle import SimAPIError

if TYPE_CHECKING:
    from rpdevd.sim.lifecycle import SimLifecycle

SDL = """
type Query {
  myself: User
  pod(input: PodFilter): Pod
}

type Mutation {
  podStop(input: PodStopInput!): Pod
  podResume(input: PodResumeInput!): Pod
  podBidResume(input: PodBidResumeInput!): Pod
  podTerminate(input: PodTerminateInput!): Boolean
  updateUserSettings(input: UpdateUserSettingsInput): User
}

input PodFilter { podId: String }
input PodStopInput { podId: String!, incrementVersion: Boolean }
input PodTerminateInput { podId: String! }
input PodResumeInput { podId: String!, gpuCount: Int, syncMachine: Boolean }
input PodBidResumeInput { podId: String!, bidPerGpu: Float!, gpuCount: Int! }
input UpdateUserSettingsInput { pubKey: String }

type User {
  id: String
  email: String
  pubKey: String
  networkVolumes: [NetworkVolume]
  pods: [Pod]
}

type NetworkVolume { id: String, name: String, size: Int, dataCenterId: String }

type Pod {
  id: String
  name: String
  desiredStatus: String
  podType: String
  gpuCount: Int
  costPerHr: Float
  adjustedCostPerHr: Float
  lowestBidPriceToResume: Float
  lastStatusChange: String
  uptimeSeconds: Int
  imageName: String
  volumeMountPath: String
  containerDiskInGb: Int
  volumeInGb: Float
  memoryInGb: Float
  vcpuCount: Float
  dockerArgs: String
  dockerId: String
  env: [String]
  machineId: String
  port: Int
  ports: String
  templateId: String
  locked: Boolean
  networkVolumeId: String
  machine: PodMachineInfo
  runtime: PodRuntime
}

type PodMachineInfo { podHostId: String, gpuDisplayName: String, location: String }

type PodRuntime {
  uptimeInSeconds: Int
  ports: [PodRuntimePorts]
  gpus: [PodRuntimeGpus]
  container: PodRuntimeContainer
}

type PodRuntimePorts {
  ip: String
  isIpPublic: Boolean
  privatePort: Int
  publicPort: Int
  type: String
}

type PodRuntimeGpus { id: String, gpuUtilPercent: Float, memoryUtilPercent: Float }
type PodRuntimeContainer { cpuPercent: Float, memoryPercent: Float }
"""

SCHEMA = build_schema(SDL)
Info = Any  # graphql-core's GraphQLResolveInfo; unused by these resolvers


POD_KEY_REFUSED = "This API key is scoped to pod {scope}: it cannot {what}"


def root_value(sim: SimLifecycle) -> dict[str, Any]:
    """Top-level resolvers (graphql-core calls a callable root entry with (info, **args))."""

    def key(info: Info, operation: str, pod_id: object = None, *, pod_key_ok: bool = False) -> None:
        # Which key came with the call; a pod's own key works on that pod only, for reading it
        # and stopping it (what code on the pod needs), as RunPod's pod-scoped keys do.
        context = getattr(info, "context", None)
        scope = context.get("pod_scope") if isinstance(context, dict) else None
        sim.key_uses.append((operation, f"pod:{scope}" if scope else "account"))
        if scope is None:
            return
        if not pod_key_ok:
            raise SimAPIError(POD_KEY_REFUSED.format(scope=scope, what=f"use {operation}"))
        if pod_id != scope:
            raise SimAPIError(POD_KEY_REFUSED.format(scope=scope, what=f"act on pod {pod_id}"))

    def myself(info: Info) -> dict[str, Any]:
        key(info, "myself")
        sim.record("myself", {})

        def pods(_info: Info) -> list[dict[str, Any]]:
            sim.record("pods", {})
            sim.check_fault("pods")
            return sim.pod_views()

        return {
            "id": "user_sim",
            "email": "demo@example.invalid",
            "pubKey": sim.pub_key,
            "networkVolumes": sim.network_volumes(),
            "pods": pods,
        }

    def pod(info: Info, input: dict[str, Any] | None = None) -> Any:
        pod_id = (input or {}).get("podId")
        key(info, "pod", pod_id, pod_key_ok=True)
        sim.record("pod", {"podId": pod_id})
        sim.check_fault("pod")
        return sim.pod_view(pod_id)

    async def pod_stop(info: Info, input: dict[str, Any]) -> Any:
        key(info, "podStop", input.get("podId"), pod_key_ok=True)
        sim.record("podStop", dict(input))
        sim.check_fault("podStop")
        return await sim.api_stop(input["podId"])

    async def pod_resume(info: Info, input: dict[str, Any]) -> Any:
        key(info, "podResume")
        sim.record("podResume", dict(input))
        sim.check_fault("podResume")
        return await sim.api_resume(input["podId"], input.get("gpuCount"), None)

    async def pod_bid_resume(info: Info, input: dict[str, Any]) -> Any:
        key(info, "podBidResume")
        sim.record("podBidResume", dict(input))
        sim.check_fault("podBidResume")
        return await sim.api_resume(input["podId"], input["gpuCount"], input["bidPerGpu"])

    async def pod_terminate(info: Info, input: dict[str, Any]) -> Any:
        key(info, "podTerminate")
        sim.record("podTerminate", dict(input))
        sim.check_fault("podTerminate")
        await sim.api_terminate(input["podId"])
        return None

    def update_user_settings(info: Info, input: dict[str, Any] | None = None) -> Any:
        key(info, "updateUserSettings")
        sim.record("updateUserSettings", {})
        sim.check_fault("updateUserSettings")
        if input and isinstance(input.get("pubKey"), str):
            sim.pub_key = input["pubKey"]
        return {"id": "user_sim", "pubKey": sim.pub_key}

    return {
        "myself": myself,
        "pod": pod,
        "podStop": pod_stop,
        "podResume": pod_resume,
        "podBidResume": pod_bid_resume,
        "podTerminate": pod_terminate,
        "updateUserSettings": update_user_settings,
    }
