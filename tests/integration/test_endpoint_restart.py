"""A pod restarted with a new port and a new host key stays reachable as `ssh <alias>`, with
strict host-key checking on, and a stale or foreign endpoint never reaches the config."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from rpdevd.endpoint import EndpointFailure, Rediscovered, confirm_and_pin
from rpdevd.sim.sshd import KeyPair, PodSSHD
from rpdevd.sshconfig import (
    HostEntry,
    generated_path,
    install_include,
    known_hosts_path,
    pinned_keys,
    update_generated,
)

POD_ID = "p1abc"
ALIAS = "trainer-one.runpod"
USER_CONFIG = (
    "# my own settings: rpdev must win for its hosts even with these\n"
    "Host *\n"
    "  StrictHostKeyChecking no\n"
    "  UserKnownHostsFile /dev/null\n"
    "  Port 2\n"
)


async def ssh(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        "ssh",
        "-F",
        str(config),
        "-o",
        "BatchMode=yes",
        *args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


def snapshot(*paths: Path) -> list[bytes | None]:
    return [p.read_bytes() if p.exists() else None for p in paths]


async def test_restart_then_strict_ssh_works_again(
    home: Path, tmp_path: Path, client_key: KeyPair
) -> None:
    pod = PodSSHD(
        tmp_path / "pod", authorized_keys=client_key.public, env={"RUNPOD_POD_ID": POD_ID}
    )
    other = PodSSHD(
        tmp_path / "other", authorized_keys=client_key.public, env={"RUNPOD_POD_ID": "p2other"}
    )
    user_config = home / ".ssh" / "config"
    user_config.parent.mkdir(mode=0o700)
    user_config.write_text(USER_CONFIG)
    install_include(user_config)

    async def refresh(host: str, port: int) -> Rediscovered | EndpointFailure:
        """What the daemon does when the API reports an endpoint: confirm, pin, rewrite."""
        result = await confirm_and_pin(
            POD_ID, host, port, pod.user, [client_key.private], known_hosts_path(), timeout=10
        )
        if isinstance(result, Rediscovered):
            update_generated(
                [
                    HostEntry(
                        POD_ID,
                        "Trainer One",
                        result.endpoint.host,
                        result.endpoint.port,
                        pod.user,
                        client_key.private,
                    )
                ]
            )
        return result

    await pod.start()
    try:
        first = await refresh(pod.host, pod.port or 0)
        assert isinstance(first, Rediscovered), first
        assert first.pinned.previous is None
        ok = await ssh(user_config, ALIAS, "true")
        assert ok.returncode == 0, ok.stderr
        settings = (await ssh(user_config, "-G", ALIAS)).stdout.splitlines()
        assert "stricthostkeychecking true" in settings
        assert f"userknownhostsfile {known_hosts_path()}" in settings
        assert f"port {pod.port}" in settings

        old_port, old_key = pod.port or 0, pod.host_public_key
        await pod.stop()
        await pod.start()  # a new port and a new host key, as after a stop/resume
        assert pod.port != old_port and pod.host_public_key != old_key
        files = (generated_path(), known_hosts_path(), user_config)
        before = snapshot(*files)

        # The API still reports the old port: nothing answers there. Refused, nothing written.
        stale = await refresh(pod.host, old_port)
        assert isinstance(stale, EndpointFailure) and stale.kind == "unreachable"
        assert snapshot(*files) == before

        # Another pod now answers at the address the API gives: refused, nothing written.
        await other.start()
        foreign = await refresh(other.host, other.port or 0)
        assert isinstance(foreign, EndpointFailure) and foreign.kind == "wrong_pod"
        assert snapshot(*files) == before

        # Strict checking is real: the new port with the old pinned key fails, without a prompt.
        update_generated(
            [HostEntry(POD_ID, "Trainer One", pod.host, pod.port, pod.user, client_key.private)]
        )
        refused = await ssh(user_config, ALIAS, "true")
        assert refused.returncode == 255
        assert "host key" in refused.stderr.lower()

        # The daemon's rediscovery: confirmed in the pod, the new key replaces the old one.
        second = await refresh(pod.host, pod.port or 0)
        assert isinstance(second, Rediscovered), second
        assert second.pinned.changed
        assert second.pinned.previous == first.pinned.fingerprint
        again = await ssh(user_config, ALIAS, "true")
        assert again.returncode == 0, again.stderr
        assert [k.line for k in pinned_keys(known_hosts_path())["rpdev-p1abc"]] == [
            pod.host_public_key
        ]
    finally:
        await pod.stop()
        await other.stop()
    # The user's own known_hosts was never created or touched; their config kept its lines.
    assert not (home / ".ssh" / "known_hosts").exists()
    assert user_config.read_text().endswith(USER_CONFIG)
