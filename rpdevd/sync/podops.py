"""Applying a batch of ops on the pod in one go: a small Python program run there
(pod_receiver.py, sent as text) reads the bulk stream (see bulkstream.py) from stdin and acts on
each op as soon as its bytes are in. This side writes the batch's manifest and reads back the
results: what each path holds afterwards, which becomes the baseline.

The receiver re-checks every path just before acting on it (compare-and-swap against what the
plan expected), so a pod file edited after the listing is still kept as a conflict copy rather
than overwritten. A file is written under a staging directory and lands by `rename`: a partly
written file is never visible under its final name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from importlib import resources

from rpdevd.sync.model import Kind, LocalEntry, RemoteEntry
from rpdevd.sync.plan import Op

# The program the pod runs: pod_receiver.py's text, sent as `python3 -c RECEIVER STAGE` (it runs
# on any python3 >= 3.6, with nothing installed).
RECEIVER = resources.files("rpdevd.sync").joinpath("pod_receiver.py").read_text(encoding="utf-8")

_CODES = {
    "mkdir": b"K",
    "put": b"P",
    "move": b"M",
    "chmod": b"C",
    "delete": b"D",
    "rmdir": b"R",
    "clean": b"X",
}
_KIND_LETTER: dict[str, bytes] = {"file": b"f", "dir": b"d", "symlink": b"l", "other": b"o"}
_LETTER_KIND: dict[bytes, Kind] = {b"f": "file", b"d": "dir", b"l": "symlink", b"o": "other"}


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")  # os.fsencode, without its checks per call


def _expect(e: RemoteEntry | None) -> bytes:
    """Four fields: kind, size, mtime, target."""
    if e is None:
        return b"-\x000\x000\x00"
    return b"%s\0%d\0%d\0%s" % (_KIND_LETTER[e.kind], e.size, e.mtime_s, _enc(e.target))


_NO_LOCAL = LocalEntry("other")


def encode_manifest(ops: list[Op], stage_names: dict[str, str]) -> bytes:
    """NUL-separated records of 16 fields, one per op, in order: code, path, move source, stage
    name, mode, mtime, size, symlink target, then what is expected at the path and at the move
    source (kind, size, mtime, target each). The receiver ignores size (the stream carries
    it); the baseline keeps the manifest as the batch's intents (see `manifest_intents`).
    One bytes object per op (not per field): 100,000 ops take about 10 MB on the way."""
    records: list[bytes] = []
    for op in ops:
        code = _CODES[op.kind]
        lo = op.local or _NO_LOCAL
        if op.kind == "put" and lo.kind == "symlink":
            code = b"L"
        records.append(
            b"%s\0%s\0%s\0%s\0%o\0%d\0%d\0%s\0%s\0%s\0"
            % (
                code,
                _enc(op.path),
                _enc(op.src),
                stage_names.get(op.path, "").encode(),
                lo.mode,
                lo.mtime_s,
                lo.size,
                _enc(lo.target),
                _expect(op.expect),
                _expect(op.src_expect),
            )
        )
    return b"".join(records)


# One result of the receiver: eight NUL-terminated fields.
_RESULT = re.compile(
    rb"([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0"
)


def parse_results(data: bytes) -> Iterator[tuple[str, str, RemoteEntry | None, str]]:
    """(status, path, what the path holds now or None, info) per op the receiver reached,
    one at a time."""
    new = tuple.__new__
    for m in _RESULT.finditer(data):
        tag, p, k, size, mtime, mode, tgt, info = m.groups()
        entry = None
        if k == b"d":
            entry = new(RemoteEntry, ("dir", 0, 0, int(mode) & 0o777, ""))
        elif k != b"-":
            kind = _LETTER_KIND.get(k, "other")
            target = tgt.decode("utf-8", "surrogateescape") if tgt else ""
            entry = new(RemoteEntry, (kind, int(size), int(mtime), int(mode) & 0o777, target))
        yield (
            tag.decode(),
            p.decode("utf-8", "surrogateescape"),
            entry,
            info.decode("utf-8", "surrogateescape") if info else "",
        )


_INTENT_KIND: dict[bytes, Kind] = {b"P": "file", b"M": "file", b"L": "symlink", b"K": "dir"}


def manifest_intents(manifest: bytes) -> dict[str, RemoteEntry]:
    """What each put, move and mkdir of a batch leaves on the pod (`model.expected_remote` of
    its local entry), read back from the batch's manifest."""
    fields = manifest.split(b"\0")
    out: dict[str, RemoteEntry] = {}
    for i in range(0, len(fields) - 15, 16):
        kind = _INTENT_KIND.get(fields[i])
        if kind is None:
            continue
        path, mode, mtime, size, tgt = (
            fields[i + 1],
            fields[i + 4],
            fields[i + 5],
            fields[i + 6],
            fields[i + 7],
        )
        if kind == "file":
            entry = RemoteEntry("file", int(size), int(mtime), int(mode, 8))
        elif kind == "symlink":
            entry = RemoteEntry("symlink", len(tgt), int(mtime), 0o777, os.fsdecode(tgt))
        else:
            entry = RemoteEntry("dir", 0, 0, int(mode, 8))
        out[os.fsdecode(path)] = entry
    return out
