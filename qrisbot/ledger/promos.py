"""Promo codes in the ledger: the codes the seller made, and whether one may be used now.

A code's use is the order that carries it: it counts while that order is not expired,
cancelled or refunded. So the write that fixes an order's amount counts the use (checked
in that same write), and the compare-and-set that closes the order unpaid gives it back,
exactly once whatever crashes in between. A payment that lands late on an expired order
is honoured at the price it showed, even if the code was used up meanwhile.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import sqlite3
import time
from typing import Final

import attrs

# What a code may be: typed in any case, stored in capitals. Anything else (look-alike
# letters, invisible characters, a page of text) is no code at all.
CODE: Final = re.compile(r"[A-Z0-9_-]{3,32}")
# Order states in which a code's use is given back.
_RETURNED: Final = ("expired", "cancelled", "refunded")
_COUNTED: Final = f"state NOT IN ({', '.join(repr(s) for s in _RETURNED)})"


def normalise(raw: str) -> str | None:
    """The code a buyer or the operator typed, in capitals; None when it cannot be one."""
    if len(raw) > 64:
        return None
    code = raw.strip(" \t\r\n")  # only plain spaces around: nothing invisible
    # ASCII before upper(): "ı".upper() is "I", "ß".upper() is "SS".
    return code.upper() if code.isascii() and CODE.fullmatch(code.upper()) else None


class Refusal(enum.StrEnum):
    """Why a code cannot be used on an order (its value names the buyer's message)."""

    UNKNOWN = "promo_unknown"
    EXPIRED = "promo_expired"  # past its last day, or disabled
    USED_UP = "promo_used_up"
    NOT_FOR_SERVER = "promo_not_for_server"
    RENEWALS_ONLY = "promo_renewals_only"
    PURCHASES_ONLY = "promo_purchases_only"
    NOT_FOR_YOU = "promo_not_for_you"  # the buyer's own uses, or new buyers only


class PromoRefused(Exception):
    def __init__(self, code: str, refusal: Refusal) -> None:
        super().__init__(f"promo code {code}: {refusal.name.lower()}")
        self.code = code
        self.refusal = refusal


def _date_or_none(value: str | dt.date | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _servers(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    return tuple(value.split(",")) if value else ()


@attrs.frozen
class Promo:
    """A code as the seller made it. Exactly one of `percent` and `amount` is set."""

    code: str
    percent: int | None = None
    amount: int | None = None  # rupiah off
    max_uses: int | None = None  # None: no limit
    per_user: int | None = None
    until: dt.date | None = attrs.field(default=None, converter=_date_or_none)  # inclusive
    servers: tuple[str, ...] = attrs.field(default=(), converter=_servers)  # (): every one
    new_buyers_only: bool = attrs.field(default=False, converter=bool)
    kind: str | None = None  # 'purchase' or 'renewal' only; None: both
    disabled_at: float | None = None
    created_at: float = 0.0

    def off(self, list_amount: int) -> int:
        """Rupiah this code takes off `list_amount` (before the QRIS minimum is applied)."""
        if self.percent is not None:
            return list_amount * self.percent // 100
        return min(self.amount or 0, list_amount)


@attrs.frozen
class PromoUse:
    """A code with how often it is used now (orders not closed unpaid)."""

    promo: Promo
    uses: int

    @property
    def left(self) -> int | None:
        if self.promo.max_uses is None:
            return None
        return max(self.promo.max_uses - self.uses, 0)


_FIELDS: Final = tuple(f.name for f in attrs.fields(Promo))


def add(db: sqlite3.Connection, promo: Promo) -> bool:
    """Record a new code; False when the code exists already (enabled or not)."""
    values = attrs.asdict(promo)
    values["until"] = promo.until.isoformat() if promo.until else None
    values["servers"] = ",".join(promo.servers) or None
    values["new_buyers_only"] = int(promo.new_buyers_only)
    values["created_at"] = time.time()
    cursor = db.execute(
        f"INSERT OR IGNORE INTO promo_codes ({', '.join(_FIELDS)})"
        f" VALUES ({', '.join('?' * len(_FIELDS))})", tuple(values[f] for f in _FIELDS))
    return cursor.rowcount == 1


def get(db: sqlite3.Connection, code: str) -> Promo | None:
    row = db.execute("SELECT * FROM promo_codes WHERE code=?", (code,)).fetchone()
    return Promo(**{f: row[f] for f in _FIELDS}) if row is not None else None


def listing(db: sqlite3.Connection) -> list[PromoUse]:
    rows = db.execute(
        f"SELECT p.*, (SELECT COUNT(*) FROM orders o WHERE o.promo_code=p.code AND"
        f" {_COUNTED}) AS uses FROM promo_codes p ORDER BY p.created_at, p.code").fetchall()
    return [PromoUse(Promo(**{f: row[f] for f in _FIELDS}), int(row["uses"])) for row in rows]


def disable(db: sqlite3.Connection, code: str) -> bool:
    """False when there is no such code (or it was disabled already)."""
    cursor = db.execute("UPDATE promo_codes SET disabled_at=? WHERE code=?"
                        " AND disabled_at IS NULL", (time.time(), code))
    return cursor.rowcount == 1


def any_usable(db: sqlite3.Connection, today: dt.date) -> bool:
    """Is there a code a buyer might use today (to offer the question at all)?"""
    return db.execute("SELECT 1 FROM promo_codes WHERE disabled_at IS NULL AND"
                      " (until IS NULL OR until >= ?) LIMIT 1",
                      (today.isoformat(),)).fetchone() is not None


def refusal(db: sqlite3.Connection, code: str, *, user_id: int, server_id: str, kind: str,
            today: dt.date, other_than: str = "") -> tuple[Promo | None, Refusal | None]:
    """The code, and why it may not be used by this user on an order of `kind` on that
    server today (None: it may). `other_than`: an order whose own use is not counted."""
    promo = get(db, code)
    if promo is None:
        return None, Refusal.UNKNOWN
    if promo.disabled_at is not None or (promo.until is not None and promo.until < today):
        return promo, Refusal.EXPIRED
    if promo.servers and server_id not in promo.servers:
        return promo, Refusal.NOT_FOR_SERVER
    if promo.kind is not None and promo.kind != kind:
        return promo, (Refusal.RENEWALS_ONLY if promo.kind == "renewal"
                       else Refusal.PURCHASES_ONLY)
    if promo.max_uses is not None and _uses(db, code, other_than) >= promo.max_uses:
        return promo, Refusal.USED_UP
    if promo.per_user is not None and _uses(db, code, other_than, user_id) >= promo.per_user:
        return promo, Refusal.NOT_FOR_YOU
    if promo.new_buyers_only and db.execute(
            "SELECT 1 FROM orders WHERE user_id=? AND paid_at IS NOT NULL AND amount > 0"
            " AND id != ? LIMIT 1", (user_id, other_than)).fetchone():
        return promo, Refusal.NOT_FOR_YOU
    return promo, None


def _uses(db: sqlite3.Connection, code: str, other_than: str,
          user_id: int | None = None) -> int:
    return int(db.execute(
        f"SELECT COUNT(*) FROM orders WHERE promo_code=? AND id != ? AND {_COUNTED}"
        f" AND user_id = COALESCE(?, user_id)", (code, other_than, user_id)).fetchone()[0])
