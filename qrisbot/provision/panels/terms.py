"""What a panel account is given, by the shop's rules: its traffic limit and its expiry.

Quota rule: 1 GB = 2^30 bytes (as the panels' own pages count it); a new account gets
`quota_gb x months`, a trial its hours' share of a month (at least 1 GB), a renewal adds
`quota_gb x months` to the limit without touching what was used. 0 means unlimited.
Expiry: the end of the account's last day (23:59:59) in the shop's time zone.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Final

GB: Final = 2**30


def quota_bytes(quota_gb: int, *, months: int, days: int, days_per_month: int,
                hours: int = 0) -> int:
    """The traffic `months` paid months buy (a trial, months 0: its `hours`, or without
    them its `days`); 0 = unlimited."""
    if quota_gb <= 0:
        return 0
    if months > 0:
        return quota_gb * months * GB
    if hours > 0:
        return max(GB, quota_gb * GB * hours // (days_per_month * 24))
    return max(GB, quota_gb * GB * max(days, 0) // days_per_month)


def end_of_day(day: dt.date, zone: zoneinfo.ZoneInfo) -> int:
    """UTC epoch seconds of the last second of `day` in the shop's zone."""
    return int(dt.datetime.combine(day, dt.time(23, 59, 59), zone).timestamp())


def last_day(expire: int, zone: zoneinfo.ZoneInfo) -> dt.date:
    """The last day an expiry lets the account in: an expiry at midnight ends the day
    before (the second before it is the last one)."""
    return dt.datetime.fromtimestamp(expire - 1, zone).date()
