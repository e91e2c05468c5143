"""How fast the TUI follows the daemon: event -> table row, and daemon restart -> reconnected.

    .venv/bin/python -m tests.tui.bench_event_latency [--trials 30]

Runs the real app headless against a real daemon on the simulated RunPod, in a private temporary
HOME, and prints a table. The target is a row updated within one second of the event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from rich.text import Text

ROOT = Path(tempfile.mkdtemp(prefix="rpdev-tui-bench-"))


def isolate() -> None:
    home = ROOT / "home"
    for sub in ("", ".config/rpdev", ".local/state", ".cache", "run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(home / "run", 0o700)
    os.environ.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_RUNTIME_DIR": str(home / "run"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
    )
    (home / ".config/rpdev/config.toml").write_text(
        'poll_interval = "1s"\n[[pod]]\nname = "trainer"\npolicy = "idle-stop"\n'
    )


def row(label: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (
        f"| {label:<34} | {len(ms):>3} | {ms[0]:>7.1f} | {statistics.median(ms):>7.1f} | "
        f"{p95:>7.1f} | {ms[-1]:>7.1f} |"
    )


async def bench(trials: int) -> None:
    from rpdevd.client import Client
    from rpdevd.sim.sshd import generate_keypair
    from tests.integration.harness import API_KEY, DaemonProcess, SimThread
    from tui.app import RpdevApp
    from tui.widgets.pod_table import PodTable

    key = generate_keypair(ROOT / "id_ed25519", "bench")
    sim = SimThread(ROOT / "sim", API_KEY, key.public)
    os.environ.update({"RUNPOD_API_KEY": API_KEY, "RUNPOD_API_BASE_URL": sim.url})
    pod = sim.run(sim.sim.add_pod(name="trainer", sshd=False))
    daemon = await asyncio.to_thread(DaemonProcess(ROOT / "d0").start)

    def policy_cell(app: RpdevApp) -> str:
        try:
            value = app.query_one(PodTable).get_cell(pod.id, "policy")
        except Exception:  # noqa: BLE001 - the row is not there yet
            return ""
        return value.plain if isinstance(value, Text) else str(value)

    def set_policy(policy: str) -> None:
        with Client(timeout=10) as c:
            c.call("pod.set", {"pod": pod.id, "policy": policy})

    event_to_row: list[float] = []
    reconnect: list[float] = []
    app = RpdevApp()
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            while policy_cell(app) != "idle-stop":
                await pilot.pause(0.01)
            for i in range(trials):
                policy = ("manual", "keep-alive")[i % 2]
                start = time.monotonic()
                await asyncio.to_thread(set_policy, policy)
                while policy_cell(app) != policy:
                    await pilot.pause(0.005)
                event_to_row.append(time.monotonic() - start)
            for i in range(3):
                await asyncio.to_thread(daemon.stop)
                while app.connected:
                    await pilot.pause(0.01)
                daemon = await asyncio.to_thread(DaemonProcess(ROOT / f"d{i + 1}").start)
                start = time.monotonic()  # the new daemon answers from here
                while not app.connected:
                    await pilot.pause(0.005)
                reconnect.append(time.monotonic() - start)
    finally:
        await asyncio.to_thread(daemon.stop)
        sim.stop()
    print("| measure (ms)                       |   n |     min |  median |     p95 |     max |")
    print("|------------------------------------|-----|---------|---------|---------|---------|")
    print(row("pod.set by another client -> row", event_to_row))
    print(row("restarted daemon ready -> connected", reconnect))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    isolate()
    asyncio.run(bench(args.trials))


if __name__ == "__main__":
    main()
