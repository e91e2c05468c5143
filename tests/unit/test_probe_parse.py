"""The probe's parser on real nvidia-smi output (tests/fixtures/gpu/), and the real probe.sh
run here with a stand-in `nvidia-smi` that prints that output."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from rpdevd.activity.probe import (
    CpuCounters,
    IoCounters,
    ProbeError,
    build_command,
    cpu_usage,
    io_rates,
    parse_gpus,
    parse_probe_output,
    script,
)
from rpdevd.activity.samples import FOREVER, build_sample
from rpdevd.activity.signals import Thresholds, assess

# Real output from an H100, kept in the repository (a copy of the team's shared fixtures).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"
FIELDS = (
    "index,uuid,name,utilization.gpu,utilization.memory,memory.used,memory.total,"
    "power.draw,temperature.gpu"
)
TH = Thresholds(10, 20, 0.9, 300)


def blocks() -> list[tuple[str, list[str], list[str]]]:
    """(state, gpu lines, app lines) per block of samples.txt."""
    path = FIXTURES / "samples.txt"
    out: list[tuple[str, list[str], list[str]]] = []
    section = ""
    for line in path.read_text().splitlines():
        if line.startswith("### "):
            out.append((line.split()[1], [], []))
            section = "gpu"
        elif line.startswith("--- "):
            section = line[4:]
        elif line.strip() and section == "gpu":
            out[-1][1].append(line)
        elif line.strip() and section == "apps":
            out[-1][2].append(line)
    return out


def output(gpu: list[str], apps: list[str], *, rc: str = "0", extra: str = "") -> str:
    lines = [
        "rpdev-probe 1",
        "now 1795812025",
        "ncpu 16",
        "cpusample 100.0 1000000000 10 0 10 80 0 0 0 0",
        f"gpu_fields {FIELDS}",
        *(f"gpu {x}" for x in gpu),
        *(f"gpu_app {x}" for x in apps),
        f"gpu_rc {rc}",
        "ssh_conn 0",
        "ssh_sess 0",
        "ide 0",
        *([extra] if extra else []),
        "end",
    ]
    return "\n".join(lines) + "\n"


def test_every_fixture_state_parses_as_seen() -> None:
    seen = {}
    for state, gpu, apps in blocks():
        reading = parse_probe_output(output(gpu, apps), local_now=1795812025).reading
        assert len(reading.gpus) == 1
        g = reading.gpus[0]
        assert g.index == 0 and g.mem_total_mib == 81559
        seen.setdefault(state, []).append((g.util, g.mem_used_mib, len(reading.gpu_procs)))
    assert set(seen) == {"idle", "busy", "after-busy", "mem-held-idle", "final-idle"}
    assert all(x == (0, 0, 0) for x in seen["idle"] + seen["after-busy"] + seen["final-idle"])
    # The first two busy samples still read 0 % while the job starts; then 100 % with the app.
    assert [u for u, _, _ in seen["busy"][:2]] == [0, 0]
    assert all(x == (100, 1139, 1) for x in seen["busy"][2:])
    assert all(x == (0, 10767, 1) for x in seen["mem-held-idle"])


def test_busy_fixture_is_work_and_held_memory_is_not() -> None:
    states = {state: (gpu, apps) for state, gpu, apps in blocks()}
    for state, active in (("busy", True), ("mem-held-idle", False), ("idle", False)):
        reading = parse_probe_output(output(*states[state]), local_now=1.0).reading
        sample = build_sample(1795812025.0, "RUNNING", reading)
        verdict = assess(sample, TH, [], 60)
        assert verdict.active is active, state
    held = parse_probe_output(output(*states["mem-held-idle"]), local_now=1.0).reading
    assert held.gpu_procs[0].name == "python3" and held.gpu_procs[0].mem_mib == 10758
    sample = build_sample(1795812025.0, "RUNNING", held)
    assert (
        "10758 MiB GPU memory held by python3 without compute" in assess(sample, TH, [], 60).detail
    )


def test_mig_and_unsupported_values_are_unknown() -> None:
    gpus, procs, err = parse_gpus(
        FIELDS,
        [
            "0, GPU-x, NVIDIA A100-SXM4-80GB, [N/A], [N/A], 9000, 81920, [Not Supported], 40",
            "1, GPU-y, NVIDIA A100-SXM4-80GB, [Unknown Error], 0, [N/A], 81920, 60.1, 40",
        ],
        ["123, python, [N/A]"],
        "0",
    )
    assert err is None
    assert [g.util for g in gpus] == [None, None] and gpus[1].mem_used_mib is None
    assert procs[0].mem_mib is None and procs[0].pid == 123


def test_gpu_name_with_commas_and_junk_lines() -> None:
    gpus, procs, _ = parse_gpus(
        FIELDS,
        [
            "0, GPU-x, Some GPU, Rev 2, 55, 3, 100, 200, 10.0, 30",
            "garbage",
        ],
        ["77, /opt/my, odd, name.py, 500", "not-a-pid, x, 1", "12"],
        "0",
    )
    assert len(gpus) == 1 and gpus[0].util == 55 and gpus[0].mem_used_mib == 100
    assert [(p.pid, p.name, p.mem_mib) for p in procs] == [(77, "/opt/my, odd, name.py", 500)]


def test_nvidia_smi_failing_is_an_error_not_an_idle_gpu() -> None:
    msg = (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running."
    )
    reading = parse_probe_output(output([msg], [], rc="9"), local_now=1.0).reading
    assert reading.gpus == () and reading.gpu_error and "NVIDIA driver" in reading.gpu_error
    no_gpu = parse_probe_output(output([], [], rc="absent"), local_now=1.0).reading
    assert no_gpu.gpus == () and no_gpu.gpu_error is None


@pytest.mark.parametrize(
    "text", ["", "hello\nend\n", "rpdev-probe 2\nend\n", "rpdev-probe 1\nnow 5\ngpu_rc absent\n"]
)
def test_output_that_is_not_a_whole_probe_is_refused(text: str) -> None:
    with pytest.raises(ProbeError):
        parse_probe_output(text, local_now=1.0)


def test_noise_from_login_scripts_around_the_output_is_skipped() -> None:
    text = "Welcome to your pod!\nrpdev-probe 0?\n" + output([], [], rc="absent", extra="ide 3")
    reading = parse_probe_output(text + "logout\n", local_now=1.0).reading
    assert reading.ide_clients == 0  # the first "ide" line wins; extra lines come after it


def test_injected_lines_cannot_fake_facts() -> None:
    # A hold file or process name carrying a newline arrives prefixed on every line.
    text = output(
        ["0, u, n, 0, 0, 0, 100, 1, 1"],
        ["5, x", "gpu_app ssh_conn 99"],
        extra="hold forever\nhold 1h",
    )
    reading = parse_probe_output(text, local_now=1795812025).reading
    assert reading.ssh_connections == 0 and reading.hold_until == FOREVER


def test_cpu_from_cgroup_and_from_proc_stat() -> None:
    a = CpuCounters(uptime=100.0, cg_ns=0.0, busy=0, total=0)
    b = CpuCounters(uptime=160.0, cg_ns=90e9, busy=0, total=0)
    assert cpu_usage(a, b, ncpu=16, quota=None) == (pytest.approx(9.375), pytest.approx(1.5))
    # A CPU limit of 2 cores: 1.5 cores is 75 % of the pod.
    assert cpu_usage(a, b, ncpu=16, quota="200000 100000")[0] == pytest.approx(75)
    assert cpu_usage(a, b, ncpu=16, quota="max 100000")[0] == pytest.approx(9.375)
    c = CpuCounters(uptime=100.0, cg_ns=None, busy=100, total=1000)
    d = CpuCounters(uptime=160.0, cg_ns=None, busy=400, total=1600)
    assert cpu_usage(c, d, ncpu=4, quota=None) == (pytest.approx(50), pytest.approx(2))
    # Counters from another boot, or none at all: unknown.
    assert cpu_usage(b, a, ncpu=16, quota=None) == (None, None)
    assert cpu_usage(None, a, ncpu=16, quota=None) == (None, None)


def run_script_here(tmp_path: Path, path_prefix: Path | None = None) -> str:
    env = dict(os.environ)
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    command = build_command(workspace=str(tmp_path), sshd_ports=[1])
    return subprocess.run(
        ["sh", "-c", command],
        input=script(),
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    ).stdout


def fake_nvidia_smi(tmp_path: Path, gpu: list[str], apps: list[str], rc: int = 0) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (tmp_path / "gpu.txt").write_text("".join(x + "\n" for x in gpu))
    (tmp_path / "apps.txt").write_text("".join(x + "\n" for x in apps))
    tool = bindir / "nvidia-smi"
    tool.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *query-gpu=*) cat {tmp_path}/gpu.txt; exit {rc};; esac\n'
        f'case "$*" in *query-compute-apps=*) cat {tmp_path}/apps.txt;; esac\n'
    )
    tool.chmod(0o755)
    return bindir


def test_real_script_with_fixture_nvidia_smi(tmp_path: Path) -> None:
    # The last block of each state (the busy ones that still read 0 % come first).
    states = {state: (gpu, apps) for state, gpu, apps in blocks()}
    for state, want in (
        ("idle", (0, 0, 0)),
        ("busy", (100, 1139, 1)),
        ("mem-held-idle", (0, 10767, 1)),
    ):
        gpu, apps = states[state]
        bindir = fake_nvidia_smi(tmp_path, gpu, apps)
        out = run_script_here(tmp_path, path_prefix=bindir)
        reading = parse_probe_output(out, local_now=time.time()).reading
        g = reading.gpus[0]
        assert (g.util, g.mem_used_mib, len(reading.gpu_procs)) == want, state


def test_real_script_with_a_broken_driver(tmp_path: Path) -> None:
    bindir = fake_nvidia_smi(
        tmp_path, ["Failed to initialize NVML: Driver/library version mismatch"], [], rc=18
    )
    reading = parse_probe_output(
        run_script_here(tmp_path, path_prefix=bindir), local_now=time.time()
    ).reading
    assert reading.gpus == () and "NVML" in (reading.gpu_error or "")


def test_real_script_on_a_machine_without_gpu(tmp_path: Path) -> None:
    out = run_script_here(tmp_path)
    if "gpu_rc absent" not in out:
        pytest.skip("this machine has nvidia-smi")
    reading = parse_probe_output(out, local_now=time.time()).reading
    assert reading.gpus == () and reading.gpu_error is None and reading.gpu_procs == ()


def test_script_looks_where_runpod_puts_nvidia_smi() -> None:
    plain = FIXTURES / "nvidia-smi-plain.txt"
    where = plain.read_text().splitlines()[0] if plain.exists() else "/usr/local/nvidia/bin/x"
    assert os.path.dirname(where) in script()


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        ("", FOREVER),
        ("forever\n", FOREVER),
        ("2h\n", 7200.0),
        ("+90m", 5400.0),
        ("tomorrow", None),
        ("3600", None),
    ],
)
def test_real_script_reads_the_hold_file(tmp_path: Path, content: str, expect: object) -> None:
    (tmp_path / ".rpdev").mkdir()
    (tmp_path / ".rpdev" / "hold").write_text(content)
    now = time.time()
    reading = parse_probe_output(run_script_here(tmp_path), local_now=now).reading
    if isinstance(expect, float):
        assert isinstance(reading.hold_until, float)
        assert abs(reading.hold_until - (now + expect)) < 5
    else:
        assert reading.hold_until == expect
        assert (reading.hold_error is not None) == (expect is None)


def test_real_script_ignores_a_hold_that_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / ".rpdev").mkdir()
    os.mkfifo(tmp_path / ".rpdev" / "hold")  # reading a FIFO would block the probe
    reading = parse_probe_output(run_script_here(tmp_path), local_now=time.time()).reading
    assert reading.hold_until is None


def test_window_gives_cpu_on_the_first_probe(tmp_path: Path) -> None:
    env = dict(os.environ)
    command = build_command(workspace=str(tmp_path), window=0.2)
    out = subprocess.run(
        ["sh", "-c", command],
        input=script(),
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    ).stdout
    reading = parse_probe_output(out, local_now=time.time()).reading
    assert reading.cpu_pct is not None and 0 <= reading.cpu_pct <= 100


def test_command_quotes_what_it_is_given() -> None:
    cmd = build_command(
        workspace="/work space/$(rm -rf x)",
        sshd_ports=[22, 99999, 2222],
        exclude=["123", "4; rm", "456"],
    )
    assert "'/work space/$(rm -rf x)'" in cmd and "-p 22,2222" in cmd and "-x 123,456" in cmd


# Data moved: network and block I/O counters ------------------------------------------------------


def io_output(*iosamples: str) -> str:
    lines = output([], [], rc="absent").splitlines()
    at = lines.index("gpu_fields " + FIELDS)
    return "\n".join([*lines[:at], *(f"iosample {x}" for x in iosamples), *lines[at:]]) + "\n"


def test_byte_counters_become_rates_over_the_interval() -> None:
    first = parse_probe_output(io_output("100.0 1000 500 0"), local_now=1795812025)
    assert first.reading.net_rx_bps is None  # one reading: no rate yet
    second = parse_probe_output(
        io_output("160.0 3600001000 6000500 120000000"),
        local_now=1795812085,
        previous_io=first.io,
    )
    r = second.reading
    assert (r.net_rx_bps, r.net_tx_bps, r.disk_bps) == (60e6, 1e5, 2e6)
    # A windowed first probe (two readings in one output) gives rates at once.
    windowed = parse_probe_output(io_output("10.0 0 0 0", "10.5 500000 0 -"), local_now=1.0)
    assert windowed.reading.net_rx_bps == 1e6 and windowed.reading.disk_bps is None


def test_counters_that_went_back_are_unknown_not_negative() -> None:
    a = IoCounters(uptime=100.0, net_rx=5e9, net_tx=1e6, disk=7e9)
    b = IoCounters(uptime=160.0, net_rx=1e3, net_tx=2e6, disk=None)  # the pod restarted
    assert io_rates(a, b) == (None, pytest.approx(1e6 / 60), None)
    assert io_rates(a, a) == (None, None, None)  # no time passed
    assert io_rates(None, a) == (None, None, None)


def test_rates_reach_the_sample_and_its_json() -> None:
    out = parse_probe_output(
        io_output("160.0 3600001000 6000500 120000000"),
        local_now=1.0,
        previous_io=IoCounters(100.0, 1000, 500, 0),
    )
    sample = build_sample(1.0, "RUNNING", out.reading)
    assert sample.to_json()["net_rx_bps"] == 60e6
    assert assess(sample, TH, [], 60.0).signal == "net"


def test_real_script_reads_network_and_block_io_counters(tmp_path: Path) -> None:
    out = run_script_here(tmp_path)
    line = next(x for x in out.splitlines() if x.startswith("iosample "))
    uptime, rx, tx, disk = line.split()[1:]
    assert float(uptime) > 0 and rx.isdigit() and tx.isdigit()
    assert disk.isdigit() or disk == "-"  # a host without a readable cgroup I/O file


def test_real_script_sums_every_interface_but_lo(tmp_path: Path) -> None:
    # The same awk program over a /proc/net/dev of a pod: eth0 and eth1 count, lo does not.
    text = script()
    start = text.index("nx=$(")
    program = text[start : text.index("')", start) + 2]
    dev = tmp_path / "dev"
    dev.write_text(
        "Inter-|   Receive |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes ...\n"
        "    lo: 999999 1 0 0 0 0 0 0 999999 1 0 0 0 0 0 0\n"
        "  eth0:1000 2 0 0 0 0 0 0 300 2 0 0 0 0 0 0\n"
        "  eth1: 24 2 0 0 0 0 0 0 76 2 0 0 0 0 0 0\n"
    )
    shell = program.replace("/proc/net/dev", str(dev)) + '\necho "$nx"'
    got = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=True)
    assert got.stdout.split() == ["1024", "376"]


@pytest.mark.parametrize(
    ("name", "content", "want"),
    [
        (
            "io.stat",
            "8:0 rbytes=1000 wbytes=24 rios=3 wios=1 dbytes=0 dios=0\n"
            "259:0 rbytes=0 wbytes=1000 rios=0 wios=1 dbytes=0 dios=0\n",
            "2024",
        ),
        (
            "blkio",
            "8:0 Read 1000\n8:0 Write 24\n8:0 Sync 10\n8:0 Async 1014\n"
            "8:0 Total 1024\nTotal 1024\n",
            "1024",
        ),
    ],
)
def test_real_script_sums_block_io_of_both_cgroup_versions(
    tmp_path: Path, name: str, content: str, want: str
) -> None:
    text = script()
    if name == "io.stat":
        start = text.index("dk=$(awk '{ for")
        program = text[start : text.index('"$f")', start) + 5]
    else:
        start = text.index("dk=$(awk '$2 ==")
        program = text[start : text.index('"$f")', start) + 5]
    f = tmp_path / name
    f.write_text(content)
    got = subprocess.run(
        ["sh", "-c", f'f={f}\n{program}\necho "$dk"'], capture_output=True, text=True, check=True
    )
    assert got.stdout.strip() == want
