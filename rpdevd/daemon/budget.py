"""The monthly budget (`[budget] monthly`): an event and a desktop notification when the month's
spend reaches 80 % and 100 % of it, once per month and threshold. What was told is kept in the
store (`budget:YYYY-MM`), so a restart does not tell it again."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rpdevd import ledger
from rpdevd.daemon.bus import EventBus
from rpdevd.daemon.notify import notify_desktop
from rpdevd.daemon.state import PodState
from rpdevd.daemon.store import Store
from rpdevd.protocol import EventKind
from rpdevd.views import BudgetView


def told_in(store: Store, month: str) -> list[int]:
    """The thresholds (percent) already told in `month`, as the store keeps them."""
    stored = store.get(f"budget:{month}", [])
    if not isinstance(stored, list):
        return []
    return sorted({p for p in stored if isinstance(p, int) and not isinstance(p, bool)})


def month_spent(pods: Iterable[PodState]) -> float:
    """This month's spend over every pod on the account (their `spend_month`): what the view
    below shows and the watch below is given."""
    return sum(state.spend_month for state in pods)


def budget_view(
    store: Store, monthly: float | None, spent_month: float, now: float
) -> BudgetView | None:
    """The status's `budget`: this month's spend over every pod (`month_spent`) against
    `[budget] monthly`; None without a budget."""
    spent = ledger.budget_spent(monthly, spent_month)
    if spent is None:
        return None
    month = ledger.month_of(now)
    return {
        "month": month,
        "monthly": spent["monthly"],
        "spent": spent["spent"],
        "percent": spent["percent"],
        "told": told_in(store, month),
    }


class BudgetWatch:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        notify: Callable[[str, str], None] = notify_desktop,
    ) -> None:
        self.store, self.bus, self.notify = store, bus, notify
        self._month = ""
        self._told: set[int] = set()

    def check(self, monthly: float | None, spent: float, now: float) -> list[int]:
        """Tell what `spent` (this month's spend over all pods) newly reached; return it."""
        month = ledger.month_of(now)
        if month != self._month:
            self._told = set(told_in(self.store, month))
            self._month = month
        due = ledger.budget_due(spent, monthly, self._told)
        if not due or monthly is None:
            return []
        self._told.update(due)
        self.store.put(f"budget:{month}", sorted(self._told))
        for pct in due:  # both at once after a jump: each threshold's event, one notification
            exceeded = pct >= 100
            text = (
                f"{month}: ${spent:.2f} spent, "
                + ("over" if exceeded else f"{pct} % of")
                + f" the monthly budget of ${monthly:.2f}"
            )
            self.bus.emit(
                EventKind.BUDGET_EXCEEDED if exceeded else EventKind.BUDGET_WARNING,
                text,
                level="error" if exceeded else "warning",
                month=month,
                spent=round(spent, 2),
                monthly=monthly,
                percent=pct,
            )
        self.notify(
            "rpdev: budget exceeded" if exceeded else f"rpdev: {pct} % of the budget spent",
            text + " (`rpdev cost` shows it per pod)",
        )
        return due
