"""The one name a person reads for a GPU, a sync root's state, what it pulls, and a pod, wherever
it is shown.

The CLI (`rpdev status`, `rpdev pods`, `rpdev sync status`) and the TUI both name things through
these functions, so a word cannot drift between them. The daemon's own values (in `--json`
output and over the socket) are left as they are: scripts read those. The one label the daemon
gives itself is a pod's `gpu`, which is `gpu_label`'s (RunPod's own name and count are
`gpu_type` and `gpu_count`). Standard library and `rpdevd.durations` only (the CLI imports it);
no cutting to a width and no cleaning of control characters here: callers do that where they
know the space they have.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from rpdevd.durations import format_duration

# Vendor prefixes add width, not information: "RTX A6000", not "NVIDIA RTX A6000".
GPU_PREFIXES = ("NVIDIA ", "GeForce ", "AMD ", "Instinct ")

# A sync root's state as the daemon says it -> the word shown. "live": watching for edits and
# pushing them (docs/tui.md, docs/sync.md); every other state keeps its own word.
SYNC_STATE_WORDS = {"watching": "live"}
LIVE = "live"
# States in which edits wait here: a summary says these, not "live".
STALLED_STATES = ("waiting", "disconnected", "pod gone")


def gpu_label(gpu_type: object, gpu_count: object, fallback: object = None) -> str:
    """`H100 80GB HBM3 x2`; `CPU` for a pod without GPUs (or `fallback`, the daemon's own text,
    when the count is missing: a daemon older than the `gpu_count` field)."""
    if isinstance(gpu_count, bool) or not isinstance(gpu_count, int) or gpu_count <= 0:
        if gpu_count == 0 or not fallback:
            return "CPU"
        return str(fallback)
    name = str(gpu_type or "GPU")
    for prefix in GPU_PREFIXES:
        name = name.removeprefix(prefix)
    return f"{name} x{gpu_count}"


def view_gpu_label(view: Mapping[str, Any]) -> str:
    """The GPU of a pod view (`status`, `pods`)."""
    return gpu_label(view.get("gpu_type"), view.get("gpu_count"), view.get("gpu"))


def sync_state_label(state: object) -> str:
    text = str(state or "?")
    return SYNC_STATE_WORDS.get(text, text)


def _names(views: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(v["id"], str(v.get("name") or v["id"])) for v in views if isinstance(v.get("id"), str)]


def _labels(pods: list[tuple[str, str]]) -> dict[str, str]:
    """pod id -> its name; `name (id)` for each pod whose name another pod on the account has
    too (RunPod allows that), so no two pods read the same."""
    counts = Counter(name for _, name in pods)
    return {pid: name if counts[name] == 1 else f"{name} ({pid})" for pid, name in pods}


def root_pod_label(root: Mapping[str, Any], views: Iterable[Mapping[str, Any]]) -> str:
    """The pod of a sync root, named the same before RunPod's first answer (the root knows only
    what the config says: a name or an id) and after it (the root knows the pod's id)."""
    pods = _names(views)
    labels = _labels(pods)
    configured = str(root.get("pod") or "?")
    pod_id = root.get("pod_id")
    if isinstance(pod_id, str) and pod_id in labels:
        return labels[pod_id]
    if configured in labels:  # configured by id
        return labels[configured]
    named = [labels[pid] for pid, name in pods if name == configured]
    return named[0] if len(named) == 1 else configured


def pull_label(root: Mapping[str, Any]) -> str | None:
    """What a sync root pulls back and how often (`pulls 'logs/' 'out/*.png' back every 30s`);
    None for a root without `pull`, or from a daemon older than the field."""
    patterns = [p for p in root.get("pull") or () if isinstance(p, str)]
    if not patterns:
        return None
    shown = " ".join(repr(p) for p in patterns[:5])
    if len(patterns) > 5:
        shown += f" (+{len(patterns) - 5} more)"
    every = root.get("pull_interval")
    if isinstance(every, int | float) and not isinstance(every, bool) and every > 0:
        return f"pulls {shown} back every {format_duration(every)}"
    return f"pulls {shown} back"


def forward_label(forward: Mapping[str, Any]) -> str:
    """A port forward as `8888->8888 up`; the local address first where it is not 127.0.0.1
    (`0.0.0.0:8888->8888 up`)."""
    bind = forward.get("bind") or "127.0.0.1"
    where = "" if bind == "127.0.0.1" else f"{bind}:"
    return f"{where}{forward.get('local')}->{forward.get('remote')} {forward.get('state') or '?'}"
