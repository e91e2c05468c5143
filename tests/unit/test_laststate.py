"""The stored last-known state: a round trip keeps every pod as it was; a torn, foreign or
hostile file is refused as a whole (StateFileError), one bad record is left out alone."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from rpdevd.daemon import laststate
from rpdevd.daemon.laststate import KnownEndpoint, KnownPod, LastState, StateFileError
from rpdevd.models import Pod

RAW = {
    "id": "k7trainer00001",
    "name": 'Trainer "one"\nHost *',
    "desiredStatus": "RUNNING",
    "podType": "INTERRUPTABLE",
    "gpuCount": 2,
    "costPerHr": 5.98,
    "machine": {"gpuDisplayName": "H100 80GB HBM3", "podHostId": "k7trainer00001-64410a2c"},
    "imageName": "runpod/pytorch",
    "volumeMountPath": "/workspace",
    "uptimeSeconds": 40,
    "runtime": {
        "uptimeInSeconds": 40,
        "ports": [
            {"ip": "203.0.113.7", "isIpPublic": True, "privatePort": 22, "publicPort": 40022}
        ],
        "gpus": [{"id": "GPU-0", "gpuUtilPercent": 97, "memoryUtilPercent": 60}],
        "container": {"cpuPercent": 12, "memoryPercent": 30},
    },
}


def state() -> LastState:
    pod = Pod.from_api(RAW)
    stopped = Pod.from_api({"id": "n0tebook000002", "name": "nb", "desiredStatus": "EXITED"})
    return LastState(
        1_700_000_000.5,
        (
            KnownPod(pod, "trainer-one.runpod", KnownEndpoint("203.0.113.7", 40022, "SHA256:x")),
            KnownPod(stopped),
        ),
    )


def test_a_round_trip_keeps_every_pod_and_endpoint(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "last-state.json"
    assert laststate.save(state(), path)
    assert laststate.load(path) == state()
    assert not laststate.save(state(), path)  # the same state: the file is left alone
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert laststate.load(tmp_path / "none.json") is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"version": 1, "saved_at": 17, "pods": [', "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"version": 99, "saved_at": 17, "pods": []}', "unknown version"),
        (b'{"version": 1, "saved_at": "yesterday", "pods": []}', "saved_at"),
        (b'{"version": 1, "saved_at": 17, "pods": {}}', "no list of pods"),
        (b"[" * 100_000 + b"]" * 100_000, "not"),
        (b"\xff\xfe garbage", "not valid JSON"),
    ],
)
def test_an_unusable_file_is_refused_as_a_whole(tmp_path: Path, data: bytes, why: str) -> None:
    path = tmp_path / "last-state.json"
    path.write_bytes(data)
    with pytest.raises(StateFileError, match=why):
        laststate.load(path)


def test_an_unreadable_file_is_refused_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "last-state.json"
    path.mkdir()  # reading a directory fails with an OSError, as a file without permission would
    with pytest.raises(StateFileError, match="cannot read"):
        laststate.load(path)


def test_bad_records_are_left_out_one_by_one(tmp_path: Path) -> None:
    doc = json.loads(laststate.encode(state()))
    doc["pods"] += [
        "not a record",
        {"pod": {"id": "../../etc", "name": "x"}},  # no valid id: never a pod of ours
        {"pod": doc["pods"][0]["pod"]},  # the same id twice: the first wins
    ]
    doc["pods"][1]["endpoint"] = {"host": "203.0.113.9", "port": 70000}  # no such port
    path = tmp_path / "last-state.json"
    path.write_text(json.dumps(doc))
    loaded = laststate.load(path)
    assert loaded is not None
    assert [k.pod.id for k in loaded.pods] == ["k7trainer00001", "n0tebook000002"]
    assert loaded.pods[0] == state().pods[0]
    assert loaded.pods[1].endpoint is None


def test_telemetry_alone_is_not_worth_a_write() -> None:
    moved = Pod.from_api({**RAW, "uptimeSeconds": 99, "runtime": {**RAW["runtime"], "gpus": []}})
    first, second = state().pods
    again = LastState(1_800_000_000.0, (replace(first, pod=moved), second))
    assert laststate.stable_key(again) == laststate.stable_key(state())
    renamed = Pod.from_api({**RAW, "name": "trainer-2"})
    other = LastState(1.0, (replace(first, pod=renamed), second))
    assert laststate.stable_key(other) != laststate.stable_key(state())
