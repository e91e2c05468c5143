"""Rediscovery latency: pod restart (new port, new host key) -> endpoint confirmed inside the pod
-> generated SSH config rewritten -> `ssh <alias> true` succeeds with strict host-key checking.
Median of N restarts (default 10) with poll_interval = 1s.
Run: .venv/bin/python bench/rediscovery.py [N]"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from _env import BenchEnv


def status(name: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "rpdevd.cli", "status", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {p["name"]: p for p in json.loads(out)["pods"]}.get(name, {})


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    env = BenchEnv()
    try:
        pod = env.sim.run(env.sim.sim.add_pod(name="trainer"))
        env.configure('poll_interval = "1s"\n[[pod]]\nname = "trainer"\n')
        env.start_daemon()
        while status("trainer").get("endpoint_state") != "confirmed":
            time.sleep(0.1)
        ssh = [
            "ssh",
            "-F",
            str(env.home / ".ssh" / "config"),
            "-o",
            "BatchMode=yes",
            "trainer.runpod",
            "true",
        ]
        times = []
        for _ in range(runs):
            env.sim.run(env.sim.sim.restart(pod.id))
            t0 = time.perf_counter()
            while subprocess.run(ssh, capture_output=True).returncode != 0:
                time.sleep(0.05)
            times.append(time.perf_counter() - t0)
        times.sort()
        print(
            f"restart -> ssh works, {runs} restarts, poll_interval 1 s: median "
            f"{statistics.median(times):.2f} s, max {times[-1]:.2f} s, min {times[0]:.2f} s "
            "(target: poll_interval + 2 s = 3 s)"
        )
    finally:
        env.close()


if __name__ == "__main__":
    main()
