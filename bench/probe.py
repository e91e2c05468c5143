"""What one activity probe costs, against a real sshd on this machine, and how fast the decision
replays history. Prints a table; no assertions.

    .venv/bin/python bench/probe.py [--probes 30]

Rows: the probe over the daemon's kept-open connection (asyncssh, one channel per probe); the
same script through a new `ssh` process per probe (the handshake the kept-open connection saves);
and `replay` of the idle decision over a day of samples.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rpdevd.activity.decide import Policy, replay
from rpdevd.activity.probe import ActivityProbe, build_command, script
from rpdevd.activity.samples import Sample
from rpdevd.sim.sshd import PodSSHD, generate_keypair
from rpdevd.sshlib import asyncssh


def row(name: str, times: list[float], sent: int | str, received: int | str) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{name:<44} {statistics.median(ms):>8.1f} {p95:>8.1f} {str(sent):>9} {str(received):>9}"


async def main(probes: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="rpdev-bench-"))
    key = generate_keypair(root / "keys" / "id_ed25519", "bench")
    pod = PodSSHD(root / "pod", authorized_keys=key.public)
    await pod.start()
    assert pod.port is not None
    lines = [f"{'':<44} {'p50 ms':>8} {'p95 ms':>8} {'sent B':>9} {'recv B':>9}"]
    try:
        conn = await asyncssh.connect(
            pod.host,
            port=pod.port,
            username=pod.user,
            client_keys=[str(key.private)],
            known_hosts=None,
        )
        probe = ActivityProbe(workspace=str(root), sshd_ports=[pod.port])
        await probe.read(conn)  # the first probe samples the CPU twice (window); not timed
        times = []
        for _ in range(probes):
            t = time.perf_counter()
            await probe.read(conn)
            times.append(time.perf_counter() - t)
        command = build_command(workspace=str(root), sshd_ports=[pod.port])
        sent = len(command) + len(script().encode())
        lines.append(
            row("probe, kept-open connection (rpdev)", times, sent, probe.last_output_bytes)
        )
        floor = []
        for _ in range(probes):
            t = time.perf_counter()
            await conn.run("true", check=True)
            floor.append(time.perf_counter() - t)
        lines.append(row("`true`, kept-open connection (channel floor)", floor, 4, 0))
        conn.close()

        ssh_times = []
        for _ in range(max(3, probes // 3)):
            t = time.perf_counter()
            subprocess.run(
                ["ssh", *pod.ssh_args(key.private), command],
                input=script(),
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
            ssh_times.append(time.perf_counter() - t)
        lines.append(row("probe, new ssh process each time", ssh_times, sent, "same"))
    finally:
        await pod.stop()

    day = [Sample(t=1.79e9 + 60 * i, cpu_pct=1.0) for i in range(1440)]
    replay_times = []
    for _ in range(5):
        t = time.perf_counter()
        replay(day, Policy())
        replay_times.append(time.perf_counter() - t)
    lines.append(row("replay: decide over 24 h (1440 samples)", replay_times, "-", "-"))
    print(f"sshd backend: {pod.backend}; script {len(script())} bytes after stripping comments")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=30)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.probes)))
