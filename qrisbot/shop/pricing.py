"""What N months on a server cost: one rule for the menu, the confirmation, the order and
the renewal, so they can never disagree."""

from __future__ import annotations

from qrisbot.config import Server


def price(server: Server, months: int) -> int:
    """Rupiah for `months` paid months on `server` (before the QRIS fee)."""
    return months * server.price_per_month
