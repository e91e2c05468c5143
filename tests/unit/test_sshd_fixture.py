"""The test pod is a real SSH server: a new port and a new host key on each start."""

import asyncio
import subprocess

from rpdevd.sim.sshd import PodSSHD, sshd_required


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


def test_ci_uses_real_sshd(pod_sshd: PodSSHD) -> None:
    if sshd_required():
        assert pod_sshd.backend == "openssh"
