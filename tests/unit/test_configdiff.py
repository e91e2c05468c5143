"""What a reload of config.toml changes (rpdevd/daemon/configdiff.py): pure, over parsed configs."""

from __future__ import annotations

from rpdevd.config import parse_config
from rpdevd.daemon.configdiff import diff, pod_keys_changed

BASE = """
probe_interval = "60s"
[[pod]]
name = "trainer"
policy = "idle-stop"
[[sync]]
pod = "trainer"
local = "/src/a"
remote = "/workspace/a"
[[sync]]
pod = "trainer"
local = "/src/b"
remote = "/workspace/b"
"""


def test_the_same_config_changes_nothing() -> None:
    change = diff(parse_config(BASE), parse_config(BASE))
    assert change.empty and change.lines() == []


def test_a_policy_edit_names_the_pod_and_the_key() -> None:
    change = diff(parse_config(BASE), parse_config(BASE.replace("idle-stop", "keep-alive")))
    assert [(p.ref, p.keys) for p in change.pods] == [("trainer", ("policy",))]
    assert change.lines() == ["pod trainer: policy changed"]


def test_only_the_roots_that_differ_are_named() -> None:
    new = BASE.replace('local = "/src/b"', 'local = "/src/c"') + (
        '[[sync]]\npod = "trainer"\nlocal = "/src/a"\nremote = "/workspace/x"\n'
    )
    new = new.replace('remote = "/workspace/a"', 'remote = "/workspace/a"\nignore = ["*.ckpt"]', 1)
    change = diff(parse_config(BASE), parse_config(new))
    assert sorted(str(s.local) + s.remote for s in change.syncs_added) == [
        "/src/a/workspace/x",
        "/src/c/workspace/b",
    ]
    assert [str(s.local) for s in change.syncs_removed] == ["/src/b"]
    assert [(str(s.local), s.ignore) for s in change.syncs_changed] == [("/src/a", ("*.ckpt",))]


def test_a_disabled_root_counts_as_removed() -> None:
    new = BASE.replace('remote = "/workspace/b"', 'remote = "/workspace/b"\nenabled = false')
    change = diff(parse_config(BASE), parse_config(new))
    assert [str(s.local) for s in change.syncs_removed] == ["/src/b"]
    assert not change.syncs_added and not change.syncs_changed


def test_live_settings_apply_and_start_only_settings_are_named() -> None:
    new = BASE.replace('"60s"', '"5s"') + "probe_concurrency = 4\n"
    new = new.replace("[[pod]]", 'net_threshold = "1MB/s"\n[[pod]]', 1)
    change = diff(parse_config(BASE), parse_config(new.replace("probe_concurrency = 4\n", "")))
    assert [k for k, _, _ in change.settings] == ["probe_interval", "net_threshold"]
    assert change.lines()[0] == "probe_interval: 60 -> 5"
    moved = "probe_concurrency = 4\n" + BASE
    assert diff(parse_config(BASE), parse_config(moved)).restart_needed == ("probe_concurrency",)


def test_forwards_added_and_removed() -> None:
    fwd = '[[forward]]\npod = "trainer"\nlocal = 8888\nremote = 8888\n'
    change = diff(parse_config(BASE), parse_config(BASE + fwd))
    assert [(f.local, f.remote) for f in change.forwards_added] == [(8888, 8888)]
    back = diff(parse_config(BASE + fwd), parse_config(BASE))
    assert [f.local for f in back.forwards_removed] == [8888]


def test_a_pod_entering_or_leaving_config_changes_every_overridable_key() -> None:
    pc = parse_config(BASE).pods[0]
    assert pod_keys_changed(None, pc)[0] == "managed"
    assert "policy" in pod_keys_changed(pc, None)
    assert pod_keys_changed(pc, pc) == ()
    assert pod_keys_changed(None, None) == ()


def test_guard_after_applies_live() -> None:
    change = diff(parse_config(BASE), parse_config('guard_after = "5m"\n' + BASE))
    assert change.settings == (("guard_after", 600.0, 300.0),)
    assert "pod trainer: guard_after changed" in change.lines()
