"""The pod's side of a bulk batch: applies the ops of the bulk stream (bulkstream.py) as soon as
each one's bytes are in, and reports what every path holds afterwards (podops.parse_results).

Not imported by rpdev: its text is sent to the pod (`podops.RECEIVER`) and run there as
`python3 -c SOURCE STAGE`, stdin the stream, stdout the results, the remote root the working
directory. It must run on any python3 >= 3.6 with nothing installed, so it keeps to 3.6's syntax
(no f-string `=`, no walrus, no `from __future__ import annotations`), its annotations are
builtins or strings (typing is read by the type checker only), and paths are bytes throughout.

It re-checks every path just before acting on it (compare-and-swap against what the plan
expected), so a pod file edited after the listing is kept as a conflict copy rather than
overwritten. A file is written under the staging directory STAGE and lands by `rename`: a partly
written file is never visible under its final name.

The manifest: NUL-separated records of 16 fields (podops.encode_manifest): code, path, move
source, stage name, octal mode, mtime, size, symlink target, then what is expected at the path and
at the move source (kind, size, mtime, target each). Exit 4: the stream broke; 5: it went out of
step. Either way what landed is reported, the rest is not.
"""

import os
import shutil
import stat
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    # What a path holds: kind letter (f d l o), size, mtime (whole seconds), mode, link target.
    Entry = tuple[bytes, int, int, int, bytes]

FIELDS = 16  # per op in the manifest
F_SETPIPE_SZ = 1031
NO_SPLICE = (22, 38, 95)  # EINVAL, ENOSYS, EOPNOTSUPP: splice does not work here


class OutOfStep(Exception):
    """A file's bytes did not end where its frame said: nothing more of the stream is trusted."""


class Dropped(Exception):
    """The sender could not read the file to the end: it reports that path itself."""


class Stream:
    """The stream on stdin, read through one buffer: the unread data is buf[lo:hi]."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray(1 << 20)
        self.view = memoryview(self.buf)
        self.lo = self.hi = 0
        # python >= 3.10: file bodies go pipe -> file inside the kernel.
        self.splice = getattr(os, "splice", None)
        try:
            import fcntl

            fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)  # fewer, larger reads
        except (ImportError, OSError):
            pass

    def fill(self) -> None:
        if self.lo == self.hi:
            self.lo = self.hi = 0
        elif self.hi == len(self.buf):
            n = self.hi - self.lo
            self.buf[:n] = self.buf[self.lo : self.hi]
            self.lo, self.hi = 0, n
        k = os.readv(self.fd, [self.view[self.hi :]])
        if not k:
            raise EOFError
        self.hi += k

    def line(self) -> bytes:
        while True:
            i = self.buf.find(b"\n", self.lo, self.hi)
            if i >= 0:
                s, self.lo = bytes(self.buf[self.lo : i]), i + 1
                return s
            if self.hi - self.lo == len(self.buf):
                raise EOFError
            self.fill()

    def take(self, n: int) -> bytes:
        r = bytearray()
        while len(r) < n:
            if self.lo == self.hi:
                self.fill()
            k = min(n - len(r), self.hi - self.lo)
            r += self.view[self.lo : self.lo + k]
            self.lo += k
        return bytes(r)

    def copy(self, fd: int, n: int) -> "OSError | None":
        """The next n bytes of the stream into fd (-1: nowhere); all of them are consumed even
        if writing fails. The first error, if any."""
        lo = self.lo
        if fd >= 0 and self.hi - lo >= n:  # all in the buffer (a small file): one write
            self.lo = lo + n
            try:
                write_all(fd, self.view[lo : lo + n])
            except OSError as exc:
                return exc
            return None
        err = None if fd >= 0 else OSError("no staging file")
        while n:
            if self.lo == self.hi and self.splice is not None and err is None and n >= 1 << 16:
                try:
                    k = self.splice(self.fd, fd, n)
                except OSError as exc:
                    if exc.errno in NO_SPLICE:
                        self.splice = None
                    else:
                        err = exc  # e.g. the disk is full: the rest is read and dropped
                    continue
                if not k:
                    raise EOFError
                n -= k
                continue
            if self.lo == self.hi:
                self.fill()
            k = min(n, self.hi - self.lo)
            if err is None:
                try:
                    write_all(fd, self.view[self.lo : self.lo + k])
                except OSError as exc:
                    err = exc
            self.lo += k
            n -= k
        return err


def write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def look(p: bytes) -> "Entry | None":
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return None
    m = st.st_mode
    if stat.S_ISREG(m):
        k = b"f"
    elif stat.S_ISDIR(m):
        k = b"d"
    elif stat.S_ISLNK(m):
        k = b"l"
    else:
        k = b"o"
    target = os.readlink(p) if k == b"l" else b""
    return (k, st.st_size, int(st.st_mtime), stat.S_IMODE(m), target)


def same(cur: "Entry | None", e: "list[bytes]") -> bool:
    """`cur` is what the plan expected (`e`: kind, size, mtime, target; kind `-`: nothing)."""
    if cur is None or e[0] == b"-" or cur[0] != e[0]:
        return False
    if e[0] == b"d":
        return True
    if e[0] == b"l":
        return cur[4] == e[3]
    return cur[1] == int(e[1]) and cur[2] == int(e[2])


class Receiver:
    def __init__(self, stage: bytes, stream: "Stream", out: "BinaryIO") -> None:
        self.stage = stage
        self.stream = stream
        self.out = out
        self.stamp = time.strftime("%Y%m%d-%H%M%S").encode()

    def copy_name(self, p: bytes) -> bytes:
        base = p + b".rpdev-conflict-" + self.stamp
        name, n = base, 1
        while os.path.lexists(name):
            n += 1
            name = base + b"-" + str(n).encode()
        os.rename(p, name)
        return name

    def clear(self, p: bytes, e: "list[bytes]", unlink_ours: bool) -> bytes:
        """Make way at p: what rpdev left there goes (or stays, to be replaced by rename);
        anything else is kept as a conflict copy, whose name is returned. `=`: p is a
        directory to keep as it is."""
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
        return self.copy_name(p)

    def rep(self, tag: bytes, p: bytes, info: bytes = b"", c: "Entry | None" = None) -> None:
        """One result: what p holds now (`c` when the caller already knows it)."""
        c = c or look(p) or (b"-", 0, 0, 0, b"")
        self.out.write(
            b"%s\0%s\0%s\0%d\0%d\0%d\0%s\0%s\0" % (tag, p, c[0], c[1], c[2], c[3], c[4], info)
        )

    def receive(self, st: bytes, h: bytes, sname: bytes) -> "Entry":
        """The next file of the stream into the staging file st; all its bytes are consumed
        even when writing fails, and a failed staging file is removed at once (a full disk must
        not stay full for the rest of the batch). The line after the bytes must be `=sname`, or
        `!sname` when the sender could not read the file to the end (dropped): anything else
        means the stream is out of step, and nothing more of it is trusted.
        A fourth header field: a sparse file, sent as that many data extents (each `offset
        length`, then its bytes); written at their offsets, the holes between stay holes."""
        stream = self.stream
        head = h.split(b" ")
        size, mode, mtime = int(head[0]), int(head[1], 8), int(head[2])
        extents = int(head[3]) if len(head) > 3 else -1
        err: Exception | None = None  # a local annotation: never evaluated
        try:
            # Created with its final mode (the umask is 0 here): no chmod after.
            fd = os.open(st, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as exc:
            fd, err = -1, exc
        if extents < 0:
            failed = stream.copy(fd if err is None else -1, size)
            err = err or failed
        else:
            for _ in range(extents):
                off, n = stream.line().split(b" ")
                if err is None:
                    try:
                        os.lseek(fd, int(off), 0)
                    except OSError as exc:
                        err = exc
                failed = stream.copy(fd if err is None else -1, int(n))
                err = err or failed
            if err is None:
                try:
                    os.ftruncate(fd, size)
                except OSError as exc:
                    err = exc
        try:
            end = stream.line()
            if end == b"!" + sname:
                err = Dropped()
            elif end != b"=" + sname:
                err = OutOfStep()
            elif err is None:
                os.utime(fd, (mtime, mtime))
                done = os.fstat(fd)  # what the file system kept; a rename changes none of it
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
        return (b"f", done.st_size, int(done.st_mtime), stat.S_IMODE(done.st_mode), b"")

    def apply(
        self,
        op: bytes,
        p: bytes,
        src: bytes,
        sname: bytes,
        mode: int,
        tgt: bytes,
        e: "list[bytes]",
        se: "list[bytes]",
    ) -> None:
        if op == b"K":
            self.mkdir(p, mode, e)
        elif op == b"P":
            self.put(p, sname, e)
        elif op == b"L":
            self.link(p, sname, tgt, e)
        elif op == b"M":
            self.move(p, src, mode, e, se)
        elif op in (b"C", b"D"):
            self.change(op, p, mode, e)
        elif op == b"R":
            self.rmdir(p)
        elif op == b"X":
            self.clean(p)

    def mkdir(self, p: bytes, mode: int, e: "list[bytes]") -> None:
        c = self.clear(p, e, True)
        if c != b"=":
            os.mkdir(p, mode)
        os.chmod(p, mode)
        self.rep(b"ok", p, c.lstrip(b"="))

    def put(self, p: bytes, sname: bytes, e: "list[bytes]") -> None:
        h = self.stream.line()
        if h == b"-":
            return  # not read locally (gone, or unreadable: the sender reports that)
        st = self.stage + b"/" + sname
        try:
            done = self.receive(st, h, sname)
        except Dropped:
            return  # unreadable where it was sent from: the sender reports it
        c = self.clear(p, e, False)
        os.rename(st, p)
        self.rep(b"ok", p, c, done)  # what the file system kept (some round mtimes or modes)

    def link(self, p: bytes, sname: bytes, tgt: bytes, e: "list[bytes]") -> None:
        tmp = p + b".rpdev-tmp-" + sname
        os.symlink(tgt, tmp)
        c = self.clear(p, e, False)
        os.rename(tmp, p)
        self.rep(b"ok", p, c)

    def move(self, p: bytes, src: bytes, mode: int, e: "list[bytes]", se: "list[bytes]") -> None:
        if not same(look(src), se):
            self.rep(b"failed", p, b"the source changed on the pod")
            return
        c = self.clear(p, e, False)
        os.rename(src, p)
        os.chmod(p, mode)
        self.rep(b"ok", p, c)

    def change(self, op: bytes, p: bytes, mode: int, e: "list[bytes]") -> None:
        """A chmod (C) or a delete (D) of a file rpdev wrote, if it is still as rpdev left it."""
        if not same(look(p), e):
            self.rep(b"kept", p, b"changed on the pod")
        elif op == b"C":
            os.chmod(p, mode)
            self.rep(b"ok", p)
        else:
            os.unlink(p)
            self.rep(b"ok", p)

    def rmdir(self, p: bytes) -> None:
        try:
            os.rmdir(p)
            self.rep(b"ok", p)
        except FileNotFoundError:
            self.rep(b"ok", p)
        except OSError:
            self.rep(b"kept", p, b"not empty: holds files rpdev did not write")

    def clean(self, p: bytes) -> None:
        """A leftover of rpdev's own (a staging directory, a temporary name): removed."""
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.lexists(p):
            os.unlink(p)
        self.rep(b"ok", p)

    def run(self) -> None:
        f = self.stream.take(int(self.stream.line())).split(b"\0")
        for i in range(0, len(f) - FIELDS + 1, FIELDS):
            op, p, src, sname, mode, _mtime, _size, tgt = f[i : i + 8]
            try:
                e, se = f[i + 8 : i + 12], f[i + 12 : i + 16]
                self.apply(op, p, src, sname, int(mode, 8), tgt, e, se)
            except OSError as exc:
                self.rep(b"failed", p, str(exc).encode("utf-8", "replace"))


def main(argv: "list[str]") -> int:
    stage = os.fsencode(argv[1])
    os.umask(0)  # files are created with their final mode; directories are chmod-ed anyway
    os.mkdir(stage, 0o700)
    # Results in 64 KiB writes, even where PYTHONUNBUFFERED is set (many images set it): one
    # write per op cost a system call per file.
    out = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    try:
        Receiver(stage, Stream(0), out).run()
    except EOFError:
        return 4  # the stream broke: what landed is reported, the rest is not
    except OutOfStep:
        return 5  # a file's bytes did not end where its frame said: the rest is not trusted
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        try:
            out.flush()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
