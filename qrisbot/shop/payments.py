"""Where the buyer's payment stands, whenever they ask: Cek pembayaran on the QR, the note
said first when they send /start, /akun or any text while an order awaits payment (with
the QR again, a check and Batal), and "sudah bayar" typed at any time.

Every answer comes from the ledger after a fresh status check (`Checkout.check_now`: the
checker's own gate and path), never from what the buyer says.
"""

from __future__ import annotations

import re
import time

from qrisbot import ledger as L
from qrisbot.ledger import Order
from qrisbot.shop import messages
from qrisbot.shop.buttons import Press
from qrisbot.shop.dialogue import Dialogue, Tables

# "sudah bayar", "udah tf kak", "sdh transfer", "already paid", "I've paid", "lunas"...
PAID_CLAIM = re.compile(
    r"\b(sudah|udah|udh|sdh|dah|telah)\s*(saya\s+|aku\s+)?"
    r"(bayar|byr|dibayar|transfer|trf|tf|ditransfer|lunas)"
    r"|\b(already|just)\s+paid\b|\bi\s*(have|'ve)?\s*paid\b|\bpaid\b|\blunas\b",
    re.IGNORECASE)
# A buyer who says they paid means an order whose QR they could still have paid: Pakasir
# cancels an unpaid transaction after 24 hours.
CLAIM_WINDOW = 24 * 3600


def is_paid_claim(raw: str) -> bool:
    return PAID_CLAIM.search(raw) is not None


class Payments:
    def __init__(self, dialogue: Dialogue) -> None:
        self.d = dialogue
        self.tables = Tables(acts={"qcheck": self._check_button, "qshow": self._show_button})

    def awaiting(self, chat_id: int) -> Order | None:
        """The chat's order whose QR is out and unpaid, if any."""
        order = self.d.ledger.open_order(chat_id)
        return order if order is not None and order.state == L.AWAITING else None

    def claimed(self, chat_id: int) -> Order | None:
        """The order a buyer who says "sudah bayar" means: the one awaiting payment, else
        their newest one with a QR from the last 24 hours."""
        order = self.awaiting(chat_id) or self.d.ledger.last_with_qr(chat_id)
        if order is None or order.created_at < time.time() - CLAIM_WINDOW:
            return None
        return order

    async def note(self, chat_id: int, order: Order) -> None:
        server = self.d.config.server(order.server_id)
        await self.d.send(chat_id, messages.awaiting_note(
            order, server.name if server is not None else order.server_id,
            self.d.checkout.zone))

    async def check(self, chat_id: int, order: Order) -> None:
        """One fresh status check, and the order's state as it stands after it."""
        answered = await self.d.checkout.check_now(order)
        current = self.d.ledger.get(order.id) or order
        await self.d.send(chat_id, messages.payment_state(current, self.d.checkout.zone,
                                                          answered=answered))

    def _own(self, chat_id: int, press: Press) -> Order | None:
        order = self.d.ledger.get(press.value)
        # Another chat's order (forged data) looks exactly like a stale button.
        return order if order is not None and order.chat_id == chat_id else None

    async def _check_button(self, chat_id: int, user_id: int, press: Press) -> None:
        order = self._own(chat_id, press)
        if order is None:
            await self.d.stale(chat_id)
        else:
            await self.check(chat_id, order)

    async def _show_button(self, chat_id: int, user_id: int, press: Press) -> None:
        order = self._own(chat_id, press)
        if order is None:
            await self.d.stale(chat_id)
        elif self.d.checkout.is_payable(order):
            await self.d.checkout.show_qr_again(order)
        else:  # paid, cancelled or run out meanwhile: say which
            await self.check(chat_id, order)
