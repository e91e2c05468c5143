"""The shared names: what the CLI and the TUI both call a GPU, a sync state and a root's pod."""

from __future__ import annotations

from rpdevd.labels import gpu_label, pull_label, root_pod_label, sync_state_label, view_gpu_label


def test_a_gpu_reads_without_its_vendor_and_with_its_count() -> None:
    assert gpu_label("NVIDIA RTX A6000", 1) == "RTX A6000 x1"
    assert gpu_label("NVIDIA GeForce RTX 4090", 2) == "RTX 4090 x2"
    assert gpu_label("AMD Instinct MI300X", 8) == "MI300X x8"
    assert gpu_label(None, 1) == "GPU x1"
    assert gpu_label("NVIDIA H100", 0) == "CPU"
    assert gpu_label(None, None, "NVIDIA A40 x1") == "NVIDIA A40 x1"  # no count: as the daemon says
    assert gpu_label(None, True) == "CPU"  # a bool is not a count
    view = {"gpu": "RTX A6000 x1", "gpu_type": "NVIDIA RTX A6000", "gpu_count": 1}
    assert view_gpu_label(view) == "RTX A6000 x1"


def test_a_watching_root_reads_live_and_other_states_keep_their_word() -> None:
    assert sync_state_label("watching") == "live"
    for state in ("paused", "waiting", "disconnected", "held", "error", "pod gone"):
        assert sync_state_label(state) == state
    assert sync_state_label(None) == "?"


def test_a_roots_pod_is_named_before_and_after_runpod_answers() -> None:
    pods = [{"id": "abc1", "name": "trainer"}, {"id": "def2", "name": "notebook"}]
    assert root_pod_label({"pod": "trainer", "pod_id": None}, []) == "trainer"  # no answer yet
    assert root_pod_label({"pod": "trainer", "pod_id": None}, pods) == "trainer"
    assert root_pod_label({"pod": "trainer", "pod_id": "abc1"}, pods) == "trainer"
    assert root_pod_label({"pod": "abc1", "pod_id": None}, pods) == "trainer"  # configured by id
    assert root_pod_label({"pod": "abc1", "pod_id": "abc1"}, []) == "abc1"  # nothing better known


def test_a_name_two_pods_share_comes_with_the_id() -> None:
    pods = [{"id": "abc1", "name": "dev"}, {"id": "def2", "name": "dev"}]
    assert root_pod_label({"pod": "dev", "pod_id": "def2"}, pods) == "dev (def2)"
    assert root_pod_label({"pod": "dev", "pod_id": None}, pods) == "dev"  # which one: not known


def test_a_root_that_pulls_says_what_and_how_often() -> None:
    root = {"pull": ["outputs/**/*.png", "logs/"], "pull_interval": 90.0}
    assert pull_label(root) == "pulls 'outputs/**/*.png' 'logs/' back every 1m30s"
    assert pull_label({"pull": [], "pull_interval": 30.0}) is None
    assert pull_label({}) is None  # a daemon older than the field
    assert pull_label({"pull": ["logs/"]}) == "pulls 'logs/' back"
    many = pull_label({"pull": [f"d{i}/" for i in range(7)], "pull_interval": 30})
    assert many == "pulls 'd0/' 'd1/' 'd2/' 'd3/' 'd4/' (+2 more) back every 30s"
    # A control character in a pattern shows as an escape, never reaches the terminal raw.
    assert "\x1b" not in (pull_label({"pull": ["\x1b[2Jx/"]}) or "")
