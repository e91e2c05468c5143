"""The daemon's sync roots as data: each `Root` (what to sync where, with its settings and the
state its engine reports), the roots of config.toml, and the roots kept in the daemon's store
(those added at run time, and every root's pause) so that they come back after a restart.

The checks a root's `pull` patterns and interval pass are config.toml's (`bad_pull`,
`bad_interval`): a stored or added root never holds what the config would refuse.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from rpdevd.config import Config, SyncConfig
from rpdevd.daemon.store import Store
from rpdevd.text import clean

if TYPE_CHECKING:
    from rpdevd.sync.live import LiveSync

GONE = "pod gone"
ROOTS_KEY = "sync_roots"


@dataclass
class Root:
    id: str
    pod: str  # id or name, as configured
    local: Path
    remote: str
    ignore: tuple[str, ...] = ()
    max_delete: int = 100
    delete: bool = True
    paused: bool = False
    source: str = "config"  # config | runtime
    live: LiveSync | None = None
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    pod_id: str | None = None
    error: str | None = None
    held: int = 0
    progress: dict[str, Any] | None = None
    retry_at: float = 0.0
    gone: bool = False  # its pod has left the account (RunPod answered without it)
    pull: tuple[str, ...] = ()  # patterns of pod files brought back (sync/pull.py)
    pull_interval: float = 30.0

    def settings(self) -> tuple[object, ...]:
        return (self.ignore, self.max_delete, self.delete, self.pull, self.pull_interval)

    def to_json(self) -> dict[str, Any]:
        status = self.live.status() if self.live else {}
        state = "paused" if self.paused else status.get("state", "waiting")
        if self.gone and not self.paused:
            state = GONE
        elif self.error and not self.paused:
            state = "error"
        return {
            "id": self.id,
            "pod": self.pod,
            "pod_id": self.pod_id,
            "local": str(self.local),
            "remote": self.remote,
            "paused": self.paused,
            "source": self.source,
            "state": state,
            "held": self.held or status.get("held", 0),
            "max_delete": self.max_delete,
            "pending": status.get("pending", 0),
            "last_sync": status.get("last_sync"),
            "last_error": self.error or status.get("last_error"),
            "progress": self.progress,
            "pull": list(self.pull),
            "pull_interval": self.pull_interval,
        }


def root_id(pod: str, local: Path, remote: str) -> str:
    return hashlib.sha256(f"{pod}\0{local}\0{remote}".encode()).hexdigest()[:10]


def config_root(cfg: SyncConfig) -> Root:
    return Root(
        root_id(cfg.pod, cfg.local, cfg.remote),
        cfg.pod,
        cfg.local,
        cfg.remote,
        cfg.ignore,
        cfg.max_delete,
        cfg.delete,
        pull=cfg.pull,
        pull_interval=cfg.pull_interval,
    )


def config_roots(config: Config) -> dict[str, Root]:
    roots = (config_root(cfg) for cfg in config.syncs if cfg.enabled)
    return {r.id: r for r in roots}


def saved_root(saved: Any, said: list[str] | None = None) -> Root | None:
    """A root as `save_roots` stored it; None for an entry that is not one. A setting kept by an
    older rpdev that is not one now (an interval under 1s, a pattern refused since) gives way to
    the default, and `said` gets a line saying so."""
    try:
        rid = str(saved["id"])
        ignore = saved.get("ignore", [])
        max_delete = saved.get("max_delete", 100)
        if not isinstance(ignore, list) or not all(isinstance(x, str) for x in ignore):
            ignore = []
        if not isinstance(max_delete, int) or isinstance(max_delete, bool) or max_delete < 0:
            max_delete = 100
        pull, pull_interval = saved.get("pull", []), saved.get("pull_interval", 30.0)
        why = bad_pull(pull)
        if why:
            _say(
                said,
                f"sync root {rid}: {why}: it pulls nothing back now (`rpdev sync add "
                "... --pull` sets patterns again)",
            )
            pull = []  # never a pattern the config would refuse
        if bad_interval(pull_interval):
            _say(
                said,
                f"sync root {rid}: its kept pull interval {pull_interval!r} is not one "
                "(at least 1s): every 30s from now on",
            )
            pull_interval = 30.0
        return Root(
            rid,
            str(saved["pod"]),
            Path(saved["local"]),
            str(saved["remote"]),
            tuple(ignore),
            max_delete,
            saved.get("delete", True) is not False,
            paused=bool(saved.get("paused")),
            source=str(saved.get("source", "runtime")),
            pull=tuple(pull),
            pull_interval=float(pull_interval),
        )
    except (AttributeError, KeyError, TypeError):
        return None


def _say(said: list[str] | None, line: str) -> None:
    if said is not None:
        said.append(clean(line))


def bad_pull(pull: object) -> str | None:
    """What is wrong with `pull` as a root's pull patterns (None: nothing), checked as
    config.toml's `pull` is."""
    from rpdevd.config import check_pull_pattern

    if not isinstance(pull, list) or len(pull) > 1000:
        return "pull must be a list of patterns"
    for pattern in pull:
        if not isinstance(pattern, str) or len(pattern) > 4096:
            return "pull must be a list of patterns"
        wrong = check_pull_pattern(pattern)
        if wrong:
            return f"pull pattern {pattern!r} {wrong}"
    return None


def bad_interval(value: object) -> bool:
    """Not a pull interval: seconds, checked as config.toml's `pull_interval` is."""
    from rpdevd.config import check_pull_interval

    return (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or check_pull_interval(value) is not None
    )


def pod_remote_path(remote: str, volume_mount_path: str | None) -> str:
    """`/workspace/x` on the pod's volume (`volumeMountPath`; `/workspace` on RunPod); a relative
    path is relative to the volume too; other absolute paths are kept."""
    mount = volume_mount_path or "/workspace"
    path = PurePosixPath(remote)
    if not path.is_absolute():
        return str(PurePosixPath(mount) / path)
    try:
        rest = path.relative_to("/workspace")
    except ValueError:
        return remote
    return str(PurePosixPath(mount) / rest)


def load_roots(config: Config, store: Store, said: list[str] | None = None) -> dict[str, Root]:
    """config.toml's roots with the pause each had, and the roots added at run time, as `save`
    stored them (`said`: what was kept that is not a setting now, see `saved_root`)."""
    roots = config_roots(config)
    for saved in store.get(ROOTS_KEY, []) or []:
        r = saved_root(saved, said)
        if r is None:
            continue
        if r.id in roots:
            roots[r.id].paused = r.paused
        elif r.source == "runtime":
            roots[r.id] = r
    return roots


def save_roots(store: Store, roots: dict[str, Root]) -> None:
    """Every root, as `saved_root` reads it back."""
    store.put(
        ROOTS_KEY,
        [
            {
                "id": r.id,
                "pod": r.pod,
                "local": str(r.local),
                "remote": r.remote,
                "paused": r.paused,
                "source": r.source,
                "ignore": list(r.ignore),
                "max_delete": r.max_delete,
                "delete": r.delete,
                "pull": list(r.pull),
                "pull_interval": r.pull_interval,
            }
            for r in roots.values()
        ],
    )
