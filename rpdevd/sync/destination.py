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

import getpass
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncssh

_HOST_RE = re.compile(r"^[A-Za-z0-9._%+-][A-Za-z0-9._%+-]*$")
_DEST_RE = re.compile(
    r"^(?:(?P<user>[^@:/\s]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@:/\[\]\s]+)"
    r"(?::(?P<port>\d{1,5})(?=:))?:(?P<path>.*)$",
    re.S,
)

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


@dataclass(frozen=True)
class Destination:
    host: str
    path: str
    user: str | None = None
    port: int | None = None

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


def parse_destination(spec: str) -> Destination:
    """`alias:/path`, `user@host:/path`, `user@host:2222:/path`, `user@[::1]:2222:/path`."""
    m = _DEST_RE.match(spec)
    if not m:
        raise DestinationError(
            f"{spec!r} is not DEST:REMOTE (e.g. mypod.runpod:/workspace/proj or "
            "root@1.2.3.4:22022:/workspace/proj)"
        )
    host = m.group("host")
    if host.startswith("["):
        host = host[1:-1]
    elif not _HOST_RE.match(host) or host.startswith("-"):
        raise DestinationError(f"{host!r} is not a valid host name or alias")
    port = int(m.group("port")) if m.group("port") else None
    if port is not None and not 0 < port < 65536:
        raise DestinationError(f"port {port} is out of range")
    if m.group("user") and m.group("user").startswith("-"):
        raise DestinationError("the user name must not start with '-'")
    return Destination(host, normalize_remote(m.group("path")), m.group("user"), port)


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


@dataclass
class ConnectOptions:
    """What the command line adds on top of the SSH config (like `ssh -i`, `-o`, `-F`)."""

    identities: list[Path] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)  # lower-case keys
    config_file: Path | None = None  # None: ~/.ssh/config when it exists
    connect_timeout: float = 20.0


def _config_paths(opts: ConnectOptions) -> list[str]:
    if opts.config_file is not None:
        return [str(opts.config_file)]
    default = Path.home() / ".ssh" / "config"
    return [str(default)] if default.is_file() else []


def _strict_from_config(dest: Destination, paths: list[str]) -> str:
    """StrictHostKeyChecking as the config says, matched as asyncssh matches other options."""
    from asyncssh.config import SSHClientConfig, SSHConfig

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
    import asyncssh

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
    import asyncssh

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
    from asyncssh.config import SSHClientConfig

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
