"""Human durations: "30m", "1h30m", "90s", "1.5h", "2d", "250ms", or a bare number of seconds.

Standard library only: the CLI parses `--idle-timeout 30m` with it and config.toml uses it.
"""

from __future__ import annotations

import math
import re

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|sec|min|s|m|h|d|w)")
_BARE = re.compile(r"\d+(?:\.\d+)?")
# Ten years: anything longer is a typo, and huge floats break time arithmetic downstream.
MAX_SECONDS = 10 * 365 * 86400.0


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`; ValueError naming the bad input otherwise.

    Parts add up ("1h30m" = 5400). Negative, empty, NaN and absurdly long durations are refused.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        if len(s) > 64:
            raise ValueError("duration too long to be real")
        if _BARE.fullmatch(s):
            value = float(s)
        else:
            pos = 0
            value = 0.0
            for m in _PART.finditer(s):
                if m.start() != pos:
                    break
                value += float(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if pos != len(s) or pos == 0:
                raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 1h30m, 2d)")
    if math.isnan(value) or value < 0 or value > MAX_SECONDS:
        raise ValueError(f"duration out of range: {text!r}")
    return value


def format_duration(seconds: float) -> str:
    """A short human form: 45s, 30m, 1h30m, 2d3h. Rounds to whole seconds; negatives show '-'."""
    if math.isnan(seconds):
        return "?"
    sign = "-" if seconds < 0 else ""
    rest = int(round(abs(seconds)))
    if rest == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    # Two units are plenty for a countdown ("1h30m", not "1h30m12s") once above an hour.
    if len(parts) > 2:
        parts = parts[:2]
    return sign + "".join(parts)
