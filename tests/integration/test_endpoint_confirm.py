"""In-pod confirmation of an SSH endpoint against real sshd pods, and the identity script."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rpdevd.endpoint import (
    IDENTITY_SCRIPT,
    ConfirmedEndpoint,
    EndpointFailure,
    confirm_endpoint,
    judge,
    parse_identity,
    ssh_endpoint,
)
from rpdevd.sim.sshd import KeyPair, PodSSHD, free_port, generate_keypair
from rpdevd.sshconfig.known_hosts import fingerprint


async def confirm(pod: PodSSHD, key: KeyPair, pod_id: str = "testpod1", port: int | None = None):
    assert pod.port is not None
    return await confirm_endpoint(
        pod_id, pod.host, port or pod.port, pod.user, [key.private], timeout=10
    )


async def test_the_right_pod_is_confirmed_with_its_host_key(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    result = await confirm(pod_sshd, client_key)
    assert isinstance(result, ConfirmedEndpoint), result
    assert result.host_key == pod_sshd.host_public_key
    assert result.fingerprint == fingerprint(pod_sshd.host_public_key or "")
    assert (result.host, result.port, result.pod_id) == (pod_sshd.host, pod_sshd.port, "testpod1")
    assert result.identity.sources["RUNPOD_POD_ID"] == "session"


async def test_another_pod_at_that_address_is_refused(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    result = await confirm(pod_sshd, client_key, pod_id="otherpod")
    assert isinstance(result, EndpointFailure) and result.kind == "wrong_pod"
    assert "testpod1" in result.message and result.retry


async def test_a_closed_port_is_unreachable(pod_sshd: PodSSHD, client_key: KeyPair) -> None:
    result = await confirm(pod_sshd, client_key, port=free_port())
    assert isinstance(result, EndpointFailure) and result.kind == "unreachable"


async def test_a_key_the_pod_does_not_accept(pod_sshd: PodSSHD, tmp_path: Path) -> None:
    stranger = generate_keypair(tmp_path / "stranger", "stranger")
    result = await confirm(pod_sshd, stranger)
    assert isinstance(result, EndpointFailure) and result.kind == "auth_failed"
    assert not result.retry


async def test_an_unusable_identity_file_is_reported_as_such(
    pod_sshd: PodSSHD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    locked = tmp_path / "locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(locked)], check=True
    )
    for key in (locked, tmp_path / "missing"):
        result = await confirm_endpoint(
            "testpod1", pod_sshd.host, pod_sshd.port or 0, pod_sshd.user, [key], timeout=10
        )
        assert isinstance(result, EndpointFailure) and result.kind == "auth_failed"
        assert "identity file" in result.message and str(key) in result.message


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"RUNPOD_TCP_PORT_22": "1"}, "stale_endpoint"),  # the pod's own port is another one
        ({"RUNPOD_PUBLIC_IP": "198.51.100.7"}, "stale_endpoint"),  # it is reached elsewhere
        ({"RUNPOD_POD_ID": "Not An Id"}, "no_identity"),
    ],
)
async def test_a_pod_that_does_not_vouch_for_the_endpoint_is_refused(
    tmp_path: Path, client_key: KeyPair, env: dict[str, str], kind: str
) -> None:
    pod = PodSSHD(
        tmp_path / "pod", authorized_keys=client_key.public, env={"RUNPOD_POD_ID": "p1", **env}
    )
    await pod.start()
    try:
        result = await confirm(pod, client_key, pod_id="p1")
    finally:
        await pod.stop()
    assert isinstance(result, EndpointFailure) and result.kind == kind, result


def run_script(tmp_path: Path, env: dict[str, str], rp_file: str = "", environ: bytes = b""):
    rp = tmp_path / "rp_environment"
    init = tmp_path / "environ"
    rp.write_text(rp_file)
    init.write_bytes(environ)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    out = subprocess.run(
        ["sh", "-s", "--", str(rp), str(init)],
        input=IDENTITY_SCRIPT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=10,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    return parse_identity(out.stdout)


def test_script_reads_runpods_environment_file(tmp_path: Path) -> None:
    identity = run_script(
        tmp_path,
        {},
        rp_file=(
            'export PATH="/usr/bin"\n'
            'export RUNPOD_POD_ID="abc123"\n'
            "export RUNPOD_TCP_PORT_22='40022'\n"
            "RUNPOD_PUBLIC_IP=203.0.113.7\n"
            'export RUNPOD_POD_ID_EXTRA="no"\n'
        ),
    )
    assert (identity.pod_id, identity.port, identity.public_ip) == ("abc123", 40022, "203.0.113.7")
    assert set(identity.sources.values()) == {"file"}


def test_script_falls_back_to_pid_1s_environment(tmp_path: Path) -> None:
    identity = run_script(
        tmp_path,
        {},
        environ=b"HOME=/root\0RUNPOD_POD_ID=abc123\0RUNPOD_TCP_PORT_22=40022\0"
        b"RUNPOD_PUBLIC_IP=203.0.113.7\0",
    )
    assert (identity.pod_id, identity.port, identity.public_ip) == ("abc123", 40022, "203.0.113.7")
    assert set(identity.sources.values()) == {"init"}


def test_script_prefers_session_then_file_then_pid_1(tmp_path: Path) -> None:
    identity = run_script(
        tmp_path,
        {"RUNPOD_POD_ID": "fromsession"},
        rp_file='export RUNPOD_POD_ID="fromfile"\nexport RUNPOD_TCP_PORT_22="1111"\n',
        environ=b"RUNPOD_POD_ID=frominit\0RUNPOD_TCP_PORT_22=2222\0RUNPOD_PUBLIC_IP=192.0.2.1\0",
    )
    assert (identity.pod_id, identity.port, identity.public_ip) == (
        "fromsession",
        1111,
        "192.0.2.1",
    )
    assert identity.sources == {
        "RUNPOD_POD_ID": "session",
        "RUNPOD_TCP_PORT_22": "file",
        "RUNPOD_PUBLIC_IP": "init",
    }


def test_script_never_runs_what_a_hostile_file_holds(tmp_path: Path) -> None:
    identity = run_script(
        tmp_path,
        {},
        rp_file=(
            'export RUNPOD_POD_ID="$(touch pwned)"\n'
            "export RUNPOD_TCP_PORT_22=`touch pwned2`\n"
            "export RUNPOD_PUBLIC_IP=1.2.3.4; touch pwned3\n"
        ),
    )
    assert not list(tmp_path.glob("pwned*"))
    assert identity.pod_id is None and identity.port is None and identity.public_ip is None


def test_script_reports_missing_values(tmp_path: Path) -> None:
    identity = run_script(tmp_path, {})
    assert identity.pod_id is None and identity.port is None
    assert set(identity.sources.values()) == {"none"}
    failure = judge("abc123", "203.0.113.7", 40022, identity)
    assert failure is not None and failure.kind == "no_identity"


def test_parse_identity_checks_every_value() -> None:
    identity = parse_identity(
        "RUNPOD_POD_ID\tsession\tabc123\nRUNPOD_TCP_PORT_22\tsession\t99999\n"
        "RUNPOD_PUBLIC_IP\tsession\tnot-an-ip\nRUNPOD_POD_ID\tsession\tsecond\n"
    )
    assert (identity.pod_id, identity.port, identity.public_ip) == ("abc123", None, None)


def test_ssh_endpoint_from_the_api_runtime() -> None:
    assert ssh_endpoint(None) is None  # runtime null: the pod is starting
    assert ssh_endpoint({"ports": None}) is None
    runtime = {
        "ports": [
            {"ip": "10.0.0.2", "isIpPublic": False, "privatePort": 22, "publicPort": 22},
            {"ip": "203.0.113.7", "isIpPublic": True, "privatePort": 8888, "publicPort": 40001},
            {"ip": "203.0.113.7", "isIpPublic": True, "privatePort": 22, "publicPort": 40022},
        ]
    }
    assert ssh_endpoint(runtime) == ("203.0.113.7", 40022)
    assert ssh_endpoint({"ports": [{"ip": "x", "isIpPublic": True, "privatePort": 22}]}) is None
