"""Sync roots kept in the daemon's store come back as they were saved, and a kept setting that is
not one now (saved by an older rpdev) gives way to the default with a line saying so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rpdevd.config import Config
from rpdevd.daemon.store import Store
from rpdevd.daemon.sync_roots import ROOTS_KEY, Root, load_roots, save_roots, saved_root


def kept(**over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "3f9a0c2b1d",
        "pod": "pod-1",
        "local": "/src/proj",
        "remote": "/workspace/proj",
        "source": "runtime",
        "pull": ["logs/"],
        "pull_interval": 5.0,
    }
    entry.update(over)
    return entry


def test_a_kept_root_comes_back_as_saved_and_says_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    root = Root("r1", "pod-1", Path("/src/a"), "/workspace/a", source="runtime")
    root.pull, root.pull_interval = ("*.png",), 2.0
    save_roots(store, {"r1": root})
    said: list[str] = []
    back = load_roots(Config(), store, said)
    assert back["r1"].pull == ("*.png",) and back["r1"].pull_interval == 2.0
    assert said == []
    store.close()


def test_an_interval_under_a_second_gives_way_to_the_default_and_is_said() -> None:
    said: list[str] = []
    root = saved_root(kept(pull_interval=0.2), said)
    assert root is not None and root.pull_interval == 30.0 and root.pull == ("logs/",)
    assert said == [
        "sync root 3f9a0c2b1d: its kept pull interval 0.2 is not one (at least 1s): every 30s "
        "from now on"
    ]


def test_a_pattern_refused_now_pulls_nothing_and_is_said() -> None:
    said: list[str] = []
    root = saved_root(kept(pull=["../etc/\x1b[31m"]), said)
    assert root is not None and root.pull == () and root.pull_interval == 5.0
    assert len(said) == 1 and said[0].startswith("sync root 3f9a0c2b1d: pull pattern")
    assert "\x1b" not in said[0]  # what was kept is cleaned before it reaches a log


def test_an_entry_that_is_not_a_root_is_dropped(tmp_path: Path) -> None:
    said: list[str] = []
    assert saved_root("not a root", said) is None
    assert saved_root({"pod": "p"}, said) is None
    store = Store(tmp_path / "state.db")
    store.put(ROOTS_KEY, [kept(pull_interval=0.5), 7, None])
    assert list(load_roots(Config(), store, said)) == ["3f9a0c2b1d"]
    assert len(said) == 1
    store.close()
