"""A pod session over the OpenSSH client (`ssh`), for `rpdev sync once`.

A fresh `rpdev` process pays for Python's start and its imports; asyncssh alone costs about
0.15 s to import, then a handshake in Python. The `ssh` binary instead is spawned before the
heavy imports, so its handshake and the pod's login shell run while this process is still
loading, scanning and reading the baseline. It carries the same one-channel session as an
asyncssh exec channel (listing, then the tar stream and the mover), so nothing about what lands
on the pod changes. Host keys, `~/.ssh/config`, `-i`, `-o` and `-F` are OpenSSH's own.

The remote command is a fixed bootstrap that reads the session's script from stdin (its length,
a newline, the script), so `ssh` starts before rpdev has even loaded the code that writes the
script. Nothing else is written until the script has printed its listing, so `head` cannot read
past the script.

Without an `ssh` binary (or for `watch`, which needs SFTP) rpdev uses asyncssh as before.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

# Options `ssh` gets on top of the user's: never prompt (no terminal of ours to prompt on),
# no forwarding of any kind on a data channel.
_BASE_OPTIONS = ("-T", "-x", "-a", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR")
_OPTION_NAMES = {
    "port": "Port",
    "user": "User",
    "identityfile": "IdentityFile",
    "identitiesonly": "IdentitiesOnly",
    "userknownhostsfile": "UserKnownHostsFile",
    "hostkeyalias": "HostKeyAlias",
    "stricthostkeychecking": "StrictHostKeyChecking",
    "connecttimeout": "ConnectTimeout",
    "hostname": "HostName",
}


# `dd bs=1` reads byte by byte (slow, exact) where `head` is missing.
BOOTSTRAP = (
    "sh -c 'IFS= read -r n || exit 3; "
    's=$(head -c "$n" 2>/dev/null || dd bs=1 count="$n" 2>/dev/null) || exit 3; '
    'eval "$s"\''
)


def framed(script: str) -> bytes:
    """What BOOTSTRAP reads: the script's length in bytes, a newline, the script."""
    data = script.encode()
    return b"%d\n" % len(data) + data


def find_ssh() -> str | None:
    return shutil.which("ssh")


def ssh_argv(
    ssh: str,
    host: str,
    *,
    user: str | None = None,
    port: int | None = None,
    identities: list[str] | None = None,
    options: dict[str, str] | None = None,
    config_file: str | None = None,
    connect_timeout: float = 20.0,
) -> list[str]:
    """The `ssh` command line (without the remote command)."""
    argv = [ssh, *_BASE_OPTIONS]
    opts = dict(options or {})
    if "connecttimeout" not in opts:
        argv += ["-o", f"ConnectTimeout={max(int(connect_timeout), 1)}"]
    if config_file:
        argv += ["-F", config_file]
    for ident in identities or []:
        argv += ["-i", ident]
    for key, value in opts.items():
        argv += ["-o", f"{_OPTION_NAMES.get(key, key)}={value}"]
    if user:
        argv += ["-l", user]
    if port:
        argv += ["-p", str(port)]
    # `--` ends the options: a host can never be read as one.
    return [*argv, "--", host]


@dataclass
class SshSessions:
    """Spawns `ssh ... BOOTSTRAP` and hands it a script; `prestart` spawns the first one early."""

    argv: list[str]
    _early: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*self.argv, BOOTSTRAP],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches rpdev, which closes the session itself
        )

    def prestart(self) -> None:
        if not self._early:
            self._early.append(self._spawn())

    async def open(self, script: str) -> Any:
        """A process running `script`, with the asyncssh-process surface PodSession uses."""
        from rpdevd.sync.sshpipe import PipeProcess

        popen = self._early.pop() if self._early else self._spawn()
        proc = await PipeProcess.wrap(popen)
        proc.stdin.write(framed(script))
        return proc

    def close(self) -> None:
        for popen in self._early:
            popen.kill()
            popen.wait()
        self._early.clear()
