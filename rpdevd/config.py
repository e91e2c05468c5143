"""`config.toml` -> typed, validated settings.

Every error names the file, the key and the line, e.g.
`~/.config/rpdev/config.toml:7: pod[1].idle_timeout: "30 minutes" is not a duration (use 30m, 1h30m, 45s)`.
The API key never lives here (see `rpdevd.secrets`).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpdevd import paths
from rpdevd.durations import MAX_SECONDS, parse_duration

POLICIES = ("manual", "keep-alive", "idle-stop")
POD_KEYS = {
    "id",
    "name",
    "policy",
    "idle_timeout",
    "warn_before",
    "wake_on_connect",
    "user",
    "identity_file",
    "max_bid",
    "guard",
    "guard_after",
}
SYNC_KEYS = {
    "pod",
    "local",
    "remote",
    "ignore",
    "max_delete",
    "enabled",
    "delete",
    "pull",
    "pull_interval",
}
FORWARD_KEYS = {"pod", "local", "remote", "bind"}
SSH_KEYS = {"identity_file", "user", "server_alive_interval", "install_include"}
BUDGET_KEYS = {"monthly"}
# A user name as ssh_config can carry it unquoted (and as RunPod images name their users).
USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
TOP_KEYS = {
    "poll_interval",
    "probe_interval",
    "idle_timeout",
    "warn_before",
    "probe_concurrency",
    "gpu_threshold",
    "cpu_threshold",
    "net_threshold",
    "disk_threshold",
    "guard_after",
    "pod",
    "sync",
    "ssh",
    "budget",
    "forward",
}


class ConfigError(Exception):
    """A config problem, located: `file:line: key: what is wrong`."""

    def __init__(self, path: Path | None, key: str, message: str, line: int | None = None) -> None:
        self.path, self.key, self.line, self.detail = path, key, line, message
        where = str(path) if path else "<config>"
        if line:
            where += f":{line}"
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


@dataclass(frozen=True)
class PodConfig:
    id: str | None = None
    name: str | None = None
    policy: str = "manual"
    idle_timeout: float = 1800.0
    warn_before: float = 300.0
    wake_on_connect: bool = False
    user: str | None = None
    identity_file: str | None = None
    max_bid: float | None = None  # spot pods: keep-alive resumes only at or below this $/GPU/h
    guard: bool = (
        True  # idle-stop pods: the pod-side guard (docs/idle.md "When your laptop sleeps")
    )
    guard_after: float = 600.0  # how stale the daemon's heartbeat is before the guard decides

    def matches(self, pod_id: str, pod_name: str) -> bool:
        return (self.id is not None and self.id == pod_id) or (
            self.id is None and self.name is not None and self.name == pod_name
        )


@dataclass(frozen=True)
class SyncConfig:
    pod: str
    local: Path
    remote: str
    ignore: tuple[str, ...] = ()
    max_delete: int = 100
    enabled: bool = True
    delete: bool = True
    pull: tuple[str, ...] = ()  # gitignore-style patterns of pod files brought back here
    pull_interval: float = 30.0  # seconds between pull passes (also after each full push pass)


@dataclass(frozen=True)
class ForwardConfig:
    """A `[[forward]]`: local port `local` (on `bind`) to port `remote` on the pod."""

    pod: str
    local: int
    remote: int
    bind: str = "127.0.0.1"


@dataclass(frozen=True)
class SSHSettings:
    identity_file: str = "~/.ssh/id_ed25519"
    user: str = "root"
    server_alive_interval: int = 30
    install_include: bool = False  # add the Include block to ~/.ssh/config without asking


@dataclass(frozen=True)
class Config:
    poll_interval: float = 15.0
    probe_interval: float = 60.0
    idle_timeout: float = 1800.0
    warn_before: float = 300.0
    probe_concurrency: int = 16
    gpu_threshold: float = 10.0  # % on the busiest GPU that counts as work (docs/idle.md)
    cpu_threshold: float = 20.0  # % of the pod's CPUs that counts as work
    net_threshold: float = 250_000.0  # bytes/s in+out that count as moving data (docs/idle.md)
    disk_threshold: float = 1_000_000.0  # bytes/s of block I/O
    guard_after: float = 600.0  # the pod-side guard takes over after this much silence
    pods: tuple[PodConfig, ...] = ()
    syncs: tuple[SyncConfig, ...] = ()
    forwards: tuple[ForwardConfig, ...] = ()
    ssh: SSHSettings = field(default_factory=SSHSettings)
    budget_monthly: float | None = None  # [budget] monthly, in dollars
    source: Path | None = None

    def pod_config(self, pod_id: str, pod_name: str) -> PodConfig | None:
        for pc in self.pods:
            if pc.matches(pod_id, pod_name):
                return pc
        return None


class _Locator:
    """Finds the line of `key` in the n-th `[[table]]` (or the top level) of a TOML text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, key: str, table: str | None = None, index: int = 0) -> int | None:
        start, end = 0, len(self.lines)
        if table is not None:
            headers = [
                i
                for i, ln in enumerate(self.lines)
                if re.match(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]", ln)
            ]
            if index >= len(headers):
                return None
            start = headers[index]
            nxt = [i for i, ln in enumerate(self.lines) if i > start and re.match(r"^\s*\[", ln)]
            end = nxt[0] if nxt else len(self.lines)
            if not key:
                return start + 1
        else:
            first_table = [i for i, ln in enumerate(self.lines) if re.match(r"^\s*\[", ln)]
            end = first_table[0] if first_table else len(self.lines)
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(start, end):
            if pattern.match(self.lines[i]):
                return i + 1
        return start + 1 if table is not None else None


# What each Python type is called in TOML, with its article ("must be an integer").
TOML_KINDS: dict[type, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class _Reader:
    def __init__(self, path: Path | None, text: str) -> None:
        self.path = path
        self.loc = _Locator(text)

    def fail(
        self,
        key: str,
        message: str,
        table: str | None = None,
        index: int = 0,
        leaf: str | None = None,
    ) -> ConfigError:
        line = self.loc.line_of(leaf if leaf is not None else key, table, index)
        return ConfigError(self.path, key, message, line)

    def duration(
        self,
        data: dict[str, Any],
        key: str,
        default: float,
        *,
        label: str,
        table: str | None = None,
        index: int = 0,
    ) -> float:
        if key not in data:
            return default
        value = data[key]
        try:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int | float):
                seconds = float(value)
            elif isinstance(value, str):
                seconds = parse_duration(value)
            else:
                raise ValueError
        except ValueError:
            raise self.fail(
                label,
                f'{value!r} is not a duration (use e.g. "30m", "1h30m", '
                '"45s", or a number of seconds)',
                table,
                index,
                key,
            ) from None
        if seconds <= 0:
            raise self.fail(label, "must be greater than zero", table, index, key)
        return seconds

    def typed(
        self,
        data: dict[str, Any],
        key: str,
        kind: type | tuple[type, ...],
        default: Any,
        *,
        label: str,
        table: str | None = None,
        index: int = 0,
    ) -> Any:
        if key not in data:
            return default
        value = data[key]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if not ok:
            kinds = (kind,) if isinstance(kind, type) else kind
            name = " or ".join(TOML_KINDS.get(k, f"a {k.__name__}") for k in kinds)
            raise self.fail(label, f"must be {name}, not {value!r}", table, index, key)
        return value

    def unknown(
        self,
        data: dict[str, Any],
        allowed: set[str],
        prefix: str,
        table: str | None = None,
        index: int = 0,
    ) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    f"{prefix}{key}",
                    f"unknown key (known keys: {', '.join(sorted(allowed))})",
                    table,
                    index,
                    key,
                )


def parse_config(text: str, path: Path | None = None) -> Config:
    """Parse and validate a config text. Raises ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            path, "", f"not valid TOML: {exc}", int(m.group(1)) if m else None
        ) from None
    r = _Reader(path, text)
    if "api_key" in data or "RUNPOD_API_KEY" in data:
        raise r.fail(
            "api_key",
            "the API key does not belong in config.toml: run `rpdev login` "
            "(OS keyring) or set RUNPOD_API_KEY",
        )
    r.unknown(data, TOP_KEYS, "")
    defaults = Config()
    idle_timeout = r.duration(data, "idle_timeout", defaults.idle_timeout, label="idle_timeout")
    warn_before = r.duration(data, "warn_before", defaults.warn_before, label="warn_before")
    guard_after = r.duration(data, "guard_after", defaults.guard_after, label="guard_after")
    ssh = _parse_ssh(r, data.get("ssh", {}))
    pods = tuple(
        _parse_pod(r, i, p, idle_timeout, warn_before, guard_after)
        for i, p in enumerate(_table_list(r, data, "pod"))
    )
    _check_unique_pods(r, pods)
    syncs = tuple(_parse_sync(r, i, s) for i, s in enumerate(_table_list(r, data, "sync")))
    forwards = _parse_forwards(r, _table_list(r, data, "forward"))
    concurrency = r.typed(
        data, "probe_concurrency", int, defaults.probe_concurrency, label="probe_concurrency"
    )
    if not 1 <= concurrency <= 1024:
        raise r.fail("probe_concurrency", "must be between 1 and 1024")
    return Config(
        poll_interval=r.duration(
            data, "poll_interval", defaults.poll_interval, label="poll_interval"
        ),
        probe_interval=r.duration(
            data, "probe_interval", defaults.probe_interval, label="probe_interval"
        ),
        idle_timeout=idle_timeout,
        warn_before=warn_before,
        probe_concurrency=concurrency,
        gpu_threshold=_percent(r, data, "gpu_threshold", defaults.gpu_threshold),
        cpu_threshold=_percent(r, data, "cpu_threshold", defaults.cpu_threshold),
        net_threshold=_rate(r, data, "net_threshold", defaults.net_threshold),
        disk_threshold=_rate(r, data, "disk_threshold", defaults.disk_threshold),
        guard_after=guard_after,
        pods=pods,
        syncs=syncs,
        forwards=forwards,
        ssh=ssh,
        budget_monthly=_parse_budget(r, data.get("budget", {})),
        source=path,
    )


_RATE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kKMG])(i?))?B/s\s*")


def parse_rate(text: str | float) -> float:
    """A data rate in bytes per second: a number, or a string such as "250kB/s", "2MB/s",
    "1MiB/s" (k, M, G are powers of 1000; Ki, Mi, Gi of 1024). ValueError otherwise."""
    rate: float | None = None
    if isinstance(text, int | float) and not isinstance(text, bool):
        rate = float(text)
    elif isinstance(text, str) and (m := _RATE_RE.fullmatch(text)):
        prefix, binary = m.group(2), m.group(3)
        power = " KMG".index(prefix.upper()) if prefix else 0
        rate = float(m.group(1)) * (1024 if binary else 1000) ** power
    elif isinstance(text, str) and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", text):
        rate = float(text)
    if rate is None or not 0 < rate < 1e12:
        raise ValueError(
            f'{text!r} is not a data rate (use e.g. "250kB/s", "2MB/s", or bytes per second)'
        )
    return rate


def _percent(r: _Reader, data: dict[str, Any], key: str, default: float) -> float:
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise r.fail(key, "must be a number: a percentage such as 20")
    if not 0 < value <= 100:
        raise r.fail(key, "must be a percentage above 0 and at most 100")
    return float(value)


def _rate(r: _Reader, data: dict[str, Any], key: str, default: float) -> float:
    if key not in data:
        return default
    try:
        return parse_rate(data[key])
    except ValueError as exc:
        raise r.fail(key, str(exc)) from None


def _table_list(r: _Reader, data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise r.fail(name, f"must be an array of tables: write [[{name}]]")
    return value


def _parse_ssh(r: _Reader, data: Any) -> SSHSettings:
    if not isinstance(data, dict):
        raise r.fail("ssh", "must be a table: write [ssh]")
    for key in data:
        if key not in SSH_KEYS:
            raise ConfigError(
                r.path,
                f"ssh.{key}",
                f"unknown key (known keys: {', '.join(sorted(SSH_KEYS))})",
                _table_line(r, key),
            )
    d = SSHSettings()
    user = r.typed(data, "user", str, d.user, label="ssh.user")
    if not USER_RE.fullmatch(user):
        raise ConfigError(
            r.path, "ssh.user", f"{user!r} is not a valid user name", _table_line(r, "user")
        )
    interval = r.typed(
        data,
        "server_alive_interval",
        int,
        d.server_alive_interval,
        label="ssh.server_alive_interval",
    )
    if not 0 <= interval <= 86400:
        # ssh refuses the whole config file over an impossible value: every host, not just pods.
        raise ConfigError(
            r.path,
            "ssh.server_alive_interval",
            f"{interval} is not between 0 and 86400 seconds",
            _table_line(r, "server_alive_interval"),
        )
    return SSHSettings(
        identity_file=r.typed(
            data, "identity_file", str, d.identity_file, label="ssh.identity_file"
        ),
        user=user,
        server_alive_interval=interval,
        install_include=r.typed(
            data, "install_include", bool, d.install_include, label="ssh.install_include"
        ),
    )


def _parse_budget(r: _Reader, data: Any) -> float | None:
    if not isinstance(data, dict):
        raise r.fail("budget", "must be a table: write [budget]")
    for key in data:
        if key not in BUDGET_KEYS:
            raise ConfigError(
                r.path,
                f"budget.{key}",
                f"unknown key (known keys: {', '.join(sorted(BUDGET_KEYS))})",
                _table_line(r, key, "budget"),
            )
    monthly = data.get("monthly")
    if monthly is None:
        return None
    if isinstance(monthly, bool) or not isinstance(monthly, int | float) or not 0 < monthly < 1e9:
        raise ConfigError(
            r.path,
            "budget.monthly",
            f"{monthly!r} is not an amount of dollars (a number greater than zero, e.g. 200)",
            _table_line(r, "monthly", "budget"),
        )
    return float(monthly)


def _table_line(r: _Reader, key: str, table: str = "ssh") -> int | None:
    """The line of `key` in the `[table]` table (`[ssh]` unless said), else of the header."""
    for i, ln in enumerate(r.loc.lines):
        if re.match(rf"^\s*\[{table}\]", ln):
            for j in range(i + 1, len(r.loc.lines)):
                if re.match(rf"^\s*{re.escape(key)}\s*=", r.loc.lines[j]):
                    return j + 1
            return i + 1
    return None


def _parse_pod(
    r: _Reader,
    i: int,
    p: dict[str, Any],
    idle_timeout: float,
    warn_before: float,
    guard_after: float = 600.0,
) -> PodConfig:
    label = f"pod[{i}]."
    for key in p:
        if key not in POD_KEYS:
            raise r.fail(
                label + key,
                f"unknown key (known keys: {', '.join(sorted(POD_KEYS))})",
                "pod",
                i,
                key,
            )
    pod_id = r.typed(p, "id", str, None, label=label + "id", table="pod", index=i)
    name = r.typed(p, "name", str, None, label=label + "name", table="pod", index=i)
    if pod_id is None and name is None:
        raise r.fail(f"pod[{i}]", "needs an `id` or a `name`", "pod", i, "")
    if pod_id is not None and not re.fullmatch(r"[a-z0-9]{1,64}", pod_id):
        raise r.fail(
            label + "id",
            f"{pod_id!r} is not a RunPod pod id (lowercase letters and digits)",
            "pod",
            i,
            "id",
        )
    policy = r.typed(p, "policy", str, "manual", label=label + "policy", table="pod", index=i)
    if policy not in POLICIES:
        raise r.fail(
            label + "policy", f"{policy!r} is not one of {', '.join(POLICIES)}", "pod", i, "policy"
        )
    timeout = r.duration(
        p, "idle_timeout", idle_timeout, label=label + "idle_timeout", table="pod", index=i
    )
    warn = r.duration(
        p, "warn_before", warn_before, label=label + "warn_before", table="pod", index=i
    )
    if warn >= timeout:
        raise r.fail(
            label + "warn_before", "must be shorter than idle_timeout", "pod", i, "warn_before"
        )
    return PodConfig(
        id=pod_id,
        name=name,
        policy=policy,
        idle_timeout=timeout,
        warn_before=warn,
        wake_on_connect=r.typed(
            p, "wake_on_connect", bool, False, label=label + "wake_on_connect", table="pod", index=i
        ),
        user=_pod_user(r, p, label, i),
        identity_file=r.typed(
            p, "identity_file", str, None, label=label + "identity_file", table="pod", index=i
        ),
        max_bid=_max_bid(r, p, label, i),
        guard=r.typed(p, "guard", bool, True, label=label + "guard", table="pod", index=i),
        guard_after=r.duration(
            p, "guard_after", guard_after, label=label + "guard_after", table="pod", index=i
        ),
    )


def _max_bid(r: _Reader, p: dict[str, Any], label: str, i: int) -> float | None:
    bid = p.get("max_bid")
    if bid is not None and (isinstance(bid, bool) or not isinstance(bid, int | float)):
        raise r.fail(label + "max_bid", f"must be a number, not {bid!r}", "pod", i, "max_bid")
    if bid is not None and not 0 < bid < 1000:
        raise r.fail(
            label + "max_bid",
            f"{bid!r} is not a bid: dollars per GPU per hour, greater than zero (e.g. 0.40)",
            "pod",
            i,
            "max_bid",
        )
    return None if bid is None else float(bid)


def _pod_user(r: _Reader, p: dict[str, Any], label: str, i: int) -> str | None:
    user: str | None = r.typed(p, "user", str, None, label=label + "user", table="pod", index=i)
    if user is not None and not USER_RE.fullmatch(user):
        raise r.fail(label + "user", f"{user!r} is not a valid user name", "pod", i, "user")
    return user


def _check_unique_pods(r: _Reader, pods: tuple[PodConfig, ...]) -> None:
    seen: set[str] = set()
    for i, pc in enumerate(pods):
        key = f"id:{pc.id}" if pc.id else f"name:{pc.name}"
        if key in seen:
            raise r.fail(
                f"pod[{i}]", f"the same pod ({key.split(':', 1)[1]}) is listed twice", "pod", i, ""
            )
        seen.add(key)


def _parse_sync(r: _Reader, i: int, s: dict[str, Any]) -> SyncConfig:
    label = f"sync[{i}]."
    for key in s:
        if key not in SYNC_KEYS:
            raise r.fail(
                label + key,
                f"unknown key (known keys: {', '.join(sorted(SYNC_KEYS))})",
                "sync",
                i,
                key,
            )
    for key in ("pod", "local", "remote"):
        if key not in s:
            raise r.fail(label + key, "is required", "sync", i, "")
    pod = r.typed(s, "pod", str, None, label=label + "pod", table="sync", index=i)
    local = r.typed(s, "local", str, None, label=label + "local", table="sync", index=i)
    remote = r.typed(s, "remote", str, None, label=label + "remote", table="sync", index=i)
    if not remote or "\x00" in remote or "\n" in remote:
        raise r.fail(label + "remote", "must be a path on the pod", "sync", i, "remote")
    if ".." in Path(remote).parts:
        raise r.fail(label + "remote", "must not contain '..'", "sync", i, "remote")
    ignore = r.typed(s, "ignore", list, [], label=label + "ignore", table="sync", index=i)
    if not all(isinstance(x, str) for x in ignore):
        raise r.fail(label + "ignore", "must be a list of strings", "sync", i, "ignore")
    max_delete = r.typed(
        s, "max_delete", int, 100, label=label + "max_delete", table="sync", index=i
    )
    if max_delete < 0:
        raise r.fail(label + "max_delete", "must be zero or more", "sync", i, "max_delete")
    return SyncConfig(
        pod=pod,
        local=Path(local).expanduser(),
        remote=remote,
        ignore=tuple(ignore),
        max_delete=max_delete,
        enabled=r.typed(s, "enabled", bool, True, label=label + "enabled", table="sync", index=i),
        delete=r.typed(s, "delete", bool, True, label=label + "delete", table="sync", index=i),
        pull=_pull_patterns(r, s, label, i),
        pull_interval=_pull_interval(r, s, label, i),
    )


def _pull_interval(r: _Reader, s: dict[str, Any], label: str, i: int) -> float:
    seconds = r.duration(
        s, "pull_interval", 30.0, label=label + "pull_interval", table="sync", index=i
    )
    wrong = check_pull_interval(seconds)
    if wrong:
        raise r.fail(label + "pull_interval", wrong, "sync", i, "pull_interval")
    return seconds


def _pull_patterns(r: _Reader, s: dict[str, Any], label: str, i: int) -> tuple[str, ...]:
    """`pull`: gitignore-style patterns (as in a `.gitignore` at the root of `remote`)."""
    pull = r.typed(s, "pull", list, [], label=label + "pull", table="sync", index=i)
    for pattern in pull:
        if not isinstance(pattern, str):
            wrong: str | None = f"must be a list of strings, not {pattern!r}"
        else:
            why = check_pull_pattern(pattern)
            wrong = f"{pattern!r} {why}" if why else None
        if wrong:
            raise r.fail(label + "pull", wrong, "sync", i, "pull")
    return tuple(pull)


def check_pull_pattern(pattern: str) -> str | None:
    """What is wrong with `pattern` as a pull pattern, to follow the pattern in a message (None:
    nothing). The one check for `pull` here, `rpdev pull --pattern` and `rpdev sync add --pull`."""
    if not pattern.strip() or pattern.lstrip().startswith("#"):
        return "is an empty pattern (or a comment): give a path pattern such as 'logs/'"
    if "\x00" in pattern or "\n" in pattern:
        return "holds a NUL or a newline"
    if ".." in pattern.strip("/!").split("/"):
        return "must not contain '..' (patterns name paths below the remote folder)"
    import pathspec

    try:
        pathspec.GitIgnoreSpec.from_lines([pattern])
    except (ValueError, TypeError) as exc:
        return f"is not a gitignore pattern ({exc})"
    return None


MIN_PULL_INTERVAL = 1.0  # seconds: below it the pull passes would run back to back


def check_pull_interval(seconds: float) -> str | None:
    """What is wrong with `seconds` as a pull interval (None: nothing). The one check for
    `pull_interval` here, `rpdev sync add --pull-interval` and the daemon's `sync.add`."""
    if seconds != seconds or seconds > MAX_SECONDS:  # NaN, or past what a duration may be
        return f"{seconds:g}s is not a duration to wait"
    if seconds < MIN_PULL_INTERVAL:
        return f"{seconds:g}s is too short: pull passes need at least 1s between them"
    return None


def check_bind(bind: str) -> str | None:
    """What is wrong with `bind` as a forward's local address (None: nothing): an IP address
    or `localhost`, never a host name that could resolve elsewhere."""
    if bind == "localhost":
        return None
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        return (
            f"{bind!r} is not an IP address (e.g. 127.0.0.1, ::1, or 0.0.0.0 for every interface)"
        )
    return None


def is_loopback(bind: str) -> bool:
    return bind == "localhost" or ipaddress.ip_address(bind).is_loopback


def _port(r: _Reader, f: dict[str, Any], key: str, i: int) -> int:
    label = f"forward[{i}].{key}"
    if key not in f:
        raise r.fail(label, "is required (a TCP port, 1-65535)", "forward", i, "")
    port = r.typed(f, key, int, None, label=label, table="forward", index=i)
    if not 1 <= port <= 65535:
        raise r.fail(label, f"{port} is not a TCP port (1-65535)", "forward", i, key)
    return int(port)


def _parse_forwards(r: _Reader, tables: list[dict[str, Any]]) -> tuple[ForwardConfig, ...]:
    out: list[ForwardConfig] = []
    seen: dict[int, int] = {}  # local port -> the forward that has it
    for i, f in enumerate(tables):
        label = f"forward[{i}]."
        r.unknown(f, FORWARD_KEYS, label, "forward", i)
        if "pod" not in f:
            raise r.fail(label + "pod", "is required (the pod's id or name)", "forward", i, "")
        pod = r.typed(f, "pod", str, None, label=label + "pod", table="forward", index=i)
        if not pod.strip():
            raise r.fail(label + "pod", "must name a pod", "forward", i, "pod")
        local, remote = _port(r, f, "local", i), _port(r, f, "remote", i)
        bind = r.typed(f, "bind", str, "127.0.0.1", label=label + "bind", table="forward", index=i)
        problem = check_bind(bind)
        if problem:
            raise r.fail(label + "bind", problem, "forward", i, "bind")
        # The same port on two addresses overlaps (0.0.0.0 covers 127.0.0.1): two forwards
        # never share a local port, whatever their addresses.
        if local in seen:
            raise r.fail(
                label + "local",
                f"port {local} is already forwarded by forward[{seen[local]}]",
                "forward",
                i,
                "local",
            )
        seen[local] = i
        out.append(ForwardConfig(pod=pod, local=local, remote=remote, bind=bind))
    return tuple(out)


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file gives the defaults."""
    path = path or paths.config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(source=None)
    except UnicodeDecodeError:
        raise ConfigError(path, "", "is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot be read: {exc.strerror}") from None
    return parse_config(text, path)
