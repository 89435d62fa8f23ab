"""Punya kode promo? at a confirmation step (a purchase's or a renewal's): the buyer types a
code; a usable one shows the confirmation again with its discount, anything else gets a
clear answer and the confirmation as it was.

The confirmation's total is kept in the draft: Bayar writes the order only at that total
(a price or a code that changed meanwhile shows the confirmation again instead), and the
code's use is counted by the ledger in the write that fixes the order's amount.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from qrisbot import ledger as L
from qrisbot.config import Server
from qrisbot.ledger import Breakdown, Offer, Refusal
from qrisbot.ledger.promos import normalise
from qrisbot.shop.buttons import Press, pack
from qrisbot.shop.dialogue import Dialogue, Draft, Tables
from qrisbot.shop.messages import Outgoing, breakdown, cancel_row
from qrisbot.shop.pricing import quote
from qrisbot.shop.texts import Html, text
from qrisbot.telegram.api import Keyboard
from qrisbot.telegram.types import Message

# Show the confirmation for (chat, user, draft at its confirmation step).
Confirm = Callable[[int, int, Draft], Awaitable[None]]
# The server the draft's order is for, if it can still be bought there: (user, draft).
ServerOf = Callable[[int, Draft], Server | None]


@attrs.frozen
class Priced:
    breakdown: Breakdown
    dropped: Refusal | None  # the draft's code, no longer usable (and why)
    offer: Offer | None = None  # the buyer's personal offer, applied or not
    code: str | None = None  # the draft's code, usable (applied, or beaten by the offer)

    def shown(self, fee: int | None, lang: str) -> Html:
        """The breakdown as the confirmation shows it, and which of the code and the offer
        was used when there are both (one discount per order)."""
        shown = breakdown(self.breakdown, fee, lang, self.offer.percent if self.offer else 0)
        if self.offer is None or self.code is None:
            return shown
        which = "offer_beats_promo" if self.breakdown.offer_id is not None else "promo_beats_offer"
        return Html(shown + text(which, lang, code=self.code))


class PromoEntry:
    def __init__(self, dialogue: Dialogue, *, kind: L.OrderKind, confirm_step: str,
                 code_step: str, confirm: Confirm, server_of: ServerOf) -> None:
        self.d = dialogue
        self.lang = dialogue.lang
        self.kind = kind
        self._confirm = confirm
        self._server_of = server_of
        self.code_step = code_step
        self.tables = Tables(
            typed={code_step: self._on_code},
            steps={("promo", confirm_step): self._ask,
                   ("back", code_step): self._back},
            reprompts={code_step: self._reask},
        )

    def buttons(self) -> Keyboard:
        """Bayar / Batal, and Punya kode promo? while the shop has a code to use."""
        rows = self.d.pay_or_cancel()
        if self.d.ledger.has_usable_promo(self.d.checkout.today()):
            rows = [*rows, [(text("button_promo", self.lang), pack("promo"))]]
        return rows

    def price(self, user_id: int, server: Server, months: int, code: str | None) -> Priced:
        """The breakdown for the draft's code (dropped, with why, if it is no longer
        usable by this user here)."""
        promo, refused = (None, None) if code is None else self.d.ledger.promo_refusal(
            code, user_id=user_id, server_id=server.id, kind=self.kind,
            today=self.d.checkout.today())
        usable = promo if refused is None else None
        offer = self.d.ledger.usable_offer(user_id, self.d.checkout.calendar.now().timestamp())
        return Priced(quote(server, months, reseller=self.d.reseller(user_id), promo=usable,
                            offer=offer), refused, offer, usable.code if usable else None)

    async def _ask(self, chat_id: int, user_id: int, draft: Draft, press: Press) -> None:
        if not self.d.ledger.has_usable_promo(self.d.checkout.today()):
            await self.d.stale(chat_id)  # never offered: a forged button
            return
        await self.d.ask(chat_id, attrs.evolve(draft, step=self.code_step), Outgoing(
            text("ask_promo", self.lang),
            [[(text("button_back", self.lang), pack("back"))], cancel_row(self.lang)]))

    async def _on_code(self, message: Message, draft: Draft, raw: str) -> None:
        chat_id = message.chat_id
        user_id = message.sender.id if message.sender is not None else chat_id
        server = self._server_of(user_id, draft)
        if server is None:
            await self.d.restart(chat_id)
            return
        code = normalise(raw)
        refused: Refusal | None = Refusal.UNKNOWN
        if code is not None:
            _, refused = self.d.ledger.promo_refusal(
                code, user_id=user_id, server_id=server.id, kind=self.kind,
                today=self.d.checkout.today())
        if refused is not None:  # the confirmation stays as it was
            await self.d.say(chat_id, refused.value)
            await self._confirm(chat_id, user_id, draft)
            return
        await self._confirm(chat_id, user_id, attrs.evolve(draft, promo=code))

    async def _back(self, chat_id: int, user_id: int, draft: Draft, press: Press) -> None:
        await self._confirm(chat_id, user_id, draft)

    async def _reask(self, chat_id: int, draft: Draft) -> None:
        await self._ask(chat_id, chat_id, draft, Press("promo"))
