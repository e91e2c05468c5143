"""The budget is told once per month and threshold, and a restart (a new watch over the same
store) does not tell it again; the status shows the month's spend against it with what was told."""

from pathlib import Path

from rpdevd.daemon.budget import BudgetWatch, budget_view, month_spent
from rpdevd.daemon.bus import EventBus
from rpdevd.daemon.state import PodState
from rpdevd.daemon.store import Store
from rpdevd.ledger import budget_spent, month_bounds, month_report
from rpdevd.models import Pod

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


def test_the_status_budget_is_the_months_spend_and_what_was_told(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    watch = BudgetWatch(store, EventBus(store), lambda title, body: None)
    assert budget_view(store, None, 150.0, MARCH) is None  # no [budget]: nothing to show
    # Every pod on the account counts, managed or not.
    pods = [
        PodState(Pod.from_api({"id": "a1", "name": "a"}), managed=True, spend_month=100.0),
        PodState(Pod.from_api({"id": "b2", "name": "b"}), managed=False, spend_month=23.4),
    ]
    assert budget_view(store, 200.0, month_spent(pods), MARCH) == {
        "month": "2026-03",
        "monthly": 200.0,
        "spent": 123.4,
        "percent": 61.7,
        "told": [],
    }
    watch.check(200.0, 161.0, MARCH)
    view = budget_view(store, 200.0, 161.0, MARCH)
    assert view is not None and view["told"] == [80] and view["percent"] == 80.5
    assert budget_view(store, 200.0, 0.0, APRIL) == {
        "month": "2026-04",
        "monthly": 200.0,
        "spent": 0.0,
        "percent": 0.0,
        "told": [],  # told in March, not in April
    }
    # `rpdev cost` reads the same figures for the same spend.
    assert month_report([], "2026-03", MARCH, 200.0)["budget"] == budget_spent(200.0, 0.0)
    store.close()
