"""Text from outside, made safe for a terminal or a log line: the one cleaning function.

Pod names, GPU names and error messages come from RunPod's API; names, messages and file names
come from pods. Printed raw, such text can send escape sequences to a terminal (colours, a new
window title, a cursor moved back over a line), reverse what follows it (U+202E), or forge
whole lines of output or of `rpdevd.log` (a newline, a carriage return). Every path from such
text to a terminal or a log line goes through `clean`: the CLI's tables, messages and errors,
the TUI, and the daemon's log formatter. Standard library only (the CLI imports it).
"""

from __future__ import annotations

import json
from typing import Any

REPLACEMENT = "?"


def clean(value: object, limit: int | None = None) -> str:
    """`value` as one line of plain text: every character that is not printable (control
    characters, including newline, CR, TAB and ESC; NUL; bidirectional overrides and other format
    characters; separators other than the space) becomes '?'. With `limit`, at most that many
    characters, the last one '…' when cut."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else REPLACEMENT for c in text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def clean_lines(value: object) -> str:
    """Like `clean`, but the newlines of a message written on several lines are kept; each line
    is cleaned (a CR, an ESC or a bidi override inside any of them is replaced)."""
    text = "" if value is None else str(value)
    return "\n".join(clean(line) for line in text.split("\n"))


def json_dumps(value: Any, indent: int | None = None) -> str:
    """JSON with the data unchanged but nothing a terminal acts on: non-ASCII text stays readable,
    and every character that is not printable is written as its `\\uXXXX` escape (JSON only
    requires that of the first 32)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c.isprintable() or (c == "\n" and indent is not None):
            out.append(c)
        else:
            # Outside strings json.dumps writes only printable characters and the indent's
            # newlines, so anything else sits inside a string, where an escape means the same.
            code = ord(c)
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
    return "".join(out)
