"""The one protocol spoken on rpdevd's Unix socket, by the daemon, the CLI, the TUI and the proxy.

Standard library only: the CLI imports it and must start fast.

Framing: one JSON object per line (UTF-8, `\\n`-terminated), at most `MAX_FRAME` bytes.

    client -> {"type": "hello", "protocol": [1], "client": "rpdev 0.1.0"}
    server <- {"type": "hello", "protocol": 1, "server": "rpdevd 0.1.0", "pid": 123}
    client -> {"type": "request", "id": 1, "method": "status", "params": {}}
    server <- {"type": "response", "id": 1, "result": {...}}
           or {"type": "response", "id": 1, "error": {"code": "...", "message": "...", "hint": "..."}}
    client -> {"type": "request", "id": 2, "method": "subscribe", "params": {"kinds": ["pod."]}}
    server <- {"type": "response", "id": 2, "result": {"subscribed": true, "last_seq": 41}}
    server <- {"type": "event", "event": {"seq": 42, "t": ..., "kind": "pod.status", ...}}

The method names are `Method`, the event kinds `EventKind` (below); what the methods answer is
declared in `rpdevd/views.py`.

A frame that is not valid (not UTF-8, not JSON, nested too deeply, an integer too long to read, a
wrong shape) gets an `error` frame (`{"type": "error", "error": {...}}`) and the connection goes
on; a frame over the size limit closes that connection only. Other clients are never disturbed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rpdevd.views import EventView

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MAX_FRAME = 1 << 20  # 1 MiB
METHOD_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_ID = 2**53


class Method(StrEnum):
    """Every method the daemon answers (`subscribe` is the server's own). The daemon refuses to
    register a name missing here."""

    PING = "ping"
    STATUS = "status"
    PODS = "pods"
    EVENTS = "events"
    SUBSCRIBE = "subscribe"
    POLL = "poll"
    SHUTDOWN = "shutdown"
    DAEMON_LOG = "daemon.log"
    DAEMON_RELOAD = "daemon.reload"
    POD_STOP = "pod.stop"
    POD_RESUME = "pod.resume"
    POD_MANAGE = "pod.manage"
    POD_SET = "pod.set"
    POD_HOLD = "pod.hold"
    POD_WAKE = "pod.wake"
    SSH_STATUS = "ssh.status"
    IDLE_EXPORT = "idle.export"
    IDLE_SAMPLES = "idle.samples"
    LEDGER = "ledger"
    COST = "cost"
    SYNC_LIST = "sync.list"
    SYNC_STATUS = "sync.status"
    SYNC_ADD = "sync.add"
    SYNC_REMOVE = "sync.remove"
    SYNC_PAUSE = "sync.pause"
    SYNC_CONFIRM = "sync.confirm"
    FORWARD_LIST = "forward.list"
    FORWARD_ADD = "forward.add"
    FORWARD_REMOVE = "forward.remove"


class EventKind(StrEnum):
    """Every kind of event the daemon emits. Subscribers filter on prefixes (`pod.`, `sync.`);
    `live.*` events only tell clients to refresh and are never stored."""

    DAEMON_STARTED = "daemon.started"
    DAEMON_STOPPED = "daemon.stopped"
    DAEMON_ERROR = "daemon.error"  # a service crashed and is restarted
    DAEMON_STATE = "daemon.state"  # the stored last-known state was not used
    CONFIG_RELOADED = "config.reloaded"  # config.toml read again and applied
    CONFIG_REJECTED = "config.rejected"  # config.toml has an error: the running config stays
    API_OK = "api.ok"
    API_ERROR = "api.error"
    POD_ADDED = "pod.added"
    POD_CHANGED = "pod.changed"
    POD_REMOVED = "pod.removed"
    POD_STATUS = "pod.status"
    POD_ERROR = "pod.error"
    POD_STOP = "pod.stop"
    POD_RESUME = "pod.resume"
    POD_MANAGED = "pod.managed"
    POD_UNMANAGED = "pod.unmanaged"
    POD_SETTINGS = "pod.settings"
    POD_WAKING = "pod.waking"
    ENDPOINT_CONFIRMED = "endpoint.confirmed"
    ENDPOINT_FAILED = "endpoint.failed"
    HOSTKEY_CHANGED = "hostkey.changed"
    SSH_CONFIG = "ssh.config"
    IDLE_WARN = "idle.warn"
    IDLE_CANCEL = "idle.cancel"
    IDLE_STOP = "idle.stop"
    IDLE_STOP_FAILED = "idle.stop_failed"
    IDLE_UNKNOWN = "idle.unknown"
    IDLE_HOLD = "idle.hold"
    KEEPALIVE_RETRY = "keepalive.retry"
    KEEPALIVE_BID_CAP = "keepalive.bid_cap"  # a spot pod's price is above its max_bid
    BUDGET_WARNING = "budget.warning"  # 80 % of [budget] monthly spent
    BUDGET_EXCEEDED = "budget.exceeded"  # 100 %
    GUARD_STARTED = "guard.started"  # the pod-side guard started on a pod
    GUARD_REMOVED = "guard.removed"  # ... removed (policy, management, guard = false)
    GUARD_FAILED = "guard.failed"  # ... could not be started
    GUARD_STOPPED = "guard.stopped"  # the guard stopped its pod while the daemon was away
    LIVE_SAMPLE = "live.sample"
    LIVE_SYNC = "live.sync"  # a sync.progress, passed on as a refresh
    SYNC_ADDED = "sync.added"
    SYNC_REMOVED = "sync.removed"
    SYNC_PAUSED = "sync.paused"
    SYNC_RESUMED = "sync.resumed"
    SYNC_CONFIRMED = "sync.confirmed"
    SYNC_STARTED = "sync.started"
    SYNC_STOPPED = "sync.stopped"
    SYNC_PROGRESS = "sync.progress"
    SYNC_PUSHED = "sync.pushed"
    SYNC_PULLED = "sync.pulled"  # files a pull brought down from the pod
    SYNC_HELD = "sync.held"
    SYNC_KEPT = "sync.kept"
    SYNC_CONFLICT = "sync.conflict"
    SYNC_WARNING = "sync.warning"
    SYNC_ERROR = "sync.error"
    SYNC_DISCONNECTED = "sync.disconnected"
    SYNC_RETRY = "sync.retry"
    SYNC_RECONNECTED = "sync.reconnected"
    FORWARD_ADDED = "forward.added"
    FORWARD_REMOVED = "forward.removed"
    FORWARD_UP = "forward.up"  # the pod's connection carries the forward (again)
    FORWARD_ERROR = "forward.error"  # the local port could not be bound


METHODS = frozenset(Method)
EVENT_KINDS = frozenset(EventKind)


class ProtocolError(Exception):
    """A frame that breaks the protocol. `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RemoteError(Exception):
    """An error answered by the daemon to a request."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(code, message, hint)
        self.code, self.message, self.hint = code, message, hint

    def __str__(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


@dataclass
class Event:
    """Something that happened, streamed to subscribers and kept in the daemon's store.

    kind: one of `EventKind` (a plain string on the wire, so a newer daemon's kinds still read).
    """

    kind: str
    message: str
    pod_id: str | None = None
    level: str = "info"  # info | warning | error
    data: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0
    seq: int = 0

    def to_json(self) -> EventView:
        return {
            "seq": self.seq,
            "t": self.t,
            "kind": self.kind,
            "pod_id": self.pod_id,
            "level": self.level,
            "message": self.message,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Event:
        return cls(
            kind=str(obj.get("kind", "")),
            message=str(obj.get("message", "")),
            pod_id=obj.get("pod_id"),
            level=str(obj.get("level", "info")),
            data=dict(obj.get("data") or {}),
            t=float(obj.get("t", 0.0)),
            seq=int(obj.get("seq", 0)),
        )


def encode(msg: dict[str, Any]) -> bytes:
    text = json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
    try:
        data = text.encode() + b"\n"
    except UnicodeEncodeError:  # a lone surrogate (from a client's "\\ud800"): escape it
        data = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
    if len(data) > MAX_FRAME:
        raise ProtocolError("too_large", f"frame of {len(data)} bytes exceeds {MAX_FRAME}")
    return data


def decode(line: bytes) -> dict[str, Any]:
    """One frame -> a JSON object, or ProtocolError."""
    if len(line) > MAX_FRAME:
        raise ProtocolError("too_large", f"frame exceeds {MAX_FRAME} bytes")
    try:
        obj = json.loads(line)
    except RecursionError:
        raise ProtocolError("bad_json", "frame is nested too deeply") from None
    except ValueError as exc:  # not JSON, not UTF-8, an integer of thousands of digits
        raise ProtocolError("bad_json", f"frame is not JSON: {_cut(str(exc))}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_frame", "frame must be a JSON object")
    if not isinstance(obj.get("type"), str):
        raise ProtocolError("bad_frame", "frame has no string 'type'")
    return obj


def _cut(text: str, limit: int = 200) -> str:
    """A client's text quoted back in an error, at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def hello(client: str) -> dict[str, Any]:
    return {"type": "hello", "protocol": list(SUPPORTED_VERSIONS), "client": client}


def check_client_hello(msg: dict[str, Any]) -> int:
    """The version both sides speak, or ProtocolError."""
    if msg.get("type") != "hello":
        raise ProtocolError("no_hello", "the first frame must be a hello")
    versions = msg.get("protocol")
    if not isinstance(versions, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in versions
    ):
        raise ProtocolError("bad_hello", "hello.protocol must be a list of integers")
    common = sorted(set(versions) & set(SUPPORTED_VERSIONS))
    if not common:
        raise ProtocolError(
            "version",
            f"client speaks protocol {_cut(repr(versions))}, daemon speaks "
            f"{list(SUPPORTED_VERSIONS)}: "
            "upgrade the older of the two and restart the daemon (rpdev daemon stop; rpdev daemon start)",
        )
    return int(common[-1])


def server_hello(version: int, server: str, pid: int) -> dict[str, Any]:
    return {"type": "hello", "protocol": version, "server": server, "pid": pid}


@dataclass(frozen=True)
class Request:
    id: int
    method: str
    params: dict[str, Any]


def parse_request(msg: dict[str, Any]) -> Request:
    if msg.get("type") != "request":
        raise ProtocolError("bad_type", f"unexpected frame type {msg.get('type')!r}")
    rid = msg.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 <= rid < MAX_ID:
        raise ProtocolError("bad_id", "request.id must be a non-negative integer")
    method = msg.get("method")
    if not isinstance(method, str) or len(method) > 64 or not METHOD_RE.match(method):
        raise ProtocolError("bad_method", "request.method must be a dotted lowercase name")
    params = msg.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError("bad_params", "request.params must be an object")
    return Request(rid, method, params)


def request(rid: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "request", "id": rid, "method": method, "params": params or {}}


def result(rid: int, value: Any) -> dict[str, Any]:
    return {"type": "response", "id": rid, "result": value}


def error(rid: int | None, code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if hint:
        err["hint"] = hint
    if rid is None:
        return {"type": "error", "error": err}
    return {"type": "response", "id": rid, "error": err}


def event_frame(ev: Event) -> dict[str, Any]:
    return {"type": "event", "event": ev.to_json()}


def remote_error(err: Any) -> RemoteError:
    if not isinstance(err, dict):
        return RemoteError("unknown", str(err))
    return RemoteError(
        str(err.get("code", "unknown")), str(err.get("message", "")), err.get("hint")
    )


# Parameter helpers used by the daemon's handlers: every value from a client is checked.


def param_str(
    params: dict[str, Any], name: str, *, required: bool = True, max_len: int = 256
) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ProtocolError("bad_params", f"missing parameter {name!r}")
        return None
    if not isinstance(value, str) or len(value) > max_len or "\x00" in value:
        raise ProtocolError(
            "bad_params", f"parameter {name!r} must be a string of at most {max_len}"
        )
    return value


def param_num(
    params: dict[str, Any],
    name: str,
    *,
    required: bool = True,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ProtocolError("bad_params", f"missing parameter {name!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ProtocolError("bad_params", f"parameter {name!r} must be a number")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ProtocolError("bad_params", f"parameter {name!r} is out of range")
    return float(value)
