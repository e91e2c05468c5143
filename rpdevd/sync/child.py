"""A child process with its three standard streams piped, spawned with nothing but `os`.

Its own module so that both the `ssh` session (`sshproc`) and its asyncio surface (`sshpipe`)
can use it without importing each other; it costs no more to import than `os` itself."""

from __future__ import annotations

import _thread
import os


class Child:
    """A process with its three standard streams piped: the part of `subprocess.Popen` that
    rpdev uses, on `os.posix_spawn`, so spawning needs nothing but `os` (subprocess alone
    pulls in `re`, `locale`, `threading` and more). Its own session, so a Ctrl-C reaches rpdev,
    which closes the session itself."""

    def __init__(self, argv: list[str]) -> None:
        ends = [os.pipe(), os.pipe(), os.pipe()]  # close-on-exec, except where dup'ed to 0-2
        child = [ends[0][0], ends[1][1], ends[2][1]]
        actions = [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(child)]
        try:
            try:
                self.pid = os.posix_spawn(
                    argv[0], argv, os.environ, file_actions=actions, setsid=True
                )
            except NotImplementedError:  # no POSIX_SPAWN_SETSID: a process group of its own
                self.pid = os.posix_spawn(
                    argv[0], argv, os.environ, file_actions=actions, setpgroup=0
                )
        except BaseException:
            for r, w in ends:
                os.close(r)
                os.close(w)
            raise
        for fd in child:
            os.close(fd)
        self.stdin = open(ends[0][1], "wb", buffering=0)  # noqa: SIM115 - closed by close()
        self.stdout = open(ends[1][0], "rb", buffering=0)  # noqa: SIM115
        self.stderr = open(ends[2][0], "rb", buffering=0)  # noqa: SIM115
        self.returncode: int | None = None
        self._lock = _thread.allocate_lock()

    def _reap(self, flags: int) -> int | None:
        # One waitpid at a time (a wait() in a thread, a poll() from the loop), as Popen does.
        if not self._lock.acquire(blocking=not flags & os.WNOHANG):
            return None
        try:
            if self.returncode is None:
                pid, status = os.waitpid(self.pid, flags)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            self.returncode = self.returncode if self.returncode is not None else -1
        finally:
            self._lock.release()
        return self.returncode

    def poll(self) -> int | None:
        return self._reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code; with `timeout`, None when it has not exited by then."""
        if timeout is None:
            return self._reap(0)
        import time

        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.returncode

    def signal(self, signum: int) -> None:
        """Signal its process group (itself and whatever it started, e.g. a ProxyCommand):
        while it is unreaped, its group id cannot be reused."""
        if self.poll() is None:
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Kill it (if it still runs), reap it, close the pipes."""
        self.signal(9)
        self.wait()
        for f in (self.stdin, self.stdout, self.stderr):
            f.close()
