"""What an order costs: one rule for the menu, the confirmation, the order and the renewal,
so they can never disagree.

`quote` gives the whole breakdown (the price for the buyer's role, the discount and why,
what is charged); the ledger fixes it on the order in the write that creates it.
"""

from __future__ import annotations

from typing import Final

from qrisbot.config import Server
from qrisbot.ledger import Breakdown, DiscountSource, Offer, Promo, Reseller

# QRIS (Pakasir) takes no payment below this: no discount goes under it.
QRIS_MINIMUM: Final = 500


def per_month(server: Server, reseller: Reseller | None = None) -> int:
    """Rupiah a month on `server` for this buyer: a reseller's own price (issue 19 §4), never
    below QRIS's minimum."""
    if reseller is None:
        return server.price_per_month
    return max(reseller.per_month(server.id, server.price_per_month), QRIS_MINIMUM)


def price(server: Server, months: int, reseller: Reseller | None = None) -> int:
    """Rupiah for `months` paid months on `server` (before the QRIS fee), list price."""
    return months * per_month(server, reseller)


def quote(server: Server, months: int, *, reseller: Reseller | None = None,
          promo: Promo | None = None, offer: Offer | None = None) -> Breakdown:
    """The breakdown of `months` on `server` for this buyer (a `reseller`'s price is their
    list price) with `promo` (already found usable by them, taken off the reseller's price
    too), and the buyer's personal `offer` (usable by them now): one discount per order,
    the better one for the buyer (the code on a tie: the offer stays theirs). Never charged
    below QRIS's minimum."""
    list_amount = price(server, months, reseller)
    room = max(list_amount - QRIS_MINIMUM, 0)
    promo_off = min(promo.off(list_amount), room) if promo is not None else 0
    if offer is not None and min(offer.off(list_amount), room) > promo_off:
        return Breakdown(list_amount, min(offer.off(list_amount), room),
                         DiscountSource(offer.source.value), offer_id=offer.id)
    if promo is None:
        return Breakdown(list_amount)
    return Breakdown(list_amount, promo_off, DiscountSource.PROMO, promo.code)

