"""Messages to the sellers (`shop.admins`): what happened that a person should know.

Notices go out in background tasks through the paced client, so a slow or blocked admin
chat never delays a buyer's order.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo

import trio

from qrisbot.config import Config
from qrisbot.ledger import AWAITING, RENEWAL, Ledger, Order
from qrisbot.shop.chart import SalesChart
from qrisbot.shop.messages import Outgoing
from qrisbot.shop.texts import Html, rupiah, text
from qrisbot.telegram.api import BotApi, TelegramError

log = logging.getLogger("qrisbot.notify")

SUMMARY_KEY = "daily_summary_sent"  # meta: the local date of the last summary sent


async def tell_buyer(bot: BotApi, chat_id: int, message: Outgoing) -> None:
    """Tell the buyer how their order goes; a refusal is logged, never raised (the order's
    step is taken already)."""
    try:
        await bot.send_message(chat_id, message.text, message.buttons)
    except TelegramError as exc:
        log.warning("could not message the buyer: %s", exc.description)


class Notifier:
    def __init__(self, config: Config, bot: BotApi, nursery: trio.Nursery) -> None:
        self.admins = config.shop.admins
        self.lang = config.shop.language
        self._config = config
        self._bot = bot
        self._nursery = nursery

    def tell(self, key: str, **values: object) -> None:
        self.send(text(key, self.lang, **values))

    def send(self, message: Html) -> None:
        for admin in self.admins:
            try:
                self._nursery.start_soon(self._send, admin, message)
            except RuntimeError:
                # Shutting down (provisioning finishing in its grace time): the event is in
                # the log and the ledger; a notice must never break the order's own step.
                log.info("not notifying admin %d while stopping", admin)

    def send_photo(self, png: bytes, caption: Html) -> None:
        for admin in self.admins:
            try:
                self._nursery.start_soon(self._send_photo, admin, png, caption)
            except RuntimeError:
                log.info("not notifying admin %d while stopping", admin)

    def paid(self, order: Order) -> None:
        self.tell("notify_paid", order_id=order.id, server=self._name(order.server_id),
                  username=order.username, months=order.months, amount=rupiah(order.amount))

    def provision_failed(self, order: Order, error: str) -> None:
        self.tell("notify_provision_failed", order_id=order.id,
                  server=self._name(order.server_id), error=_scrub(error, order))

    def needs_admin(self, order: Order, reason: str) -> None:
        self.tell("notify_needs_admin", order_id=order.id, server=self._name(order.server_id),
                  username=order.username, reason=_scrub(reason, order))

    def task_failed(self, task: str, error: BaseException) -> None:
        """A bug stopped one of the daemon's long-running tasks (it starts again). Only the
        kind of error: its message may carry what a server or a buyer sent."""
        self.tell("notify_task_failed", task=text(f"task_{task}", self.lang),
                  error=type(error).__name__)

    def _name(self, server_id: str) -> str:
        server = self._config.server(server_id)
        return server.name if server is not None else server_id

    async def _send(self, chat_id: int, message: Html) -> None:
        try:
            await self._bot.send_message(chat_id, message)
        except TelegramError as exc:
            log.warning("could not notify admin %d: %s", chat_id, exc.description)

    async def _send_photo(self, chat_id: int, png: bytes, caption: Html) -> None:
        try:
            await self._bot.send_photo(chat_id, png, caption)
        except TelegramError as exc:
            log.warning("could not notify admin %d: %s", chat_id, exc.description)


class Outage:
    """Tells the admins once when a service has kept failing for `after` seconds, and once
    when it answers again."""

    def __init__(self, notifier: Notifier, down: str, up: str, after: float = 60) -> None:
        self._notifier = notifier
        self._keys = down, up
        self._after = after
        self._since: float | None = None
        self._told = False

    def failed(self, error: str) -> None:
        now = trio.current_time()
        if self._since is None:
            self._since = now
        if not self._told and now - self._since >= self._after:
            self._told = True
            self._notifier.tell(self._keys[0], error=error)

    def answered(self) -> None:
        if self._told:
            self._notifier.tell(self._keys[1])
        self._since, self._told = None, False


class Refusal:
    """Tells the admins once when Pakasir refuses the shop's credentials, naming the
    settings to fix (never their values); again only after it has accepted them in
    between."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier
        self._told = False

    def refused(self, settings: tuple[str, ...], error: str) -> None:
        if self._told:
            return
        self._told = True
        lang = self._notifier.lang
        fix = Html(", ".join(text(f"pakasir_setting_{name}", lang) for name in settings))
        self._notifier.tell("notify_pakasir_refused", settings=fix, error=error)

    def accepted(self) -> None:
        self._told = False


def _scrub(detail: str, order: Order) -> str:
    """A server's error may echo what it was given; the buyer's password is not for admins."""
    return detail.replace(order.secret, "***") if order.secret else detail


def sales_line(ledger: Ledger, since: float, lang: str, kind: str | None = None) -> Html:
    sales = ledger.sales(since, kind)
    if sales.discounts:  # gross, what discounts took off, and net
        return text("sales_line_discounts", lang, orders=sales.orders,
                    gross=rupiah(sales.gross), discounts=rupiah(sales.discounts),
                    amount=rupiah(sales.amount), fees=rupiah(sales.fees))
    return text("sales_line", lang, orders=sales.orders, amount=rupiah(sales.amount),
                fees=rupiah(sales.fees))


async def daily_summaries(config: Config, ledger: Ledger, notifier: Notifier) -> None:
    """At `shop.daily_summary` each day (shop time), the last 24 hours' figures to the admins."""
    if not config.shop.daily_summary or not config.shop.admins:
        return
    zone = zoneinfo.ZoneInfo(config.shop.timezone)
    chart = SalesChart(ledger, config.shop.name, notifier.lang, zone)
    hour, minute = (int(part) for part in config.shop.daily_summary.split(":"))
    while True:
        now = dt.datetime.now(zone)
        due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if ledger.meta(SUMMARY_KEY) == due.date().isoformat() or due < now - dt.timedelta(
                minutes=5):
            # Sent already today (perhaps before a restart), or long past: tomorrow's turn.
            due += dt.timedelta(days=1)
        await trio.sleep(max((due - now).total_seconds(), 0))
        ledger.set_meta(SUMMARY_KEY, due.date().isoformat())
        summary = text("notify_daily", notifier.lang, shop=config.shop.name,
                       sales=sales_line(ledger, time.time() - 86400, notifier.lang),
                       renewals=sales_line(ledger, time.time() - 86400, notifier.lang,
                                           RENEWAL),
                       removed=ledger.removed_since(time.time() - 86400),
                       open=len(ledger.orders(AWAITING)), attention=len(ledger.attention()))
        drawn = await chart.draw() if config.shop.summary_chart else None
        if drawn is not None:  # the summary becomes the chart's caption
            notifier.send_photo(drawn.png, summary)
        else:
            notifier.send(summary)
