"""`rpdev demo`: the real daemon and TUI against a simulated RunPod on this machine.

Everything lives in one private directory (HOME, XDG dirs, socket, SSH key, config): the user's
real `~/.ssh/config`, keyring and daemon are never touched. The simulated pods are real local SSH
servers, so `ssh <pod>.runpod` works from another shell (the demo prints how, and the TUI shows
it while it covers the terminal). Each pod sees its own folder as `/workspace` where this machine
allows it (root and `unshare`: rpdevd/sim/private_root.py); elsewhere the hint names the folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rpdevd.commands._common import fail
from rpdevd.views import StatusView, read

# What points `rpdev` in another shell at the demo (its daemon's socket, config and state).
SHELL_KEYS = ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")

DEMO_CONFIG = """\
# The demo's config: the same format as ~/.config/rpdev/config.toml
poll_interval = "2s"
probe_interval = "5s"

[[pod]]
name = "trainer"
policy = "idle-stop"
idle_timeout = "3m"
warn_before = "1m"

[[pod]]
name = "notebook"
policy = "idle-stop"
idle_timeout = "10m"
wake_on_connect = true

[[pod]]
name = "spot-runner"
policy = "keep-alive"

[[pod]]
name = "archive"
policy = "manual"

[ssh]
identity_file = "{key}"
user = "{user}"
install_include = true

[[sync]]
pod = "trainer"
local = "{project}"
remote = "/workspace/project"
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="try everything against a simulated RunPod on this machine")
    p.add_argument("--dir", type=Path, help="keep the demo's files here (default: a temp dir)")
    p.add_argument("--no-tui", action="store_true", help="print the live status instead")
    p.add_argument(
        "--check",
        action="store_true",
        help="start everything, show that it works, stop (non-interactive)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="with --no-tui: stop after this many seconds (default: until Ctrl-C)",
    )
    p.set_defaults(func=_demo)


class Demo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.env_file = root / "env.sh"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {}
        # A fresh key per run, handed over in the environment (never on a command line): the
        # simulated account accepts SSH keys from whoever holds it.
        import secrets

        self.api_key = secrets.token_hex(24)

    def prepare(self) -> None:
        import getpass

        from rpdevd.sim.sshd import generate_keypair

        for sub in ("", ".ssh", ".config/rpdev", ".local/state", "run", "project", "sim"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.home / "run", 0o700)
        os.chmod(self.home / ".ssh", 0o700)
        key = generate_keypair(self.home / ".ssh" / "id_ed25519", "rpdev-demo")
        (self.root / "pubkey").write_text(key.public + "\n")
        project = self.home / "project"
        if not (project / "train.py").exists():
            (project / "train.py").write_text(
                "# edit me: rpdev syncs every save to /workspace/project on the pod\n"
                "print('training...')\n"
            )
            (project / ".gitignore").write_text("checkpoints/\n*.pt\n")
        (self.home / ".config/rpdev/config.toml").write_text(
            DEMO_CONFIG.format(
                key=self.home / ".ssh" / "id_ed25519", user=getpass.getuser(), project=project
            )
        )
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_STATE_HOME": str(self.home / ".local/state"),
            "XDG_RUNTIME_DIR": str(self.home / "run"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "RUNPOD_API_KEY": self.api_key,
            "RPDEV_SIM_API_KEY": self.api_key,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        # What another shell needs to reach this demo's daemon: one line to source.
        self.env_file.write_text(
            "# rpdev demo: `. this-file` in another shell points rpdev at the demo\n"
            + "export "
            + " ".join(f"{k}={shlex.quote(self.env[k])}" for k in SHELL_KEYS)
            + "\n"
        )

    def start_sim(self, timeout: float = 60) -> str:
        port_file = self.root / "sim.url"
        port_file.unlink(missing_ok=True)
        log = open(self.root / "sim.log", "ab")  # noqa: SIM115 - handed to the child
        self.procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rpdevd.sim",
                    "serve",
                    "--root",
                    str(self.root / "sim"),
                    "--pubkey-file",
                    str(self.root / "pubkey"),
                    "--demo",
                    "--private-workspace",
                    "--port-file",
                    str(port_file),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                start_new_session=True,
            )
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[-1].poll() is not None:
                raise RuntimeError(
                    "the simulated RunPod exited: "
                    + (self.root / "sim.log").read_text(errors="replace")[-2000:]
                )
            if port_file.exists() and port_file.read_text().strip():
                url = f"http://127.0.0.1:{int(port_file.read_text().strip())}"
                self.env["RUNPOD_API_BASE_URL"] = url
                return url
            time.sleep(0.1)
        raise RuntimeError("the simulated RunPod did not start within 60s")

    def start_daemon(self) -> None:
        os.environ.update(self.env)  # this process now talks to the demo's socket
        from rpdevd.commands.daemon import start_daemon

        if start_daemon(30, quiet=True) != 0:
            raise RuntimeError("the demo daemon did not start")

    def stop(self) -> None:
        """Stop the daemon (asked first, then signalled), then the simulator: nothing of the
        demo outlives it."""
        from rpdevd.client import Client, DaemonNotRunning
        from rpdevd.commands.daemon import STARTED

        with contextlib.suppress(DaemonNotRunning, OSError, Exception):
            with Client(timeout=5) as c:
                c.call("shutdown")
        for proc in STARTED:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)  # it closes its pods' connections first
        for proc in [*STARTED, *self.procs]:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def pods_state(self) -> list[dict[str, Any]]:
        """The simulator's own view of its pods (port, folder, whether /workspace is private)."""
        from rpdevd.sim.client import SimControlError, control

        url = self.env.get("RUNPOD_API_BASE_URL")
        if not url:
            return []
        try:
            state = control(url, self.api_key, "state", timeout=10)
        except (SimControlError, OSError):
            return []
        return list(state.get("pods", [])) if isinstance(state, dict) else []

    def shell_hint(self) -> str:
        # ssh reads ~/.ssh/config from the passwd entry, not $HOME: name the demo's file.
        return (
            f"to use the demo from another shell:\n  . {shlex.quote(str(self.env_file))}\n"
            f"  rpdev status; ssh -F {shlex.quote(str(self.home / '.ssh' / 'config'))} "
            "trainer.runpod" + workspace_hint(self.pods_state())
        )


def workspace_hint(pods: list[dict[str, Any]]) -> str:
    """Where /workspace is not a pod's own (no root, no `unshare`): say so, and name the folder
    to use instead (`rpdev sync once` to /workspace/x would write to this machine's /)."""
    running = [p for p in pods if p.get("status") == "RUNNING" and p.get("sshd")]
    shared = [p for p in running if not p.get("private_workspace")]
    if not shared:
        return ""
    pod = next((p for p in shared if p.get("name") == "trainer"), shared[0])
    return (
        f"\n  /workspace on the demo's pods is this machine's, not theirs"
        f" ({pod.get('workspace_note') or 'not possible here'}):"
        f" {pod.get('name')}'s folder is {shlex.quote(str(pod.get('workspace')))}"
    )


def _wait_for_pods(timeout: float) -> StatusView:
    from rpdevd.client import call

    deadline = time.monotonic() + timeout
    status = read(StatusView, {})
    while time.monotonic() < deadline:
        status = read(StatusView, call("status", timeout=10))
        pods = status["pods"]
        if pods and all(p["status"] != "RUNNING" or p["ssh_host"] for p in pods):
            return status
        time.sleep(0.5)
    return status


def _print_status() -> None:
    from rpdevd.client import call
    from rpdevd.commands.status import render_status

    render_status(call("status", timeout=10))


def _demo(a: argparse.Namespace) -> int:
    root = a.dir or Path(tempfile.mkdtemp(prefix="rpdev-demo-"))
    root = root.resolve()
    demo = Demo(root)
    print(f"rpdev demo: a simulated RunPod and a private daemon in {root}")

    def hang_up(signum: int, frame: object) -> None:
        # A closed terminal or a kill: clean up like Ctrl-C, with nowhere left to print to.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
        raise KeyboardInterrupt

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, hang_up)
    try:
        demo.prepare()
        print("  starting the simulated RunPod (each pod is a real local SSH server)...")
        demo.start_sim()
        print("  starting the daemon...")
        demo.start_daemon()
        if a.check:
            return _check(demo)
        if not a.no_tui:
            import importlib

            try:
                tui_command: Any = importlib.import_module("rpdevd.commands.tui")
            except ImportError:
                tui_command = None
            if tui_command is not None:
                hint = demo.shell_hint()
                print(hint)  # on the terminal again once the TUI ends
                # The TUI covers the terminal: it shows the hint itself (at start, and on `?`).
                return int(tui_command.run_tui(start_offer=False, notice=hint))
        hint = demo.shell_hint()
        deadline = time.monotonic() + a.seconds if a.seconds else None
        while deadline is None or time.monotonic() < deadline:
            print("\033[2J\033[H" if sys.stdout.isatty() else "", end="")
            print(time.strftime("%H:%M:%S"), "rpdev demo (Ctrl-C to stop)\n")
            _print_status()
            print(f"\n{hint}")
            time.sleep(2)
        return 0
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - the daemon died, the sim failed: say so, clean up
        from rpdevd.client import DaemonNotRunning
        from rpdevd.protocol import RemoteError

        if not isinstance(exc, RuntimeError | DaemonNotRunning | RemoteError | OSError):
            raise
        return fail(str(exc), f"files are in {root}")
    finally:
        # A second signal (a closing terminal sends more than one; `timeout` forwards its own)
        # must not cut the clean-up short: it is bounded (SIGKILL after a grace period).
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        with contextlib.suppress(OSError):  # the terminal may be gone (a closed window)
            print("stopping the demo...")
        demo.stop()
        if a.dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _check(demo: Demo) -> int:
    status = _wait_for_pods(60)
    _print_status()
    running = [p for p in status["pods"] if p["status"] == "RUNNING"]
    if not running:
        return fail("no running pod appeared in the demo")
    alias = running[0]["ssh_alias"]
    if alias and running[0]["ssh_host"]:
        out = subprocess.run(
            ["ssh", "-F", str(demo.home / ".ssh" / "config"), alias, "true"],
            capture_output=True,
            text=True,
            timeout=30,
            env=demo.env,
        )
        print(
            f"ssh {alias} true -> exit {out.returncode}{' ' + out.stderr.strip() if out.stderr else ''}"
        )
        if out.returncode != 0:
            return 1
        # The pod's own /workspace, where this machine allows it; elsewhere the hint says so.
        pod = next((p for p in demo.pods_state() if p.get("name") == running[0]["name"]), {})
        if pod.get("private_workspace"):
            ls = subprocess.run(
                ["ssh", "-F", str(demo.home / ".ssh" / "config"), alias, "ls -d /workspace"],
                capture_output=True,
                text=True,
                timeout=30,
                env=demo.env,
            )
            print(f"ssh {alias} ls -d /workspace -> exit {ls.returncode} (the pod's own folder)")
            if ls.returncode != 0:
                print(ls.stderr)
                return 1
        else:
            print(workspace_hint([pod]).strip() or "no simulated pod state")
    # The hint for another shell works: a shell without the demo's variables sources the file.
    env = {k: v for k, v in os.environ.items() if k not in SHELL_KEYS}
    other = subprocess.run(
        [
            "sh",
            "-c",
            '. "$1" && exec "$2" -m rpdevd.cli status',
            "sh",
            demo.env_file,
            sys.executable,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    print(f"from another shell: . {demo.env_file}; rpdev status -> exit {other.returncode}")
    if other.returncode != 0 or "trainer" not in other.stdout:
        print(other.stdout + other.stderr)
        return 1
    print("demo check passed")
    return 0
