"""The pure rules behind every cell and line the TUI shows."""

from __future__ import annotations

from typing import Any

from rpdevd import views
from rpdevd.views import PodView, SyncRootView
from tui import format as fmt

NOW = 1_800_000_000.0


def pod(**kw: Any) -> PodView:
    """A pod view as the TUI holds it: read from the daemon's answer, every key present."""
    return views.read(PodView, kw)


def root(**kw: Any) -> SyncRootView:
    return views.read(SyncRootView, kw)


def test_safe_strips_control_characters_and_bounds_length() -> None:
    assert fmt.safe("x\n  ProxyCommand evil\x1b[31m", 100) == "x?  ProxyCommand evil?[31m"
    assert fmt.safe("a" * 50, 10) == "a" * 9 + "…"
    assert fmt.safe(None) == ""


def test_num_refuses_what_is_not_a_finite_number() -> None:
    assert fmt.num(2) == 2.0
    for bad in (True, "3", None, float("nan"), float("inf"), [1]):
        assert fmt.num(bad) is None


def test_idle_column_says_what_the_idle_logic_thinks() -> None:
    base: dict[str, Any] = {"status": "RUNNING", "policy": "idle-stop"}
    busy = pod(**base, idle_state="busy: GPU 97 %")
    assert fmt.idle_label(busy, NOW).plain == "busy: GPU 97 %"
    counting = pod(**base, idle_state="idle, stops in 13:00", idle_deadline=NOW + 760)
    assert fmt.idle_label(counting, NOW).plain == "idle, stops in 12:40"  # ticks locally
    assert fmt.idle_label(counting, NOW + 10_000).plain == "idle, stops in 0:00"
    assert fmt.idle_label(pod(**base, hold_until=NOW + 4800), NOW).plain == "held 1h20"
    assert fmt.idle_label(pod(**base, hold_until="forever"), NOW).plain.startswith("held until")
    assert fmt.idle_label(pod(**base, hold_until=NOW - 1), NOW).plain == "watching"
    assert fmt.idle_label(pod(status="EXITED", policy="manual"), NOW).plain == "-"


def test_gpu_label_is_short_and_counts() -> None:
    assert fmt.gpu_label(pod(gpu_type="NVIDIA H100 80GB HBM3", gpu_count=2)) == "H100 80GB HBM3 x2"
    assert fmt.gpu_label(pod(gpu_count=0, gpu="CPU")) == "CPU"
    assert fmt.gpu_label(pod(gpu_type="NVIDIA GeForce RTX 4090", gpu_count=1), 8) == "RTX 409…"


def test_sync_summary_puts_trouble_first() -> None:
    assert fmt.sync_label([]).plain == "-"
    live = root(state="live")
    assert fmt.sync_label([live]).plain == "live"
    assert fmt.sync_label([live, live]).plain == "2 live"
    assert fmt.sync_label([live, root(paused=True)]).plain == "2 live"
    assert fmt.sync_label([root(paused=True)]).plain == "paused"
    assert fmt.sync_label([live, root(last_error="x")]).plain == "error"
    assert fmt.sync_label([root(last_error="x"), root(state="conflict")]).plain == "conflict"
    assert fmt.sync_label([live, root(state="held", held=1200)]).plain == "1200 held"
    assert fmt.sync_label([root(held=3), root(last_error="x")]).plain == "error"


def test_sync_summary_shows_how_far_a_running_pass_is() -> None:
    """The daemon's `progress` is the last `sync.progress` event's data (bytes and files done
    of the total), not a fraction."""
    running = root(
        state="watching",
        progress={"bytes_done": 40, "bytes_total": 100, "files_done": 1, "files_total": 9},
    )
    assert fmt.sync_label([root(state="watching"), running]).plain == "⟳ 40%"
    by_files = root(progress={"bytes_total": 0, "files_done": 3, "files_total": 4})
    assert fmt.sync_label([by_files]).plain == "⟳ 75%"
    done = root(state="watching", progress={"bytes_done": 100, "bytes_total": 100})
    assert fmt.sync_label([done]).plain == "live"


def test_sync_summary_names_states_as_the_cli_does() -> None:
    """One word per state in the TUI and the CLI: the daemon's `watching` reads `live`, and a
    root whose edits wait says so instead of `live`."""
    assert fmt.sync_label([root(state="watching")]).plain == "live"
    assert fmt.sync_label([root(state="watching"), root(state="disconnected")]).plain == (
        "disconnected"
    )
    assert fmt.sync_label([root(state="waiting")]).plain == "waiting"
    assert fmt.sync_label([root(state="pod gone")]).plain == "pod gone"


def test_problems_say_what_to_do() -> None:
    view = pod(
        last_error="resume failed: There are not enough free GPUs on the host machine",
        endpoint_state="unreachable",
        warning={"stop_at": NOW + 90, "reason": "idle 25m"},
    )
    roots = [
        root(local="/src", state="conflict", last_error="a.py changed on both"),
        root(local="/data", state="held", held=1200),
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
    listed = [pod(id="1", name="b"), pod(id="2", name="z", managed=True)]
    listed.append(pod(id="3", name="a", managed=True))
    assert [v["id"] for v in sorted(listed, key=fmt.pod_sort_key)] == ["3", "2", "1"]
