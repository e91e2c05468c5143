"""The pod-side guard, seen from the daemon: its files, the commands that install, feed and remove
it, and how its log reads (pure: text in, text out).

The guard itself is `guard.sh` (POSIX sh, next to `probe.sh`, whose signal reading it runs). It
lives in `<workspace>/.rpdev/guard/` on the pod's volume, so its log survives the stop it makes:

    guard.sh, probe.sh   the daemon's own versions, rewritten at every install
    config               "key value" lines: the policy's values, written by the daemon
    beat                 the heartbeat: rewritten on every probe; its age on the pod's clock is
                         what the guard compares with guard_after
    log                  one line per decision: EPOCH TAB ACTION TAB IDLE_SINCE TAB STOP_AT TAB TEXT
    pid, lock, state     the running guard's pid and version; its lock; its counters and history

The user's API key never goes to the pod: the guard stops its pod with the pod's own
`RUNPOD_API_KEY`, which RunPod scopes to that pod.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rpdevd.activity.decide import Policy
from rpdevd.activity.samples import FOREVER, HoldUntil

GUARD_DIR = ".rpdev/guard"
DEFAULT_API_URL = "https://api.runpod.io"
EOF_MARK = "RPDEV_GUARD_FILE_END"
LOG_TAIL = 65536  # bytes of the log read back at once
ACTIONS = (
    "start",
    "takeover",
    "release",
    "warn",
    "cancel",
    "unknown",
    "stop",
    "stop_failed",
    "exit",
)


@cache
def _file(name: str) -> str:
    return resources.files("rpdevd.activity").joinpath(name).read_text(encoding="utf-8")


def guard_script() -> str:
    return _file("guard.sh")


@cache
def version() -> str:
    """Changes whenever guard.sh or probe.sh does: a running guard of another version is
    replaced at the next install."""
    digest = hashlib.sha256((_file("guard.sh") + "\0" + _file("probe.sh")).encode())
    return digest.hexdigest()[:16]


def guard_dir(workspace: str) -> str:
    return workspace.rstrip("/") + "/" + GUARD_DIR


@dataclass(frozen=True)
class GuardSettings:
    """What the daemon hands its guard: the same values its own decision uses."""

    workspace: str
    policy: Policy
    guard_after: float
    interval: float  # seconds between two looks (the daemon's probe_interval)
    sshd_ports: tuple[int, ...] = (22,)
    hold: HoldUntil = None  # a hold set with `rpdev hold` (this machine's clock)
    api_url: str = DEFAULT_API_URL  # for podStop where the pod has no runpodctl


def render_config(s: GuardSettings, now: float) -> str:
    """The guard's config file. A hold is handed over as seconds left (`hold_left`), counted on
    the pod from the file's own mtime, so that the two machines' clocks never need to agree."""
    p = s.policy
    values: list[tuple[str, str]] = [
        ("version", version()),
        ("ws", s.workspace),
        ("ports", ",".join(str(int(x)) for x in s.sshd_ports if 0 < int(x) < 65536) or "22"),
        ("interval", _n(max(1.0, s.interval))),
        ("guard_after", _n(max(1.0, s.guard_after))),
        ("idle_timeout", _n(p.idle_timeout)),
        ("warn_before", _n(p.warn_before)),
        ("gpu_util", _n(p.gpu_util_threshold)),
        ("cpu_pct", _n(p.cpu_threshold)),
        ("cpu_cores", _n(p.cpu_cores_threshold)),
        ("net_bps", _n(p.net_threshold)),
        ("disk_bps", _n(p.disk_threshold)),
        ("smoothing", _n(p.smoothing)),
        ("max_gap", _n(p.max_gap)),
        ("slack", _n(p.slack)),
        ("api_url", s.api_url),
    ]
    if s.hold == FOREVER:
        values.append(("hold", "forever"))
    elif isinstance(s.hold, float | int) and s.hold > now:
        values.append(("hold_left", _n(s.hold - now)))
    for key, value in values:
        if "\n" in value or "\r" in value or "\0" in value:
            raise ValueError(f"guard config {key}: a line break in {value!r}")
    return "".join(f"{k} {v}\n" for k, v in values)


def _n(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3f}"


def beat_text(idle_s: float | None) -> str:
    """The heartbeat's argument: seconds the daemon has counted the pod idle, `-` when it does not
    count it idle now (busy, unknown, just started)."""
    return "-" if idle_s is None else _n(max(0.0, round(idle_s, 1)))


def install_script(s: GuardSettings, now: float, idle_s: float | None = None) -> str:
    """Fed on stdin to `sh -s`: writes the guard's files (each replaced at once, so a running
    guard never reads half a file), refreshes the heartbeat and starts the guard unless this
    version already runs. Prints `guard running|started|not started`."""
    d = shlex.quote(guard_dir(s.workspace))
    parts = ["umask 077", f"d={d}", 'mkdir -p "$d" || exit 1']
    for name, text in (
        ("guard.sh", guard_script()),
        ("probe.sh", _file("probe.sh")),
        ("config", render_config(s, now)),
    ):
        if EOF_MARK in text:
            raise ValueError(f"{name} contains the here-document marker")
        parts.append(f"cat > \"$d/{name}.tmp\" <<'{EOF_MARK}'\n{text.rstrip(chr(10))}\n{EOF_MARK}")
        parts.append(f'mv -f "$d/{name}.tmp" "$d/{name}"')
    parts.append(f'sh "$d/guard.sh" beat "$d" {shlex.quote(beat_text(idle_s))} >/dev/null')
    parts.append('sh "$d/guard.sh" start "$d"')
    return "\n".join(parts) + "\n"


def config_command(s: GuardSettings, now: float) -> str:
    """Rewrites the config only (a hold or a timeout changed); the guard reads it every look."""
    d = shlex.quote(guard_dir(s.workspace))
    text = render_config(s, now)
    return f"printf '%s' {shlex.quote(text)} > {d}/config.tmp && mv -f {d}/config.tmp {d}/config"


def beat_command(workspace: str, idle_s: float | None) -> str:
    """One probe's heartbeat (a few dozen bytes each way): prints `guard running|absent LOGBYTES`."""
    d = shlex.quote(guard_dir(workspace))
    return f"sh {d}/guard.sh beat {d} {shlex.quote(beat_text(idle_s))}"


def remove_command(workspace: str) -> str:
    """Stops the guard and removes its config (the log stays): prints `guard removed`."""
    d = shlex.quote(guard_dir(workspace))
    return f"if [ -f {d}/guard.sh ]; then sh {d}/guard.sh remove {d}; else echo guard removed; fi"


def log_command(workspace: str) -> str:
    d = shlex.quote(guard_dir(workspace))
    return f"tail -c {LOG_TAIL} {d}/log 2>/dev/null; true"


@dataclass(frozen=True)
class BeatReply:
    running: bool
    log_bytes: int


def parse_beat(text: str) -> BeatReply | None:
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "guard" and words[1] in ("running", "absent"):
            return BeatReply(words[1] == "running", int(words[2]) if words[2].isdigit() else 0)
    return None


@dataclass(frozen=True)
class GuardEntry:
    """One decision from the guard's log (times on the pod's clock)."""

    t: float
    action: str
    idle_since: float | None
    stop_at: float | None
    text: str


def parse_log(text: str) -> list[GuardEntry]:
    """The log's lines; anything malformed (a line cut by `tail -c`, junk) is skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split("\t", 4)
        if len(parts) != 5 or parts[1] not in ACTIONS:
            continue
        t = _time(parts[0])
        if t is None:
            continue
        out.append(GuardEntry(t, parts[1], _time(parts[2]), _time(parts[3]), parts[4][:400]))
    return out


def new_stops(entries: Iterable[GuardEntry], reported: float | None) -> list[GuardEntry]:
    """The stops the guard made after the last one reported (each is reported once). A stop is
    logged before RunPod is asked (the stop may end the guard before the answer): one followed
    by `stop_failed` did not happen."""
    items = list(entries)
    out = []
    for i, e in enumerate(items):
        failed = i + 1 < len(items) and items[i + 1].action == "stop_failed"
        if e.action == "stop" and not failed and (reported is None or e.t > reported):
            out.append(e)
    return out


def _time(value: str) -> float | None:
    try:
        t = float(value)
    except ValueError:
        return None
    return t if 0 < t < 1e11 else None
