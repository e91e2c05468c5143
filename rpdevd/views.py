"""What the daemon's socket methods answer, declared once.

The daemon builds these (`PodState.view()`, `Daemon.api_view()`, the sync roots, `Event.to_json`),
`rpdev ... --json` prints them as they are, the CLI and the TUI read them typed, and the VS Code
extension's model (`contrib/vscode/src/model.ts`) mirrors them: `scripts/views_ts.py` writes its
wire interfaces from this module and a test fails when the two differ.

Standard library only: the CLI, the TUI and the daemon all import it.

Within one protocol version (`protocol.PROTOCOL_VERSION`) every key below is sent. A key added
later within the same version must be declared `NotRequired`, so that readers are made (by the
type checker) to tolerate a daemon that predates it; removing or retyping a key needs a new
protocol version.
"""

from __future__ import annotations

import math
from types import UnionType
from typing import (
    Any,
    NotRequired,
    TypedDict,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

V = TypeVar("V")

# An activity sample: its fields are documented in docs/idle.md ("the sample"); they grow with
# the probe, so the view keeps them as an open mapping.
SampleView = dict[str, Any]


class WarningView(TypedDict):
    """An idle stop announced and not yet cancelled."""

    kind: str  # "idle.warn"
    message: str
    stop_at: float
    reason: str


class SyncProgressView(TypedDict):
    """The last `sync.progress` of a pass that is running."""

    pair: str
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int


class SyncRootView(TypedDict):
    """A `[[sync]]` root (`sync.list`, and each pod view's `sync`)."""

    id: str
    pod: str  # as configured: a name or an id
    pod_id: str | None  # once the pod is known
    local: str
    remote: str
    paused: bool
    source: str  # config | runtime
    state: str  # watching | waiting | disconnected | held | conflict | error | paused | pod gone
    held: int
    max_delete: int
    pending: int
    last_sync: float | None
    last_error: str | None
    progress: SyncProgressView | None
    pull: NotRequired[list[str]]  # patterns of pod files brought back into `local` ([] for none)
    pull_interval: NotRequired[float]  # seconds between pull passes


class ForwardView(TypedDict):
    """A port forward (`forward.list`, and each pod view's `forwards`)."""

    pod: str  # as configured or given: a name or an id
    pod_id: str | None  # once the pod is known
    name: str | None  # the pod's name, once it is known
    local: int  # the port here
    bind: str  # the address it listens on here
    remote: int  # the port on the pod (its 127.0.0.1)
    source: str  # config | runtime
    # up | connecting | waiting | pod stopped | not managed | pod gone | error (| removed)
    state: str
    error: str | None  # why the local port is not listening, or the last connection's failure
    connections: int  # open through it now


class ForwardListView(TypedDict):
    forwards: list[ForwardView]


class PodView(TypedDict):
    """A pod as `status` and `pods` show it."""

    id: str
    name: str
    status: str  # RunPod's desiredStatus: RUNNING, EXITED, ...
    managed: bool
    policy: str
    idle_timeout: float
    warn_before: float
    wake_on_connect: bool
    gpu: str
    gpu_type: str  # RunPod's name for the GPU; "" when it has none
    gpu_count: int
    pod_type: str  # RESERVED (on-demand), INTERRUPTABLE (spot); "" when unknown
    is_spot: bool
    cost_per_hr: float | None
    spend_today: float
    spend_month: float
    saved_month: float
    saved_hours_month: float
    ssh_alias: str | None
    ssh_host: str | None  # a confirmed endpoint only
    ssh_port: int | None
    endpoint_state: str  # none | starting | confirming | confirmed | unreachable | stopped
    api_endpoint: str | None
    host_key_fingerprint: str | None
    idle_state: str
    idle_deadline: float | None
    hold_until: float | str | None  # an epoch time, or "forever"
    warning: WarningView | None
    last_sample: SampleView | None
    sync: list[SyncRootView]
    forwards: NotRequired[list[ForwardView]]
    last_error: str | None
    status_since: float
    volume_mount_path: str | None
    as_of: float | None  # when RunPod's API last reported this pod
    last_known: bool  # shown as last known rather than from the latest poll
    max_bid: NotRequired[float | None]  # spot pods: keep-alive resumes at or below ($/GPU/h)


class ApiView(TypedDict):
    """How the daemon's talk with RunPod's API goes."""

    ok: bool
    error: str | None
    hint: str | None
    last_poll: float | None
    key_source: str | None
    failures: int
    known_at: float | None  # when RunPod last answered (this run, or as stored)
    last_known: bool
    state_error: str | None


class DaemonView(TypedDict):
    version: str
    pid: int
    uptime_s: float
    socket: str
    log: str
    config: str | None
    poll_interval: float
    ssh_include: str | None  # installed | missing | broken


class BudgetView(TypedDict):
    """`[budget] monthly` against this month's spend over every pod (each pod's `spend_month`,
    the sum the budget events are judged by); `rpdev cost`'s `budget` has the same figures."""

    month: str  # YYYY-MM, local time
    monthly: float  # the budget, in dollars
    spent: float
    percent: float  # of the budget spent, one decimal
    told: list[int]  # thresholds told this month (80: budget.warning, 100: budget.exceeded)


class StatusView(TypedDict):
    """`status`: the managed pods."""

    daemon: DaemonView
    api: ApiView
    pods: list[PodView]
    unmanaged: int
    budget: NotRequired[BudgetView | None]  # None when config.toml sets no [budget]


class PodsView(TypedDict):
    """`pods`: every pod on the account."""

    api: ApiView
    pods: list[PodView]


class EventView(TypedDict):
    """An event, in `events` and in the `event` frames of a subscription."""

    seq: int
    t: float
    kind: str  # one of protocol.EventKind
    pod_id: str | None
    level: str  # info | warning | error
    message: str
    data: dict[str, Any]


class EventsView(TypedDict):
    events: list[EventView]


class SyncListView(TypedDict):
    roots: list[SyncRootView]


class SyncRemovedView(TypedDict):
    """`sync.remove`: the root that was removed."""

    removed: str  # its id


class ReloadView(TypedDict):
    """`daemon.reload`: config.toml read again and applied (a config with an error is an error
    answer, `config_error`, and changes nothing)."""

    config: str | None  # the file read; None when there is none (the defaults)
    changes: list[str]  # what changed, one line each; empty when nothing did
    restart_needed: list[str]  # settings that changed but apply at the next start only


# The views a client reads, by name: what scripts/views_ts.py renders and the tests compare.
VIEWS: tuple[type, ...] = (
    WarningView,
    SyncProgressView,
    SyncRootView,
    ForwardView,
    PodView,
    ApiView,
    DaemonView,
    BudgetView,
    StatusView,
    PodsView,
    EventView,
)


def read(view: type[V], raw: object) -> V:
    """`raw` (JSON from the socket) as `view`: every declared key present and of its declared
    type. A key that is missing or of another type reads as None where the view allows None,
    else as the type's empty value ("", 0, False, [], an empty view); unknown keys are dropped.

    Clients call this once where an answer arrives and then index the view without re-checking
    it: a daemon's answer is never trusted to be well formed (pod names and numbers come from
    RunPod), and a newer daemon's extra keys are ignored."""
    return cast(V, _conform(view, raw))


def _conform(tp: Any, value: object) -> Any:
    if tp is Any:
        return value
    if tp is str:
        return value if isinstance(value, str) else ""
    if tp is bool:
        return value if isinstance(value, bool) else False
    if tp is int or tp is float:
        return tp(cast(float, value)) if _fits(tp, value) else tp(0)
    if is_typeddict(tp):
        fields = _hints(tp)
        obj = value if isinstance(value, dict) else {}
        return {key: _conform(sub, obj.get(key)) for key, sub in fields.items()}
    origin, args = get_origin(tp), get_args(tp)
    if origin is list:
        return [_conform(args[0], v) for v in value] if isinstance(value, list) else []
    if origin is dict:
        return dict(value) if isinstance(value, dict) else {}
    if origin in (Union, UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None) and _fits(arg, value):
                return _conform(arg, value)
        return None if type(None) in args else _conform(args[0], None)
    raise TypeError(f"views.read cannot check {tp!r}")


def _fits(tp: Any, value: object) -> bool:
    """Is `value` of the kind `tp` reads (its inner keys are checked by _conform)?"""
    if tp is str:
        return isinstance(value, str)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int or tp is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    origin = get_origin(tp)
    if is_typeddict(tp) or origin is dict:
        return isinstance(value, dict)
    if origin is list:
        return isinstance(value, list)
    return False


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(view: type) -> dict[str, Any]:
    if view not in _HINTS:
        _HINTS[view] = get_type_hints(view)
    return _HINTS[view]
