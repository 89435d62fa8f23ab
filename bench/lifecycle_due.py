"""Benchmark 8: finding the reminders and removals due among N accounts (default 100,000).

qrisbot asks the ledger (indexed SQL on the last day) for the reminders due today, the
accounts past their last day and those due for removal; the peer loads every account and
filters in Python, as bots that keep their accounts in one JSON file or dict do. Time is
the median of 5 rounds; memory is the peak Python allocation during one round
(tracemalloc).
    python bench/lifecycle_due.py [ACCOUNTS]
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from common import machine

from qrisbot.ledger import ACCOUNT_EXPIRED, ACTIVE, REMOVED, Account, Ledger

TODAY = dt.date(2026, 12, 1)
REMIND = (3, 1)
GRACE = 1


def seed(ledger: Ledger, count: int) -> None:
    rng = random.Random(8)
    rows = []
    for n in range(count):
        expires = TODAY + dt.timedelta(days=rng.randint(-60, 365))
        state = ACTIVE if expires >= TODAY else rng.choice((ACCOUNT_EXPIRED, REMOVED, REMOVED))
        rows.append(("sg1", "ssh", f"user{n}", f"pw-{n}", 10_000 + n, 10_000 + n, "id",
                     expires.isoformat(), state, '{"kind": "ssh"}', f"VPN{n}", 0.0, 0.0))
    db = ledger._db  # seeding only: the bench measures the public queries below
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO accounts (server_id, protocol, username, secret, owner_user_id,"
        " owner_chat_id, language, expires_on, state, details, made_by, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.execute("COMMIT")


def qrisbot_due(ledger: Ledger) -> tuple[int, int, int]:
    return (len(ledger.due_reminders(TODAY, REMIND)), len(ledger.past_last_day(TODAY)),
            len(ledger.due_removal(TODAY, GRACE, time.time())))


def full_scan(ledger: Ledger) -> tuple[int, int, int]:
    """Every account in memory, filtered one by one."""
    accounts: list[Account] = ledger.accounts()
    reminders = past = removal = 0
    cutoff = TODAY - dt.timedelta(days=GRACE)
    for a in accounts:
        if a.state != REMOVED and 0 <= (a.expires_on - TODAY).days <= max(REMIND):
            reminders += 1
        if a.state == ACTIVE and a.expires_on < TODAY:
            past += 1
        if a.state == ACCOUNT_EXPIRED and a.expires_on < cutoff:
            removal += 1
    return reminders, past, removal


def measure(find: Callable[[Ledger], tuple[int, int, int]], ledger: Ledger
            ) -> tuple[float, float, tuple[int, int, int]]:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        found = find(ledger)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    find(ledger)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak / 2**20, found


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        ledger = Ledger.open(Path(name) / "ledger.sqlite3")
        seed(ledger, count)
        ours = measure(qrisbot_due, ledger)
        scan = measure(full_scan, ledger)
        ledger.close()
    print(f"machine: {machine()}; {count:,} accounts, last days spread over 60 days past "
          "and a year ahead")
    for label, (seconds, mib, found) in (("qrisbot (indexed)", ours), ("full scan", scan)):
        print(f"{label:18} {seconds * 1000:8.1f} ms  peak {mib:7.1f} MiB  found: "
              f"{found[0]} reminders, {found[1]} past their last day, {found[2]} removals")
    print(f"qrisbot x{scan[0] / ours[0]:.0f} faster, x{scan[1] / max(ours[1], 0.01):.0f} less "
          "memory than a full scan")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
