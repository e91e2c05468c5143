"""The generated SSH config, written from what the daemon knows: one Host entry per managed pod,
with an address only where the endpoint was confirmed inside the pod (`endpoints.py` confirms).

Nothing is written from an unknown state: until RunPod's API answers (or a usable stored state
was read at start), the file is left as it is. Also `ssh.status`, and whether the Include block
is in ~/.ssh/config.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from rpdevd.config import Config
from rpdevd.daemon.core import DaemonCore, Register
from rpdevd.daemon.state import PodState
from rpdevd.sshconfig import changes, files
from rpdevd.sshconfig.render import HostEntry


def ssh_user(config: Config, state: PodState) -> str:
    pc = config.pod_config(state.id, state.name)
    return (pc.user if pc and pc.user else None) or config.ssh.user


def ssh_identity(config: Config, state: PodState) -> Path | None:
    """The pod's identity file, when it exists (else asyncssh's and ssh's defaults)."""
    pc = config.pod_config(state.id, state.name)
    raw = (pc.identity_file if pc and pc.identity_file else None) or config.ssh.identity_file
    path = Path(raw).expanduser()
    return path if path.exists() else None


def include_state() -> str:
    """installed | missing | broken: is the generated file pulled into ~/.ssh/config?"""
    from rpdevd.sshconfig import include

    try:
        data = files.user_config_path().read_bytes()
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "broken"
    try:
        return "installed" if include.installed_at_top(data) else "missing"
    except include.MarkerError:
        return "broken"


class SshConfigWriter:
    def __init__(self, core: DaemonCore, register: Register) -> None:
        self.core = core
        self._written: str | None = None
        self._written_entries: list[HostEntry] | None = None  # as last written by this daemon
        self._aliases: dict[str, str] = {}
        self._lock = asyncio.Lock()
        register("ssh.status", self.m_ssh_status)

    async def install_include(self) -> None:
        """Add the Include block to ~/.ssh/config, where the config asks for it."""
        if not self.core.config.ssh.install_include:
            return
        try:
            await asyncio.to_thread(files.install_include)
        except Exception as exc:  # a broken ~/.ssh/config is reported, never "fixed"
            self.core.bus.emit("ssh.config", f"~/.ssh/config left alone: {exc}", level="warning")

    def host_entries(self) -> list[HostEntry]:
        entries = []
        config = self.core.config
        for state in self.core.pods.values():
            if not state.managed:
                continue
            # Only a confirmed endpoint is written: a stopped pod's last one is dead (or someone
            # else's by now), and a restarted pod's old one may be another pod's. Without it the
            # entry says what is going on instead of trying an address.
            confirmed = state.endpoint_state == "confirmed" and state.pod.is_running
            entries.append(
                HostEntry(
                    pod_id=state.id,
                    name=state.name,
                    host=state.ssh_host if confirmed else None,
                    port=state.ssh_port if confirmed else None,
                    running=state.pod.is_running,
                    user=ssh_user(config, state),
                    identity_file=ssh_identity(config, state),
                    wake_on_connect=state.wake_on_connect,
                )
            )
        return entries

    async def write(self) -> None:
        """Rewrite the file if what it says changed. One write at a time: endpoints confirmed
        together land in one rewrite, and each rewrite is described against the one before."""
        async with self._lock:
            await self._write()

    async def _write(self) -> None:
        core = self.core
        if not core.state_known:
            # Nothing is known yet (no stored state, no answer from RunPod): writing now would
            # empty the config of hosts that may well be there. Left as it is.
            return
        entries = self.host_entries()
        key = repr(entries)
        if key == self._written:
            return
        update = await asyncio.to_thread(
            files.update_generated,
            entries,
            server_alive_interval=core.config.ssh.server_alive_interval,
            proxy_program=(sys.executable, "-m", "rpdevd.cli"),
        )
        self._written = key
        pods = core.pods
        for pod_id, why in update.refused.items():
            name = pods[pod_id].name if pod_id in pods else pod_id
            core.bus.emit(
                "ssh.config",
                f"{name}: no SSH config entry: {why}",
                pod_id if pod_id in pods else None,
                level="warning",
            )
        for pod_id, alias in update.aliases.items():
            if pod_id in pods:
                pods[pod_id].ssh_alias = alias
        before, self._written_entries = self._written_entries, entries
        self._aliases.update(update.aliases)
        if update.changed:
            core.bus.emit(
                "ssh.config",
                changes.describe(before, entries, self._aliases),
                path=str(update.path),
                hosts=len(entries),
            )
        await core.save_state()

    async def m_ssh_status(self, params: dict[str, Any]) -> Any:
        return {
            "generated": str(files.generated_path()),
            "include": include_state(),
            "known_hosts": str(files.known_hosts_path()),
            "pods": {
                s.id: {
                    "alias": s.ssh_alias,
                    "state": s.endpoint_state,
                    "host": s.ssh_host,
                    "port": s.ssh_port,
                    "fingerprint": s.host_key_fingerprint,
                }
                for s in self.core.pods.values()
                if s.managed
            },
        }
