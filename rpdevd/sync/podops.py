"""Applying a batch of ops on the pod in one go: a small Python program run there that reads the
bulk stream (see bulkstream.py) from stdin and acts on each op as soon as its bytes are in.

It re-checks every path just before acting on it (compare-and-swap against what the plan
expected), so a pod file edited after the listing is still kept as a conflict copy rather than
overwritten. A file is written under a staging directory and lands by `rename`: a partly written
file is never visible under its final name. It reports what each path holds afterwards, which
becomes the baseline.
"""

from __future__ import annotations

import os

from rpdevd.sync.model import Kind, RemoteEntry, remote_entry
from rpdevd.sync.plan import Op

# Runs on the pod with any python3 >= 3.6: plain, no dependencies, bytes paths throughout.
RECEIVER = r"""
import os, shutil, stat, sys, time
S = os.fsencode(sys.argv[1])
os.mkdir(S, 0o700)
out = sys.stdout.buffer
stamp = time.strftime("%Y%m%d-%H%M%S").encode()
B = bytearray(1 << 20)  # the stream's read buffer: data is B[lo:hi]
V = memoryview(B)
lo = hi = 0
SPLICE = getattr(os, "splice", None)  # python >= 3.10: file bodies go pipe -> file in the kernel
try:
    import fcntl
    fcntl.fcntl(0, 1031, 1 << 20)  # F_SETPIPE_SZ: fewer, larger reads
except (ImportError, OSError):
    pass
def fill():
    global lo, hi
    if lo == hi:
        lo = hi = 0
    elif hi == len(B):
        n = hi - lo
        B[:n] = B[lo:hi]
        lo, hi = 0, n
    k = os.readv(0, [V[hi:]])
    if not k:
        raise EOFError
    hi += k
def line():
    global lo
    while True:
        i = B.find(b"\n", lo, hi)
        if i >= 0:
            s, lo = bytes(B[lo:i]), i + 1
            return s
        if hi - lo == len(B):
            raise EOFError
        fill()
def write_all(fd, view):
    while view:
        view = view[os.write(fd, view):]
def copy(fd, n):
    # The next n bytes of the stream into fd; all of them are consumed even if writing fails.
    global lo, SPLICE
    err = None if fd >= 0 else OSError("no staging file")
    while n:
        if lo == hi and SPLICE is not None and err is None and n >= 1 << 16:
            try:
                k = SPLICE(0, fd, n)
            except OSError as exc:
                if exc.errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: no splice here
                    SPLICE = None
                else:
                    err = exc  # e.g. the disk is full: the rest is read and dropped
                continue
            if not k:
                raise EOFError
            n -= k
            continue
        if lo == hi:
            fill()
        k = min(n, hi - lo)
        if err is None:
            try:
                write_all(fd, V[lo:lo + k])
            except OSError as exc:
                err = exc
        lo += k
        n -= k
    return err
def take(n):
    global lo
    r = bytearray()
    while len(r) < n:
        if lo == hi:
            fill()
        k = min(n - len(r), hi - lo)
        r += V[lo:lo + k]
        lo += k
    return bytes(r)
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
class OutOfStep(Exception):
    pass
class Dropped(Exception):
    pass
def receive(st, h, sname):
    # The next file of the stream into the staging file st; all its bytes are consumed even
    # when writing fails, and a failed staging file is removed at once (a full disk must not
    # stay full for the rest of the batch). The line after the bytes must be `=sname`, or
    # `!sname` when the sender could not read the file to the end (dropped): anything else
    # means the stream is out of step, and nothing more of it is trusted.
    # A fourth field: a sparse file, sent as that many data extents (each `offset length`,
    # then its bytes); written at their offsets, the holes between stay holes.
    h = h.split(b" ")
    size, mode, mtime = int(h[0]), int(h[1], 8), int(h[2])
    extents = int(h[3]) if len(h) > 3 else -1
    try:
        fd = os.open(st, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        fd, err = -1, exc
    else:
        err = None
    if extents < 0:
        failed = copy(fd if err is None else -1, size)
        err = err or failed
    else:
        for _ in range(extents):
            off, n = line().split(b" ")
            if err is None:
                try:
                    os.lseek(fd, int(off), 0)
                except OSError as exc:
                    err = exc
            failed = copy(fd if err is None else -1, int(n))
            err = err or failed
        if err is None:
            try:
                os.ftruncate(fd, size)
            except OSError as exc:
                err = exc
    try:
        end = line()
        if end == b"!" + sname:
            err = Dropped()
        elif end != b"=" + sname:
            err = OutOfStep()
        elif err is None:
            os.fchmod(fd, mode)
            os.utime(fd, (mtime, mtime))
    except OSError as exc:
        err = exc
    finally:
        if fd >= 0:
            os.close(fd)
    if err is not None:
        try:
            os.unlink(st)
        except OSError:
            pass
        raise err
def apply(op, p, src, sname, mode, tgt, e, se):
    if op == b"K":
        c = clear(p, e, True)
        if c != b"=":
            os.mkdir(p, mode)
        os.chmod(p, mode)
        rep(b"ok", p, c.lstrip(b"="))
    elif op == b"P":
        h = line()
        if h == b"-":
            return  # not read locally (gone, or unreadable: the sender reports that)
        st = os.path.join(S, sname)
        try:
            receive(st, h, sname)
        except Dropped:
            return  # unreadable where it was sent from: the sender reports it
        c = clear(p, e, False)
        os.rename(st, p)
        rep(b"ok", p, c)  # what the file system kept (some round mtimes or ignore modes)
    elif op == b"L":
        tmp = p + b".rpdev-tmp-" + sname
        os.symlink(tgt, tmp)
        c = clear(p, e, False)
        os.rename(tmp, p)
        rep(b"ok", p, c)
    elif op == b"M":
        if not same(look(src), se):
            rep(b"failed", p, b"the source changed on the pod")
            return
        c = clear(p, e, False)
        os.rename(src, p)
        os.chmod(p, mode)
        rep(b"ok", p, c)
    elif op in (b"C", b"D"):
        if not same(look(p), e):
            rep(b"kept", p, b"changed on the pod")
        elif op == b"C":
            os.chmod(p, mode)
            rep(b"ok", p)
        else:
            os.unlink(p)
            rep(b"ok", p)
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
N = 16
try:
    f = take(int(line())).split(b"\0")
    for i in range(0, len(f) - N + 1, N):
        op, p, src, sname, mode, mtime, size, tgt = f[i:i + 8]
        try:
            apply(op, p, src, sname, int(mode, 8), tgt, f[i + 8:i + 12], f[i + 12:i + 16])
        except OSError as exc:
            rep(b"failed", p, str(exc).encode("utf-8", "replace"))
except EOFError:
    sys.exit(4)  # the stream broke: what landed is reported, the rest is not
except OutOfStep:
    sys.exit(5)  # a file's bytes did not end where its frame said: the rest is not trusted
finally:
    shutil.rmtree(S, ignore_errors=True)
    try:
        out.flush()
    except OSError:
        pass
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
