"""What the daemon last knew, kept on disk: the pods as RunPod last reported them, the endpoints
rpdev confirmed inside them, and the SSH aliases it gave them.

A daemon started while RunPod's API fails (no key, a wrong key, an outage, no network) starts
from this state instead of from nothing: `rpdev status` shows the pods as last known, with the
age of that knowledge, and the generated SSH config keeps the entries it had. Policies and holds
are not in this file: they stay in the database's per-pod settings; host keys stay pinned in
rpdev's known_hosts, which the endpoint part checks before it takes a stored endpoint back.

The file is JSON, replaced atomically (a crash or SIGKILL leaves the old file or the new one).
A file that cannot be read or parsed is reported, never fatal: the daemon starts empty and writes
no SSH config until the API answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpdevd import paths
from rpdevd.models import Pod

VERSION = 1
FILE_NAME = "last-state.json"
MAX_BYTES = 16 << 20  # far above any real account; a bigger file is not ours to parse


class StateFileError(Exception):
    """The stored state exists but cannot be used (unreadable, corrupt, another version)."""


@dataclass(frozen=True)
class KnownEndpoint:
    host: str
    port: int
    fingerprint: str | None


@dataclass(frozen=True)
class KnownPod:
    pod: Pod
    alias: str | None = None
    endpoint: KnownEndpoint | None = None  # confirmed inside the pod; None when it was not


@dataclass(frozen=True)
class LastState:
    saved_at: float  # when RunPod's API last answered with these pods
    pods: tuple[KnownPod, ...]


def default_path() -> Path:
    return paths.state_dir() / FILE_NAME


# ---- encoding ---------------------------------------------------------------------------------


def _endpoint_json(ep: KnownEndpoint | None) -> dict[str, Any] | None:
    if ep is None:
        return None
    return {"host": ep.host, "port": ep.port, "fingerprint": ep.fingerprint}


def encode(state: LastState) -> bytes:
    doc = {
        "version": VERSION,
        "saved_at": state.saved_at,
        "pods": [
            {"pod": k.pod.to_json(), "alias": k.alias, "endpoint": _endpoint_json(k.endpoint)}
            for k in state.pods
        ],
    }
    return (json.dumps(doc, ensure_ascii=True, sort_keys=True, indent=1) + "\n").encode()


def stable_key(state: LastState) -> bytes:
    """What is worth storing again: the state without its time and without the telemetry that
    changes on every poll (uptime, GPU and CPU use)."""
    pods = []
    for k in state.pods:
        pod = k.pod.to_json()
        pod.pop("uptime_seconds", None)
        runtime = pod.get("runtime")
        if isinstance(runtime, dict):
            pod["runtime"] = {"ports": runtime.get("ports")}
        pods.append([pod, k.alias, _endpoint_json(k.endpoint)])
    return json.dumps(pods, sort_keys=True).encode()


def _opt_text(value: object, limit: int = 256) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _endpoint(raw: object) -> KnownEndpoint | None:
    if not isinstance(raw, dict):
        return None
    host, port = _opt_text(raw.get("host")), raw.get("port")
    if host is None or isinstance(port, bool) or not isinstance(port, int):
        return None
    if not 1 <= port <= 65535:
        return None
    return KnownEndpoint(host, port, _opt_text(raw.get("fingerprint")))


def decode(data: bytes) -> LastState:
    """Parse a stored state; StateFileError when the file as a whole is unusable. One bad pod
    record is left out, not the whole file."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise StateFileError(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise StateFileError("not a JSON object")
    if doc.get("version") != VERSION:
        raise StateFileError(f"unknown version {str(doc.get('version'))[:20]!r}")
    saved_at = doc.get("saved_at")
    if isinstance(saved_at, bool) or not isinstance(saved_at, int | float) or saved_at <= 0:
        raise StateFileError("no valid saved_at")
    records = doc.get("pods")
    if not isinstance(records, list):
        raise StateFileError("no list of pods")
    pods: list[KnownPod] = []
    seen: set[str] = set()
    for rec in records:
        if not isinstance(rec, dict):
            continue
        try:
            pod = Pod.from_json(rec.get("pod"))
        except ValueError:
            continue  # no valid id: never a pod of ours
        if pod.id in seen:
            continue
        seen.add(pod.id)
        pods.append(KnownPod(pod, _opt_text(rec.get("alias")), _endpoint(rec.get("endpoint"))))
    return LastState(float(saved_at), tuple(pods))


# ---- the file ---------------------------------------------------------------------------------


def load(path: Path | None = None) -> LastState | None:
    """The stored state; None when there is none yet; StateFileError when it is unusable."""
    path = path or default_path()
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise StateFileError(f"larger than {MAX_BYTES} bytes")
    return decode(data)


def save(state: LastState, path: Path | None = None) -> bool:
    """Replace the stored state atomically (fsynced); False when it already held this."""
    from rpdevd.sshconfig.safewrite import write_file

    return write_file(path or default_path(), encode(state)).changed
