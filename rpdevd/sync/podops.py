"""Applying a batch of ops on the pod in one go: a small Python program run there after the tar
stream has landed in a staging directory.

It re-checks every path just before acting on it (compare-and-swap against what the plan
expected), so a pod file edited after the listing is still kept as a conflict copy rather than
overwritten. Files land by `rename` from the staging directory: a partly written file is never
visible under its final name. It reports what each path holds afterwards, which becomes the
baseline.
"""

from __future__ import annotations

import os

from rpdevd.sync.model import Kind, RemoteEntry
from rpdevd.sync.plan import Op

# Runs on the pod with any python3 >= 3.6: plain, no dependencies, bytes paths throughout.
MOVER = r"""
import os, shutil, stat, sys, time
S = os.fsencode(sys.argv[1])
f = open(os.path.join(S, b"manifest"), "rb").read().split(b"\0")
out = sys.stdout.buffer
stamp = time.strftime("%Y%m%d-%H%M%S").encode()
def look(p):
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return None
    m = st.st_mode
    k = b"f" if stat.S_ISREG(m) else b"d" if stat.S_ISDIR(m) else b"l" if stat.S_ISLNK(m) else b"o"
    return (k, st.st_size, int(st.st_mtime), stat.S_IMODE(m), os.readlink(p) if k == b"l" else b"")
def same(cur, e):
    if cur is None or e[0] == b"-" or cur[0] != e[0]:
        return False
    if e[0] == b"d":
        return True
    if e[0] == b"l":
        return cur[4] == e[3]
    return cur[1] == int(e[1]) and cur[2] == int(e[2])
def copy_name(p):
    base = p + b".rpdev-conflict-" + stamp
    name, n = base, 1
    while os.path.lexists(name):
        n += 1
        name = base + b"-" + str(n).encode()
    os.rename(p, name)
    return name
def clear(p, e, unlink_ours):
    cur = look(p)
    if cur is None:
        return b""
    if same(cur, e):
        if cur[0] == b"d":
            try:
                os.rmdir(p)
                return b""
            except OSError:
                pass
        else:
            if unlink_ours:
                os.unlink(p)
            return b""
    if cur[0] == b"d" and e[0] == b"-" and unlink_ours:
        return b"="
    return copy_name(p)
def rep(tag, p, info=b""):
    c = look(p) or (b"-", 0, 0, 0, b"")
    out.write(b"\0".join([tag, p, c[0], str(c[1]).encode(), str(c[2]).encode(),
                          str(c[3]).encode(), c[4], info]) + b"\0")
N = 15
for i in range(0, len(f) - N + 1, N):
    op, p, src, sname, mode, mtime, tgt = f[i:i + 7]
    e, se = f[i + 7:i + 11], f[i + 11:i + 15]
    mode, mtime = int(mode, 8), int(mtime)
    try:
        if op == b"K":
            c = clear(p, e, True)
            if c != b"=":
                os.mkdir(p, mode)
            os.chmod(p, mode)
            rep(b"ok", p, c.lstrip(b"="))
        elif op == b"P":
            st = os.path.join(S, sname)
            os.chmod(st, mode)
            os.utime(st, (mtime, mtime))
            c = clear(p, e, False)
            os.rename(st, p)
            rep(b"ok", p, c)
        elif op == b"L":
            tmp = p + b".rpdev-tmp-" + sname
            os.symlink(tgt, tmp)
            c = clear(p, e, False)
            os.rename(tmp, p)
            rep(b"ok", p, c)
        elif op == b"M":
            if not same(look(src), se):
                rep(b"failed", p, b"the source changed on the pod")
                continue
            c = clear(p, e, False)
            os.rename(src, p)
            os.chmod(p, mode)
            rep(b"ok", p, c)
        elif op == b"C":
            if same(look(p), e):
                os.chmod(p, mode)
                rep(b"ok", p)
            else:
                rep(b"kept", p, b"changed on the pod")
        elif op == b"D":
            if same(look(p), e):
                os.unlink(p)
                rep(b"ok", p)
            else:
                rep(b"kept", p, b"changed on the pod")
        elif op == b"R":
            try:
                os.rmdir(p)
                rep(b"ok", p)
            except FileNotFoundError:
                rep(b"ok", p)
            except OSError:
                rep(b"kept", p, b"not empty: holds files rpdev did not write")
        elif op == b"X":
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.lexists(p):
                os.unlink(p)
            rep(b"ok", p)
    except OSError as exc:
        rep(b"failed", p, str(exc).encode("utf-8", "replace"))
shutil.rmtree(S, ignore_errors=True)
"""

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
    """NUL-separated records of 15 fields, one per op, in order."""
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
            os.fsencode(lo.target if lo else ""),
            *_expect(op.expect),
            *_expect(op.src_expect),
        ]
    return b"\0".join(parts) + b"\0" if parts else b""


def parse_results(data: bytes) -> list[tuple[str, str, RemoteEntry | None, str]]:
    """(status, path, what the path holds now or None, info) per op the mover reached."""
    fields = data.split(b"\0")
    out = []
    for i in range(0, len(fields) - 7, 8):
        tag, p, k, size, mtime, mode, tgt, info = fields[i : i + 8]
        entry = None
        if k != b"-":
            entry = RemoteEntry(
                _LETTER_KIND.get(k, "other"),
                int(size),
                int(mtime),
                int(mode) & 0o777,
                os.fsdecode(tgt),
            )
        out.append((tag.decode(), os.fsdecode(p), entry, os.fsdecode(info)))
    return out
