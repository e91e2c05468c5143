"""rpdev's one marked `Include` block at the very top of the user's `~/.ssh/config`.

Pure, on bytes: the user's file may hold any encoding, CRLF line ends, a byte order mark, no final
newline. Every byte outside the block is kept; installing then uninstalling gives back the file
exactly. The block goes first (after a byte order mark, which must stay first): ssh applies the
first value it reads for each option, and VS Code's host list follows an `Include` only there.

A file whose markers are duplicated, reversed or half-missing was edited by hand or by another
tool; guessing where rpdev's block ends could delete the user's lines, so such files are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BEGIN = b"# >>> rpdev >>>"
END = b"# <<< rpdev <<<"
NOTE = b"# Added by `rpdev ssh-config install`; `rpdev ssh-config uninstall` removes it."
BOM = b"\xef\xbb\xbf"


class MarkerError(ValueError):
    """The user's file has rpdev markers that do not form exactly one block."""


@dataclass(frozen=True)
class Block:
    start: int  # offset of the begin marker line
    end: int  # offset just past the end marker line (and its line ending)


def split_lines(data: bytes) -> list[tuple[int, int, int]]:
    """Line spans: (start, end of content, end including the line ending)."""
    spans = []
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            spans.append((pos, len(data), len(data)))
            break
        content_end = nl - 1 if nl > pos and data[nl - 1 : nl] == b"\r" else nl
        spans.append((pos, content_end, nl + 1))
        pos = nl + 1
    return spans


def newline_of(data: bytes) -> bytes:
    """The file's own line ending: that of its first line, LF for a file without one."""
    nl = data.find(b"\n")
    if nl > 0 and data[nl - 1 : nl] == b"\r":
        return b"\r\n"
    return b"\n"


def include_word(path: Path) -> bytes:
    """The Include argument: absolute (ssh's `~` is the passwd home, not $HOME), double-quoted
    (macOS state dirs have spaces), glob characters refused (Include globs its argument)."""
    text = str(path)
    if not path.is_absolute():
        raise ValueError(f"the generated config path must be absolute: {text!r}")
    bad = [c for c in text if ord(c) < 0x20 or ord(c) == 0x7F or c in "\"'\\*?[]%"]
    if bad or "${" in text:
        raise ValueError(f"cannot write an Include for {text!r}: unsupported character")
    return b'"' + text.encode("utf-8") + b'"'


def block_bytes(generated: Path, newline: bytes = b"\n") -> bytes:
    lines = [BEGIN, NOTE, b"Include " + include_word(generated), END]
    return b"".join(line + newline for line in lines)


def _marker(data: bytes, span: tuple[int, int, int]) -> bytes | None:
    content = data[span[0] : span[1]]
    if span[0] == 0 and content.startswith(BOM):
        content = content[len(BOM) :]
    content = content.strip()
    # A prefix match, so a marker whose tail was edited is still seen (and the file refused)
    # rather than left behind as a stray half of a block.
    if content.startswith(b"# >>> rpdev"):
        return BEGIN
    if content.startswith(b"# <<< rpdev"):
        return END
    return None


def find_block(data: bytes) -> Block | None:
    """The block's byte range, None when there is none; MarkerError when markers are broken."""
    begins: list[tuple[int, int, int]] = []
    ends: list[tuple[int, int, int]] = []
    for number, span in enumerate(split_lines(data), start=1):
        kind = _marker(data, span)
        # A byte order mark before the first line is not part of rpdev's block.
        start = len(BOM) if span[0] == 0 and data.startswith(BOM) else span[0]
        if kind == BEGIN:
            begins.append((number, start, span[2]))
        elif kind == END:
            ends.append((number, start, span[2]))
    if not begins and not ends:
        return None
    where = ", ".join(f"line {n}" for n, _, _ in sorted(begins + ends))
    if len(begins) > 1 or len(ends) > 1:
        raise MarkerError(
            f"rpdev's block markers appear more than once ({where}); keep one "
            f"'{BEGIN.decode()}' ... '{END.decode()}' pair or remove them all, then retry"
        )
    if not ends:
        raise MarkerError(
            f"rpdev's begin marker (line {begins[0][0]}) has no end marker "
            f"'{END.decode()}'; fix or remove it by hand, then retry"
        )
    if not begins:
        raise MarkerError(
            f"rpdev's end marker (line {ends[0][0]}) has no begin marker "
            f"'{BEGIN.decode()}'; fix or remove it by hand, then retry"
        )
    if ends[0][1] < begins[0][1]:
        raise MarkerError(
            f"rpdev's end marker (line {ends[0][0]}) comes before its begin marker "
            f"(line {begins[0][0]}); fix or remove them by hand, then retry"
        )
    return Block(start=begins[0][1], end=ends[0][2])


def _without_block(data: bytes, block: Block) -> bytes:
    return data[: block.start] + data[block.end :]


def install(data: bytes, generated: Path) -> bytes:
    """The user's file with rpdev's block first. Idempotent; a block found lower down (moved by
    hand or by another tool inserting above it) is moved back to the top."""
    block = find_block(data)
    rest = _without_block(data, block) if block else data
    head = BOM if rest.startswith(BOM) else b""
    body = rest[len(head) :]
    return head + block_bytes(generated, newline_of(body)) + body


def uninstall(data: bytes) -> bytes:
    """The user's file without rpdev's block (unchanged when there is none)."""
    block = find_block(data)
    return _without_block(data, block) if block else data


def installed_at_top(data: bytes) -> bool:
    block = find_block(data)
    if block is None:
        return False
    head = BOM if data.startswith(BOM) else b""
    return block.start == len(head)
