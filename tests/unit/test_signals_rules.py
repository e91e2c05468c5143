"""What one sample says about work on a pod (`activity.signals`), reading by reading: where each
load comes from, the edges of "sustained", and the words an idle pod is described with."""

from __future__ import annotations

from typing import Any

import pytest

from rpdevd.activity.decide import Policy
from rpdevd.activity.samples import Sample
from rpdevd.activity.signals import (
    Assessment,
    assess,
    busiest_gpu,
    cpu_levels,
    format_rate,
    idle_detail,
    net_rate,
)

T0 = 1_790_000_000.0
TH = Policy().thresholds  # GPU 10 %, CPU 20 %, 0.9 cores, 300 s of smoothing


def probed(**kw: Any) -> Sample:
    base: dict[str, Any] = {"t": T0, "status": "RUNNING", "probe": "ok", "cpu_pct": 1.0}
    base.update(kw)
    return Sample.from_json(base)


def dark(**kw: Any) -> Sample:
    return Sample.from_json({"t": T0, "status": "RUNNING", "probe": "unreachable", **kw})


def gpus(*utils: float | None) -> list[dict[str, Any]]:
    return [{"index": i, "util": u} for i, u in enumerate(utils)]


def level(age: float, gpu: float | None = None, cpu: float | None = None) -> tuple[Any, ...]:
    # An earlier level as the decision stores it (t, gpu, cpu, cores, ...): the readings this
    # file looks at, the rest unknown.
    return (T0 - age, gpu, cpu, None, None, None)


# Where a reading comes from.


def test_the_busiest_gpu_and_its_source() -> None:
    assert busiest_gpu(probed(gpus=gpus(5, 70, None))) == (70.0, "gpu")
    assert busiest_gpu(probed(gpus=gpus(5), api_gpu_util=[90])) == (90.0, "api_gpu")
    # A tie stays with the pod's own reading; RunPod's counts only when it is higher.
    assert busiest_gpu(probed(gpus=gpus(40), api_gpu_util=[40, None])) == (40.0, "gpu")
    assert busiest_gpu(probed(gpus=gpus(50, 50))) == (50.0, "gpu")
    assert busiest_gpu(probed(gpus=gpus(None))) == (None, "gpu")
    assert busiest_gpu(dark(api_gpu_util=[None, 3, 12])) == (12.0, "api_gpu")
    assert busiest_gpu(dark(api_gpu_util=[])) == (None, "gpu")


def test_cpu_comes_from_the_probe_then_from_runpod() -> None:
    assert cpu_levels(probed(cpu_pct=30.0, cpu_cores=2.0, api_cpu_pct=90.0)) == (30.0, 2.0, "cpu")
    assert cpu_levels(probed(cpu_pct=None, api_cpu_pct=90.0)) == (90.0, None, "api_cpu")
    assert cpu_levels(dark(cpu_pct=30.0, api_cpu_pct=7.0)) == (7.0, None, "api_cpu")
    assert cpu_levels(dark()) == (None, None, "cpu")
    assert cpu_levels(probed(cpu_pct=None)) == (None, None, "cpu")


# "Sustained": over the threshold now and on average over the window.


def test_a_reading_at_the_threshold_with_a_history_at_it_is_work() -> None:
    history = [level(60, gpu=10.0), level(120, gpu=10.0)]
    got = assess(probed(gpus=gpus(10)), TH, history, 60)
    assert (got.active, got.signal, got.quiet) == (True, "gpu", False)
    history = [level(60, cpu=20.0)]
    got = assess(probed(cpu_pct=20.0), TH, history, 60)
    assert (got.active, got.signal, got.detail) == (True, "cpu", "CPU busy at 20%")


def test_a_reading_whose_average_falls_under_the_threshold_is_not_work() -> None:
    history = [level(60, gpu=9.0)]
    got = assess(probed(gpus=gpus(10.9)), TH, history, 60)  # mean 9.95
    assert (got.active, got.quiet) == (False, False)
    assert got.detail == "GPU 11%, CPU 1%, load not sustained"


def test_the_window_is_the_smoothing_period_before_the_sample() -> None:
    low = [level(299, gpu=0.0)]
    assert not assess(probed(gpus=gpus(15)), TH, low, 60).active  # within the window: mean 7.5
    old = [level(300, gpu=0.0)]
    assert assess(probed(gpus=gpus(15)), TH, old, 60).active  # 300 s old: out of it
    now = [(T0, 0.0, None, None, None, None)]
    assert assess(probed(gpus=gpus(15)), TH, now, 60).active  # the sample's own time: not history


def test_history_of_one_reading_does_not_dilute_another() -> None:
    # GPU history says nothing about the CPU, and a missing reading is not a zero.
    history = [level(60, gpu=0.0, cpu=None), level(120, gpu=None, cpu=30.0)]
    got = assess(probed(cpu_pct=25.0), TH, history, 60)
    assert (got.active, got.signal) == (True, "cpu")
    got = assess(probed(gpus=gpus(12)), TH, [level(60, gpu=None, cpu=0.0)], 60)
    assert (got.active, got.signal) == (True, "gpu")


def test_cores_busy_are_work_and_say_how_many() -> None:
    got = assess(probed(cpu_pct=3.0, cpu_cores=0.95), TH, [level(60, cpu=3.0)], 60)
    assert (got.active, got.signal, got.detail) == (True, "cpu", "CPU busy: 0.9 cores")
    history = [(T0 - 60, None, 3.0, 0.1, None, None)]
    got = assess(probed(cpu_pct=3.0, cpu_cores=0.95), TH, history, 60)
    assert (got.active, got.quiet) == (False, False)


def test_runpod_telemetry_is_named_as_the_source() -> None:
    got = assess(dark(api_cpu_pct=95.0), TH, [], None)
    assert got == Assessment(True, True, "api_cpu", "CPU busy at 95%", False, got.level)
    got = assess(dark(api_gpu_util=[50]), TH, [], None)
    assert got == Assessment(
        True, True, "api_gpu", "GPU busy at 50% (busiest GPU)", False, got.level
    )
    assert got.level[:3] == (T0, 50.0, None)


def test_local_edits_come_first_and_are_counted() -> None:
    got = assess(probed(local_edits=3, gpus=gpus(99)), TH, [], None)
    assert (got.active, got.signal, got.detail) == (
        True,
        "local_edits",
        "3 file(s) pushed by live sync",
    )


# Typing in a terminal: within the sample interval plus the kernel's 8 s granularity.


def test_typing_counts_within_the_interval_plus_eight_seconds() -> None:
    typed = assess(probed(ssh_input_idle_s=67.9), TH, [], 60)
    assert typed == Assessment(
        True, True, "ssh_input", "typing in an SSH terminal 68s ago", True, typed.level
    )
    assert assess(probed(ssh_input_idle_s=68), TH, [], 60).signal == "idle"
    assert assess(probed(ssh_input_idle_s=67.9), TH, [], None).signal == "ssh_input"
    assert assess(probed(ssh_input_idle_s=68), TH, [], None).signal == "idle"
    assert assess(probed(ssh_input_idle_s=127), TH, [], 120).signal == "ssh_input"
    # An unreachable pod's last keystroke is not read: no typing is seen through RunPod.
    assert assess(dark(ssh_input_idle_s=1, api_cpu_pct=1.0), TH, [], 60).signal == "idle"


# Unknown is not idle.


def test_an_unreachable_pod_without_telemetry_is_unknown() -> None:
    got = assess(dark(), TH, [], 60)
    assert got == Assessment(
        False, False, "unknown", "SSH probe failed; RunPod reports no telemetry", True, got.level
    )
    got = assess(dark(probe_error="host down"), TH, [], 60)
    assert got.detail == "host down; RunPod reports no telemetry" and not got.known


def test_a_probe_that_read_no_load_is_unknown() -> None:
    got = assess(probed(cpu_pct=None), TH, [], 60)
    assert got == Assessment(
        False, False, "unknown", "the probe read neither GPU nor CPU load", True, got.level
    )


def test_one_reading_is_enough_to_judge() -> None:
    got = assess(probed(cpu_pct=None, gpus=gpus(0)), TH, [], 60)
    assert (got.known, got.active, got.signal) == (True, False, "idle")
    got = assess(dark(api_cpu_pct=1.0), TH, [], 60)
    assert (got.known, got.signal) == (True, "idle")


# How an idle pod is described.


def test_an_idle_pod_is_described_reading_by_reading() -> None:
    sample = probed(
        gpus=gpus(0),
        gpu_procs=[
            {"pid": 1, "name": "/usr/bin/python3", "mem_mib": 1000},
            {"pid": 2, "name": "python3", "mem_mib": 500},
            {"pid": 3, "name": "idle", "mem_mib": 0},
        ],
        ssh_sessions=2,
        ssh_connections=3,
        ide_clients=1,
        ssh_input_idle_s=3600,
        hold_error="not a time",
    )
    assert assess(sample, TH, [], 60).detail == (
        "GPU 0%, CPU 1%, 1500 MiB GPU memory held by python3 without compute, "
        "2 SSH terminal(s) and 3 SSH connection(s) and 1 IDE client(s) open but idle, "
        "last keystroke 1h ago, hold file ignored: not a time"
    )


def test_what_is_open_is_named_without_a_keystroke_time_when_none_is_known() -> None:
    sample = probed(gpus=gpus(0), ide_clients=2)
    assert idle_detail(sample, 0.0, 1.0, True) == "GPU 0%, CPU 1%, 2 IDE client(s) open but idle"
    sample = probed(gpus=gpus(0), ssh_connections=1)
    assert (
        idle_detail(sample, 0.0, 1.0, True) == "GPU 0%, CPU 1%, 1 SSH connection(s) open but idle"
    )


def test_unknown_readings_are_named_as_unknown() -> None:
    assert idle_detail(probed(gpus=gpus(None)), None, None, True) == (
        "GPU utilization unknown, CPU unknown"
    )
    assert idle_detail(probed(), None, 5.0, True) == "no GPU load reading, CPU 5%"
    assert idle_detail(probed(), 3.0, 5.0, False) == "GPU 3%, CPU 5%, load not sustained"


def test_telemetry_only_descriptions_say_so() -> None:
    sample = dark(api_cpu_pct=2.0, ssh_sessions=1, probe_error="timed out")
    assert idle_detail(sample, None, 2.0, True) == (
        "no GPU load reading, CPU 2%, from RunPod telemetry (timed out)"
    )
    assert idle_detail(dark(), 0.0, 2.0, True) == (
        "GPU 0%, CPU 2%, from RunPod telemetry (SSH probe failed)"
    )


def test_a_long_list_of_processes_is_cut() -> None:
    procs = [{"pid": i, "name": f"worker-{i:02d}-process", "mem_mib": 10} for i in range(10)]
    detail = idle_detail(probed(gpu_procs=procs), 0.0, 1.0, True)
    names = detail.split("held by ")[1].split(" without compute")[0]
    assert len(names) == 60 and names.startswith("worker-00-process, worker-01-process")


# Moving data: the network and the disk, and how their rates are written.


def test_rates_are_written_in_decimal_units_from_each_unit_up() -> None:
    assert format_rate(999.0) == "999 B/s"
    assert format_rate(1e3) == "1.0 kB/s"
    assert format_rate(999_949.0) == "999.9 kB/s"
    assert format_rate(1e6) == "1.0 MB/s"
    assert format_rate(1e9) == "1.0 GB/s"
    assert format_rate(2.5e9) == "2.5 GB/s"


def test_the_network_rate_adds_both_ways_and_a_missing_way_is_nothing() -> None:
    assert net_rate(probed(net_rx_bps=500.0)) == 500.0
    assert net_rate(probed(net_tx_bps=500.0)) == 500.0
    assert net_rate(probed(net_rx_bps=0.0, net_tx_bps=300.0)) == 300.0
    assert net_rate(probed(net_rx_bps=300.0, net_tx_bps=0.0)) == 300.0
    assert net_rate(probed(net_rx_bps=200.0, net_tx_bps=300.0)) == 500.0
    assert net_rate(probed()) is None
    assert net_rate(dark(net_rx_bps=500.0)) is None


@pytest.mark.parametrize(
    ("rx", "tx", "words"),
    [
        (3e5, 1e3, "moving data: 301.0 kB/s over the network (in)"),
        (1e3, 3e5, "moving data: 301.0 kB/s over the network (out)"),
        (2e5, 2e5, "moving data: 400.0 kB/s over the network (in)"),
        (None, 3e5, "moving data: 300.0 kB/s over the network (out)"),
        (3e5, None, "moving data: 300.0 kB/s over the network (in)"),
    ],
)
def test_a_transfer_names_its_rate_and_its_way(
    rx: float | None, tx: float | None, words: str
) -> None:
    got = assess(probed(net_rx_bps=rx, net_tx_bps=tx), TH, [], 60)
    assert (got.known, got.active, got.signal, got.detail, got.quiet) == (
        True,
        True,
        "net",
        words,
        False,
    )


def test_disk_io_is_work_when_sustained() -> None:
    got = assess(probed(disk_bps=2e6), TH, [], 60)
    assert (got.active, got.signal, got.detail) == (
        True,
        "disk",
        "moving data: 2.0 MB/s of disk I/O",
    )
    # The mean over the window counts the disk's own history: 0 then 1.5 MB/s is not sustained.
    history = [(T0 - 60, None, 1.0, None, None, 0.0)]
    got = assess(probed(disk_bps=1.5e6), TH, history, 60)
    assert (got.active, got.signal, got.quiet) == (False, "idle", False)


def test_an_unreachable_pod_reports_no_disk_io() -> None:
    got = assess(dark(api_cpu_pct=1.0, disk_bps=5e6), TH, [], 60)
    assert (got.active, got.signal, got.quiet) == (False, "idle", True)
    assert got.level == (T0, None, 1.0, None, None, None)


@pytest.mark.parametrize(
    "kw",
    [
        {"cpu_pct": 20.0},
        {"cpu_cores": 0.9},
        {"net_rx_bps": 250_000.0},
        {"disk_bps": 1_000_000.0},
    ],
)
def test_a_reading_at_its_threshold_is_not_quiet_even_when_not_sustained(
    kw: dict[str, Any],
) -> None:
    # The history holds zeros for every reading: the mean is under each threshold.
    history = [(T0 - 60, 0.0, 0.0, 0.0, 0.0, 0.0)]
    got = assess(probed(**kw), TH, history, 60)
    assert (got.active, got.signal, got.quiet) == (False, "idle", False)
    assert got.detail.endswith("load not sustained")


def test_levels_stored_before_data_rates_were_sampled_still_read() -> None:
    # Four entries (t, gpu, cpu, cores): the network and disk history is unknown, not an error.
    old = [(T0 - 60, 0.0, 1.0, 0.1)]
    got = assess(probed(net_rx_bps=3e5, disk_bps=2e6), TH, old, 60)  # type: ignore[arg-type]
    assert (got.active, got.signal) == (True, "net")
    got = assess(probed(disk_bps=2e6), TH, old, 60)  # type: ignore[arg-type]
    assert (got.active, got.signal) == (True, "disk")
