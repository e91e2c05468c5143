"""The test pod is a real SSH server: a new port and a new host key on each start."""

import asyncio
import os
import subprocess

import pytest

from rpdevd.sim.sshd import PodSSHD, choose_backend, find_sshd, sshd_required


async def test_pod_sshd_runs_commands_with_pod_environment(pod_sshd: PodSSHD, client_key) -> None:
    out = await asyncio.to_thread(
        subprocess.run,
        ["ssh", *pod_sshd.ssh_args(client_key.private), "echo $RUNPOD_POD_ID:$RUNPOD_TCP_PORT_22"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"testpod1:{pod_sshd.port}"


async def test_restart_gives_new_port_and_host_key(pod_sshd: PodSSHD) -> None:
    port, key = pod_sshd.port, pod_sshd.host_public_key
    await pod_sshd.stop()
    await pod_sshd.start()
    assert pod_sshd.port != port
    assert pod_sshd.host_public_key != key


def test_the_pod_runs_openssh_where_it_is_installed(pod_sshd: PodSSHD) -> None:
    asked = os.environ.get("RPDEV_SSHD_BACKEND")
    if asked:
        assert pod_sshd.backend == asked
    elif find_sshd() is not None:
        assert pod_sshd.backend == "openssh"
    else:
        assert not sshd_required()  # the fixture would have failed to start
        pytest.skip("OpenSSH's sshd is not installed here: the pods run the asyncssh stand-in")


def test_the_stand_in_is_never_picked_silently_where_sshd_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RPDEV_SSHD_BACKEND", raising=False)
    monkeypatch.setenv("RPDEV_REQUIRE_SSHD", "1")
    assert choose_backend(None, "/usr/sbin/sshd") == "openssh"
    with pytest.raises(RuntimeError, match="RPDEV_REQUIRE_SSHD"):
        choose_backend(None, None)
    monkeypatch.setenv("RPDEV_REQUIRE_SSHD", "0")
    assert choose_backend(None, None) == "asyncssh"
    monkeypatch.setenv("RPDEV_SSHD_BACKEND", "asyncssh")
    assert choose_backend(None, "/usr/sbin/sshd") == "asyncssh"
    monkeypatch.setenv("RPDEV_SSHD_BACKEND", "dropbear")
    with pytest.raises(ValueError, match="unknown sshd backend"):
        choose_backend(None, "/usr/sbin/sshd")
