"""The pod's listing where GNU find is missing: every entry below the working directory as one
record of six NUL-terminated fields (type, size, octal mode, mtime, symlink target, path; see
remote.py), the same bytes `find -printf` prints. Directories named on the command line are not
entered (the ignore rules' pruned names).

Not imported by rpdev: its text is sent to the pod (`remote.PY_LISTER`) and run there as
`python3 -c SOURCE [NAME...]`. Like pod_receiver.py it must run on any python3 >= 3.6 with nothing
installed: 3.6's syntax, annotations that are builtins or strings, bytes paths throughout.
"""

import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


def walk(out: "BinaryIO", d: bytes, rel: bytes, prune: "set[bytes]") -> None:
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
        if stat.S_ISDIR(m):
            if de.name not in prune:
                out.write(b"d\x000\x00%o\x000\x00\x00%s\x00" % (stat.S_IMODE(m), r))
                walk(out, de.path, r + b"/", prune)
            continue
        t = b"f" if stat.S_ISREG(m) else b"l" if stat.S_ISLNK(m) else b"o"
        tgt = os.readlink(de.path) if t == b"l" else b""
        out.write(
            b"%s\0%d\0%o\0%d\0%s\0%s\0"
            % (t, st.st_size, stat.S_IMODE(m), st.st_mtime_ns // 1000000000, tgt, r)
        )


if __name__ == "__main__":
    walk(sys.stdout.buffer, b".", b"", set(os.fsencode(a) for a in sys.argv[1:]))
