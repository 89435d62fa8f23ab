"""Resellers in the ledger: who buys at their own prices (a percent off every server's
price, or a price per server), and what they bought.

A reseller's price is read when a confirmation is shown and fixed on the order (its
`list_amount`) in the write that creates it, like any price: adding, changing or removing a
reseller never changes an order already shown.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

import attrs


def _prices(value: str | Mapping[str, int]) -> dict[str, int]:
    raw: Any = json.loads(value) if isinstance(value, str) else value
    if not isinstance(raw, dict):
        return {}
    # Whatever else the column might hold is no price.
    return {str(k): v for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}


@attrs.frozen
class Reseller:
    """A reseller: `prices` (server id -> rupiah a month) wins over `discount_percent`."""

    user_id: int
    discount_percent: int = 0
    prices: dict[str, int] = attrs.field(factory=dict, converter=_prices, hash=False)
    added_at: float = 0.0

    def per_month(self, server_id: str, list_price: int) -> int:
        """Their rupiah a month on a server whose price for everyone is `list_price`."""
        if server_id in self.prices:
            return self.prices[server_id]
        return list_price - list_price * self.discount_percent // 100


@attrs.frozen
class ResellerSales:
    """A reseller's orders paid since some moment, whatever became of them."""

    user_id: int
    orders: int
    amount: int  # what they paid before the QRIS fee


def put(db: sqlite3.Connection, reseller: Reseller) -> bool:
    """Add a reseller or replace their terms (keeping when they were added); True when new."""
    new = get(db, reseller.user_id) is None
    db.execute(
        "INSERT INTO resellers (user_id, discount_percent, prices, added_at) VALUES (?,?,?,?)"
        " ON CONFLICT(user_id) DO UPDATE SET discount_percent=excluded.discount_percent,"
        " prices=excluded.prices",
        (reseller.user_id, reseller.discount_percent,
         json.dumps(reseller.prices, sort_keys=True), time.time()))
    return new


def get(db: sqlite3.Connection, user_id: int) -> Reseller | None:
    row = db.execute("SELECT * FROM resellers WHERE user_id=?", (user_id,)).fetchone()
    return _reseller(row) if row is not None else None


def listing(db: sqlite3.Connection) -> list[Reseller]:
    rows = db.execute("SELECT * FROM resellers ORDER BY added_at, user_id").fetchall()
    return [_reseller(row) for row in rows]


def remove(db: sqlite3.Connection, user_id: int) -> bool:
    return db.execute("DELETE FROM resellers WHERE user_id=?", (user_id,)).rowcount == 1


def sales(db: sqlite3.Connection, since: float) -> list[ResellerSales]:
    """Per reseller (every one, most paid first): their orders paid since `since`."""
    rows = db.execute(
        "SELECT r.user_id, COUNT(o.id), COALESCE(SUM(o.amount), 0) FROM resellers r"
        " LEFT JOIN orders o ON o.user_id = r.user_id AND o.paid_at >= ?"
        " GROUP BY r.user_id ORDER BY 3 DESC, r.user_id", (since,)).fetchall()
    return [ResellerSales(int(r[0]), int(r[1]), int(r[2])) for r in rows]


def _reseller(row: sqlite3.Row) -> Reseller:
    return Reseller(user_id=row["user_id"], discount_percent=row["discount_percent"],
                    prices=row["prices"], added_at=row["added_at"])
