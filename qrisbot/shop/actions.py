"""What an operator may do to an order, from Telegram or the CLI, on the same ledger.

Both act only through compare-and-set steps on the ledger, so they are safe while the
daemon runs: a retry is picked up by the daemon's sweep (or on its next start), and a
refund is refused if the order moved on meanwhile.
"""

from __future__ import annotations

import datetime as dt

from qrisbot import ledger as L
from qrisbot.ledger import Ledger, Order


class Refused(Exception):
    """The action does not apply to the order as it stands; the message says why."""


def request_retry(ledger: Ledger, order_id: str, by: str) -> Order:
    """Ask for another provisioning attempt of a failed order."""
    order = _get(ledger, order_id)
    if order.state != L.FAILED:
        raise Refused(f"order {order_id} is {order.state}; only failed orders can be retried")
    if not ledger.update(order.id, needs_attention=0, retryable=1, only_in=L.FAILED,
                         event=("retry_requested", f"by {by}")):
        raise Refused(f"order {order_id} changed meanwhile; look again")
    current = ledger.get(order.id)
    assert current is not None
    return current


def mark_refunded(ledger: Ledger, order_id: str, by: str, now: dt.datetime) -> Order:
    """Record that the operator returned the buyer's money (outside the shop)."""
    order = _get(ledger, order_id)
    if not refundable(order):
        raise Refused(f"order {order_id} is {order.state}; only failed orders and flagged "
                      "payments can be refunded")
    # One write: the state, the flag and who/when go together or not at all.
    refunded = ledger.transition(
        order.id, {order.state}, L.REFUNDED, needs_attention=0,
        event=("refunded", f"by {by} at {now.isoformat(timespec='seconds')}"))
    if refunded is None:
        raise Refused(f"order {order_id} changed meanwhile; look again")
    return refunded


def refundable(order: Order) -> bool:
    """Failed, or a payment that arrived for an order that was not honoured (flagged)."""
    return order.state == L.FAILED or (
        order.state in (L.EXPIRED, L.CANCELLED) and bool(order.needs_attention))


def _get(ledger: Ledger, order_id: str) -> Order:
    order = ledger.get(order_id)
    if order is None:
        raise Refused(f"no order {order_id}")
    return order
