"""The buyer's accounts: the list (/akun, Akun saya), Detail, and renewal: Perpanjang ->
months -> confirm (current and new last day; a promo code, if the buyer has one) -> pay.

Only the Telegram user who owns an account sees it or acts on it; forged or stale button
data for someone else's account looks exactly like a stale button.
"""

from __future__ import annotations

import attrs

from qrisbot import ledger as L
from qrisbot.config import Server
from qrisbot.provision import Feature
from qrisbot.shop import messages, texts, traffic
from qrisbot.shop.buttons import Press
from qrisbot.shop.dialogue import Dialogue, Draft, Tables
from qrisbot.shop.messages import Outgoing, cancel_row
from qrisbot.shop.promo_entry import PromoEntry
from qrisbot.shop.texts import text


class MyAccounts:
    def __init__(self, dialogue: Dialogue) -> None:
        self.d = dialogue
        self.lang = dialogue.lang
        self.tables = Tables(
            steps={("dur", "renew_duration"): self._renew_months,
                   ("pay", "renew_confirm"): self._pay_renewal},
            acts={"acc": self._list_button, "acd": self._detail, "ren": self._renew},
            reprompts={"renew_duration": self._reask_months,
                       "renew_confirm": self._reconfirm},
        )
        self.promo = PromoEntry(dialogue, kind=L.RENEWAL, confirm_step="renew_confirm",
                                code_step="renew_promo", confirm=self._confirm,
                                server_of=self._server_of)
        self.tables.merge(self.promo.tables)

    async def show(self, chat_id: int) -> None:
        names = {s.id: s.name for s in self.d.config.servers}
        renewable = {s.id for s in self.d.config.servers if self._can_extend(s)}
        await self.d.send(chat_id, messages.my_accounts(
            self.d.ledger.accounts_of(chat_id), names, renewable, self.d.checkout.today(),
            self.d.checkout.zone, self.lang,
            claimable=bool(self.d.ledger.servers_with_unowned()),
            invite=self.d.config.referral.is_on))

    async def _list_button(self, chat_id: int, user_id: int, press: Press) -> None:
        await self.show(chat_id)

    def owned(self, user_id: int, account_id: int | None) -> L.Account | None:
        """The account, if this user owns it and it is still on its server."""
        account = self.d.ledger.account(account_id) if account_id is not None else None
        if account is None or account.owner_user_id != user_id or account.state == L.REMOVED:
            return None
        return account

    def _can_extend(self, server: Server) -> bool:
        return Feature.EXTEND in self.d.checkout.backends.backend(server).features

    def _renewable(self, user_id: int, account_id: int | None
                   ) -> tuple[L.Account, Server] | None:
        """The user's account and the configured server it is on, if it can be renewed."""
        account = self.owned(user_id, account_id)
        server = self.d.config.server(account.server_id) if account is not None else None
        if account is None or server is None or not self._can_extend(server):
            return None
        return account, server

    async def _detail(self, chat_id: int, user_id: int, press: Press) -> None:
        account = self.owned(user_id, press.number)
        if account is None:
            await self.d.stale(chat_id)
            return
        server = self.d.config.server(account.server_id)
        if server is None:
            await self.d.send(chat_id, Outgoing(messages.account_detail(
                account, account.server_id, self.lang)))
            return
        backend = self.d.checkout.backends.backend(server)
        if not traffic.counts_traffic(backend):
            await self.d.send(chat_id, Outgoing(messages.account_detail(
                account, server.name, self.lang)))
            return
        # Asked when the buyer asks, never polled for everyone: the panel's links and
        # traffic now, or what is stored with a line saying the traffic is unread.
        now = await traffic.current(backend, account)
        await self.d.send(chat_id, Outgoing(messages.account_detail(
            account, server.name, self.lang,
            current=now.delivery if now is not None else None,
            usage=now.usage if now is not None else None, unread=now is None)))

    async def _renew(self, chat_id: int, user_id: int, press: Press) -> None:
        """Perpanjang: how many months (at the server's current price)."""
        owned = self._renewable(user_id, press.number)
        if owned is None:
            await self.d.stale(chat_id)
            return
        account, server = owned
        prompt = text("ask_renew_months", self.lang, username=account.username,
                      protocol=messages.PROTOCOL_NAMES[server.protocol], server=server.name,
                      date=account.expires_on.strftime("%d-%m-%Y"))
        await self.d.ask(chat_id, Draft(step="renew_duration", account=account.id),
                         Outgoing(prompt, [*self.d.months(server, user_id), cancel_row(self.lang)]))

    def _server_of(self, user_id: int, draft: Draft) -> Server | None:
        owned = self._renewable(user_id, draft.account)
        return owned[1] if owned is not None else None

    async def _renew_months(self, chat_id: int, user_id: int, draft: Draft, press: Press
                            ) -> None:
        months = self.d.months_chosen(press)
        if months is None:
            await self.d.stale(chat_id)
            return
        await self._confirm(chat_id, user_id, attrs.evolve(draft, months=months))

    async def _confirm(self, chat_id: int, user_id: int, draft: Draft) -> None:
        """The renewal as it will be charged: the days, price, discount, QRIS fee, total."""
        owned = self._renewable(user_id, draft.account)
        if owned is None or draft.months is None:
            await self.d.restart(chat_id)
            return
        account, server = owned
        months = draft.months
        priced = self.promo.price(user_id, server, months, draft.promo)
        if priced.dropped is not None:
            await self.d.say(chat_id, priced.dropped.value)
        shown = priced.breakdown
        summary = text(
            "renew_confirm", self.lang, server=server.name,
            protocol=messages.PROTOCOL_NAMES[server.protocol], username=account.username,
            current=account.expires_on.strftime("%d-%m-%Y"), months=texts.months(months, self.lang),
            new=self.d.checkout.renewed_until(account, months).strftime("%d-%m-%Y"),
            prices=priced.shown(await self.d.checkout.fees.qris(shown.amount), self.lang))
        await self.d.ask(chat_id, attrs.evolve(draft, step="renew_confirm",
                                               promo=priced.code, total=shown.amount),
                         Outgoing(summary, self.promo.buttons()))

    async def _pay_renewal(self, chat_id: int, user_id: int, draft: Draft, press: Press
                           ) -> None:
        owned = self._renewable(user_id, draft.account)
        if owned is None or draft.months is None:
            await self.d.restart(chat_id)
            return
        account, server = owned
        priced = self.promo.price(user_id, server, draft.months, draft.promo)
        if priced.dropped is not None or priced.breakdown.amount != draft.total:
            # Not what the buyer confirmed: they see the new figures before paying.
            if priced.dropped is None:
                await self.d.say(chat_id, "price_changed")
            await self._confirm(chat_id, user_id, draft)
            return
        await self.place_renewal(chat_id, user_id, account, server, draft.months,
                                 priced.breakdown, draft)

    async def place_renewal(self, chat_id: int, user_id: int, account: L.Account,
                            server: Server, months: int, breakdown: L.Breakdown,
                            draft: Draft | None = None) -> None:
        try:
            order = self.d.checkout.create_renewal(
                chat_id=chat_id, user_id=user_id, account=account, server=server,
                months=months, language=self.lang, breakdown=breakdown)
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
        except L.RenewalPending:
            await self.d.say(chat_id, "renewal_pending", username=account.username)
            return
        self.d.save(chat_id, None)
        await self.d.checkout.request_payment(order)

    # --- asked again after a crash --------------------------------------------------------------

    async def _reask_months(self, chat_id: int, draft: Draft) -> None:
        if draft.account is not None:
            await self._renew(chat_id, chat_id, Press("ren", str(draft.account)))

    async def _reconfirm(self, chat_id: int, draft: Draft) -> None:
        if draft.months is not None:
            await self._confirm(chat_id, chat_id, draft)
