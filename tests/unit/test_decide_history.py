"""Stored samples: bounded retention in SQLite, exported traces that replay the same."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from rpdevd.activity.decide import Policy, replay
from rpdevd.activity.history import SampleHistory
from rpdevd.activity.samples import Sample, dump_trace, iter_trace, load_trace

TRACES = Path(__file__).resolve().parents[1] / "traces"


def test_history_keeps_a_bounded_number_per_pod(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    history = SampleHistory(db, max_per_pod=50, prune_every=10)
    for i in range(200):
        history.add("pod1", Sample(t=1000.0 + 60 * i))
    history.add("pod2", Sample(t=5000.0))
    assert 50 <= history.count("pod1") < 60
    kept = list(history.samples("pod1"))
    assert kept[-1].t == 1000.0 + 60 * 199 and kept == sorted(kept, key=lambda s: s.t)
    assert history.count("pod2") == 1
    history.forget("pod1")
    assert history.count("pod1") == 0 and history.count("pod2") == 1


def test_history_drops_samples_older_than_max_age() -> None:
    history = SampleHistory(sqlite3.connect(":memory:"), max_age=3600, prune_every=1)
    for i in range(180):
        history.add("p", Sample(t=60.0 * i))
    assert [s.t for s in history.samples("p")][0] >= 179 * 60 - 3600
    assert [s.t for s in history.samples("p", since=170 * 60)][0] == 170 * 60


def test_exported_trace_replays_like_the_original() -> None:
    original = load_trace(TRACES / "notebook-cells-then-memory-held.jsonl")
    history = SampleHistory(sqlite3.connect(":memory:"))
    for s in original:
        history.add("abc", s)
    out = io.StringIO()
    assert dump_trace(history.samples("abc"), out) == len(original)
    again = list(iter_trace(out.getvalue().splitlines()))
    assert again == original
    assert replay(again, Policy()) == replay(original, Policy())


def test_export_without_a_daemon_says_so(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rpdevd.cli import main

    assert main(["idle", "export", "abc123"]) == 3
    assert "rpdevd is not running" in capsys.readouterr().err
