"""An asyncssh server that stands in for OpenSSH's sshd where none is installed.

Run as `python -m rpdevd.sim.fallback_sshd SSHD_CONFIG`: it reads the few directives `PodSSHD`
writes (ListenAddress, Port, HostKey, AuthorizedKeysFile, SetEnv) and serves exec and shell
sessions (through `/bin/sh -c`) and SFTP. It runs in its own process so that it can be killed like
a real sshd.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from pathlib import Path

from rpdevd.sshlib import asyncssh


def parse_config(path: Path) -> dict[str, object]:
    conf: dict[str, object] = {"env": {}}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "SetEnv":
            for word in shlex.split(value):
                name, _, val = word.partition("=")
                conf["env"][name] = val  # type: ignore[index]
        elif key in ("ListenAddress", "Port", "HostKey", "AuthorizedKeysFile"):
            conf[key] = value.strip()
    return conf


async def _run_session(process: asyncssh.SSHServerProcess, env: dict[str, str]) -> None:
    command = process.command or os.environ.get("SHELL", "/bin/sh")
    child_env = {**os.environ, **env, **{k: v for k, v in process.env.items()}}
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env,
        cwd=os.path.expanduser("~"),
    )
    await process.redirect(stdin=proc.stdin, stdout=proc.stdout, stderr=proc.stderr)
    process.exit(await proc.wait())


async def serve(config: Path) -> None:
    conf = parse_config(config)
    env: dict[str, str] = conf["env"]  # type: ignore[assignment]
    await asyncssh.listen(
        str(conf["ListenAddress"]),
        int(str(conf["Port"])),
        server_host_keys=[str(conf["HostKey"])],
        authorized_client_keys=str(conf["AuthorizedKeysFile"]),
        process_factory=lambda p: _run_session(p, env),
        sftp_factory=True,
        allow_scp=True,
        encoding=None,
    )
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
