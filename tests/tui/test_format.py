"""The pure rules behind every cell and line the TUI shows."""

from __future__ import annotations

from tui import format as fmt

NOW = 1_800_000_000.0


def test_safe_strips_control_characters_and_bounds_length() -> None:
    assert fmt.safe("x\n  ProxyCommand evil\x1b[31m", 100) == "x?  ProxyCommand evil?[31m"
    assert fmt.safe("a" * 50, 10) == "a" * 9 + "…"
    assert fmt.safe(None) == ""


def test_num_refuses_what_is_not_a_finite_number() -> None:
    assert fmt.num(2) == 2.0
    for bad in (True, "3", None, float("nan"), float("inf"), [1]):
        assert fmt.num(bad) is None


def test_idle_column_says_what_the_idle_logic_thinks() -> None:
    base = {"status": "RUNNING", "policy": "idle-stop"}
    assert fmt.idle_label({**base, "idle_state": "busy: GPU 97 %"}, NOW).plain == "busy: GPU 97 %"
    counting = {**base, "idle_state": "idle, stops in 13:00", "idle_deadline": NOW + 760}
    assert fmt.idle_label(counting, NOW).plain == "idle, stops in 12:40"  # ticks locally
    assert fmt.idle_label(counting, NOW + 10_000).plain == "idle, stops in 0:00"
    assert fmt.idle_label({**base, "hold_until": NOW + 4800}, NOW).plain == "held 1h20"
    assert fmt.idle_label({**base, "hold_until": "forever"}, NOW).plain.startswith("held until")
    assert fmt.idle_label({**base, "hold_until": NOW - 1}, NOW).plain == "watching"
    assert fmt.idle_label({"status": "EXITED", "policy": "manual"}, NOW).plain == "-"


def test_gpu_label_is_short_and_counts() -> None:
    assert (
        fmt.gpu_label({"gpu_type": "NVIDIA H100 80GB HBM3", "gpu_count": 2}) == "H100 80GB HBM3 x2"
    )
    assert fmt.gpu_label({"gpu_count": 0, "gpu": "CPU"}) == "CPU"
    assert fmt.gpu_label({"gpu_type": "NVIDIA GeForce RTX 4090", "gpu_count": 1}, 8) == "RTX 409…"


def test_sync_summary_puts_trouble_first() -> None:
    assert fmt.sync_label([]).plain == "-"
    live = {"state": "live", "progress": 1.0}
    assert fmt.sync_label([live]).plain == "live"
    assert fmt.sync_label([live, live]).plain == "2 live"
    assert fmt.sync_label([live, {"progress": 0.4}]).plain == "⟳ 40%"
    assert fmt.sync_label([live, {"paused": True}]).plain == "2 live"
    assert fmt.sync_label([{"paused": True}]).plain == "paused"
    assert fmt.sync_label([live, {"last_error": "x"}]).plain == "error"
    assert fmt.sync_label([{"last_error": "x"}, {"state": "conflict"}]).plain == "conflict"
    assert fmt.sync_label([live, {"state": "held", "held": 1200}]).plain == "1200 held"
    assert fmt.sync_label([{"held": 3}, {"last_error": "x"}]).plain == "error"


def test_sync_summary_names_states_as_the_cli_does() -> None:
    """One word per state in the TUI and the CLI: the daemon's `watching` reads `live`, and a
    root whose edits wait says so instead of `live`."""
    assert fmt.sync_label([{"state": "watching"}]).plain == "live"
    assert fmt.sync_label([{"state": "watching"}, {"state": "disconnected"}]).plain == (
        "disconnected"
    )
    assert fmt.sync_label([{"state": "waiting"}]).plain == "waiting"
    assert fmt.sync_label([{"state": "pod gone"}]).plain == "pod gone"


def test_problems_say_what_to_do() -> None:
    view = {
        "last_error": "resume failed: There are not enough free GPUs on the host machine",
        "endpoint_state": "unreachable",
        "warning": {"stop_at": NOW + 90, "reason": "idle 25m"},
    }
    roots = [
        {"local": "/src", "state": "conflict", "last_error": "a.py changed on both"},
        {"local": "/data", "state": "held", "held": 1200},
    ]
    got = fmt.problems(view, roots, NOW)
    assert [p.title for p in got] == [
        "No free GPUs",
        "Pod unreachable over SSH",
        "Sync conflict",
        "Deletions held",
        "Idle stop in 1:30",
    ]
    assert "1200 files" in got[3].detail and "press d" in got[3].advice
    assert all(p.advice for p in got)
    assert got[-1].level == "warning" and "Press H" in got[-1].advice


def test_activity_series_uses_the_busiest_gpu_and_skips_old_samples() -> None:
    samples = [
        {"t": NOW - 7200, "gpus": [{"util": 99}], "cpu_pct": 99},  # older than the window
        {"t": NOW - 60, "gpus": [{"util": 10}, {"util": 90}], "cpu_pct": 5},
        {"t": NOW - 120, "gpus": [{"util": None}], "api_gpu_util": [40], "cpu_pct": 7},
        {"t": NOW - 30, "probe": "unreachable"},
        "junk",
    ]
    gpu, cpu = fmt.series(samples, NOW - 3600)  # type: ignore[arg-type]
    assert gpu == [40.0, 90.0, 0.0] and cpu == [7.0, 5.0, 0.0]


def test_sample_summary() -> None:
    sample = {
        "t": NOW - 90,
        "gpus": [
            {"util": 3, "mem_used_mib": 1024, "mem_total_mib": 81920},
            {"util": 97, "mem_used_mib": 1024, "mem_total_mib": 81920},
        ],
        "cpu_pct": 41.5,
        "ssh_sessions": 1,
        "ide_clients": 0,
        "local_edits": 3,
    }
    assert (
        fmt.sample_summary(sample, NOW)
        == "GPU 97 % (busiest of 2), mem 2/160 GiB, CPU 42 %, ssh 1, edits 3 (1m ago)"
    )
    assert "unreachable" in fmt.sample_summary({"t": NOW, "probe": "unreachable"}, NOW)
    assert fmt.sample_summary(None, NOW) == "no activity sample yet"
    assert "N/A" in fmt.sample_summary({"gpus": [{"util": None}]}, NOW)


def test_managed_pods_sort_first() -> None:
    views = [
        {"id": "1", "name": "b"},
        {"id": "2", "name": "z", "managed": True},
        {"id": "3", "name": "a", "managed": True},
    ]
    assert [v["id"] for v in sorted(views, key=fmt.pod_sort_key)] == ["3", "2", "1"]
