"""What an order costs: one rule for the menu, the confirmation, the order and the renewal,
so they can never disagree.

`quote` gives the whole breakdown (the price for the buyer's role, the discount and why,
what is charged); the ledger fixes it on the order in the write that creates it.
"""

from __future__ import annotations

import enum
from typing import Final

from qrisbot.config import Server
from qrisbot.ledger import Breakdown, DiscountSource, Promo

# QRIS (Pakasir) takes no payment below this: no discount goes under it.
QRIS_MINIMUM: Final = 500


class Role(enum.StrEnum):
    """Who buys: a reseller's own prices join here (issue 19 §4)."""

    BUYER = "buyer"
    RESELLER = "reseller"


def price(server: Server, months: int) -> int:
    """Rupiah for `months` paid months on `server` (before the QRIS fee), list price."""
    return months * server.price_per_month


def quote(server: Server, months: int, *, role: Role = Role.BUYER,
          promo: Promo | None = None) -> Breakdown:
    """The breakdown of `months` on `server` for a buyer of `role` with `promo` (already
    found usable by them): never charged below QRIS's minimum."""
    list_amount = _list_price(server, months, role)
    if promo is None:
        return Breakdown(list_amount)
    room = max(list_amount - QRIS_MINIMUM, 0)
    off = min(promo.off(list_amount), room)
    return Breakdown(list_amount, off, DiscountSource.PROMO, promo.code)


def _list_price(server: Server, months: int, role: Role) -> int:
    """The price before discounts for this role (resellers pay the list price until their
    prices are configured)."""
    return price(server, months)
