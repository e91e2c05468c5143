"""The pod's side of the tree in one round trip: a listing script, and its parser.

The script prints one record per entry, six NUL-terminated fields each: type (`f`, `d`, `l`, other
letters for the rest), size, octal mode, mtime, symlink target, path; directories with size and
mtime 0 (never compared). Mtimes are whole seconds, but for GNU find's fraction after them, which
is left out where records are gathered: every lister then gives the same bytes for the same
tree, so an unchanged pod can be recognised by comparing records as they come (`record_set`)
against what the baseline expects (`expected_record`), without parsing them.
NUL is the only byte a path cannot hold, so names with newlines or any other byte survive.
GNU `find -printf` writes it; where that is missing, `python3`; where both are, a slow but portable
loop over `find` and `stat`. The first line tells whether the pod has `python3`, which later
picks how files land.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from rpdevd.sync.model import Kind, RemoteEntry, hasher, remote_entry
from rpdevd.sync.podops import RECEIVER, read_beside

HEADER = b"RPDEV-LIST 1"
# A listing as read: the buffer it was read into, not copied (5 MB for 100,000 paths).
Raw = bytes | bytearray
END = b"E\0\0\0\0\0\0"  # five empty fields never occur in a real record


# The python3 lister (pod_lister.py's text), sent as `python3 -c PY_LISTER [PRUNED...]`.
PY_LISTER = read_beside("pod_lister.py")

# The last resort, for a pod with neither GNU find nor python3: sh over `find -exec` and `stat`.
_SH_LISTER = r"""
for f do
  if [ -h "$f" ]; then t=l; l=$(readlink -- "$f"; echo x); l=${l%?x}
  elif [ -d "$f" ]; then t=d; l=
  elif [ -f "$f" ]; then t=f; l=
  else t=o; l=
  fi
  set -- $(stat -c '%s %a %Y' -- "$f") "$@"
  if [ "$t" = d ]; then s=0 y=0; else s=$1 y=$3; fi
  printf '%s\000%s\000%s\000%s\000%s\000%s\000' "$t" "$s" "$2" "$y" "$l" "${f#./}"
  shift 3
done
"""


def _prune_expr(prune: list[str]) -> str:
    if not prune:
        return ""
    names = " -o ".join(f"-name {shlex.quote(n)}" for n in prune)
    return rf"\( -type d \( {names} \) -prune \) -o"


# Directories with size and mtime 0 (as the other listers). Mtimes as `%T@`: the seconds,
# a dot and the fraction (`-2.5000000000` for 2.5 s before 1970: the seconds are `%Ts`'s, the
# floor). `%Ts` formats each through strftime, a quarter of find's CPU at 100,000 files (0.14
# CPU-seconds against 0.06); the fraction is cut where records are gathered (`_WHOLE`).
_FIND_PRINTF = (
    r"\( -type d -printf 'd\0000\000%m\0000\000\000%P\000' \) -o "
    r"-printf '%y\000%s\000%m\000%T@\000%l\000%P\000'"
)


def listing_script(root: str, prune: list[str], mode: str = "auto") -> str:
    """A POSIX sh script that creates `root` if needed, lists it, prints END, then reads one
    line from stdin: `bulk STAGE` (the bulk stream follows; the receiver applies it) or
    anything else (exit). `mode` forces a lister (`find`, `python`, `sh`) for tests; `auto`
    picks the fastest the pod has."""
    q = shlex.quote
    prune_expr = _prune_expr(prune)
    py_args = " ".join(q(n) for n in prune)
    caps = (
        # A real interpreter, not a version-manager shim (those cost a shell each call).
        "py=; for c in /usr/bin/python3 /usr/local/bin/python3 /opt/conda/bin/python3; "
        'do [ -x "$c" ] && py=$c && break; done; '
        '[ -n "$py" ] || py=$(command -v python3 2>/dev/null); '
        f'printf "{HEADER.decode()} python3=%s\\n" "${{py:+1}}"'
    )
    return "\n".join(
        [
            "umask 022",
            f"[ -d {q(root)} ] || mkdir -p -- {q(root)} || exit 3",
            f"cd -- {q(root)} || exit 3",
            caps,
            f"mode={q(mode)}",
            'if [ "$mode" = auto ] || [ "$mode" = find ]; then',
            # GNU find lists in one go (no probe first: another find refuses -printf before it
            # prints anything). One that fails part-way (a directory it may not read) is
            # followed by a fallback lister; what both print is the same records, kept once.
            # TZ set: glibc otherwise re-reads /etc/localtime for every %Ts (3x slower); the C
            # locale formats numbers faster still. Names are bytes either way.
            f"  LC_ALL=C TZ=UTC0 find . -mindepth 1 {prune_expr} {_FIND_PRINTF} 2>/dev/null "
            "&& mode=done",
            "fi",
            'if [ "$mode" != sh ] && [ "$mode" != done ] && [ -n "$py" ]; then',
            f'  "$py" -c {q(PY_LISTER)} {py_args}',
            "  mode=done",
            "fi",
            'if [ "$mode" != done ]; then',
            f"  find . -mindepth 1 {prune_expr} -exec sh -c {q(_SH_LISTER)} sh {{}} +",
            "fi",
            # The end of the listing; then the same channel waits for what to do next, so a full
            # pass costs one exec (one login shell on the pod), as a plain `tar | ssh tar` does.
            "printf 'E\\000\\000\\000\\000\\000\\000'",
            "IFS= read -r cmd || exit 0",
            "case $cmd in",
            f'  "bulk "*) exec "$py" -c {q(RECEIVER)} "${{cmd#bulk }}" ;;',
            "esac",
        ]
    )


@dataclass
class Listing:
    entries: dict[str, RemoteEntry] = field(default_factory=dict)
    python3: bool = False
    malformed: int = 0


# One record as the listers print it (six NUL-terminated fields), in two parts around the
# fraction of its mtime (GNU find's `%T@`), which is left out: joined, they are the record in
# whole seconds, as the other listers print it and as `expected_record` predicts it. Every
# record matches from its first byte, so records are found one after another.
_WHOLE = re.compile(rb"([^\0]*\0[^\0]*\0[^\0]*\0[^\0.]*)(?:\.[^\0]*)?(\0[^\0]*\0[^\0]*\0)")
_LETTERS: dict[str, bytes] = {"file": b"f", "dir": b"d", "symlink": b"l"}


def _bounds(data: Raw) -> tuple[int, int]:
    """Where the header line starts, and where the records start after it (-1 while there is
    no whole header line). Lines before the header are skipped: what a chatty login script (a
    `.bashrc` that echoes) printed before the listing started."""
    start = 0 if data.startswith(HEADER) else data.find(b"\n" + HEADER) + 1
    end = data.find(b"\n", start) if data.startswith(HEADER, start) else -1
    return start, end + 1 if end >= 0 else -1


def _not_a_listing(data: Raw) -> ValueError:
    return ValueError(
        "the pod did not answer with a listing (is sh there, and the remote path usable?); it "
        f"said: {data[:200].decode(errors='replace')!r}"
    )


def _span(data: Raw) -> tuple[int, int, int]:
    """Where the header line starts, where the records start and where they end (before END);
    ValueError for what is not a listing. Nothing is copied."""
    start, body = _bounds(data)
    if body < 0:
        raise _not_a_listing(data)
    return start, body, len(data) - len(END) if data.endswith(END) else len(data)


def _split(data: Raw) -> tuple[bytes, bytes]:
    """(header line, records)."""
    start, body, stop = _span(data)
    view = memoryview(data)
    return bytes(view[start : body - 1]), bytes(view[body:stop])


def has_python3(data: Raw) -> bool:
    start, body, _ = _span(data)
    return data.find(b" python3=1", start, body) >= 0


def record_set(data: Raw) -> set[bytes]:
    """The listing's records, each as the bytes the lister printed, in whole seconds (no
    parsing, no checks): for comparing a whole listing against `expected_record`s at C speed
    (about 0.6 us and 100 bytes a record). A malformed record shifts the ones after it, which
    then match nothing."""
    _, body, stop = _span(data)
    return set(map(b"".join, _WHOLE.findall(data, body, stop)))


def _whole_records(data: Raw, start: int) -> int:
    """Where the whole records from `start` end (`start`: none yet): after the NUL that ends
    the sixth field of the last of them."""
    extra = data.count(b"\0", start) % 6  # the fields of a record still arriving
    end = len(data)
    for _ in range(extra + 1):
        end = data.rfind(b"\0", start, end)
        if end < 0:
            return start
    return end + 1


class ListingRecords:
    """A listing's records gathered while its bytes arrive (`feed` the buffer after each read),
    so that comparing it once it has ended (`compare.pod_changes`) costs set operations only:
    the parsing runs while the pod is still listing. The same records `record_set` takes from
    the whole listing. And its digest (`digest`), taken as it comes: a listing with the digest
    of one compared before is told what that one was (`compare.Comparison`)."""

    def __init__(self) -> None:
        self._records: set[bytes] = set()
        # Where the next record starts, and how far the digest has read: both -1 until the
        # header line has come.
        self._at = self._hashed = -1
        self._hash = hasher()
        # False: not needed (a first sync; a listing told by its digest, gathered at the end
        # if that fails): nothing is gathered as it comes.
        self.wanted = True

    def feed(self, data: Raw) -> None:
        if self._hashed < 0:
            self._at = self._hashed = _bounds(data)[1]
            if self._hashed < 0:
                return
        # Everything after the header line (what a login script printed before it is not the
        # listing): the records and END.
        self._hash.update(memoryview(data)[self._hashed :])
        self._hashed = len(data)
        if not self.wanted:
            return
        end = _whole_records(data, self._at)
        self._records.update(map(b"".join, _WHOLE.findall(data, self._at, end)))
        self._at = end

    def digest(self, data: Raw) -> bytes:
        """The digest of the whole listing `data` (what was fed, grown to its end); ValueError
        for what is not a listing."""
        _span(data)
        self.feed(data)
        return self._hash.digest()

    def records(self, data: Raw) -> set[bytes]:
        """The records of the whole listing `data` (what was fed, grown to its end): the set
        `record_set(data)` gives, and its error for what is not a listing."""
        if not self.wanted:
            return record_set(data)
        _span(data)  # a listing, or ValueError
        self.feed(data)
        self._records.discard(END)
        out, self._records = self._records, set()
        return out


def record_path(record: bytes) -> str:
    """The path a raw record names (as `parse_listing` reads it)."""
    path = record[:-1].rsplit(b"\0", 1)[-1]
    return (path[2:] if path.startswith(b"./") else path).decode("utf-8", "surrogateescape")


def expected_record(path: str, entry: RemoteEntry) -> bytes:
    """The record the listers print for `path` holding `entry` (an `other` kind: a record no
    lister prints). `Baseline.pod_records` builds the same bytes in SQL."""
    return b"%s\0%s\0%s\0%s\0%s\0" % (
        _LETTERS.get(entry.kind, b""),
        b"0" if entry.kind == "dir" else b"%d" % entry.size,
        b"%o" % entry.mode,
        b"0" if entry.kind == "dir" else b"%d" % entry.mtime_s,
        (entry.target + "\0" + path).encode("utf-8", "surrogateescape"),
    )


_KINDS: dict[bytes, Kind] = {b"f": "file", b"d": "dir", b"l": "symlink"}


def parse_mtime(text: bytes) -> int:
    """Whole seconds from `1700000000.123456789` (floored, without float rounding)."""
    whole = text.split(b".", 1)[0]
    return int(whole) if whole.lstrip(b"-").isdigit() else 0


# A plan of this many paths (counting the `./` form of each) or fewer finds their records by
# searching the listing for them; more, by splitting it into fields.
_FEW = 8


def _rows_naming(body: bytes, wanted: set[bytes]) -> list[list[bytes]]:
    """The fields of the records of `body` whose path is in `wanted`, in the listing's order:
    each path searched for as a whole field, NUL-ended (C speed: a few milliseconds for 100,000
    records, where splitting them all takes tens), and kept where that field is a record's
    sixth (a symlink's target may name the same path), as told by the NULs before it. A
    record cut short at the end has no sixth field ended by a NUL."""
    hits = []
    for path in wanted:
        needle = b"\0" + path + b"\0"
        at = body.find(needle)
        while at >= 0:
            hits.append(at)
            at = body.find(needle, at + 1)
    rows = []
    nuls = counted = 0
    for at in sorted(hits):
        nuls += body.count(b"\0", counted, at + 1)  # the fields before the one after `at`
        counted = at + 1
        if nuls % 6 != 5:
            continue
        begin = at
        for _ in range(5):  # back to the end of the record before (-1: the first record)
            begin = body.rfind(b"\0", 0, begin)
        rows.append(body[begin + 1 : body.index(b"\0", at + 1)].split(b"\0"))
    return rows


def parse_listing(data: Raw, only: Collection[str] | None = None) -> Listing:
    """Parse the script's output. Records that do not parse are counted and skipped; paths that
    would escape the root (absolute, `..`) are dropped. With `only`, entries of other paths are
    left out (a plan that needs a few paths of a big tree)."""
    header, body = _split(data)
    out = Listing(python3=b" python3=1" in header)
    wanted: set[bytes] = set()
    if only is not None:
        wanted = {p.encode("utf-8", "surrogateescape") for p in only}
        wanted |= {b"./" + p for p in wanted}
    # A record is six whole fields, each ended by a NUL; anything after the last whole record
    # (fields short of six, bytes after the last NUL) is a record cut short.
    count = body.count(b"\0")
    if count % 6 or not body.endswith(b"\0") and body:
        out.malformed += 1
    rows: Iterable[list[bytes]]
    if only is not None and len(wanted) <= _FEW:
        rows = _rows_naming(body, wanted)
    else:
        fields = body.split(b"\0", 6 * (count // 6))[: 6 * (count // 6)]
        starts: Iterable[int] = range(0, len(fields), 6)
        if only is not None:
            # The records of those paths alone, found by their path field at C speed.
            starts = [6 * k for k, path in enumerate(fields[5::6]) if path in wanted]
        rows = (fields[i : i + 6] for i in starts)
    for t, size, mode, mtime, target, path in rows:
        rel = (path[2:] if path.startswith(b"./") else path).decode("utf-8", "surrogateescape")
        if not rel or rel.startswith("/") or ".." in rel.split("/") or "." in rel.split("/"):
            out.malformed += 1
            continue
        if only is not None and rel not in only:
            continue
        try:
            entry = remote_entry(
                _KINDS.get(t, "other"),
                int(size),
                parse_mtime(mtime),
                int(mode, 8),
                target.decode("utf-8", "surrogateescape"),
            )
        except ValueError:
            out.malformed += 1
            continue
        out.entries[rel] = entry
    return out
