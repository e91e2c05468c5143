"""The pod model: RunPod's answers parsed defensively, ids validated, endpoints found."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from rpdevd.models import Endpoint, Pod, User, validate_pod_id


def api_pod(**over: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "id": "abc123xyz45678",
        "name": "trainer",
        "desiredStatus": "RUNNING",
        "podType": "RESERVED",
        "gpuCount": 2,
        "costPerHr": 5.98,
        "lastStatusChange": "Rented by User: Tue Jun 04 2024",
        "uptimeSeconds": 120,
        "imageName": "runpod/pytorch:2.4.0",
        "volumeMountPath": "/workspace",
        "lowestBidPriceToResume": None,
        "machine": {"podHostId": "abc123xyz45678-64410a1b", "gpuDisplayName": "H100 80GB HBM3"},
        "runtime": {
            "uptimeInSeconds": 118,
            "ports": [
                {
                    "ip": "100.65.0.2",
                    "isIpPublic": False,
                    "privatePort": 8888,
                    "publicPort": 60888,
                    "type": "http",
                },
                {
                    "ip": "203.0.113.7",
                    "isIpPublic": True,
                    "privatePort": 22,
                    "publicPort": 40123,
                    "type": "tcp",
                },
            ],
            "gpus": [{"id": "GPU-1", "gpuUtilPercent": 87, "memoryUtilPercent": 64.5}],
            "container": {"cpuPercent": 140, "memoryPercent": 35},
        },
    }
    pod.update(over)
    return pod


def test_a_full_pod_parses() -> None:
    pod = Pod.from_api(api_pod())
    assert pod.id == "abc123xyz45678"
    assert pod.name == "trainer"
    assert pod.gpu_count == 2 and pod.cost_per_hr == 5.98
    assert pod.gpu_display_name == "H100 80GB HBM3"
    assert pod.pod_host_id == "abc123xyz45678-64410a1b"
    assert not pod.is_spot and pod.bid_per_gpu is None
    assert pod.ssh_endpoint == Endpoint("203.0.113.7", 40123)
    assert pod.runtime is not None and pod.runtime.uptime == 118
    assert pod.runtime.gpus[0].util == 87.0 and pod.runtime.gpus[0].mem_util == 64.5
    assert pod.runtime.container is not None and pod.runtime.container.cpu_percent == 140.0


def test_to_json_is_plain_json() -> None:
    data = Pod.from_api(api_pod()).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["ssh_endpoint"] == {"host": "203.0.113.7", "port": 40123}
    assert data["runtime"]["gpus"] == [{"id": "GPU-1", "util": 87.0, "mem_util": 64.5}]


def test_runtime_null_means_starting_no_endpoint() -> None:
    pod = Pod.from_api(api_pod(runtime=None))
    assert pod.runtime is None and pod.ssh_endpoint is None
    assert pod.to_json()["runtime"] is None


def test_a_stopped_pod_has_no_endpoint_even_with_a_left_over_runtime() -> None:
    assert Pod.from_api(api_pod(desiredStatus="EXITED")).ssh_endpoint is None


def test_only_a_public_port_22_is_the_ssh_endpoint() -> None:
    private = {
        "ip": "10.0.0.5",
        "isIpPublic": False,
        "privatePort": 22,
        "publicPort": 22,
        "type": "tcp",
    }
    pod = Pod.from_api(api_pod(runtime={"ports": [private]}))
    assert pod.runtime is not None and pod.ssh_endpoint is None


@pytest.mark.parametrize(
    "port",
    [
        {"ip": "203.0.113.7", "isIpPublic": "true", "privatePort": 22, "publicPort": 1},
        {"ip": "203.0.113.7", "isIpPublic": True, "privatePort": 22, "publicPort": 70000},
        {"ip": "203.0.113.7", "isIpPublic": True, "privatePort": 22, "publicPort": "22"},
        {"ip": "-oProxyCommand=x", "isIpPublic": True, "privatePort": 22, "publicPort": 22},
        {"ip": "host\nProxyCommand evil", "isIpPublic": True, "privatePort": 22, "publicPort": 22},
        {"ip": None, "isIpPublic": True, "privatePort": 22, "publicPort": 22},
        {"ip": "pod.example.net\n", "isIpPublic": True, "privatePort": 22, "publicPort": 22},
        "not an object",
        None,
    ],
)
def test_a_hostile_port_entry_gives_no_endpoint(port: Any) -> None:
    pod = Pod.from_api(api_pod(runtime={"ports": [port]}))
    assert pod.ssh_endpoint is None


def test_a_hostname_endpoint_is_accepted_and_ipv6_is_normalised() -> None:
    def endpoint(ip: str) -> Endpoint | None:
        port = {"ip": ip, "isIpPublic": True, "privatePort": 22, "publicPort": 2222}
        return Pod.from_api(api_pod(runtime={"ports": [port]})).ssh_endpoint

    assert endpoint("pod-1.example.net") == Endpoint("pod-1.example.net", 2222)
    assert endpoint("2001:DB8::1") == Endpoint("2001:db8::1", 2222)
    assert str(endpoint("2001:DB8::1")) == "[2001:db8::1]:2222"


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", None),
        ("name", 42),
        ("desiredStatus", None),
        ("desiredStatus", "running; rm"),
        ("podType", ["x"]),
        ("gpuCount", "2"),
        ("gpuCount", True),
        ("gpuCount", -1),
        ("gpuCount", 1.5),
        ("costPerHr", "2.99"),
        ("costPerHr", math.nan),
        ("costPerHr", -1),
        ("costPerHr", math.inf),
        ("machine", None),
        ("machine", "H100"),
        ("runtime", []),
        ("runtime", {"ports": "22"}),
        ("runtime", {"gpus": [None, 3]}),
        ("runtime", {"container": {"cpuPercent": "high"}}),
        ("uptimeSeconds", 1e300),
        ("volumeMountPath", 7),
        ("lastStatusChange", {}),
        ("lowestBidPriceToResume", "0.3"),
    ],
)
def test_a_bad_field_never_crashes(field: str, value: Any) -> None:
    pod = Pod.from_api(api_pod(**{field: value}))
    json.dumps(pod.to_json())
    assert pod.id == "abc123xyz45678"


def test_missing_fields_take_documented_defaults() -> None:
    pod = Pod.from_api({"id": "abc"})
    assert pod.name == "" and pod.desired_status == "UNKNOWN" and pod.pod_type == ""
    assert pod.gpu_count == 1  # never resume asking for 0 GPUs by accident
    assert pod.cost_per_hr is None and pod.runtime is None and pod.pod_host_id is None
    assert pod.gpu_display_name == "" and pod.volume_mount_path is None


def test_zero_gpus_is_kept() -> None:
    assert Pod.from_api(api_pod(gpuCount=0)).gpu_count == 0


def test_the_raw_name_is_kept_even_with_newlines() -> None:
    evil = "x\n  ProxyCommand evil"
    assert Pod.from_api(api_pod(name=evil)).name == evil


def test_an_absurd_name_is_cut() -> None:
    assert len(Pod.from_api(api_pod(name="n" * 100_000)).name) == 512


def test_absurd_lists_are_bounded() -> None:
    port = {"ip": "1.2.3.4", "isIpPublic": True, "privatePort": 80, "publicPort": 80}
    pod = Pod.from_api(api_pod(runtime={"ports": [port] * 10_000, "gpus": [{}] * 10_000}))
    assert pod.runtime is not None
    assert len(pod.runtime.ports) == 64 and len(pod.runtime.gpus) == 64


def test_a_hostile_pod_host_id_is_dropped() -> None:
    pod = Pod.from_api(api_pod(machine={"podHostId": "a b\nc", "gpuDisplayName": "A100"}))
    assert pod.pod_host_id is None and pod.gpu_display_name == "A100"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        "abc",
        {"id": None},
        {"id": "ABC"},
        {"name": "x"},
        {"id": "a\nb"},
        {"id": "../etc"},
        {"id": "a" * 65},
    ],
)
def test_a_pod_without_a_valid_id_is_refused(raw: Any) -> None:
    with pytest.raises(ValueError):
        Pod.from_api(raw)


def test_spot_pods_and_their_bid() -> None:
    pod = Pod.from_api(
        api_pod(podType="INTERRUPTABLE", costPerHr=0.7, gpuCount=2, lowestBidPriceToResume=0.31)
    )
    assert pod.is_spot
    assert pod.bid_per_gpu == pytest.approx(0.35)
    assert pod.lowest_bid_to_resume == 0.31


@pytest.mark.parametrize("good", ["a", "abc123xyz45678", "0" * 64])
def test_valid_pod_ids(good: str) -> None:
    assert validate_pod_id(good) == good


@pytest.mark.parametrize(
    "bad",
    ["", "ABC", "abc-123", 'abc"}) { x }', "abc\n", " abc", "a" * 65, "é", None, 123, b"abc"],
)
def test_invalid_pod_ids(bad: Any) -> None:
    with pytest.raises(ValueError):
        validate_pod_id(bad)


def test_an_invalid_id_message_is_bounded() -> None:
    with pytest.raises(ValueError) as info:
        validate_pod_id("x" * 10_000)
    assert len(str(info.value)) < 200


def test_user_parses_defensively() -> None:
    assert (
        User.from_api({"id": "u1", "pubKey": "ssh-ed25519 AAAA a\nssh-rsa BBBB b"}).pub_key
        == "ssh-ed25519 AAAA a\nssh-rsa BBBB b"
    )
    assert User.from_api(None) == User(id="", pub_key="")
