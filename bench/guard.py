"""What the pod-side guard costs, on a real sshd on this machine: the guard's own CPU per look on
the pod (while it sleeps, and per check once it has taken over), and the heartbeat's bytes per
probe on the wire (counted by a relay between the daemon's connection and the pod). Prints a
table; no assertions.

    .venv/bin/python bench/guard.py [--checks 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rpdevd.activity.decide import Policy
from rpdevd.activity.guard import (
    GuardSettings,
    beat_command,
    guard_dir,
    install_script,
    render_config,
)
from rpdevd.sim.sshd import PodSSHD, generate_keypair
from rpdevd.sshlib import asyncssh


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_of(argv: list[str], runs: int) -> list[float]:
    """CPU seconds (user + system, every process it starts) of each run of `argv`."""
    out = []
    for _ in range(runs):
        before = children_cpu()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        out.append(children_cpu() - before)
    return out


SLEEPING_LOOK = (
    # What the guard runs per look while the heartbeat is fresh (guard.sh's loop, asleep half).
    'cd "$1"; [ -f config ]; sed -n "s/^interval //p" config | head -n 1 >/dev/null;'
    ' sed -n "s/^guard_after //p" config | head -n 1 >/dev/null;'
    " b=$(stat -c %Y beat); echo $(( $(date +%s) - b )) >/dev/null"
)


class Relay:
    """127.0.0.1:port -> the pod, counting bytes each way."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.up = self.down = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        pr, pw = await asyncio.open_connection("127.0.0.1", self.target)

        async def pipe(a: asyncio.StreamReader, b: asyncio.StreamWriter, up: bool) -> None:
            while data := await a.read(65536):
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
                b.write(data)
                await b.drain()
            b.close()

        await asyncio.gather(pipe(r, pw, True), pipe(pr, w, False), return_exceptions=True)


def row(name: str, values: list[float], unit: str) -> str:
    v = sorted(values)
    p95 = v[min(len(v) - 1, int(len(v) * 0.95))]
    return f"{name:<52} {statistics.median(v):>10.2f} {p95:>10.2f}  {unit}"


async def main(checks: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="rpdev-bench-guard-"))
    key = generate_keypair(root / "keys" / "id_ed25519", "bench")
    pod = PodSSHD(root / "pod", authorized_keys=key.public)
    await pod.start()
    assert pod.port is not None
    ws = str(root / "workspace")
    os.makedirs(ws)
    settings = GuardSettings(
        workspace=ws,
        policy=Policy(idle_timeout=1800, warn_before=300),
        guard_after=600,
        interval=60,
        sshd_ports=(pod.port,),
    )
    relay = Relay(pod.port)
    port = await relay.start()
    lines = [f"{'':<52} {'p50':>10} {'p95':>10}"]
    try:
        conn = await asyncssh.connect(
            "127.0.0.1",
            port=port,
            username=pod.user,
            client_keys=[str(key.private)],
            known_hosts=None,
        )
        up, down = relay.up, relay.down
        await conn.run("sh -s", input=install_script(settings, time.time()), check=True)
        lines.append(
            f"{'install (guard.sh, probe.sh, config; once per resume)':<52} "
            f"{relay.up - up:>10} {relay.down - down:>10}  bytes sent / received"
        )
        sent, received = [], []
        for i in range(checks):
            up, down = relay.up, relay.down
            await conn.run(beat_command(ws, float(i)), check=True)
            await asyncio.sleep(0.05)  # the channel's close reaches the relay
            sent.append(float(relay.up - up))
            received.append(float(relay.down - down))
        lines.append(row("heartbeat per probe, sent", sent, "bytes"))
        lines.append(row("heartbeat per probe, received", received, "bytes"))
        conn.close()
        d = guard_dir(ws)
        # The running guard is stopped (remove), its config put back: the checks below run alone.
        subprocess.run(["sh", f"{d}/guard.sh", "remove", d], stdout=subprocess.DEVNULL, check=False)
        Path(d, "config").write_text(render_config(settings, time.time()))
        sleeping = cpu_of(["sh", "-c", SLEEPING_LOOK, "sh", d], checks)
        lines.append(
            row(
                "guard CPU per look while the heartbeat is fresh", [x * 1e3 for x in sleeping], "ms"
            )
        )
        cpu_of(["sh", f"{d}/guard.sh", "check", d], 1)  # the first check samples twice (window)
        taking = cpu_of(["sh", f"{d}/guard.sh", "check", d], checks)
        lines.append(
            row(
                "guard CPU per check once in charge (probe + decision)",
                [x * 1e3 for x in taking],
                "ms",
            )
        )
        beats = cpu_of(["sh", f"{d}/guard.sh", "beat", d, "12"], checks)
        lines.append(row("the heartbeat command's CPU on the pod", [x * 1e3 for x in beats], "ms"))
    finally:
        await pod.stop()
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=30)
    asyncio.run(main(parser.parse_args().checks))
