"""What a reload of config.toml changes: the running config and the new one in, the difference
out (`rpdev daemon reload`, SIGHUP).

Pure: no file, no daemon. The daemon applies the result (app.py `Daemon.reload`): each pod's
settings again, the sync roots that were added, removed or changed (and only those), the
forwards, the top-level settings that are read live. What cannot change live is named in
`restart_needed`, so the answer says so instead of pretending.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from rpdevd.config import Config, ForwardConfig, PodConfig, SyncConfig

# Top-level settings read where they are used, every time: a reload applies them at once.
LIVE_SETTINGS = (
    "poll_interval",
    "probe_interval",
    "idle_timeout",
    "warn_before",
    "net_threshold",
    "disk_threshold",
    "budget_monthly",
    "guard_after",  # the pod-side guard is installed again with it (guard.py)
    "gpu_threshold",
    "cpu_threshold",
)
# Read once, at start: a change is reported, and applies at the next start of the daemon.
RESTART_SETTINGS = ("probe_concurrency",)
# The per-pod keys that a run-time setting (`rpdev policy`, the TUI) may override.
POD_SETTING_KEYS = ("policy", "idle_timeout", "warn_before", "wake_on_connect", "max_bid")

SyncKey = tuple[str, str, str]  # pod as configured, local folder, remote path


@dataclass(frozen=True)
class PodChange:
    ref: str  # the pod's id or name, as config.toml names it
    keys: tuple[str, ...]  # what changed; ("managed",) when the [[pod]] was added or removed
    added: bool = False
    removed: bool = False


@dataclass(frozen=True)
class ConfigDiff:
    settings: tuple[tuple[str, object, object], ...] = ()  # (key, old, new), applied live
    restart_needed: tuple[str, ...] = ()
    pods: tuple[PodChange, ...] = ()
    syncs_added: tuple[SyncConfig, ...] = ()
    syncs_removed: tuple[SyncConfig, ...] = ()
    syncs_changed: tuple[SyncConfig, ...] = ()  # the new version of each
    forwards_added: tuple[ForwardConfig, ...] = ()
    forwards_removed: tuple[ForwardConfig, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.settings
            or self.restart_needed
            or self.pods
            or self.syncs_added
            or self.syncs_removed
            or self.syncs_changed
            or self.forwards_added
            or self.forwards_removed
        )

    def lines(self) -> list[str]:
        """The difference in words, one change a line."""
        out = [f"{key}: {_show(old)} -> {_show(new)}" for key, old, new in self.settings]
        for pc in self.pods:
            if pc.added:
                out.append(f"pod {pc.ref}: added")
            elif pc.removed:
                out.append(f"pod {pc.ref}: removed (no longer managed from config.toml)")
            else:
                out.append(f"pod {pc.ref}: {', '.join(pc.keys)} changed")
        out += [f"sync {_sync(s)}: added" for s in self.syncs_added]
        out += [f"sync {_sync(s)}: removed" for s in self.syncs_removed]
        out += [f"sync {_sync(s)}: changed (restarted)" for s in self.syncs_changed]
        out += [f"forward {_forward(f)}: added" for f in self.forwards_added]
        out += [f"forward {_forward(f)}: removed" for f in self.forwards_removed]
        out += [
            f"{key}: changed; applies at the next start of the daemon"
            for key in self.restart_needed
        ]
        return out


def _show(value: object) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _sync(s: SyncConfig) -> str:
    return f"{s.local} -> {s.pod}:{s.remote}"


def _forward(f: ForwardConfig) -> str:
    return f"{f.bind}:{f.local} -> {f.pod}:{f.remote}"


def sync_key(s: SyncConfig) -> SyncKey:
    return (s.pod, str(s.local), s.remote)


def _pod_ref(pc: PodConfig) -> str:
    return pc.id or pc.name or "?"


def _pod_key(pc: PodConfig) -> str:
    return f"id:{pc.id}" if pc.id else f"name:{pc.name}"


def pod_keys_changed(old: PodConfig | None, new: PodConfig | None) -> tuple[str, ...]:
    """The run-time-overridable keys whose config value differs; `managed` too when the pod's
    [[pod]] appears or goes."""
    if old is None and new is None:
        return ()
    if old is None or new is None:
        return ("managed", *POD_SETTING_KEYS)
    return tuple(k for k in POD_SETTING_KEYS if getattr(old, k) != getattr(new, k))


def diff(old: Config, new: Config) -> ConfigDiff:
    settings = tuple(
        (key, getattr(old, key, None), getattr(new, key, None))
        for key in LIVE_SETTINGS
        if getattr(old, key, None) != getattr(new, key, None)
    )
    settings += tuple(
        (f"ssh.{f.name}", getattr(old.ssh, f.name), getattr(new.ssh, f.name))
        for f in fields(old.ssh)
        if getattr(old.ssh, f.name) != getattr(new.ssh, f.name)
    )
    restart = tuple(k for k in RESTART_SETTINGS if getattr(old, k) != getattr(new, k))

    old_pods = {_pod_key(p): p for p in old.pods}
    new_pods = {_pod_key(p): p for p in new.pods}
    pods: list[PodChange] = []
    for key in sorted(old_pods.keys() | new_pods.keys()):
        before, after = old_pods.get(key), new_pods.get(key)
        if before is None and after is not None:
            pods.append(PodChange(_pod_ref(after), ("managed",), added=True))
        elif after is None and before is not None:
            pods.append(PodChange(_pod_ref(before), ("managed",), removed=True))
        elif before != after and before is not None and after is not None:
            changed = tuple(
                f.name for f in fields(before) if getattr(before, f.name) != getattr(after, f.name)
            )
            pods.append(PodChange(_pod_ref(after), changed))

    old_syncs = {sync_key(s): s for s in old.syncs if s.enabled}
    new_syncs = {sync_key(s): s for s in new.syncs if s.enabled}
    return ConfigDiff(
        settings=settings,
        restart_needed=restart,
        pods=tuple(pods),
        syncs_added=tuple(s for k, s in new_syncs.items() if k not in old_syncs),
        syncs_removed=tuple(s for k, s in old_syncs.items() if k not in new_syncs),
        syncs_changed=tuple(
            s for k, s in new_syncs.items() if k in old_syncs and old_syncs[k] != s
        ),
        forwards_added=tuple(f for f in new.forwards if f not in old.forwards),
        forwards_removed=tuple(f for f in old.forwards if f not in new.forwards),
    )
