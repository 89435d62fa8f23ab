"""Figures per day in the shop's time zone (the sales chart): money paid, split new /
renewal, and the accounts that were working.

The ledger keeps no history of an account's states, so the accounts working on a past day
are reconstructed from what each account row says: made by then (`created_at`), its last
day not yet past (`expires_on`), not removed by then (a removed account's `updated_at` is
its removal). A lapse that a late renewal covered again counts as working.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence

import attrs


@attrs.frozen
class Day:
    day: dt.date
    new: int  # rupiah paid that day for purchases
    renewals: int  # rupiah paid that day for renewals
    new_orders: int
    renewal_orders: int
    # Paid accounts (trials left out) working at the day's end; today's: now.
    active: int

    @property
    def revenue(self) -> int:
        return self.new + self.renewals


@attrs.frozen
class Paid:
    at: float  # paid_at, epoch seconds
    renewal: bool
    amount: int


@attrs.frozen
class Life:
    """An account's span as its row tells it."""

    created_at: float
    expires_on: dt.date
    removed_at: float | None


def starts(days: Sequence[dt.date], zone: dt.tzinfo) -> list[float]:
    """Epoch seconds of each day's first moment in `zone`, and of the day after the last."""
    edges = [*days, days[-1] + dt.timedelta(days=1)]
    return [dt.datetime.combine(day, dt.time(), zone).timestamp() for day in edges]


def tally(days: Sequence[dt.date], zone: dt.tzinfo, now: float, paid: Iterable[Paid],
          lives: Iterable[Life]) -> list[Day]:
    """The figures of consecutive `days` (oldest first)."""
    edges = starts(days, zone)
    # The moment each day's "active" is read at: its end, or now for a day not over yet.
    moments = [min(end, now) for end in edges[1:]]
    n = len(days)
    money = [[0, 0, 0, 0] for _ in days]  # new, renewals, new orders, renewal orders
    for order in paid:
        i = bisect.bisect_right(edges, order.at) - 1
        if 0 <= i < n:
            money[i][1 if order.renewal else 0] += order.amount
            money[i][3 if order.renewal else 2] += 1
    # Each account works over a run of consecutive days: count it with a difference array.
    change = [0] * (n + 1)
    for life in lives:
        first = bisect.bisect_left(moments, life.created_at)
        # Its last day, and the last day it was still there at that day's moment.
        last = bisect.bisect_right(days, life.expires_on) - 1
        if life.removed_at is not None:
            last = min(last, bisect.bisect_left(moments, life.removed_at) - 1)
        if first <= last:
            change[first] += 1
            change[last + 1] -= 1
    figures, active = [], 0
    for i, day in enumerate(days):
        active += change[i]
        new, renewals, new_orders, renewal_orders = money[i]
        figures.append(Day(day, new, renewals, new_orders, renewal_orders, active))
    return figures
