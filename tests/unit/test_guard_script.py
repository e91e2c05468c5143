"""The guard's decision on the pod (guard.sh, run by the real sh and awk), fed the probe's output
for scenarios of minutes: the same rules as the daemon's (rpdevd/activity/decide.py). Only the
probe is replaced, by a script printing what probe.sh prints; the config is the daemon's own
rendering (rpdevd.activity.guard.render_config)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rpdevd.activity.decide import Policy
from rpdevd.activity.guard import GuardSettings, guard_script, render_config

T0 = 1_800_000_000.0
STEP = 10.0
POLICY = Policy(idle_timeout=60.0, warn_before=20.0, max_gap=300.0)


class Pod:
    """A guard directory with a canned probe: each `check` is one look at time t."""

    def __init__(self, root: Path, policy: Policy = POLICY, hold: float | str | None = None):
        self.dir = root / "ws" / ".rpdev" / "guard"
        self.dir.mkdir(parents=True)
        (self.dir / "guard.sh").write_text(guard_script())
        (self.dir / "probe.sh").write_text('cat "$(dirname "$0")/next.out"\n')
        settings = GuardSettings(
            workspace=str(root / "ws"), policy=policy, guard_after=30, interval=STEP, hold=hold
        )
        (self.dir / "config").write_text(render_config(settings, T0))
        os.utime(self.dir / "config", (T0, T0))
        self.cpu_ns = 0.0
        self.rx = 0.0

    def check(
        self,
        t: float,
        *,
        cores: float = 0.0,
        net_bps: float = 0.0,
        gpu: str = "0",
        gpu_rc: str = "0",
        hold: str | None = None,
        take: bool = False,
    ) -> list[str]:
        self.cpu_ns += cores * STEP * 1e9
        self.rx += net_bps * STEP
        lines = [
            "rpdev-probe 1",
            f"now {t:.0f}",
            "ncpu 4",
            f"cpusample {t - T0 + 1000:.2f} {self.cpu_ns:.0f} 1 0 1 100 0 0 0 0",
            f"iosample {t - T0 + 1000:.2f} {self.rx:.0f} 0 0",
            "gpu_fields index,uuid,name,utilization.gpu,memory.used,memory.total",
            f"gpu 0, GPU-1, NVIDIA H100 80GB HBM3, {gpu}, 0, 81559",
            f"gpu_rc {gpu_rc}",
            "ssh_conn 1",
            "ssh_sess 1",
            "ide 0",
        ]
        if hold is not None:
            lines += [f"hold_mtime {T0:.0f}", f"hold {hold}"]
        (self.dir / "next.out").write_text("\n".join([*lines, "end"]) + "\n")
        out = subprocess.run(
            ["sh", str(self.dir / "guard.sh"), "check", str(self.dir), "1" if take else "0"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return out.stdout.split(maxsplit=4)

    def run(self, steps: int, **kw: object) -> list[tuple[float, list[str]]]:
        return [(T0 + i * STEP, self.check(T0 + i * STEP, **kw)) for i in range(steps)]  # type: ignore[arg-type]


def actions(history: list[tuple[float, list[str]]]) -> list[tuple[float, str]]:
    return [(t, d[0]) for t, d in history if d[0] != "keep"]


@pytest.fixture
def pod(tmp_path: Path) -> Pod:
    return Pod(tmp_path)


def test_an_idle_pod_is_warned_then_stopped_at_the_timeout(pod: Pod) -> None:
    got = actions(pod.run(8))
    assert got == [(T0 + 40, "warn"), (T0 + 60, "stop")]


def test_the_warning_comes_warn_before_ahead_and_names_the_stop_time(pod: Pod) -> None:
    history = dict(pod.run(5))
    action, signal, since, stop_at, why = history[T0 + 40]
    assert (action, signal) == ("warn", "idle")
    assert float(stop_at) == T0 + 60 and float(since) == T0
    assert "GPU 0%" in why


def test_a_cpu_burner_is_work(pod: Pod) -> None:
    assert actions(pod.run(12, cores=2.0)) == []


def test_moving_data_is_work_and_a_trickle_is_not(pod: Pod, tmp_path: Path) -> None:
    assert actions(pod.run(12, net_bps=5_000_000)) == []
    trickle = Pod(tmp_path / "trickle")
    assert [a for _, a in actions(trickle.run(8, net_bps=2_000))] == ["warn", "stop"]


def test_a_busy_gpu_is_work(pod: Pod) -> None:
    assert actions(pod.run(12, gpu="97")) == []


def test_a_failing_nvidia_smi_is_unknown_never_idle(pod: Pod) -> None:
    history = pod.run(12, gpu="Unable to determine the device handle", gpu_rc="9")
    assert actions(history) == [(T0, "unknown")]
    assert all(d[1] == "unknown" for _, d in history)


def test_a_hold_file_keeps_the_pod(pod: Pod) -> None:
    assert actions(pod.run(12, hold="")) == []
    assert actions(Pod(pod.dir.parent.parent.parent / "b").run(12, hold="forever")) == []


def test_a_hold_for_a_while_moves_the_stop_past_it(tmp_path: Path) -> None:
    # 2m from the file's mtime (T0): no stop before T0 + 120, a warning first.
    got = actions(Pod(tmp_path).run(16, hold="2m"))
    assert got and got[-1][1] == "stop" and got[-1][0] >= T0 + 120
    assert [a for _, a in got] == ["warn", "stop"]


def test_a_hold_set_with_the_cli_is_handed_over(tmp_path: Path) -> None:
    assert actions(Pod(tmp_path, hold="forever").run(12)) == []
    got = actions(Pod(tmp_path / "b", hold=T0 + 100).run(16))
    assert got[-1][1] == "stop" and got[-1][0] >= T0 + 100


def test_activity_cancels_a_warning_and_a_blip_delays_the_stop(pod: Pod) -> None:
    pod.run(6)  # warned at T0 + 40 for T0 + 60
    # At the announced time a load appears: not sustained yet, so no cancel, but no stop on it;
    # sustained at the next look: the warning is off.
    assert pod.check(T0 + 60, cores=3.0)[0] == "keep"
    assert pod.check(T0 + 70, cores=3.0)[0] == "cancel"
    assert pod.check(T0 + 80, cores=3.0)[0] == "keep"


def test_taking_over_counts_the_daemons_idle_time(pod: Pod) -> None:
    # The daemon counted 45s idle at its last heartbeat, 5s ago: 50s of 60 are gone.
    beat = pod.dir / "beat"
    beat.write_text("idle_s 45\n")
    os.utime(beat, (T0 - 5, T0 - 5))
    first = pod.check(T0, take=True)
    assert first[0] == "warn" and float(first[3]) == T0 + 20  # warn_before from now, not sooner
    assert pod.check(T0 + 10)[0] == "keep"
    assert pod.check(T0 + 20)[0] == "stop"


def test_taking_over_from_a_busy_daemon_starts_the_count(pod: Pod) -> None:
    beat = pod.dir / "beat"
    beat.write_text("idle_s -\n")
    os.utime(beat, (T0 - 5, T0 - 5))
    assert pod.check(T0, take=True)[0] == "keep"
    got = [(T0 + i * STEP, pod.check(T0 + i * STEP)[0]) for i in range(1, 8)]
    assert [x for x in got if x[1] != "keep"] == [(T0 + 40, "warn"), (T0 + 60, "stop")]
