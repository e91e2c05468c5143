"""The pod's side of the tree in one round trip: a listing script, and its parser.

The script prints one record per entry, six NUL-terminated fields each: type (`f`, `d`, `l`, other
letters for the rest), size, octal mode, mtime (seconds, maybe fractional), symlink target, path.
NUL is the only byte a path cannot hold, so names with newlines or any other byte survive.
GNU `find -printf` writes it; where that is missing, `python3`; where both are, a slow but portable
loop over `find` and `stat`. The first line tells whether the pod has `python3`, which later
picks how files land.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from rpdevd.sync.model import Kind, RemoteEntry
from rpdevd.sync.podops import RECEIVER

HEADER = b"RPDEV-LIST 1"
END = b"E\0\0\0\0\0\0"  # five empty fields never occur in a real record

_PY_LISTER = """
import os, stat, sys
prune = set(os.fsencode(a) for a in sys.argv[1:])
out = sys.stdout.buffer
def walk(d, rel):
    try:
        it = list(os.scandir(d))
    except OSError:
        return
    for de in it:
        r = rel + de.name
        try:
            st = os.lstat(de.path)
        except OSError:
            continue
        m = st.st_mode
        t = "f" if stat.S_ISREG(m) else "d" if stat.S_ISDIR(m) else "l" if stat.S_ISLNK(m) else "o"
        if t == "d" and de.name in prune:
            continue
        tgt = os.readlink(de.path) if t == "l" else b""
        out.write(b"%s\\0%d\\0%o\\0%d\\0%s\\0%s\\0" % (t.encode(), st.st_size, stat.S_IMODE(m),
                  int(st.st_mtime), tgt, r))
        if t == "d":
            walk(de.path, r + b"/")
walk(b".", b"")
"""

_SH_LISTER = r"""
for f do
  if [ -h "$f" ]; then t=l; l=$(readlink -- "$f"; echo x); l=${l%?x}
  elif [ -d "$f" ]; then t=d; l=
  elif [ -f "$f" ]; then t=f; l=
  else t=o; l=
  fi
  set -- $(stat -c '%s %a %Y' -- "$f") "$@"
  printf '%s\000%s\000%s\000%s\000%s\000%s\000' "$t" "$1" "$2" "$3" "$l" "${f#./}"
  shift 3
done
"""


def _prune_expr(prune: list[str]) -> str:
    if not prune:
        return ""
    names = " -o ".join(f"-name {shlex.quote(n)}" for n in prune)
    return rf"\( -type d \( {names} \) -prune \) -o"


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
        "py=; for c in /usr/bin/python3 /usr/local/bin/python3 /opt/conda/bin/python3 "
        '"$(command -v python3 2>/dev/null)"; do [ -x "$c" ] && py=$c && break; done; '
        f'printf "{HEADER.decode()} python3=%s\\n" "${{py:+1}}"'
    )
    return "\n".join(
        [
            "umask 022",
            f"mkdir -p -- {q(root)} || exit 3",
            f"cd -- {q(root)} || exit 3",
            caps,
            f"mode={q(mode)}",
            'if [ "$mode" = auto ] || [ "$mode" = find ]; then',
            "  if find . -maxdepth 0 -printf '' >/dev/null 2>&1; then",
            f"    find . -mindepth 1 {prune_expr} -printf '%y\\0%s\\0%m\\0%T@\\0%l\\0%P\\0'",
            "    mode=done",
            "  fi",
            "fi",
            'if [ "$mode" != sh ] && [ "$mode" != done ] && [ -n "$py" ]; then',
            f'  "$py" -c {q(_PY_LISTER)} {py_args}',
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


_KINDS: dict[bytes, Kind] = {b"f": "file", b"d": "dir", b"l": "symlink"}


def parse_mtime(text: bytes) -> int:
    """Whole seconds from `1700000000.123456789` (floored, without float rounding)."""
    whole = text.split(b".", 1)[0]
    return int(whole) if whole.lstrip(b"-").isdigit() else 0


def parse_listing(data: bytes) -> Listing:
    """Parse the script's output. Records that do not parse are counted and skipped; paths that
    would escape the root (absolute, `..`) are dropped."""
    header, sep, body = data.partition(b"\n")
    if not sep or not header.startswith(HEADER):
        raise ValueError("the pod's listing did not start with the expected header")
    out = Listing()
    for word in header.split()[2:]:
        key, _, value = word.partition(b"=")
        if key == b"python3":
            out.python3 = value == b"1"
    if body.endswith(END):
        body = body[: -len(END)]
    fields = body.split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()
    if len(fields) % 6:
        out.malformed += 1
        fields = fields[: len(fields) - len(fields) % 6]
    for i in range(0, len(fields), 6):
        t, size, mode, mtime, target, path = fields[i : i + 6]
        rel = (path[2:] if path.startswith(b"./") else path).decode("utf-8", "surrogateescape")
        if not rel or rel.startswith("/") or ".." in rel.split("/") or "." in rel.split("/"):
            out.malformed += 1
            continue
        try:
            entry = RemoteEntry(
                _KINDS.get(t, "other"),
                int(size),
                parse_mtime(mtime),
                int(mode, 8) & 0o777,
                target.decode("utf-8", "surrogateescape"),
            )
        except ValueError:
            out.malformed += 1
            continue
        out.entries[rel] = entry
    return out
