"""`DEST:REMOTE`: where a sync goes, and the SSH connection to it.

DEST is an alias from `~/.ssh/config` (or any host name) or `[user@]host[:port]`; REMOTE is the
directory on the pod (relative paths and `~/...` are taken from the login directory, as scp does).
An IPv6 host goes in brackets: `user@[::1]:2222:/workspace/x`.

Connections use asyncssh, which reads the OpenSSH client config itself (Host/Match blocks,
HostName, Port, User, IdentityFile, IdentitiesOnly, UserKnownHostsFile, HostKeyAlias,
ProxyCommand, ...). One option rpdev's generated config relies on is outside asyncssh's reader:
`StrictHostKeyChecking`. It is looked up here with asyncssh's own matching rules and applied by
hand: `yes`/`ask` (the default) refuse unknown and changed keys, `accept-new` learns an unknown
key into the first UserKnownHostsFile and refuses a changed one, `no`/`off` accept any key.
"""

from __future__ import annotations

import os

# Type-only imports under a local flag (mypy honours it): `sync once` parses its destination and
# starts `ssh` before anything heavier than `os` is loaded (see sshproc.early_start).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import Any

    import asyncssh

_HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_IPV6_CHARS = frozenset("0123456789ABCDEFabcdef:.")
_DIGITS = frozenset("0123456789")

SUPPORTED_OPTIONS = {
    "port",
    "user",
    "identityfile",
    "userknownhostsfile",
    "hostkeyalias",
    "stricthostkeychecking",
    "connecttimeout",
    "identitiesonly",
    "hostname",
}


PREFERRED_CIPHERS = [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
]


class DestinationError(ValueError):
    pass


class Destination:
    """Where a sync goes: `host` (an alias or a name), the remote `path`, `user` and `port`
    when given in the spec. Immutable."""

    __slots__ = ("host", "path", "user", "port")
    host: str
    path: str
    user: str | None
    port: int | None

    def __init__(self, host: str, path: str, user: str | None = None, port: int | None = None):
        for name, value in (("host", host), ("path", path), ("user", user), ("port", port)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Destination is immutable")

    def _key(self) -> tuple[str, str, str | None, int | None]:
        return (self.host, self.path, self.user, self.port)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Destination) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Destination(host={!r}, path={!r}, user={!r}, port={!r})".format(*self._key())

    @property
    def label(self) -> str:
        """`[user@]host[:port]`, which also keys the baseline of a CLI sync."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.host}{port}"


def cli_pair_id(dest: Destination, local: Path) -> str:
    """The baseline key of a sync started from the command line."""
    return f"cli:{dest.label}:{dest.path}:{local}"


def normalize_remote(path: str) -> str:
    """Strip a leading `~/` (SFTP and exec channels both start in the login directory)."""
    if path in ("", "~", "~/"):
        return "."
    if path.startswith("~/"):
        path = path[2:]
    elif path.startswith("~"):
        raise DestinationError("only ~ and ~/path are understood, not ~user")
    path = path.rstrip("/") or "/"
    if "\x00" in path or "\n" in path:
        raise DestinationError("the remote path contains a NUL or newline")
    if ".." in path.split("/"):
        raise DestinationError("the remote path must not contain '..'")
    return path


def _split_destination(spec: str) -> tuple[str | None, str, str | None, str] | None:
    """`[user@]host[:port]:path` or `[user@][v6addr][:port]:path` -> (user, host, port, path),
    the host still in its brackets; None when it is not of that form. The port is taken only
    when another colon follows it."""
    user = None
    rest = spec
    at = spec.find("@")
    stops = [i for i in (spec.find(":"), spec.find("/")) if i >= 0]
    if at >= 0 and (not stops or at < min(stops)):
        user, rest = spec[:at], spec[at + 1 :]
        if not user or any(c.isspace() or c in "@:/" for c in user):
            return None
    if rest.startswith("["):
        end = rest.find("]")
        host = rest[: end + 1] if end > 1 else ""
        if not host or not _IPV6_CHARS.issuperset(host[1:-1]) or rest[end + 1 : end + 2] != ":":
            return None
        rest = rest[end + 2 :]
    else:
        colon = rest.find(":")
        host = rest[:colon] if colon > 0 else ""
        if not host or any(c.isspace() or c in "@/[]" for c in host):
            return None
        rest = rest[colon + 1 :]
    port = None
    colon = rest.find(":")
    if 1 <= colon <= 5 and _DIGITS.issuperset(rest[:colon]):
        port, rest = rest[:colon], rest[colon + 1 :]
    return user, host, port, rest


def parse_destination(spec: str) -> Destination:
    """`alias:/path`, `user@host:/path`, `user@host:2222:/path`, `user@[::1]:2222:/path`."""
    parts = _split_destination(spec)
    if parts is None:
        raise DestinationError(
            f"{spec!r} is not DEST:REMOTE (e.g. mypod.runpod:/workspace/proj or "
            "root@1.2.3.4:22022:/workspace/proj)"
        )
    user, host, port_text, path = parts
    if host.startswith("["):
        host = host[1:-1]
    elif not _HOST_CHARS.issuperset(host) or host.startswith("-"):
        raise DestinationError(f"{host!r} is not a valid host name or alias")
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        raise DestinationError(f"port {port} is out of range")
    if user and user.startswith("-"):
        raise DestinationError("the user name must not start with '-'")
    return Destination(host, normalize_remote(path), user, port)


def parse_option(text: str) -> tuple[str, str]:
    """`Key=Value` or `Key Value`, as `ssh -o` takes it."""
    key, sep, value = text.partition("=")
    if not sep:
        key, _, value = text.strip().partition(" ")
    key, value = key.strip(), value.strip()
    if key.lower() not in SUPPORTED_OPTIONS:
        raise DestinationError(
            f"unsupported SSH option {key!r}; supported: " + ", ".join(sorted(SUPPORTED_OPTIONS))
        )
    if not value:
        raise DestinationError(f"option {key!r} needs a value")
    return key.lower(), value


class ConnectOptions:
    """What the command line adds on top of the SSH config (like `ssh -i`, `-o`, `-F`)."""

    def __init__(
        self,
        identities: Sequence[Path] = (),
        options: Mapping[str, str] | None = None,  # lower-case keys
        config_file: Path | None = None,  # None: ~/.ssh/config when it exists
        connect_timeout: float = 20.0,
    ) -> None:
        self.identities = list(identities)
        self.options = dict(options or {})
        self.config_file = config_file
        self.connect_timeout = connect_timeout


def _config_paths(opts: ConnectOptions) -> list[str]:
    from pathlib import Path

    if opts.config_file is not None:
        return [str(opts.config_file)]
    default = Path.home() / ".ssh" / "config"
    return [str(default)] if default.is_file() else []


def _strict_from_config(dest: Destination, paths: list[str]) -> str:
    """StrictHostKeyChecking as the config says, matched as asyncssh matches other options."""
    from rpdevd.sshlib import SSHClientConfig, SSHConfig

    class _Config(SSHClientConfig):
        _handlers = {
            **SSHClientConfig._handlers,
            "stricthostkeychecking": ("StrictHostKeyChecking", SSHConfig._set_string),
        }

    value = _lookup(dest, paths, "StrictHostKeyChecking", _Config)
    return "yes" if value is None else str(value).lower()


def _host_key_policy(known_hosts: list[str], name: str) -> asyncssh.SSHClient:
    """accept-new: asyncssh asks this client only about a key known_hosts does not trust.
    (Built on demand: asyncssh is imported only when a connection is made.)"""
    from pathlib import Path

    from rpdevd.sshlib import asyncssh

    class _HostKeyPolicy(asyncssh.SSHClient):
        def validate_host_public_key(
            self, host: str, addr: str, port: int, key: asyncssh.SSHKey
        ) -> bool:
            for path in known_hosts:
                try:
                    kh = asyncssh.read_known_hosts(os.path.expanduser(path))
                except (OSError, ValueError):
                    continue
                trusted = kh.match(name, addr, port)[0]
                if trusted:
                    return False  # a known host whose key changed: refuse
            if not known_hosts:
                return False
            target = Path(os.path.expanduser(known_hosts[0]))
            target.parent.mkdir(parents=True, exist_ok=True)
            entry = name if port == 22 else f"[{name}]:{port}"
            line = f"{entry} {key.export_public_key().decode().strip()}\n"
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(line)
            return True

    return _HostKeyPolicy()


async def connect(
    dest: Destination, opts: ConnectOptions | None = None
) -> asyncssh.SSHClientConnection:
    """Open an SSH connection to `dest`, honouring the SSH config and the options given."""
    from pathlib import Path

    from rpdevd.sshlib import asyncssh

    opts = opts or ConnectOptions()
    paths = _config_paths(opts)
    o = opts.options
    kwargs: dict[str, Any] = {"config": paths, "connect_timeout": opts.connect_timeout}
    if dest.user or "user" in o:
        kwargs["username"] = dest.user or o["user"]
    port = dest.port or (int(o["port"]) if "port" in o else None)
    if port:
        kwargs["port"] = port
    identities = [str(p) for p in opts.identities]
    if "identityfile" in o:
        identities.append(os.path.expanduser(o["identityfile"]))
    if identities:
        kwargs["client_keys"] = identities
    if "hostkeyalias" in o:
        kwargs["host_key_alias"] = o["hostkeyalias"]
    if "connecttimeout" in o:
        kwargs["connect_timeout"] = float(o["connecttimeout"])
    if not _lookup(dest, paths, "Ciphers"):
        # AES-GCM runs in OpenSSL with hardware help; asyncssh's chacha20 costs more per packet.
        kwargs["encryption_algs"] = PREFERRED_CIPHERS
    strict = o.get("stricthostkeychecking") or _strict_from_config(dest, paths)
    known: list[str] | None = None
    if "userknownhostsfile" in o:
        known = [os.path.expanduser(p) for p in o["userknownhostsfile"].split()]
    if strict in ("no", "off", "false"):
        kwargs["known_hosts"] = None
    elif strict == "accept-new":
        if known is None:
            known = _known_hosts_from_config(dest, paths)
        known = [p for p in known if p != "/dev/null"] or [
            str(Path.home() / ".ssh" / "known_hosts")
        ]
        for p in known:
            Path(p).parent.mkdir(parents=True, exist_ok=True)
            Path(p).touch(exist_ok=True)
        kwargs["known_hosts"] = known
        name = kwargs.get("host_key_alias") or _alias_from_config(dest, paths) or dest.host
        kwargs["client_factory"] = lambda: _host_key_policy(known or [], name)
    elif known is not None:
        existing = [p for p in known if os.path.exists(p)]
        # No readable file means nothing is trusted (never "no checking").
        kwargs["known_hosts"] = existing or asyncssh.import_known_hosts("")
    try:
        return await asyncssh.connect(dest.host, **kwargs)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise ConnectionError(
            f"{dest.label}: the host key is not trusted ({exc.reason}); "
            "for a test host pass -o StrictHostKeyChecking=accept-new"
        ) from exc


def _lookup(dest: Destination, paths: list[str], option: str, config_class: Any = None) -> Any:
    """One option from the SSH config files, matched for `dest` as asyncssh matches options;
    None when unset or when asyncssh rejects the file (the connect reports that later)."""
    import getpass

    from rpdevd.sshlib import SSHClientConfig

    if not paths:
        return None
    try:
        cfg = (config_class or SSHClientConfig).load(
            None,
            paths,
            False,
            False,
            False,
            getpass.getuser(),
            dest.user or (),
            dest.host,
            dest.port or (),
        )
    except Exception:  # noqa: BLE001 - see above
        return None
    return cfg.get(option)


def _known_hosts_from_config(dest: Destination, paths: list[str]) -> list[str]:
    value = _lookup(dest, paths, "UserKnownHostsFile")
    return [os.path.expanduser(str(p)) for p in value] if isinstance(value, list) else []


def _alias_from_config(dest: Destination, paths: list[str]) -> str | None:
    value = _lookup(dest, paths, "HostKeyAlias")
    return str(value) if value else None
