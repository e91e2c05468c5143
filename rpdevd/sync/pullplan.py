"""The pull plan: a pure function from (pod listing, local state, pull baseline) to actions.

Results come back from the pod (plots, logs, metrics, small checkpoints) under the same promise
the push keeps, turned around (docs/sync.md, "Results back"):

- A local file is the pull's to replace only while it still holds what the pull landed there
  (the pull baseline: size and mtime after landing). Anything else in the way is kept as a
  conflict copy (`<name>.rpdev-conflict-<stamp>`) before the pod's version goes in, and only
  when the pod's version is new: a file changed here while the pod's did not is left alone.
- A pulled file deleted here stays deleted until it changes on the pod.
- A local path that cannot be read is unknown: nothing at or below it is replaced.
- The pull never deletes anything here; a file gone from the pod stays.

Only regular files that match the pull patterns come down (directories are made as needed);
rpdev's own temporaries on the pod never do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import pathspec

from rpdevd.sync.model import CONFLICT_MARK, LocalEntry, RemoteEntry, is_rpdev_temp

PullKind = Literal["get", "keep", "skip"]


class Pulled(NamedTuple):
    """What the pull landed at a path: the pod's file as it was listed (size, whole-second
    mtime) and the local file it produced (size and mtime in ns, as `stat` gives them; they
    differ from the listing when the pod's file grew while it was read)."""

    pod_size: int
    pod_mtime_s: int
    local_size: int
    local_mtime_ns: int

    def pod_same(self, r: RemoteEntry) -> bool:
        return r.kind == "file" and (r.size, r.mtime_s) == (self.pod_size, self.pod_mtime_s)

    def local_same(self, lo: LocalEntry) -> bool:
        return lo.kind == "file" and (lo.size, lo.mtime_ns) == (
            self.local_size,
            self.local_mtime_ns,
        )


class PullPatterns:
    """Gitignore-style patterns naming what comes down (`!pattern` leaves a path out again).
    A path matches when it, or a directory above it, matches, as in a `.gitignore`."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.lines = tuple(p for p in patterns if p.strip() and not p.lstrip().startswith("#"))
        self._spec = pathspec.GitIgnoreSpec.from_lines(self.lines) if self.lines else None

    def __bool__(self) -> bool:
        return self._spec is not None

    def matches(self, path: str) -> bool:
        return self._spec is not None and self._spec.match_file(path)


_GLOB = re.compile(r"([*?\[\]\\!#])")


def push_excludes(patterns: Iterable[str], prefix: str = "") -> tuple[str, ...]:
    """Ignore lines for a push from a local root where a pull lands its files `prefix` below
    (`""`: the same directory): pulled paths, and the conflict copies the pull makes of them,
    never go up, and so are never deleted on the pod either. Each pattern is re-anchored
    under `prefix`, as it would read from a `.gitignore` in that directory."""
    out: list[str] = []
    base = "/" + _GLOB.sub(r"\\\1", prefix.strip("/")) if prefix.strip("/") else ""
    for pattern in patterns:
        if not pattern.strip() or pattern.lstrip().startswith("#"):
            continue
        neg = pattern.startswith("!")
        body = pattern[1:] if neg else pattern
        if base:
            anchored = body.startswith("/") or "/" in body.rstrip("/")
            body = f"{base}/{body.lstrip('/')}" if anchored else f"{base}/**/{body}"
        bang = "!" if neg else ""
        out.append(bang + body)
        if not body.endswith("/"):  # a directory's conflict copies are below it already
            out.append(f"{bang}{body}{CONFLICT_MARK}*")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PullOp:
    """Bring the pod's `pod` file to `path` here. `expect`: what the local path holds and may
    be replaced (None: nothing of the pull's; whatever is found there is kept as a conflict
    copy first)."""

    path: str
    pod: RemoteEntry
    expect: LocalEntry | None = None
    conflict: bool = False


@dataclass
class PullPlan:
    gets: list[PullOp] = field(default_factory=list)
    adopt: dict[str, Pulled] = field(default_factory=dict)  # equal already: record only
    forget: list[str] = field(default_factory=list)  # baseline rows to drop
    notes: list[str] = field(default_factory=list)
    unknown: dict[str, str] = field(default_factory=dict)  # could not be read here: untouched

    @property
    def bytes_to_get(self) -> int:
        return sum(op.pod.size for op in self.gets)

    def empty(self) -> bool:
        return not (self.gets or self.adopt or self.forget)


# What a local path is: an entry, None (nothing there), or a reason it cannot be read.
LocalState = LocalEntry | None | str


def wanted(pod: Mapping[str, RemoteEntry], patterns: PullPatterns) -> dict[str, RemoteEntry]:
    """The pod's regular files that the patterns name (rpdev's temporaries never)."""
    return {
        p: r
        for p, r in pod.items()
        if r.kind == "file" and not is_rpdev_temp(p) and patterns.matches(p)
    }


def plan_pull(
    pod: Mapping[str, RemoteEntry],
    local: Mapping[str, LocalState],
    base: Mapping[str, Pulled],
) -> PullPlan:
    """Actions that bring the pod's files (`wanted` ones) here within the rules above. Pure.

    `local` holds the state of every path in `pod` and in `base`."""
    out = PullPlan()
    for p in sorted(pod):
        r = pod[p]
        lo = local.get(p)
        b = base.get(p)
        if isinstance(lo, str):
            out.unknown[p] = lo
            continue
        if lo is None:
            if b is None or not b.pod_same(r):
                out.gets.append(PullOp(p, r))  # new, or changed on the pod since deleted here
            continue
        if b is not None and b.local_same(lo):
            if not b.pod_same(r):
                out.gets.append(PullOp(p, r, lo))
            continue
        if b is not None and b.pod_same(r):
            out.notes.append(f"{p!r} changed here and not on the pod: your version is kept")
            continue
        if b is None and lo.kind == "file" and (lo.size, lo.mtime_s) == (r.size, r.mtime_s):
            out.adopt[p] = Pulled(r.size, r.mtime_s, lo.size, lo.mtime_ns)  # the same file already
            continue
        out.gets.append(PullOp(p, r, None, conflict=True))
    for p, b in base.items():
        if p in pod:
            continue
        # Gone from the pod (or no longer named by the patterns): nothing is deleted here. The
        # row is kept while the local file is still what was landed, so that a file coming
        # back on the pod replaces it rather than making a conflict copy.
        lo = local.get(p)
        if lo is None or (isinstance(lo, LocalEntry) and not b.local_same(lo)):
            out.forget.append(p)
    return out
