"""Local change hints from `watchfiles`.

Events are only hints: the engine `lstat`s each path it is told about, rescans directories that
appeared or vanished, and rescans everything now and then, so a lost or merged event costs
latency, never correctness. `step` is how long the watcher waits for more changes before it
reports (short, for latency); `debounce` bounds how long a burst can be held back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import watchfiles

ROOT = ""  # a hint about the root itself: rescan everything


def to_rel(root: str, path: str) -> str | None:
    """`path` relative to `root` in POSIX form; ROOT for the root; None if outside."""
    rel = os.path.relpath(path, root)
    if rel == ".":
        return ROOT
    if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
        return None
    return rel.replace(os.sep, "/")


async def hints(
    root: Path, stop: asyncio.Event, step_ms: int = 30, debounce_ms: int = 300
) -> AsyncIterator[set[str]]:
    """Batches of relative paths that may have changed, until `stop` is set."""
    base = os.path.realpath(root)
    async for changes in watchfiles.awatch(
        base,
        watch_filter=None,
        step=step_ms,
        debounce=debounce_ms,
        stop_event=stop,
        recursive=True,
        ignore_permission_denied=True,
    ):
        batch: set[str] = set()
        for _change, path in changes:
            rel = to_rel(base, path)
            if rel is not None:
                batch.add(rel)
        if batch:
            yield batch
