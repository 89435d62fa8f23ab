"""The shop's date and time, in `shop.timezone`.

The daemon reads the wall clock. Tests give a start instead, and the shop's time then
follows trio's clock from there: on trio's MockClock days pass in an instant, so expiry,
reminders and removal can be tested over weeks.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import trio


class Calendar:
    def __init__(self, timezone: str, start: dt.datetime | None = None) -> None:
        self.zone = zoneinfo.ZoneInfo(timezone)
        self._start = start
        self._started_at: float | None = None

    def now(self) -> dt.datetime:
        if self._start is None:
            return dt.datetime.now(self.zone)
        if self._started_at is None:
            self._started_at = trio.current_time()
        elapsed = dt.timedelta(seconds=trio.current_time() - self._started_at)
        return (self._start + elapsed).astimezone(self.zone)

    def today(self) -> dt.date:
        return self.now().date()
