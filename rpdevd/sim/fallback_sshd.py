"""An asyncssh server that stands in for OpenSSH's sshd where none is installed.

Run as `python -m rpdevd.sim.fallback_sshd SSHD_CONFIG`: it reads the few directives `PodSSHD`
writes (ListenAddress, Port, HostKey, AuthorizedKeysFile, SetEnv) and serves exec and shell
sessions, with or without a terminal (`fallback_session`), SFTP and direct TCP forwarding. It
runs in its own process so that it can be killed like a real sshd.

It is built as sshd is, because the activity probe reads the pod's processes the way they are on
a pod: a listening process that forks one process per connection, which holds that connection's
socket (and the master side of each terminal it serves) and is the parent of its sessions. The
processes are named as OpenSSH's are (`sshd`, `sshd-session`). So the probe tells the daemon's own
connections from a user's, and counts a user's terminals, as it does on a pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shlex
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rpdevd.sim.fallback_session import Peer, Session
from rpdevd.sshlib import asyncssh


@dataclass(frozen=True)
class Config:
    listen: str
    port: int
    host_key: str
    authorized_keys: str
    env: dict[str, str] = field(default_factory=dict)


def parse_config(path: Path) -> Config:
    """The directives of an sshd_config that this server honours; the rest is ignored."""
    values: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "SetEnv":
            for word in shlex.split(value):
                name, _, val = word.partition("=")
                env[name] = val
        elif key in ("ListenAddress", "Port", "HostKey", "AuthorizedKeysFile"):
            values[key] = value.strip()
    return Config(
        listen=values.get("ListenAddress", "127.0.0.1"),
        port=int(values.get("Port", "22")),
        host_key=values["HostKey"],
        authorized_keys=values["AuthorizedKeysFile"],
        env=env,
    )


def set_process_name(name: str) -> None:
    """The name `ps` and /proc/PID/comm show (Linux; elsewhere nothing happens)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(name[:15])


class _Server(asyncssh.SSHServer):
    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        return True  # AllowTcpForwarding yes


async def serve_connection(sock: socket.socket, conf: Config) -> None:
    """Serve one accepted connection until the client leaves."""
    local = sock.getsockname()
    remote = sock.getpeername()
    peer = Peer(str(remote[0]), int(remote[1]), str(local[0]), int(local[1]))

    async def session(process: asyncssh.SSHServerProcess[bytes]) -> None:
        await Session(process, peer, conf.env).run()

    try:
        conn = await asyncssh.run_server(
            sock,
            server_factory=_Server,
            server_host_keys=[conf.host_key],
            authorized_client_keys=conf.authorized_keys,
            process_factory=session,
            sftp_factory=True,
            encoding=None,
            line_editor=False,  # a terminal's input goes to the terminal, as with sshd
            x11_forwarding=False,
            agent_forwarding=False,
        )
    except (TimeoutError, OSError, asyncssh.Error):
        return  # a failed handshake or login: sshd drops such a connection too
    await conn.wait_closed()


def _connection_process(sock: socket.socket, conf: Config) -> None:
    """The forked child for one connection: it never returns."""
    status = 0
    try:
        set_process_name("sshd-session")
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # its sessions are waited for
        # internal-sftp starts in the home directory, so relative SFTP paths land there.
        with contextlib.suppress(OSError):
            os.chdir(pwd.getpwuid(os.getuid()).pw_dir)
        asyncio.run(serve_connection(sock, conf))
    except BaseException:  # noqa: BLE001 - a child of fork must not return into the listener
        status = 1
        import traceback

        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(status)


def serve(config: Path) -> None:
    """Accept connections forever, one forked process each."""
    conf = parse_config(config)
    set_process_name("sshd")
    # Connection processes are nobody's to wait for: the kernel reaps them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    with socket.create_server((conf.listen, conf.port), backlog=128) as listener:
        while True:
            sock, _ = listener.accept()
            try:
                if os.fork() == 0:
                    listener.close()
                    _connection_process(sock, conf)
            finally:
                sock.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
