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
from collections.abc import Iterator, Mapping

from rpdevd.sync.model import Kind, LocalEntry, RemoteEntry
from rpdevd.sync.plan import Op


def read_beside(name: str) -> str:
    """A file of this package, read from beside this module (importlib.resources would import
    zipfile and its readers: 10 ms of every `sync once`)."""
    with open(os.path.join(os.path.dirname(__file__), name), encoding="utf-8") as f:
        return f.read()


# The program the pod runs: pod_receiver.py's text, sent as `python3 -c RECEIVER STAGE` (it runs
# on any python3 >= 3.6, with nothing installed).
RECEIVER = read_beside("pod_receiver.py")

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


def encode_manifest(ops: list[Op], stage_names: Mapping[str, str] | None = None) -> bytes:
    """NUL-separated records of 16 fields, one per op, in order: code, path, move source, stage
    name, mode, mtime, size, symlink target, then what is expected at the path and at the move
    source (kind, size, mtime, target each). The receiver ignores size (the stream carries
    it); the baseline keeps the manifest as the batch's intents (see `manifest_intents`).
    Stage names from `stage_names`, or with None as the bulk stream numbers them: file puts
    0, 1, 2... in order, a symlink put `s` and its op's index."""
    out = bytearray()
    encode_into(out, ops, stage_names)
    return bytes(out)


def encode_into(
    out: bytearray,
    ops: list[Op],
    stage_names: Mapping[str, str] | None = None,
    *,
    first_file: int = 0,
    first_op: int = 0,
) -> None:
    """`encode_manifest`, written onto the end of `out` as it goes (100,000 ops take about
    7 MB, once). A part of a longer manifest numbers on from the parts before it:
    `first_file` file puts and `first_op` ops."""
    files = first_file
    codes, no_local, enc = _CODES, _NO_LOCAL, str.encode
    nothing = _expect(None)
    for i, op in enumerate(ops, first_op):
        kind = op.kind
        code = codes[kind]
        lo = op.local or no_local
        stage = b""
        if kind == "put":
            if lo.kind == "symlink":
                code = b"L"
            if stage_names is not None:
                stage = stage_names.get(op.path, "").encode()
            elif lo.kind == "file":
                stage = b"%d" % files
                files += 1
            elif lo.kind == "symlink":
                stage = b"s%d" % i
        elif stage_names:
            stage = stage_names.get(op.path, "").encode()
        # The hot loop of a first sync (a put per file): the common empty fields not encoded.
        out += b"%s\0%s\0%s\0%s\0%o\0%d\0%d\0%s\0%s\0%s\0" % (
            code,
            enc(op.path, "utf-8", "surrogateescape"),
            enc(op.src, "utf-8", "surrogateescape") if op.src else b"",
            stage,
            lo.mode,
            lo.mtime_ns // 1_000_000_000,
            lo.size,
            enc(lo.target, "utf-8", "surrogateescape") if lo.target else b"",
            nothing if op.expect is None else _expect(op.expect),
            nothing if op.src_expect is None else _expect(op.src_expect),
        )


# One result of the receiver: eight NUL-terminated fields.
_RESULT = re.compile(
    rb"([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0"
)


def parse_results(data: bytes) -> Iterator[tuple[str, str, RemoteEntry | None, str]]:
    """(status, path, what the path holds now or None, info) per op the receiver reached,
    one at a time."""
    for m in _RESULT.finditer(data):
        yield _result(m.groups())


def _result(groups: tuple[bytes, ...]) -> tuple[str, str, RemoteEntry | None, str]:
    tag, p, k, size, mtime, mode, tgt, info = groups
    entry = None
    if k == b"d":
        entry = tuple.__new__(RemoteEntry, ("dir", 0, 0, int(mode) & 0o777, ""))
    elif k != b"-":
        kind = _LETTER_KIND.get(k, "other")
        target = tgt.decode("utf-8", "surrogateescape") if tgt else ""
        entry = tuple.__new__(RemoteEntry, (kind, int(size), int(mtime), int(mode) & 0o777, target))
    return (
        "ok" if tag == b"ok" else tag.decode(),
        p.decode("utf-8", "surrogateescape"),
        entry,
        info.decode("utf-8", "surrogateescape") if info else "",
    )


class ResultReader:
    """The receiver's results as they come, chunk by chunk: each `feed` gives the results
    complete so far (a record cut by the chunk's end waits for the next)."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[tuple[str, str, RemoteEntry | None, str]]:
        buf = self._rest + data if self._rest else data
        out = []
        end = 0
        for m in _RESULT.finditer(buf):
            out.append(_result(m.groups()))
            end = m.end()
        self._rest = buf[end:]
        return out

    @property
    def pending(self) -> bool:
        """Bytes of a result not complete yet."""
        return bool(self._rest)


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
