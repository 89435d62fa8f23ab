"""The seller's side in Telegram: /admin (figures, orders, servers) and /broadcast.

Only `shop.admins` reach it; the conversation checks the sender before handing anything
over, so a forged `adm:` button from anyone else is just a stale button. Menu views are
edited in place; what changes an order asks first and records who did it.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import time

import trio

from qrisbot import ledger as L
from qrisbot.config import Config
from qrisbot.ledger import Ledger, Order
from qrisbot.shop import actions, buttons
from qrisbot.shop.buttons import Press, pack
from qrisbot.shop.chart import SalesChart
from qrisbot.shop.checkout import Checkout
from qrisbot.shop.messages import PROTOCOL_NAMES, Entry, Outgoing, listing
from qrisbot.shop.notify import sales_line
from qrisbot.shop.texts import Html, label, rupiah, text
from qrisbot.telegram import limits
from qrisbot.telegram.api import BotApi, Forbidden, TelegramError
from qrisbot.telegram.types import CallbackQuery, Message, current_update

log = logging.getLogger("qrisbot.admin")

EXPIRING_DAYS = 3  # "running out soon" in the figures
TOP_REFERRERS = 5  # referrers shown in the figures (by rewards, then people brought)
MAX_LISTED = 20  # orders per view at most; fewer when their lines would not fit
MAX_REASON = 300  # UTF-16 units of an error shown in a list
MAX_BROADCAST = 3500  # UTF-16 units, as Telegram counts them



class Admin:
    def __init__(
        self, config: Config, ledger: Ledger, bot: BotApi, checkout: Checkout,
        nursery: trio.Nursery,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.bot = bot
        self.checkout = checkout
        self.servers = checkout.servers
        self.lang = config.shop.language
        self._nursery = nursery
        self._chart = SalesChart(ledger, config.shop.name, self.lang, checkout.zone)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.config.shop.admins

    # --- commands -----------------------------------------------------------------------

    async def command(self, message: Message, command: str, raw: str) -> None:
        if command == "admin":
            await self._send(message.chat_id, self._menu())
        elif command == "broadcast":
            await self._preview_broadcast(message.chat_id, raw.strip().partition(" ")[2].strip())

    # --- buttons ------------------------------------------------------------------------

    async def callback(self, callback: CallbackQuery, press: Press | None) -> None:
        """An admin's button (`press` None: data the shop never sent)."""
        chat_id, message_id = callback.chat_id, callback.message_id
        if chat_id is None or message_id is None or press is None:
            await self._send(chat_id or callback.sender.id,
                             Outgoing(text("stale_button", self.lang)))
            return
        what, value = press.kind.removeprefix(buttons.ADMIN), press.value
        by = f"admin {callback.sender.id}"
        if what in ("menu", "open", "attn", "srv", "promos", "resel"):
            await self._show(chat_id, message_id, what)
        elif what == "chart":
            await self._send_chart(chat_id)
        elif what == "bcgo":
            await self._start_broadcast(chat_id, message_id)
        elif what == "bcno":
            self.ledger.save_draft(chat_id, None, current_update.get())
            await self._edit(chat_id, message_id, Outgoing(text("broadcast_cancelled", self.lang)))
        elif what == "retry":
            await self._retry(chat_id, message_id, value, by)
        elif what == "refund":
            await self._confirm_refund(chat_id, value)
        elif what == "refunded":
            await self._refund(chat_id, message_id, value, by)
        elif what in ("on", "off"):
            server = self.config.server(value)
            if server is not None:
                self.servers.set_selling(server, what == "on", by)
            await self._show(chat_id, message_id, "srv")

    async def _show(self, chat_id: int, message_id: int, view: str) -> None:
        build = {"menu": self._menu, "open": self._open_orders, "attn": self._attention,
                 "srv": self._servers, "promos": self._promos, "resel": self._resellers}[view]
        await self._edit(chat_id, message_id, build())

    # --- views --------------------------------------------------------------------------

    def _menu(self) -> Outgoing:
        now = time.time()
        zone = self.checkout.zone
        midnight = dt.datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        attention = len(self.ledger.attention())
        live = self.ledger.live_accounts()
        active = " · ".join(f"{server.id} {live.get(server.id, 0)}"
                            for server in self.config.servers) or "0"
        today = self.checkout.today()
        body = text(
            "admin_menu", self.lang, shop=self.config.shop.name,
            today=sales_line(self.ledger, midnight.timestamp(), self.lang),
            week=sales_line(self.ledger, now - 7 * 86400, self.lang),
            month=sales_line(self.ledger, now - 30 * 86400, self.lang),
            renew_today=sales_line(self.ledger, midnight.timestamp(), self.lang, L.RENEWAL),
            renew_week=sales_line(self.ledger, now - 7 * 86400, self.lang, L.RENEWAL),
            renew_month=sales_line(self.ledger, now - 30 * 86400, self.lang, L.RENEWAL),
            active=active, expiring=self.ledger.expiring(today, EXPIRING_DAYS),
            trials=self.ledger.trials_on(today),
            open=len(self.ledger.orders(L.AWAITING)), attention=attention,
        )
        top = self.ledger.top_referrers(TOP_REFERRERS) if self.config.referral.is_on else []
        if top:
            body = Html(body + text("admin_referrers", self.lang, lines=Html("\n".join(
                text("admin_referrer_line", self.lang, user=user, joined=s.joined,
                     rewarded=s.rewarded) for user, s in top))))
        return Outgoing(body, [
            [(self._t("admin_button_open"), pack("adm:open")),
             (self._t("admin_button_attention", count=attention), pack("adm:attn"))],
            [(self._t("admin_button_promos"), pack("adm:promos")),
             *self._resellers_button()],
            [(self._t("admin_button_servers"), pack("adm:srv")),
             (self._t("admin_button_chart"), pack("adm:chart"))],
            [(self._t("admin_button_refresh"), pack("adm:menu"))],
        ])

    def _open_orders(self) -> Outgoing:
        now = time.time()
        orders = self.ledger.orders(L.AWAITING)
        entries: list[Entry] = [(text(
            "admin_open_line", self.lang, order_id=order.id, server=order.server_id,
            username=order.username, total=rupiah(order.total or order.amount),
            minutes=max(int((order.deadline - now) // 60), 0)), [])
            for order in orders[:MAX_LISTED]]
        return self._listing(text("admin_open_title", self.lang), entries, len(orders))

    def _attention(self) -> Outgoing:
        orders = self.ledger.attention()
        entries: list[Entry] = []
        for n, order in enumerate(orders[:MAX_LISTED], start=1):
            reason = limits.shorten(order.last_error or self._last_event(order), MAX_REASON)
            row = []
            if order.state == L.FAILED:
                row.append((self._t("admin_button_retry", n=n), pack("adm:retry", order.id)))
            if actions.refundable(order):
                row.append((self._t("admin_button_refund", n=n), pack("adm:refund", order.id)))
            entries.append((text(
                "admin_attention_line", self.lang, n=n, order_id=order.id, state=order.state,
                server=order.server_id, username=order.username, amount=rupiah(order.amount),
                reason=reason), row))
        return self._listing(text("admin_attention_title", self.lang), entries, len(orders))

    def _servers(self) -> Outgoing:
        entries: list[Entry] = []
        for server in self.config.servers:
            on = self.servers.selling(server)
            last = self.servers.last(server)
            if last is None:
                result = text("server_last_none", self.lang)
            else:
                when = dt.datetime.fromtimestamp(last.at, self.checkout.zone).strftime(
                    "%d-%m %H:%M")
                result = (text("server_last_ok", self.lang, when=when) if last.ok else
                          text("server_last_failed", self.lang, when=when,
                               detail=limits.shorten(last.detail, MAX_REASON)))
            key, data = ("admin_button_disable", "off") if on else ("admin_button_enable", "on")
            entries.append((text(
                "admin_server_line", self.lang, name=server.name, server_id=server.id,
                protocol=PROTOCOL_NAMES[server.protocol],
                status=text("server_on" if on else "server_off", self.lang),
                sold=self.ledger.sold(server.id),
                left=max(server.capacity - self.ledger.active_count(server.id), 0),
                last=result),
                [(self._t(key, name=server.name), pack(f"adm:{data}", server.id))]))
        return self._listing(text("admin_servers_title", self.lang), entries,
                             len(entries), gap="\n\n")

    def _promos(self) -> Outgoing:
        """Every code: what it takes off, its uses, what is left, its last day."""
        today = self.checkout.today()
        entries: list[Entry] = []
        for use in reversed(self.ledger.promos()):  # newest first
            promo = use.promo
            state = ("promo_state_disabled" if promo.disabled_at is not None else
                     "promo_state_ended" if promo.until is not None and promo.until < today
                     else None)
            entries.append((text(
                "admin_promo_line", self.lang, code=promo.code,
                off=f"{promo.percent} %" if promo.percent is not None else
                f"−{rupiah(promo.amount or 0)}",
                uses=use.uses,
                left=use.left if use.left is not None else text("promo_unlimited", self.lang),
                until=promo.until.strftime("%d-%m-%Y") if promo.until else
                text("promo_no_end", self.lang),
                state=text(state, self.lang) if state else ""), []))
        return self._listing(text("admin_promos_title", self.lang), entries, len(entries))

    def _resellers_button(self) -> list[tuple[str, str]]:
        return ([(self._t("admin_button_resellers"), pack("adm:resel"))]
                if self.ledger.resellers() else [])

    def _resellers(self) -> Outgoing:
        """Each reseller's orders paid in the last 30 days and what they paid, most first."""
        terms = {r.user_id: r for r in self.ledger.resellers()}
        entries: list[Entry] = []
        for sold in self.ledger.reseller_sales(time.time() - 30 * 86400):
            entries.append((text(
                "admin_reseller_line", self.lang, user_id=sold.user_id, orders=sold.orders,
                amount=rupiah(sold.amount), terms=self._terms(terms[sold.user_id])), []))
        return self._listing(text("admin_resellers_title", self.lang), entries, len(entries))

    def _terms(self, reseller: L.Reseller) -> Html:
        """Their own prices, and the percent off every other server."""
        parts = []
        if reseller.prices:
            parts.append(text("reseller_prices", self.lang, prices=", ".join(
                f"{server} {rupiah(rp)}" for server, rp in sorted(reseller.prices.items()))))
        if reseller.discount_percent or not reseller.prices:
            parts.append(text("reseller_discount", self.lang, percent=reseller.discount_percent))
        return Html(" · ".join(parts))

    def _listing(self, title: Html, entries: list[Entry], total: int,
                 gap: str = "\n") -> Outgoing:
        back = [(self._t("admin_button_back"), pack("adm:menu"))]
        if not entries:
            return Outgoing(Html(title + gap + text("admin_none", self.lang)), [back])
        return listing(title, entries, total, self.lang, footer=back, gap=gap)

    def _last_event(self, order: Order) -> str:
        events = self.ledger.events(order.id)
        return f"{events[-1][0]}: {events[-1][1]}" if events else ""

    async def _send_chart(self, chat_id: int) -> None:
        chart = await self._chart.draw()
        if chart is None:
            await self._send(chat_id, Outgoing(text("chart_failed", self.lang)))
        else:
            await self.bot.send_photo(chat_id, chart.png, chart.caption)

    # --- order actions ------------------------------------------------------------------

    async def _retry(self, chat_id: int, message_id: int, order_id: str, by: str) -> None:
        try:
            order = actions.request_retry(self.ledger, order_id, by)
        except actions.Refused:
            await self._refused(chat_id, order_id)
        else:
            self.checkout.fulfil(order)
            await self._send(chat_id, Outgoing(text("admin_retrying", self.lang,
                                                    order_id=order_id)))
        await self._show(chat_id, message_id, "attn")

    async def _confirm_refund(self, chat_id: int, order_id: str) -> None:
        order = self.ledger.get(order_id)
        if order is None or not actions.refundable(order):
            await self._refused(chat_id, order_id)
            return
        await self._send(chat_id, Outgoing(
            text("admin_refund_confirm", self.lang, order_id=order.id, username=order.username,
                 amount=rupiah(order.total or order.amount)),
            [[(self._t("admin_button_refund_yes"), pack("adm:refunded", order.id)),
              (self._t("admin_button_no"), pack("adm:attn"))]]))

    async def _refund(self, chat_id: int, message_id: int, order_id: str, by: str) -> None:
        try:
            order = actions.mark_refunded(self.ledger, order_id, by,
                                          dt.datetime.now(self.checkout.zone))
        except actions.Refused:
            await self._refused(chat_id, order_id)
            return
        log.info("order %s marked refunded by %s", order.id, by)
        await self._edit(chat_id, message_id, Outgoing(
            text("admin_refunded", self.lang, order_id=order.id, by=by)))
        try:
            await self.bot.send_message(order.chat_id, text("buyer_refunded", order.language,
                                                            order_id=order.id))
        except TelegramError as exc:
            log.warning("could not tell the buyer about the refund: %s", exc.description)

    async def _refused(self, chat_id: int, order_id: str) -> None:
        order = self.ledger.get(order_id)
        state = order.state if order is not None else "?"
        await self._send(chat_id, Outgoing(text("admin_not_failed", self.lang,
                                                order_id=order_id, state=state)))

    # --- broadcast ----------------------------------------------------------------------

    async def _preview_broadcast(self, chat_id: int, body: str) -> None:
        if not body or limits.length(body, parse_html=False) > MAX_BROADCAST:
            await self._send(chat_id, Outgoing(text("broadcast_usage", self.lang)))
            return
        # Sent exactly as buyers will see it: plain text, nothing interpreted as markup.
        await self._send(chat_id, Outgoing(Html(html.escape(body, quote=False))))
        count = len(self.ledger.chat_ids())
        message_id = await self._send(chat_id, Outgoing(
            text("broadcast_preview", self.lang, count=count),
            [[(self._t("button_send"), pack("adm:bcgo")),
              (self._t("button_cancel"), pack("adm:bcno"))]]))
        self.ledger.save_draft(chat_id, {"step": "broadcast", "text": body,
                                         "message_id": message_id}, current_update.get())

    async def _start_broadcast(self, chat_id: int, message_id: int) -> None:
        draft = self.ledger.draft(chat_id)
        if (draft is None or draft.get("step") != "broadcast"
                or draft.get("message_id") != message_id or not isinstance(draft.get("text"),
                                                                           str)):
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
            return
        # Cleared first: a second tap (or a restart) never sends the broadcast twice.
        self.ledger.save_draft(chat_id, None, current_update.get())
        audience = self.ledger.chat_ids()
        self.ledger.record("broadcast", f"to {len(audience)} chats by admin {chat_id}")
        await self._edit(chat_id, message_id, Outgoing(
            text("broadcast_started", self.lang, count=len(audience))))
        self._nursery.start_soon(self._broadcast, chat_id, audience,
                                 Html(html.escape(draft["text"], quote=False)))

    async def _broadcast(self, chat_id: int, audience: list[int], body: Html) -> None:
        sent = blocked = failed = 0
        for target in audience:
            try:
                await self.bot.send_message(target, body)
            except Forbidden:
                blocked += 1
            except TelegramError as exc:
                log.warning("broadcast to chat %d failed: %s", target, exc.description)
                failed += 1
            else:
                sent += 1
        log.info("broadcast done: %d sent, %d blocked, %d failed", sent, blocked, failed)
        await self._send_quietly(chat_id, Outgoing(
            text("broadcast_done", self.lang, sent=sent, blocked=blocked, failed=failed)))

    # --- helpers ------------------------------------------------------------------------

    def _t(self, key: str, **values: object) -> str:
        return label(key, self.lang, **values)

    async def _send(self, chat_id: int, message: Outgoing) -> int | None:
        return await self.bot.send_message(chat_id, message.text, message.buttons)

    async def _send_quietly(self, chat_id: int, message: Outgoing) -> None:
        try:
            await self._send(chat_id, message)
        except TelegramError as exc:
            log.warning("could not message admin %d: %s", chat_id, exc.description)

    async def _edit(self, chat_id: int, message_id: int, message: Outgoing) -> None:
        try:
            await self.bot.edit_text(chat_id, message_id, message.text, message.buttons)
        except TelegramError as exc:
            if "not modified" not in exc.description:
                log.info("could not edit the admin view (%s); sending it anew", exc.description)
                await self._send(chat_id, message)
