"""A pod session over the OpenSSH client (`ssh`), for `rpdev sync once`.

A fresh `rpdev` process pays for Python's start and its imports; asyncssh alone costs about
0.15 s to import, then a handshake in Python. The `ssh` binary instead is spawned before the
heavy imports, so its handshake and the pod's login shell run while this process is still
loading, scanning and reading the baseline. It carries the same one-channel session as an
asyncssh exec channel (listing, then the bulk stream and the receiver), so nothing about what lands
on the pod changes. Host keys, `~/.ssh/config`, `-i`, `-o` and `-F` are OpenSSH's own.

The remote command is a fixed bootstrap that reads the session's script from stdin (its length,
a newline, the script), so `ssh` starts before rpdev has even loaded the code that writes the
script. Nothing else is written until the script has printed its listing, so `head` cannot read
past the script.

`rpdev sync once` goes further: `early_start` spawns `ssh` from the raw command line, before
argparse, the destination parser's callers or anything heavier than `os` is loaded (only
`destination.parse_destination`, which is written to need nothing more). `SshSessions` adopts
that process when it builds the very same command line, and kills it otherwise.

Without an `ssh` binary (or for `watch`, which needs SFTP) rpdev uses asyncssh as before.
"""

from __future__ import annotations

import _thread
import os

TYPE_CHECKING = False  # type-only imports: see destination.py
if TYPE_CHECKING:
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
    """`ssh` on PATH (what shutil.which does, without loading shutil before the spawn)."""
    for folder in os.get_exec_path():
        path = os.path.join(folder, "ssh")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


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


class Child:
    """A process with its three standard streams piped: the part of `subprocess.Popen` that
    rpdev uses, on `os.posix_spawn`, so spawning needs nothing but `os` (subprocess alone
    pulls in `re`, `locale`, `threading` and more). Its own session, so a Ctrl-C reaches rpdev,
    which closes the session itself."""

    def __init__(self, argv: list[str]) -> None:
        ends = [os.pipe(), os.pipe(), os.pipe()]  # close-on-exec, except where dup'ed to 0-2
        child = [ends[0][0], ends[1][1], ends[2][1]]
        actions = [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(child)]
        try:
            try:
                self.pid = os.posix_spawn(
                    argv[0], argv, os.environ, file_actions=actions, setsid=True
                )
            except NotImplementedError:  # no POSIX_SPAWN_SETSID: a process group of its own
                self.pid = os.posix_spawn(
                    argv[0], argv, os.environ, file_actions=actions, setpgroup=0
                )
        except BaseException:
            for r, w in ends:
                os.close(r)
                os.close(w)
            raise
        for fd in child:
            os.close(fd)
        self.stdin = open(ends[0][1], "wb", buffering=0)  # noqa: SIM115 - closed by close()
        self.stdout = open(ends[1][0], "rb", buffering=0)  # noqa: SIM115
        self.stderr = open(ends[2][0], "rb", buffering=0)  # noqa: SIM115
        self.returncode: int | None = None
        self._lock = _thread.allocate_lock()

    def _reap(self, flags: int) -> int | None:
        # One waitpid at a time (a wait() in a thread, a poll() from the loop), as Popen does.
        if not self._lock.acquire(blocking=not flags & os.WNOHANG):
            return None
        try:
            if self.returncode is None:
                pid, status = os.waitpid(self.pid, flags)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            self.returncode = self.returncode if self.returncode is not None else -1
        finally:
            self._lock.release()
        return self.returncode

    def poll(self) -> int | None:
        return self._reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code; with `timeout`, None when it has not exited by then."""
        if timeout is None:
            return self._reap(0)
        import time

        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.returncode

    def signal(self, signum: int) -> None:
        """Signal its process group (itself and whatever it started, e.g. a ProxyCommand):
        while it is unreaped, its group id cannot be reused."""
        if self.poll() is None:
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Kill it (if it still runs), reap it, close the pipes."""
        self.signal(9)
        self.wait()
        for f in (self.stdin, self.stdout, self.stderr):
            f.close()


# Processes `early_start` spawned, by command line, until a SshSessions adopts one.
_EARLY: dict[tuple[str, ...], Child] = {}

# Options of `rpdev sync once` that take a value, and those that do not (see commands/sync.py;
# a test keeps the two in step). Anything else, and early_start leaves it to argparse.
_SYNC_ONCE_VALUES = {"-i", "--identity", "-o", "-F", "--ignore", "--max-delete", "--db"}
_SYNC_ONCE_FLAGS = {
    "--delete",
    "--no-delete",
    "--yes",
    "-y",
    "--json",
    "--no-gitignore",
    "--no-default-ignores",
}


def early_start(args: list[str]) -> None:
    """`rpdev sync once ARGS`: spawn the session's `ssh` right away when ARGS are plain (no
    abbreviations, no `--opt=value`, nothing unknown); otherwise do nothing. Never raises."""
    identities: list[str] = []
    options: list[str] = []
    config_file = None
    positional: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in _SYNC_ONCE_VALUES:
            value = next(it, None)
            if value is None:
                return
            if arg in ("-i", "--identity"):
                identities.append(value)
            elif arg == "-o":
                options.append(value)
            elif arg == "-F":
                config_file = value
        elif arg in _SYNC_ONCE_FLAGS:
            continue
        elif arg.startswith("-") or arg == "":
            return
        else:
            positional.append(arg)
    ssh = find_ssh()
    if len(positional) != 2 or ssh is None:
        return
    from rpdevd.sync.destination import DestinationError, parse_destination, parse_option

    try:
        dest = parse_destination(positional[1])
        opts = dict(parse_option(o) for o in options)
    except DestinationError:
        return
    argv = ssh_argv(
        ssh,
        dest.host,
        user=dest.user,
        port=dest.port,
        identities=[os.path.expanduser(i) for i in identities],
        options=opts,
        config_file=os.path.expanduser(config_file) if config_file else None,
    )
    try:
        _EARLY[tuple(argv)] = Child([*argv, BOOTSTRAP])
    except OSError:
        return


def discard_early() -> None:
    """Kill whatever early_start spawned that no SshSessions adopted."""
    while _EARLY:
        _EARLY.popitem()[1].close()


class SshSessions:
    """Spawns `ssh ... BOOTSTRAP` and hands it a script; `prestart` spawns the first one early
    (or adopts the one `early_start` spawned for the same command line)."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self._early: list[Child] = []

    def _spawn(self) -> Child:
        return Child([*self.argv, BOOTSTRAP])

    def prestart(self) -> None:
        if not self._early:
            early = _EARLY.pop(tuple(self.argv), None)
            discard_early()  # a command line that turned out different: not ours to use
            self._early.append(early or self._spawn())

    async def open(self, script: str) -> Any:
        """A process running `script`, with the asyncssh-process surface PodSession uses."""
        from rpdevd.sync.sshpipe import PipeProcess

        child = self._early.pop() if self._early else self._spawn()
        proc = await PipeProcess.wrap(child)
        proc.stdin.write(framed(script))
        return proc

    def close(self) -> None:
        for child in self._early:
            child.close()
        self._early.clear()
