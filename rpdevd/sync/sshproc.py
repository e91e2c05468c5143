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
`destination.parse_destination`, which is written to need nothing more, and `glob` where the
SSH config has an `Include`: `user_chose_ciphers`). `SshSessions` adopts that process when it
builds the very same command line, and kills it otherwise.

Without an `ssh` binary (or for `watch`, which needs SFTP) rpdev uses asyncssh as before.
"""

from __future__ import annotations

import os

from rpdevd.sync.child import Child

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


# The ciphers offered where the user's SSH config chooses none (`user_chose_ciphers`): AES-GCM
# first, which runs on the CPU's AES instructions (400 MB through `ssh` in 0.80 s where
# OpenSSH's first choice, ChaCha20-Poly1305, takes 1.15 s here, at half the client's CPU), then
# AES-CTR. Every one is known to each OpenSSH since 6.2 and allowed in FIPS mode, so no client
# refuses the list, and every OpenSSH server takes AES-CTR. (The daemon's asyncssh connections
# prefer AES-GCM too: destination.py.)
FAST_CIPHERS = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"
_SYSTEM_CONFIG = "/etc/ssh/ssh_config"


def user_chose_ciphers(config_file: str | None = None) -> bool:
    """Whether the SSH config `ssh` reads (`config_file`, or the user's and the system's) has a
    `Ciphers` line anywhere, in a file it includes too, for any host: a choice that is the
    user's, never overridden. A file that cannot be read counts as one that chooses."""
    home = os.path.expanduser("~/.ssh")
    if config_file:
        roots = [(config_file, home)]
    else:
        roots = [(os.path.join(home, "config"), home), (_SYSTEM_CONFIG, "/etc/ssh")]
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        path, base = todo.pop()
        if path in seen or len(seen) > 64:
            continue
        seen.add(path)
        try:
            with open(path, "rb") as f:
                text = f.read(1 << 20).decode("utf-8", "replace")
        except FileNotFoundError:
            continue
        except OSError:
            return True
        for line in text.splitlines():
            words = line.replace("=", " ", 1).split()
            if not words:
                continue
            key = words[0].lower()
            if key == "ciphers":
                return True
            if key == "include":
                todo += [(p, base) for p in _included(words[1:], base)]
    return False


def _included(patterns: list[str], base: str) -> list[str]:
    """The files an `Include` line names (relative ones below `base`, as ssh reads them)."""
    import glob  # only for a config that includes (ssh's own wildcards: glob's)

    out: list[str] = []
    for pattern in patterns:
        out += sorted(glob.glob(os.path.join(base, os.path.expanduser(pattern.strip('"')))))
    return out


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
    fast_ciphers: bool = False,
) -> list[str]:
    """The `ssh` command line (without the remote command). `fast_ciphers`: offer
    FAST_CIPHERS (where the user chose none: `user_chose_ciphers`), unless `options` names
    some."""
    argv = [ssh, *_BASE_OPTIONS]
    opts = dict(options or {})
    if "connecttimeout" not in opts:
        argv += ["-o", f"ConnectTimeout={max(int(connect_timeout), 1)}"]
    if fast_ciphers and "ciphers" not in opts:
        argv += ["-o", f"Ciphers={FAST_CIPHERS}"]
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
    config = os.path.expanduser(config_file) if config_file else None
    argv = ssh_argv(
        ssh,
        dest.host,
        user=dest.user,
        port=dest.port,
        identities=[os.path.expanduser(i) for i in identities],
        options=opts,
        config_file=config,
        fast_ciphers=not user_chose_ciphers(config),
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
