"""A real SSH server on 127.0.0.1 that stands in for a pod's sshd.

Every `start()` picks a new free port and generates a new host key, as a RunPod pod does on every
stop/resume (its container disk, `/etc/ssh` included, is wiped). The real OpenSSH `sshd` is used
when installed; otherwise an asyncssh server in a child process stands in (`fallback_sshd`: a
process that can be killed, sessions with or without a terminal, SFTP). Set `RPDEV_REQUIRE_SSHD=1`
to make a missing `sshd` an error instead (CI does), `RPDEV_SSHD_BACKEND=asyncssh` to use the
stand-in even where `sshd` is installed (e.g. to run the suite on it).

With `private_workspace` (the demo's pods), the server runs in a private mount namespace whose
`/workspace` is the pod's own folder (rpdevd/sim/private_root.py), where the machine allows it.

Sessions see the pod's environment (`RUNPOD_TCP_PORT_22`, `RUNPOD_PUBLIC_IP`, `RUNPOD_POD_ID`, ...)
through sshd's `SetEnv`, i.e. in the session environment, the first place rpdev looks.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rpdevd.sim import private_root

log = logging.getLogger("rpdevd.sim.sshd")

SSHD_CANDIDATES = (
    "/usr/sbin/sshd",
    "/usr/local/sbin/sshd",
    "/opt/homebrew/sbin/sshd",
    "/sbin/sshd",
)


def find_sshd() -> str | None:
    """The OpenSSH server binary, or None."""
    found = shutil.which("sshd")
    if found:
        return found
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def sshd_required() -> bool:
    return os.environ.get("RPDEV_REQUIRE_SSHD", "") not in ("", "0")


BACKENDS = ("openssh", "asyncssh")


def choose_backend(asked: str | None, sshd: str | None) -> str:
    """The server a pod runs: the one asked for, else `RPDEV_SSHD_BACKEND`'s, else OpenSSH's
    sshd where installed and the asyncssh stand-in elsewhere (an error under
    `RPDEV_REQUIRE_SSHD`: the stand-in is never picked silently where sshd is required)."""
    asked = asked or os.environ.get("RPDEV_SSHD_BACKEND") or None
    if asked is not None:
        if asked not in BACKENDS:
            raise ValueError(f"unknown sshd backend {asked!r} (one of {', '.join(BACKENDS)})")
        return asked
    if sshd:
        return "openssh"
    if sshd_required():
        raise RuntimeError("RPDEV_REQUIRE_SSHD is set but OpenSSH's sshd is not installed")
    return "asyncssh"


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: str  # "ssh-ed25519 AAAA... comment"


def generate_keypair(path: Path, comment: str = "rpdev") -> KeyPair:
    """An ed25519 key pair at `path` (private) and `path.pub`; reused when it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
    return KeyPair(private=path, public=path.with_suffix(".pub").read_text().strip())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _is_zombie(pid: int) -> bool:
    """Dead and waiting for its parent to reap it (or gone): nothing left to kill."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def pod_processes(tree_file: Path) -> set[int]:
    """Processes whose environment names `tree_file` as their pod's (every session of a
    simulated pod has it in RPDEV_SIM_POD_PIDFILE, and so has whatever they start)."""
    marker = f"RPDEV_SIM_POD_PIDFILE={tree_file}".encode()
    found = set()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if marker in env:
            found.add(int(entry))
    return found


CGROUP_PARENT = "rpdev-sim"
# Set to 1 to run pods without a cgroup even where one could be made (as without root).
NO_CGROUP_ENV = "RPDEV_SIM_NO_CGROUP"


def join_cgroup(pid: int, name: str) -> Path | None:
    """Put `pid` (and so every session it forks) in a CPU-accounting cgroup of its own, as a
    container is: the activity probe then reads this pod's CPU time, not the whole machine's.
    Needs a writable cgroup filesystem (root); elsewhere the pod names its sshd in a file and the
    probe sums the CPU time of that process tree (`RPDEV_SIM_POD_PIDFILE`)."""
    for base, procs in (
        (Path("/sys/fs/cgroup"), "cgroup.procs"),
        (Path("/sys/fs/cgroup/cpuacct"), "cgroup.procs"),
    ):
        marker = "cpu.stat" if base.name == "cgroup" else "cpuacct.usage"
        if not (base / marker).exists() and not (base / "cgroup.controllers").exists():
            continue
        group = base / CGROUP_PARENT / name
        try:
            group.mkdir(parents=True, exist_ok=True)
            (group / procs).write_text(f"{pid}\n")
            return group
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
    return None


def _env_value(value: str) -> str:
    # sshd_config SetEnv takes NAME=VALUE words; quote values and refuse what cannot be quoted.
    if any(c in value for c in '"\n\r\\'):
        raise ValueError(f"unsupported character in environment value {value!r}")
    return f'"{value}"'


class PodSSHD:
    """One pod's SSH server. Not reentrant: start, (stop, start)*, stop."""

    def __init__(
        self,
        root: Path,
        *,
        authorized_keys: str,
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        backend: str | None = None,
        workspace: Path | None = None,
        private_workspace: bool = False,
    ) -> None:
        self.root = Path(root)
        # The pod's folder, and whether to show it as `/workspace` (see private_root.py).
        self.workspace = workspace
        self.private_workspace = private_workspace and workspace is not None
        # At the last start: whether `/workspace` is the pod's own, and if not, why not.
        self.workspace_private = False
        self.workspace_note = "" if self.private_workspace else "not asked for"
        self.authorized_keys = authorized_keys
        self.env: dict[str, str] = dict(env or {})
        self.host = host
        self.user = getpass.getuser()
        self.port: int | None = None
        self.host_public_key: str | None = None
        self.generation = 0
        self._proc: asyncio.subprocess.Process | None = None
        self.cgroup: Path | None = None
        sshd = find_sshd()
        backend = choose_backend(backend, sshd)
        if backend == "openssh" and not sshd:
            raise RuntimeError("OpenSSH sshd is not installed (apt-get install openssh-server)")
        self.backend = backend
        self._sshd = sshd

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def _tree_file(self) -> Path:
        return self.root / "cpu_tree.pid"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _prepare(self, port: int) -> Path:
        self.generation += 1
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        host_key = self.root / "ssh_host_ed25519_key"
        for p in (host_key, host_key.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        # A new host key on every start, as on a pod whose /etc/ssh was wiped.
        self.host_public_key = " ".join(
            generate_keypair(host_key, f"pod-gen{self.generation}").public.split()[:2]
        )
        auth = self.root / "authorized_keys"
        auth.write_text(self.authorized_keys.strip() + "\n")
        os.chmod(auth, 0o600)
        env = dict(self.env)
        # A home of the pod's own, as /root is inside a container: sessions never run this
        # machine's ~/.bashrc (whose version managers and locks are not the pod's business).
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        env.setdefault("HOME", str(home))
        env.setdefault("RUNPOD_TCP_PORT_22", str(port))
        env.setdefault("RUNPOD_PUBLIC_IP", self.host)
        # Where a pod without a cgroup of its own names its sshd (see start): the probe then
        # reads the CPU time of that process tree, not the machine's.
        env["RPDEV_SIM_POD_PIDFILE"] = str(self._tree_file)
        (self.root / "environment").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        lines = [
            f"ListenAddress {self.host}",
            f"Port {port}",
            f"HostKey {host_key}",
            f"PidFile {self.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {auth}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "PrintMotd no",
            "LogLevel ERROR",
            "MaxStartups 100:30:200",
            "MaxSessions 64",
            "AllowTcpForwarding yes",
            "Subsystem sftp internal-sftp",
        ]
        if env:
            lines.append("SetEnv " + " ".join(f"{k}={_env_value(v)}" for k, v in env.items()))
        config = self.root / "sshd_config"
        config.write_text("\n".join(lines) + "\n")
        return config

    async def start(self, port: int | None = None) -> int:
        """Start on `port` (a new free one by default) with a new host key; return the port."""
        if self.running:
            raise RuntimeError("already running")
        port = port or free_port(self.host)
        config = self._prepare(port)
        if self.backend == "openssh":
            assert self._sshd
            if os.geteuid() == 0:
                os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            cmd = [self._sshd, "-D", "-e", "-f", str(config)]
        else:
            cmd = [sys.executable, "-m", "rpdevd.sim.fallback_sshd", str(config)]
        self.port = port
        self.workspace_private = False
        if self.private_workspace:
            assert self.workspace is not None
            unshare = shutil.which("unshare")
            reason = private_root.unavailable_reason(os.geteuid(), unshare)
            if reason is None:
                assert unshare is not None
                newroot = self.root / "rootfs"  # stays empty here: the tmpfs is the namespace's
                newroot.mkdir(exist_ok=True)
                await self._launch(private_root.wrap(cmd, newroot, self.workspace, unshare))
                try:
                    await self._wait_ready()
                except RuntimeError:
                    if self._proc is None or self._proc.returncode != private_root.SETUP_FAILED:
                        raise
                    reason = self._setup_error()
                    self._proc = None
                    self._leave_cgroup()
                else:
                    self.workspace_private = True
                    self.workspace_note = ""
                    return port
            self.workspace_note = reason
        await self._launch(cmd)
        await self._wait_ready()
        return port

    def _setup_error(self) -> str:
        tail = (self.root / "sshd.log").read_text(errors="replace").splitlines()
        errors = [line for line in tail if line.startswith("rpdev-sim: no private /workspace")]
        return errors[-1].split(": ", 1)[1] if errors else "the mount namespace could not be set up"

    async def _launch(self, cmd: list[str]) -> None:
        log = open(self.root / "sshd.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        assert self._proc is not None
        self.cgroup = (
            join_cgroup(self._proc.pid, f"{self.root.name}-{os.getpid()}-{id(self):x}")
            if os.environ.get(NO_CGROUP_ENV) != "1"
            else None
        )
        if self.cgroup is None:
            self._tree_file.write_text(f"{self._proc.pid}\n")
        else:
            self._tree_file.unlink(missing_ok=True)

    async def _wait_ready(self, timeout: float = 15.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._proc is not None and self._proc.returncode is not None:
                tail = (self.root / "sshd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"sshd exited with {self._proc.returncode}: {tail}")
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), 1.0
                )
                banner = await asyncio.wait_for(reader.readline(), 2.0)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                if banner.startswith(b"SSH-"):
                    return
            except (TimeoutError, OSError):
                pass
            if loop.time() > deadline:
                raise RuntimeError(f"sshd on port {self.port} did not answer within {timeout}s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop the server and every session it serves (the whole process group)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            self._kill_sessions(None)
            self._leave_cgroup()
            return
        # Sessions run in sessions of their own (setsid): kill them too, as a stopped pod's
        # container would; otherwise a job started over SSH outlives its "pod".
        self._kill_sessions(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        self._leave_cgroup()

    def _kill_sessions(self, root_pid: int | None) -> None:
        # As a container's runtime does (it freezes the cgroup, then kills): every process is
        # stopped before any is killed, so none sees another die and acts on it (a guard whose
        # stop call dies first would log that stop as failed). Rounds until none is left: a
        # process forked while the list was read would otherwise outlive its pod.
        for _ in range(50):
            pids = self._session_pids(root_pid)
            if not pids:
                return
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, sig)
            time.sleep(0.01)
        log.warning("pod processes survive SIGKILL: %s", sorted(self._session_pids(root_pid)))

    def _session_pids(self, root_pid: int | None) -> set[int]:
        pids = set(descendants(root_pid)) if root_pid else set()
        if self.cgroup is not None:
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(x) for x in (self.cgroup / "cgroup.procs").read_text().split()}
        # A detached process (setsid, nohup: the pod-side guard) leaves the sshd's tree, and
        # without a cgroup nothing else ties it to the pod: its environment still does.
        pids |= pod_processes(self._tree_file)
        pids.discard(os.getpid())
        pids.discard(root_pid or 0)
        return {pid for pid in pids if not _is_zombie(pid)}

    def _leave_cgroup(self) -> None:
        cg, self.cgroup = self.cgroup, None
        if cg is not None:
            for _ in range(20):  # sessions may take a moment to exit
                try:
                    cg.rmdir()
                    return
                except OSError:
                    time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server and its sessions at once (a crash, a spot interruption)."""
        if self._proc is not None and self._proc.returncode is None:
            self._kill_sessions(self._proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    def ssh_args(self, identity: Path, known_hosts: Path | None = None) -> list[str]:
        """Options for the real `ssh` client to reach this server (tests, benchmarks)."""
        args = [
            "-p",
            str(self.port),
            "-i",
            str(identity),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ]
        if known_hosts is None:
            args += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        else:
            args += ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"]
        return args + [f"{self.user}@{self.host}"]
