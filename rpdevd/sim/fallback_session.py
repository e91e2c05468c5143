"""One SSH session of the asyncssh stand-in for sshd, served the way OpenSSH's sshd serves it.

What a session gets, as from sshd (session.c): the user's shell from the password database, run
as `SHELL -c COMMAND` (a login shell, `-bash`, when there is no command); a fresh environment
(USER, LOGNAME, HOME, SHELL, PATH, MAIL, SSH_CLIENT, SSH_CONNECTION, TERM and SSH_TTY with a
terminal) with the config's SetEnv on top and the client's own variables refused (no AcceptEnv);
the home directory from the password database as working directory; a session of its own
(setsid), on a new pseudo-terminal when the client asked for one. The channel gets the output until
the command's stdout and stderr close, then its exit status (or the signal that killed it). A
client that leaves early leaves the command running, with its pipes closed, as sshd does; a
terminal's session gets SIGHUP when its terminal goes.

The child is a plain `subprocess.Popen`, not an asyncio subprocess: asyncio kills a child whose
transport closes, and sshd does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pwd
import signal
import struct
import subprocess
import termios
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from rpdevd.sshlib import asyncssh

# OpenSSH's compiled-in PATH: SUPERUSER_PATH for root, _PATH_STDPATH for everyone else.
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
USER_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games"
CHUNK = 65536


@dataclass(frozen=True)
class Peer:
    """The connection's two ends, for SSH_CLIENT and SSH_CONNECTION."""

    remote_host: str
    remote_port: int
    local_host: str
    local_port: int


def session_env(
    user: pwd.struct_passwd,
    peer: Peer,
    set_env: Mapping[str, str],
    *,
    term: str | None = None,
    tty: str | None = None,
) -> dict[str, str]:
    """The environment sshd gives a session: its own variables, then SetEnv's."""
    env = {
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "HOME": user.pw_dir,
        "SHELL": user.pw_shell or "/bin/sh",
        "PATH": ROOT_PATH if user.pw_uid == 0 else USER_PATH,
        "MAIL": f"/var/mail/{user.pw_name}",
        "SSH_CLIENT": f"{peer.remote_host} {peer.remote_port} {peer.local_port}",
        "SSH_CONNECTION": (
            f"{peer.remote_host} {peer.remote_port} {peer.local_host} {peer.local_port}"
        ),
    }
    if term is not None:
        env["TERM"] = term
    if tty is not None:
        env["SSH_TTY"] = tty
    env.update(set_env)
    return env


def shell_argv(shell: str, command: str | None) -> list[str]:
    """argv for the user's shell: `-c COMMAND`, or a login shell (`-NAME`) for none."""
    name = os.path.basename(shell)
    return ["-" + name] if command is None else [name, "-c", command]


def exit_report(returncode: int) -> tuple[int | None, str | None]:
    """(exit status, signal name) from Popen's returncode: one of the two is None."""
    if returncode >= 0:
        return returncode, None
    try:
        return None, signal.Signals(-returncode).name.removeprefix("SIG")
    except ValueError:
        return 255, None


async def wait_child(proc: subprocess.Popen[bytes]) -> int:
    """Wait for `proc` without a thread and without asyncio's child watcher."""
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, or a kernel older than 5.3
        while proc.poll() is None:
            await asyncio.sleep(0.05)
        return proc.returncode
    try:
        exited = loop.create_future()
        loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))
        try:
            if proc.poll() is None:
                await exited
        finally:
            loop.remove_reader(pidfd)
    finally:
        os.close(pidfd)
    return proc.wait()


class Session:
    """Serves one session channel (an asyncssh process factory's coroutine)."""

    def __init__(
        self, process: asyncssh.SSHServerProcess[bytes], peer: Peer, set_env: Mapping[str, str]
    ) -> None:
        self.process = process
        self.peer = peer
        self.set_env = set_env
        self.user = pwd.getpwuid(os.getuid())
        self.master: int | None = None  # the terminal's master side, with one

    async def run(self) -> None:
        if self.process.subsystem is not None:
            # sftp is served by asyncssh itself; sshd knows no other subsystem here.
            self._exit(1)
            return
        try:
            if self.process.term_type:
                await self._run_on_terminal()
            else:
                await self._run_on_pipes()
        finally:
            self._close_terminal()

    def _spawn(self, env: dict[str, str], **kwargs: object) -> subprocess.Popen[bytes]:
        shell = self.user.pw_shell or "/bin/sh"
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            shell_argv(shell, self.process.command),
            executable=shell,
            env=env,
            cwd=self.user.pw_dir if os.path.isdir(self.user.pw_dir) else "/",
            close_fds=True,
            **kwargs,
        )

    async def _run_on_pipes(self) -> None:
        env = session_env(self.user, self.peer, self.set_env)
        proc = self._spawn(
            env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_new_session,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        loop = asyncio.get_running_loop()
        stdin = await _pipe_writer(proc.stdin)
        readers, transports = [], []
        for pipe in (proc.stdout, proc.stderr):
            reader = asyncio.StreamReader(limit=CHUNK)
            transport, _ = await loop.connect_read_pipe(
                lambda r=reader: asyncio.StreamReaderProtocol(r), pipe
            )
            readers.append(reader)
            transports.append(transport)
        feeding = asyncio.ensure_future(self._feed(stdin, close_at_eof=True))
        # Output first, to the end (sshd, too, holds the channel open while a background job
        # keeps the command's stdout), then the exit status.
        output = asyncio.gather(
            self._copy_out(readers[0], self.process.stdout),
            self._copy_out(readers[1], self.process.stderr),
        )
        try:
            await self._until_client_leaves(output)
        finally:
            # Done, or the client left: the command's pipes close, as sshd closes them (a
            # command still writing gets SIGPIPE).
            output.cancel()
            feeding.cancel()
            _abort(stdin)
            for transport in transports:
                transport.close()
        self._report(await wait_child(proc))

    async def _run_on_terminal(self) -> None:
        master, slave = os.openpty()
        self.master = master
        tty = os.ttyname(slave)
        self._resize(*self.process.term_size)
        env = session_env(self.user, self.peer, self.set_env, term=self.process.term_type, tty=tty)
        try:
            proc = self._spawn(
                env, stdin=slave, stdout=slave, stderr=slave, preexec_fn=_take_terminal
            )
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        loop = asyncio.get_running_loop()
        keyboard = await _pipe_writer(os.fdopen(os.dup(master), "wb", buffering=0))
        loop.add_reader(master, self._copy_terminal)
        # EOF from the client leaves the terminal as it is (sshd cannot close half of it).
        feeding = asyncio.ensure_future(self._feed(keyboard, close_at_eof=False))
        child = asyncio.ensure_future(wait_child(proc))
        try:
            await self._until_client_leaves(child)
        finally:
            feeding.cancel()
            _abort(keyboard)
            loop.remove_reader(master)
        self._copy_terminal()  # what the shell wrote before it exited
        # The shell exited or the client left: the terminal goes, and with it (SIGHUP) whatever
        # still runs on it, as with sshd.
        self._close_terminal()
        self._report(await child)

    async def _until_client_leaves(self, work: asyncio.Future[object]) -> None:
        """Wait for `work`, or for the client to close the channel (or the connection)."""
        closed = asyncio.ensure_future(self.process.channel.wait_closed())
        try:
            await asyncio.wait({work, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()

    async def _copy_out(
        self, reader: asyncio.StreamReader, channel: asyncssh.SSHWriter[bytes]
    ) -> None:
        while True:
            try:
                data = await reader.read(CHUNK)
            except OSError:
                return
            if not data:
                return
            try:
                channel.write(data)
                await channel.drain()
            except (OSError, asyncssh.Error):
                return  # the client left: the command's output goes nowhere, as with sshd

    async def _feed(self, writer: asyncio.StreamWriter, *, close_at_eof: bool) -> None:
        """The client's input to the command, and its terminal's size changes."""
        while True:
            try:
                data = await self.process.stdin.read(CHUNK)
            except asyncssh.TerminalSizeChanged as exc:
                self._resize(exc.width, exc.height, exc.pixwidth, exc.pixheight)
                continue
            except (asyncssh.SignalReceived, asyncssh.BreakReceived):
                continue  # sshd with privilege separation ignores both
            except (OSError, asyncssh.Error):
                return
            if not data:
                if close_at_eof:
                    writer.close()
                return
            try:
                writer.write(data)
                await writer.drain()
            except OSError:
                return  # the command closed its stdin

    def _copy_terminal(self) -> None:
        """Everything the terminal has for the client now (a reader callback, non-blocking)."""
        while self.master is not None:
            try:
                data = os.read(self.master, CHUNK)
            except BlockingIOError:
                return
            except OSError:  # EIO: nothing holds the terminal any more
                data = b""
            if not data:
                asyncio.get_running_loop().remove_reader(self.master)
                return
            with contextlib.suppress(OSError, asyncssh.Error):
                self.process.stdout.write(data)

    def _resize(self, width: int, height: int, pixwidth: int = 0, pixheight: int = 0) -> None:
        if self.master is not None and width and height:
            size = struct.pack("HHHH", height, width, pixwidth, pixheight)
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    def _close_terminal(self) -> None:
        master, self.master = self.master, None
        if master is not None:
            with contextlib.suppress(OSError):
                os.close(master)

    def _report(self, returncode: int) -> None:
        status, signame = exit_report(returncode)
        with contextlib.suppress(OSError, asyncssh.Error):
            if signame is not None:
                self.process.exit_with_signal(signame)
            else:
                self.process.exit(status if status is not None else 255)

    def _exit(self, status: int) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.process.exit(status)


async def _pipe_writer(pipe: IO[bytes]) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, pipe)
    return asyncio.StreamWriter(transport, protocol, None, loop)


def _abort(writer: asyncio.StreamWriter) -> None:
    if not writer.transport.is_closing():
        writer.transport.abort()


def _new_session() -> None:
    # In the child, before exec: a session of its own, and every signal as a new program
    # expects it, as sshd's child has them (not what this server was started with: under
    # `nohup` SIGHUP is ignored, and a session would outlive its terminal).
    os.setsid()
    for sig in signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _take_terminal() -> None:
    # A new session (above) with the new terminal as its controlling terminal (stdin is the
    # terminal's slave side), as sshd's child does.
    _new_session()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
