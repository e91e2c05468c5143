"""The budget is told once per month and threshold, and a restart (a new watch over the same
store) does not tell it again."""

from pathlib import Path

from rpdevd.daemon.budget import BudgetWatch
from rpdevd.daemon.bus import EventBus
from rpdevd.daemon.store import Store
from rpdevd.ledger import month_bounds

MARCH = month_bounds("2026-03")[0] + 86400.0
APRIL = month_bounds("2026-04")[0] + 86400.0


def test_each_threshold_once_a_month_across_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    told: list[tuple[str, str]] = []
    watch = BudgetWatch(store, EventBus(store), lambda title, body: told.append((title, body)))
    assert watch.check(200.0, 150.0, MARCH) == []
    assert watch.check(200.0, 161.0, MARCH) == [80]
    assert watch.check(200.0, 170.0, MARCH) == []
    again = BudgetWatch(store, EventBus(store), lambda title, body: told.append((title, body)))
    assert again.check(200.0, 190.0, MARCH) == []  # the restarted daemon remembers
    assert again.check(200.0, 201.0, MARCH) == [100]
    assert again.check(200.0, 50.0, APRIL) == []  # a new month starts afresh
    assert again.check(200.0, 250.0, APRIL) == [80, 100]
    kinds = [e.kind for e in store.events(100) if e.kind.startswith("budget.")]
    assert kinds == ["budget.warning", "budget.exceeded", "budget.warning", "budget.exceeded"]
    assert [title for title, _ in told] == [
        "rpdev: 80 % of the budget spent",
        "rpdev: budget exceeded",
        "rpdev: budget exceeded",  # one notification for both thresholds reached at once
    ]
    assert "2026-03: $161.00 spent, 80 % of the monthly budget of $200.00" in told[0][1]
    assert again.check(None, 1e9, APRIL) == []
    store.close()
