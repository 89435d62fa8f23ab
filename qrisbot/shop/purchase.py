"""Buying a new account: server -> username -> (password) -> months -> confirm (with a
promo code, if the buyer has one) -> pay."""

from __future__ import annotations

import attrs

from qrisbot import ledger as L
from qrisbot.config import Server
from qrisbot.provision import Presence
from qrisbot.provision.port import PASSWORD, USERNAME, SecretKind
from qrisbot.shop import messages, texts
from qrisbot.shop.buttons import Press
from qrisbot.shop.dialogue import Dialogue, Draft, Tables, log
from qrisbot.shop.messages import Outgoing, cancel_row
from qrisbot.shop.promo_entry import PromoEntry
from qrisbot.shop.texts import text
from qrisbot.telegram.api import TelegramError
from qrisbot.telegram.types import Message


class Purchase:
    def __init__(self, dialogue: Dialogue) -> None:
        self.d = dialogue
        self.lang = dialogue.lang
        self.tables = Tables(
            typed={"username": self._on_username, "password": self._on_password},
            steps={("srv", "server"): self._choose_server,
                   ("full", "server"): self._choose_server,
                   ("dur", "duration"): self._choose_duration,
                   ("pay", "confirm"): self._pay},
            acts={"again": self._again},
            reprompts={"username": self._reask_username, "password": self._reask_password,
                       "duration": self._reask_duration, "confirm": self._reconfirm},
        )
        self.promo = PromoEntry(dialogue, kind=L.PURCHASE, confirm_step="confirm",
                                code_step="promo", confirm=self._confirm,
                                server_of=lambda user_id, draft: self.d.server(draft, user_id))
        self.tables.merge(self.promo.tables)

    async def _choose_server(self, chat_id: int, user_id: int, draft: Draft, press: Press
                             ) -> None:
        server = self.d.config.server(press.value)
        if server is None or not self.d.checkout.servers.selling(server):
            await self.d.restart(chat_id)
            return
        if not self.d.sells_to(server, user_id):
            await self.d.stale(chat_id)  # a reseller-only server: never shown to them
            return
        if self.d.ledger.active_count(server.id) >= server.capacity:
            await self.d.say(chat_id, "server_full", name=server.name)
            await self.d.menu(chat_id)
            return
        await self.ask_username(chat_id, server)

    async def _again(self, chat_id: int, user_id: int, press: Press) -> None:
        """Beli lagi di <server> (under a reseller's delivered account): the next purchase
        on the same server, its username asked at once."""
        server = self.d.config.server(press.value)
        if server is None or self.d.reseller(user_id) is None:
            await self.d.stale(chat_id)  # only ever sent to resellers
            return
        await self._choose_server(chat_id, user_id, Draft(step="server"), press)

    async def ask_username(self, chat_id: int, server: Server) -> None:
        prompt = text("ask_username", self.lang, name=server.name,
                      protocol=messages.PROTOCOL_NAMES[server.protocol])
        await self.d.ask(chat_id, Draft(step="username", server=server.id),
                         Outgoing(prompt, [cancel_row(self.lang)]))

    async def _on_username(self, message: Message, draft: Draft, raw: str) -> None:
        chat_id = message.chat_id
        username = raw.strip().lower()
        server = self.d.server(draft, _user(message))
        if server is None:
            await self.d.restart(chat_id)
            return
        backend = self.d.checkout.backends.backend(server)
        if not backend.is_sellable_username(username):
            # A well-formed name the shop keeps for the system: not the rules again.
            reserved = USERNAME.fullmatch(username) is not None
            await self.d.try_again(chat_id, "username_reserved" if reserved else "bad_username",
                                   username=username)
            return
        # Free in the ledger first (cheap), then on the server itself.
        taken = self.d.ledger.username_held(server.id, username)
        if not taken:
            presence = await self.d.presence(server, username)
            if presence is None:
                await self.d.try_again(chat_id, "server_unreachable")
                return
            taken = presence is Presence.TAKEN
        if taken:
            await self.d.try_again(chat_id, "username_taken", username=username)
            return
        draft = attrs.evolve(draft, username=username)
        if backend.secret_kind is SecretKind.PASSWORD:  # the buyer chooses it
            await self._ask_password(chat_id, draft)
        else:
            await self._ask_duration(chat_id, draft, server)

    async def _ask_password(self, chat_id: int, draft: Draft) -> None:
        await self.d.ask(chat_id, attrs.evolve(draft, step="password"),
                         Outgoing(text("ask_password", self.lang), [cancel_row(self.lang)]))

    async def _on_password(self, message: Message, draft: Draft, raw: str) -> None:
        chat_id = message.chat_id
        # The password should not stay in the chat history.
        try:
            await self.d.bot.delete_message(chat_id, message.message_id)
        except TelegramError as exc:
            log.info("could not delete a password message: %s", exc.description)
        server = self.d.server(draft, _user(message))
        if server is None:
            await self.d.restart(chat_id)
            return
        if not PASSWORD.fullmatch(raw):
            await self.d.try_again(chat_id, "bad_password")
            return
        await self._ask_duration(chat_id, attrs.evolve(draft, password=raw), server)

    async def _ask_duration(self, chat_id: int, draft: Draft, server: Server) -> None:
        await self.d.ask(chat_id, attrs.evolve(draft, step="duration"), Outgoing(
            text("ask_duration", self.lang),
            [*self.d.months(server, chat_id), cancel_row(self.lang)]))

    async def _choose_duration(self, chat_id: int, user_id: int, draft: Draft, press: Press
                               ) -> None:
        server = self.d.server(draft, user_id)
        if server is None or draft.username is None:
            await self.d.restart(chat_id)
            return
        months = self.d.months_chosen(press)
        if months is None:
            await self.d.stale(chat_id)
            return
        await self._confirm(chat_id, user_id, attrs.evolve(draft, months=months))

    async def _confirm(self, chat_id: int, user_id: int, draft: Draft) -> None:
        """The order as it will be charged: price, discount, QRIS fee, total."""
        server = self.d.server(draft, user_id)
        if server is None or draft.username is None or draft.months is None:
            await self.d.restart(chat_id)
            return
        priced = self.promo.price(user_id, server, draft.months, draft.promo)
        if priced.dropped is not None:
            await self.d.say(chat_id, priced.dropped.value)
        shown = priced.breakdown
        summary = text(
            "confirm", self.lang, server=server.name,
            protocol=messages.PROTOCOL_NAMES[server.protocol], username=draft.username,
            months=texts.months(draft.months, self.lang),
            prices=priced.shown(await self.d.checkout.fees.qris(shown.amount), self.lang),
        )
        # A code the offer beat stays in the draft: it applies if the offer runs out first.
        await self.d.ask(chat_id, attrs.evolve(draft, step="confirm", promo=priced.code,
                                               total=shown.amount),
                         Outgoing(summary, self.promo.buttons()))

    async def _pay(self, chat_id: int, user_id: int, draft: Draft, press: Press) -> None:
        server = self.d.server(draft, user_id)
        if server is None or draft.username is None or draft.months is None:
            await self.d.restart(chat_id)
            return
        priced = self.promo.price(user_id, server, draft.months, draft.promo)
        if priced.dropped is not None or priced.breakdown.amount != draft.total:
            # Not what the buyer confirmed: they see the new figures before paying.
            if priced.dropped is None:
                await self.d.say(chat_id, "price_changed")
            await self._confirm(chat_id, user_id, draft)
            return
        password = draft.password  # set only where the server's secret is a password
        secret = self.d.checkout.new_secret(server, password)
        await self.place_order(chat_id, user_id, server, draft.username, secret, draft.months,
                               priced.breakdown, draft)

    async def place_order(self, chat_id: int, user_id: int, server: Server, username: str,
                          secret: str, months: int, breakdown: L.Breakdown,
                          draft: Draft | None = None) -> None:
        """Reserve the name and a place and use the code, then ask for the payment; or say
        what is in the way (a code used up meanwhile: the confirmation again, without it,
        when there is one to show)."""
        try:
            order = self.d.checkout.create_order(
                chat_id=chat_id, user_id=user_id, server=server, username=username,
                secret=secret, months=months, language=self.lang, breakdown=breakdown,
            )
        except L.PromoRefused as exc:
            await self.d.say(chat_id, exc.refusal.value)
            if draft is not None:
                await self._confirm(chat_id, user_id, attrs.evolve(draft, promo=None))
            return
        except L.OfferUnusable:  # used by another order meanwhile, or past its hours
            await self.d.say(chat_id, "offer_gone")
            if draft is not None:
                await self._confirm(chat_id, user_id, draft)
            return
        except L.OpenOrderExists as exc:
            await self.d.say(chat_id, "open_order_exists", order_id=exc.order_id)
            return
        except L.UsernameHeld:
            await self.d.say(chat_id, "username_taken", username=username)
            await self.ask_username(chat_id, server)
            return
        except L.ServerFull:
            await self.d.say(chat_id, "server_full", name=server.name)
            await self.d.menu(chat_id)
            return
        self.d.save(chat_id, None)
        await self.d.checkout.request_payment(order)

    # --- asked again after a crash --------------------------------------------------------------

    async def _reask_username(self, chat_id: int, draft: Draft) -> None:
        server = self.d.server(draft, chat_id)
        await (self.ask_username(chat_id, server) if server is not None
               else self.d.menu(chat_id))

    async def _reask_password(self, chat_id: int, draft: Draft) -> None:
        await (self._ask_password(chat_id, draft) if self.d.server(draft, chat_id) is not None
               else self.d.menu(chat_id))

    async def _reask_duration(self, chat_id: int, draft: Draft) -> None:
        server = self.d.server(draft, chat_id)
        await (self._ask_duration(chat_id, draft, server) if server is not None
               else self.d.menu(chat_id))

    async def _reconfirm(self, chat_id: int, draft: Draft) -> None:
        if draft.months is None:
            await self.d.menu(chat_id)
            return
        await self._confirm(chat_id, chat_id, draft)


def _user(message: Message) -> int:
    return message.sender.id if message.sender is not None else message.chat_id
