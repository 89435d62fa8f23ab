"""Personal one-time offers in the ledger: a referrer's reward, a win-back discount.

An offer is granted once per thing that earned it (`earned_by` is unique). Its use is the
order that carries it (`orders.offer_id`): it counts while that order is not expired,
cancelled or refunded, so the write that fixes an order's amount takes the offer (checked
in that same write) and the compare-and-set that closes the order unpaid gives it back,
exactly as a promo code's use (ledger/promos.py).
"""

from __future__ import annotations

import enum
import sqlite3
import time
from typing import Final

import attrs

_RETURNED: Final = ("expired", "cancelled", "refunded")
_COUNTED: Final = f"o.state NOT IN ({', '.join(repr(s) for s in _RETURNED)})"


class OfferSource(enum.StrEnum):
    REFERRAL = "referral"
    WINBACK = "winback"


@attrs.frozen
class Offer:
    id: int
    user_id: int
    source: OfferSource = attrs.field(converter=OfferSource)
    percent: int
    valid_until: float | None  # epoch seconds; None: until used
    earned_by: str
    created_at: float
    sent_at: float | None = None

    def off(self, list_amount: int) -> int:
        """Rupiah this offer takes off `list_amount` (before the QRIS minimum)."""
        return list_amount * self.percent // 100


class OfferUnusable(Exception):
    """The order's offer was used by another order meanwhile, or is past its hours."""

    def __init__(self, offer_id: int) -> None:
        super().__init__(f"offer {offer_id} cannot be used now")
        self.offer_id = offer_id


_FIELDS: Final = tuple(f.name for f in attrs.fields(Offer))


def grant(db: sqlite3.Connection, *, user_id: int, source: str, percent: int,
          valid_until: float | None, earned_by: str) -> bool:
    """Record an offer; False when what earned it earned one already (nothing changes)."""
    if not 0 < percent <= 100:
        raise ValueError(f"an offer's percent must be 1-100, not {percent}")
    cursor = db.execute(
        "INSERT OR IGNORE INTO offers (user_id, source, percent, valid_until, earned_by,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (user_id, OfferSource(source).value, percent, valid_until, earned_by, time.time()))
    return cursor.rowcount == 1


def get(db: sqlite3.Connection, offer_id: int) -> Offer | None:
    row = db.execute("SELECT * FROM offers WHERE id=?", (offer_id,)).fetchone()
    return _offer(row) if row is not None else None


def earned(db: sqlite3.Connection, earned_by: str) -> Offer | None:
    row = db.execute("SELECT * FROM offers WHERE earned_by=?", (earned_by,)).fetchone()
    return _offer(row) if row is not None else None


def of_user(db: sqlite3.Connection, user_id: int) -> list[Offer]:
    rows = db.execute("SELECT * FROM offers WHERE user_id=? ORDER BY id", (user_id,))
    return [_offer(row) for row in rows]


def _usable_clause() -> str:
    return (f"(f.valid_until IS NULL OR f.valid_until > ?) AND NOT EXISTS"
            f" (SELECT 1 FROM orders o WHERE o.offer_id=f.id AND {_COUNTED}"
            f" AND o.id != ?)")


def usable(db: sqlite3.Connection, user_id: int, now: float,
           other_than: str = "") -> Offer | None:
    """The person's best offer they may use now (the highest percent; of equals, the one
    that runs out first), or None. `other_than`: an order whose own use is not counted."""
    row = db.execute(
        f"SELECT f.* FROM offers f WHERE f.user_id=? AND {_usable_clause()}"
        f" ORDER BY f.percent DESC, COALESCE(f.valid_until, 1e18), f.id LIMIT 1",
        (user_id, now, other_than)).fetchone()
    return _offer(row) if row is not None else None


def check_use(db: sqlite3.Connection, offer_id: int, *, user_id: int, now: float) -> None:
    """Raise OfferUnusable unless the user may use this offer now: called in the write that
    inserts the order carrying it, which is then its use."""
    row = db.execute(f"SELECT 1 FROM offers f WHERE f.id=? AND f.user_id=? AND"
                     f" {_usable_clause()}", (offer_id, user_id, now, "")).fetchone()
    if row is None:
        raise OfferUnusable(offer_id)


def mark_sent(db: sqlite3.Connection, offer_id: int, sent_at: float,
              valid_until: float | None) -> bool:
    """Record that the person was told (once: False when it was recorded already)."""
    cursor = db.execute("UPDATE offers SET sent_at=?, valid_until=? WHERE id=?"
                        " AND sent_at IS NULL", (sent_at, valid_until, offer_id))
    return cursor.rowcount == 1


def _offer(row: sqlite3.Row) -> Offer:
    return Offer(**{f: row[f] for f in _FIELDS})


# --- win-back offers (shop/winback.py) ----------------------------------------------------

def removed_on(db: sqlite3.Connection, last_days: list[str]) -> list[int]:
    """Accounts removed by the shop (not trials, not the operator's removals) whose last day
    is one of `last_days` (ISO), oldest first: their owners may be offered a win-back."""
    if not last_days:
        return []
    rows = db.execute(
        f"SELECT id FROM accounts WHERE state='removed' AND ends_at IS NULL AND"
        f" remove_asked=0 AND owner_user_id IS NOT NULL AND owner_chat_id IS NOT NULL AND"
        f" expires_on IN ({','.join('?' * len(last_days))}) ORDER BY id", last_days)
    return [int(row["id"]) for row in rows]


def bought_since(db: sqlite3.Connection, user_id: int, since: float) -> bool:
    """Has the person paid for an order written after `since` (the ledger's own clock)?"""
    return db.execute("SELECT 1 FROM orders WHERE user_id=? AND paid_at IS NOT NULL AND"
                      " created_at > ? AND amount > 0 LIMIT 1",
                      (user_id, since)).fetchone() is not None


def sent_since(db: sqlite3.Connection, user_id: int, since: float) -> bool:
    """Was the person sent an offer at or after `since` (shop time, epoch seconds)?"""
    return db.execute("SELECT 1 FROM offers WHERE user_id=? AND sent_at >= ? LIMIT 1",
                      (user_id, since)).fetchone() is not None


def grant_sent(db: sqlite3.Connection, *, user_id: int, source: str, percent: int,
               earned_by: str, sent_at: float, valid_until: float) -> Offer | None:
    """Grant an offer recorded as sent now (before the message goes: once, whatever
    crashes); None when what earned it earned one already."""
    if not grant(db, user_id=user_id, source=source, percent=percent,
                 valid_until=valid_until, earned_by=earned_by):
        return None
    db.execute("UPDATE offers SET sent_at=? WHERE earned_by=?", (sent_at, earned_by))
    return earned(db, earned_by)
