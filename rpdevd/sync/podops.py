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
from importlib import resources

from rpdevd.sync.model import Kind, RemoteEntry, remote_entry
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


def _expect(e: RemoteEntry | None) -> list[bytes]:
    if e is None:
        return [b"-", b"0", b"0", b""]
    return [
        _KIND_LETTER[e.kind],
        str(e.size).encode(),
        str(e.mtime_s).encode(),
        os.fsencode(e.target),
    ]


def encode_manifest(ops: list[Op], stage_names: dict[str, str]) -> bytes:
    """NUL-separated records of 16 fields, one per op, in order: code, path, move source, stage
    name, mode, mtime, size, symlink target, then what is expected at the path and at the move
    source (kind, size, mtime, target each). The receiver ignores size (the stream carries
    it); the baseline keeps the manifest as the batch's intents (see `manifest_intents`)."""
    parts: list[bytes] = []
    for op in ops:
        code = _CODES[op.kind]
        lo = op.local
        if op.kind == "put" and lo is not None and lo.kind == "symlink":
            code = b"L"
        parts += [
            code,
            os.fsencode(op.path),
            os.fsencode(op.src),
            stage_names.get(op.path, "").encode(),
            oct(lo.mode if lo else 0)[2:].encode(),
            str(lo.mtime_s if lo else 0).encode(),
            str(lo.size if lo else 0).encode(),
            os.fsencode(lo.target if lo else ""),
            *_expect(op.expect),
            *_expect(op.src_expect),
        ]
    return b"\0".join(parts) + b"\0" if parts else b""


def parse_results(data: bytes) -> list[tuple[str, str, RemoteEntry | None, str]]:
    """(status, path, what the path holds now or None, info) per op the receiver reached."""
    fields = data.split(b"\0")
    out = []
    for i in range(0, len(fields) - 7, 8):
        tag, p, k, size, mtime, mode, tgt, info = fields[i : i + 8]
        entry = None
        if k != b"-":
            entry = remote_entry(
                _LETTER_KIND.get(k, "other"), int(size), int(mtime), int(mode), os.fsdecode(tgt)
            )
        out.append((tag.decode(), os.fsdecode(p), entry, os.fsdecode(info)))
    return out


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
