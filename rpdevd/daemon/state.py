"""What the daemon knows about each pod, and how a pod is shown to clients.

`PodState` is the one place where the parts meet: the poller sets `pod`, the endpoint part sets
`endpoint*`/`ssh_alias`, the lifecycle part sets `idle*`/`warning`, the sync part sets `sync`, the forward part `forwards`.
`view()` is what `rpdev status --json`, the TUI and the VS Code extension read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

from rpdevd.config import Config, PodConfig
from rpdevd.endpoint import EndpointState
from rpdevd.labels import gpu_label
from rpdevd.models import Pod
from rpdevd.views import ForwardView, PodView, SampleView, SyncRootView, WarningView


@dataclass
class PodState:
    pod: Pod
    managed: bool = False
    policy: str = "manual"
    idle_timeout: float = 1800.0
    warn_before: float = 300.0
    wake_on_connect: bool = False
    max_bid: float | None = None  # spot pods: keep-alive resumes only at or below ($/GPU/h)
    ssh_alias: str | None = None
    endpoint_state: EndpointState = "none"  # rpdevd.endpoint.after_poll / after_check
    ssh_host: str | None = None  # confirmed endpoint only
    ssh_port: int | None = None
    host_key_fingerprint: str | None = None
    idle_state: str = ""  # "busy: GPU 97 %", "idle, stops in 12:40", "held 1h20"
    idle_deadline: float | None = None
    hold_until: float | str | None = None
    warning: WarningView | None = None
    last_sample: SampleView | None = None
    spend_today: float = 0.0
    spend_month: float = 0.0
    saved: dict[str, float] = field(default_factory=dict)
    # Each root's view, as the sync part builds it (`Root.to_json`, not yet typed there).
    sync: list[dict[str, Any]] = field(default_factory=list)
    forwards: list[ForwardView] = field(default_factory=list)  # set by the forward part
    last_error: str | None = None
    stopped_by_rpdev: bool = False
    idle_stopped_at: float | None = None  # when rpdev last stopped it for being idle
    status_since: float = field(default_factory=time.time)
    # When RunPod's API last reported this pod (this run, or the stored state's time), and
    # whether what is shown is that last-known state rather than the latest poll's answer.
    as_of: float | None = None
    last_known: bool = False
    restored: bool = False  # from the stored state, not yet seen in a poll of this run
    # A confirmed endpoint whose SSH config entry is still being written: shown as confirming,
    # so that nobody told "confirmed" runs `ssh ALIAS` into the entry's placeholder.
    writing_config: bool = False

    @property
    def id(self) -> str:
        return self.pod.id

    @property
    def name(self) -> str:
        return self.pod.name

    def apply_settings(self, config: Config, settings: dict[str, Any]) -> None:
        """Policy from config.toml, overridden by what was set at run time (CLI/TUI)."""
        pc: PodConfig | None = config.pod_config(self.pod.id, self.pod.name)
        self.managed = bool(settings.get("managed", pc is not None))
        self.policy = str(settings.get("policy", pc.policy if pc else "manual"))
        self.idle_timeout = float(
            settings.get("idle_timeout", pc.idle_timeout if pc else config.idle_timeout)
        )
        self.warn_before = float(
            settings.get("warn_before", pc.warn_before if pc else config.warn_before)
        )
        self.wake_on_connect = bool(
            settings.get("wake_on_connect", pc.wake_on_connect if pc else False)
        )
        bid = settings.get("max_bid", pc.max_bid if pc else None)
        self.max_bid = float(bid) if isinstance(bid, int | float) and bid > 0 else None
        self.stopped_by_rpdev = bool(settings.get("stopped_by_rpdev", False))
        stopped_at = settings.get("idle_stopped_at")
        self.idle_stopped_at = float(stopped_at) if isinstance(stopped_at, int | float) else None
        hold = settings.get("hold_until")
        if isinstance(hold, int | float) and hold < time.time():
            hold = None
        if hold is not None:
            self.hold_until = hold

    def view(self) -> PodView:
        p = self.pod
        shown = self.endpoint_state
        if shown == "confirmed" and self.writing_config:
            shown = "confirming"
        return {
            "id": p.id,
            "name": p.name,
            "status": p.desired_status,
            "managed": self.managed,
            "policy": self.policy,
            "idle_timeout": self.idle_timeout,
            "warn_before": self.warn_before,
            "wake_on_connect": self.wake_on_connect,
            "gpu": gpu_label(p.gpu_display_name, p.gpu_count),  # as the CLI and the TUI say it
            "gpu_type": p.gpu_display_name,
            "gpu_count": p.gpu_count,
            "pod_type": p.pod_type,
            "is_spot": p.is_spot,
            "cost_per_hr": p.cost_per_hr,
            "spend_today": round(self.spend_today, 4),
            "spend_month": round(self.spend_month, 4),
            "saved_month": self.saved.get("saved_month", 0.0),
            "saved_hours_month": self.saved.get("saved_hours_month", 0.0),
            "ssh_alias": self.ssh_alias,
            "ssh_host": self.ssh_host if shown == "confirmed" else None,
            "ssh_port": self.ssh_port if shown == "confirmed" else None,
            "endpoint_state": shown,
            "api_endpoint": None if p.ssh_endpoint is None else str(p.ssh_endpoint),
            "host_key_fingerprint": self.host_key_fingerprint,
            "idle_state": self.idle_state,
            "idle_deadline": self.idle_deadline,
            "hold_until": self.hold_until,
            "warning": self.warning,
            "last_sample": self.last_sample,
            "sync": cast("list[SyncRootView]", self.sync),
            "forwards": self.forwards,
            "last_error": self.last_error,
            "status_since": self.status_since,
            "volume_mount_path": p.volume_mount_path,
            "as_of": self.as_of,
            "last_known": self.last_known,
            "max_bid": self.max_bid,
        }
