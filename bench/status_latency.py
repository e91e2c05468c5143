"""`rpdev status` latency: wall time of the whole command (a new process, as a user runs it),
median of many runs, with 3 managed pods. Run: .venv/bin/python bench/status_latency.py [N]"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _env import BenchEnv


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    env = BenchEnv()
    try:
        for name in ("a", "b", "c"):
            env.sim.run(env.sim.sim.add_pod(name=name, sshd=False))
        env.configure('poll_interval = "5s"\n' + "".join(f'[[pod]]\nname = "{n}"\n' for n in "abc"))
        env.start_daemon()
        cmd = [sys.executable, "-m", "rpdevd.cli", "status"]
        subprocess.run(cmd, capture_output=True, check=True)  # warm the page cache
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(
            f"rpdev status, {runs} runs: median {statistics.median(times):.1f} ms, "
            f"p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, min {times[0]:.1f} ms "
            "(target: well under 150 ms)"
        )
    finally:
        env.close()


if __name__ == "__main__":
    main()
