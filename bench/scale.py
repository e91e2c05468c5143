"""The daemon's cost at scale: CPU and RSS while it manages N simulated pods (real sshd each,
probed over kept-open SSH connections), and API requests per poll with 200 pods on the account.
Run: .venv/bin/python bench/scale.py [N_MANAGED=50] [SECONDS=60]"""

from __future__ import annotations

import os
import sys
import time

from _env import BenchEnv


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    managed = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    env = BenchEnv()
    try:
        for i in range(managed):
            env.sim.run(env.sim.sim.add_pod(name=f"m{i}"))
        for i in range(200 - managed):
            env.sim.run(env.sim.sim.add_pod(name=f"x{i}", sshd=False))
        env.configure(
            'poll_interval = "5s"\nprobe_interval = "10s"\n'
            + "".join(f'[[pod]]\nname = "m{i}"\npolicy = "idle-stop"\n' for i in range(managed))
        )
        env.start_daemon()
        assert env.daemon and env.daemon.proc
        pid = env.daemon.proc.pid
        time.sleep(15)  # first confirmations and connections
        c0, r0, t0 = cpu_seconds(pid), env.sim.sim.requests, time.monotonic()
        peak = 0.0
        while time.monotonic() - t0 < seconds:
            peak = max(peak, rss_mib(pid))
            time.sleep(1)
        dt = time.monotonic() - t0
        cpu = (cpu_seconds(pid) - c0) / dt * 100
        polls = env.sim.sim.requests - r0
        print(
            f"daemon managing {managed} pods (200 on the account), probe every 10 s, "
            f"poll every 5 s, over {dt:.0f} s:"
        )
        print(
            f"  CPU {cpu:.1f}% of one core, RSS peak {peak:.0f} MiB, "
            f"{polls} API requests ({polls / (dt / 5):.2f} per poll interval)"
        )
    finally:
        env.close()


if __name__ == "__main__":
    main()
