"""What a rewrite of the generated SSH config changed, in one line for the log and the events.

A start with three pods writes the file once for the pods and once more as each endpoint is
confirmed; the same "rewritten (3 hosts)" four times says nothing. Each line names what changed.
Pure: entries in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rpdevd.sshconfig.render import HostEntry


def _hosts(n: int) -> str:
    return f"{n} host" if n == 1 else f"{n} hosts"


def summary(entries: Sequence[HostEntry]) -> str:
    confirmed = sum(1 for e in entries if e.host is not None)
    return f"{_hosts(len(entries))}, {confirmed} with a confirmed endpoint"


def _entry_change(old: HostEntry, new: HostEntry, alias: str) -> str | None:
    if (old.host, old.port) != (new.host, new.port):
        if new.host is not None:
            return f"{alias} -> {new.host}:{new.port}"
        return f"{alias} has no endpoint ({'starting' if new.running else 'stopped'})"
    return None if old == new else f"{alias} updated"


def describe(
    before: Sequence[HostEntry] | None,
    after: Sequence[HostEntry],
    aliases: Mapping[str, str],
) -> str:
    """`SSH config rewritten: trainer.runpod -> 203.0.113.7:22041; notebook.runpod added`.

    `before` is what this daemon wrote last (None: nothing yet since it started, so the whole
    file is summed up); `aliases` maps pod ids to their `Host` names (a pod's name otherwise)."""
    if before is None:
        return f"SSH config rewritten: {summary(after)}"
    old = {e.pod_id: e for e in before}
    new = {e.pod_id: e for e in after}
    parts: list[str] = []
    for entry in after:
        alias = aliases.get(entry.pod_id) or entry.name
        if entry.pod_id not in old:
            parts.append(f"{alias} added")
        elif change := _entry_change(old[entry.pod_id], entry, alias):
            parts.append(change)
    parts.extend(
        f"{aliases.get(e.pod_id) or e.name} removed" for e in before if e.pod_id not in new
    )
    # Nothing of ours changed (the file was edited by hand, or an option changed): say so.
    return f"SSH config rewritten: {'; '.join(parts) if parts else summary(after)}"
