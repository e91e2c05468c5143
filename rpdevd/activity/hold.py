"""The hold file on a pod: `<workspace>/.rpdev/hold` (default `/workspace/.rpdev/hold`).

Its first line says how long to keep the pod, whatever it looks like in between:

| content                          | holds until                                   |
|----------------------------------|-----------------------------------------------|
| (empty: `touch .rpdev/hold`)     | the file is removed                           |
| `forever`                        | the file is removed                           |
| `2h`, `90m`, `1h30m`, `+2d`      | that long after the file was last modified    |
| `2026-11-28T18:00:00Z`, `2026-11-28 18:00+01:00`, `2026-11-28` | that time (UTC when no offset) |
| `1795812025`                     | that epoch time                               |

Anything else is ignored (a bad hold must not keep a pod forever) and reported as `hold_error`,
which the warning before a stop shows. A hold in the past is simply over.
"""

from __future__ import annotations

import datetime as dt
import re

from rpdevd.activity.samples import FOREVER, HoldUntil
from rpdevd.durations import parse_duration

_EPOCH = re.compile(r"\d{9,11}(\.\d+)?")


def parse_hold(
    text: str, *, mtime: float | None, pod_now: float, local_now: float
) -> tuple[HoldUntil, str | None]:
    """(hold_until on this machine's clock or FOREVER or None, error or None).

    A duration counts from the file's mtime on the pod's clock and is carried over to this
    machine's clock, so a pod whose clock is off still holds for the right length of time.
    """
    s = text.strip()
    if len(s) > 100:
        return None, "hold file content is too long"
    if s == "" or s.lower() == FOREVER:
        return FOREVER, None
    if _EPOCH.fullmatch(s):
        return _future(float(s), local_now), None
    if s[0].isdigit() and "-" in s[:5]:
        try:
            when = dt.datetime.fromisoformat(s.replace(" ", "T", 1) if "T" not in s else s)
        except ValueError:
            return None, f"not a time: {s[:40]!r}"
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return _future(when.timestamp(), local_now), None
    try:
        seconds = parse_duration(s.lstrip("+"))
    except ValueError:
        return None, f"cannot read {s[:40]!r} (use e.g. 2h, forever, or 2026-11-28T18:00Z)"
    if not re.search(r"[a-z]", s.lower()):
        return None, f"{s!r} has no unit (use e.g. 2h, 90m) or a full epoch time"
    if mtime is None:
        return None, "cannot read the hold file's modification time"
    return _future(local_now + (mtime + seconds - pod_now), local_now), None


def _future(until: float, now: float) -> HoldUntil:
    return until if until > now else None
