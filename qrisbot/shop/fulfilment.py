"""An order's fulfilment, from `paid` on: make the account (a purchase) or set its new last
day (a renewal) on its server, record it, and send it to the buyer.

The hand-off from payments (checkout.py) is the ledger's `paid` state; every step here is
a compare-and-set on the ledger too, so a resumed order after a crash, an operator's retry
and a running attempt cannot provision twice. The remote calls are idempotent: a create
recognises its own account, an extension sets a date fixed in the ledger before the call.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from collections.abc import Callable

import trio

from qrisbot import ledger as L
from qrisbot import log as qlog
from qrisbot.config import Config, Server
from qrisbot.ledger import Ledger, Order
from qrisbot.provision import (
    Account,
    AccountMissing,
    Backends,
    Extension,
    ServerError,
    UsernameTaken,
)
from qrisbot.shop import messages
from qrisbot.shop.buttons import pack
from qrisbot.shop.notify import Notifier, tell_buyer
from qrisbot.shop.referral_rewards import Rewards
from qrisbot.shop.servers import Servers
from qrisbot.shop.texts import Html, label
from qrisbot.telegram.api import BotApi, Keyboard, TelegramError, Unavailable

log = logging.getLogger("qrisbot.fulfilment")

# Seconds to wait before provisioning attempt n+1; after the last, an admin must step in.
PROVISION_BACKOFF = (5, 15, 30, 60, 120, 300, 600, 600, 600)
# Seconds between attempts to send an account while Telegram is unavailable (then the last,
# for as long as it takes).
DELIVERY_BACKOFF = (2, 5, 15, 30, 60)
NOBODY = 0  # the chat of an order for an account without an owner


class _GiveUp(Exception):
    """This order cannot be fulfilled without the operator (never retried by itself)."""


class Fulfilment:
    def __init__(
        self, config: Config, ledger: Ledger, bot: BotApi, backends: Backends,
        servers: Servers, notifier: Notifier, work: trio.Nursery,
        today: Callable[[], dt.date],
    ) -> None:
        """`work` runs provisioning and delivery (a stop lets them finish)."""
        self.config = config
        self.ledger = ledger
        self.bot = bot
        self.backends = backends
        self.servers = servers
        self.notifier = notifier
        self.today = today
        self.zone = zoneinfo.ZoneInfo(config.shop.timezone)
        self._work = work
        self._fulfilling: set[str] = set()
        self.rewards = Rewards(config, ledger, bot, backends, self.fulfil)
        # Set when the daemon stops: no new provisioning attempt starts (a failed order
        # waiting for its next one is tried again at the next start).
        self.stopping = trio.Event()

    def fulfil(self, order: Order) -> None:
        if order.id not in self._fulfilling:
            self._fulfilling.add(order.id)
            self._work.start_soon(qlog.guarded, order.id, self._fulfil, order.id)

    def is_busy(self, order_id: str) -> bool:
        return order_id in self._fulfilling

    def redeliver(self, chat_id: int) -> None:
        """The buyer is talking to the bot again: send any account that did not reach them."""
        for order in self.ledger.undelivered(chat_id):
            self.fulfil(order)

    async def _fulfil(self, order_id: str) -> None:
        try:
            try:
                await self._provision(order_id)
            except Exception:
                # A paid order must never be left in `provisioning` with nobody told.
                log.exception("unexpected error while provisioning")
                order = self.ledger.get(order_id)
                if order is not None and order.state == L.PROVISIONING:
                    await self._give_up(order, "unexpected error while provisioning (see the "
                                        "log)", retryable=True)
                return
            finally:
                self._next_extension(order_id)
            order = self.ledger.get(order_id)
            if order is not None and order.state == L.PROVISIONED:
                await self._deliver(order)
        finally:
            self._fulfilling.discard(order_id)

    async def _provision(self, order_id: str) -> None:
        tries = 0  # this run's attempts; the ledger counts all of them
        while True:
            order = self.ledger.get(order_id)
            if order is None:
                return
            if order.state in (L.PAID, L.FAILED):
                try:
                    claimed = (
                        self.ledger.claim_extension(order.id, self.today())
                        if order.kind == L.RENEWAL
                        else self.ledger.transition(order.id, {order.state}, L.PROVISIONING))
                except L.ExtensionQueued as exc:
                    # Applied when the one before it is done (`_next_extension`).
                    log.info("waits for %s, an earlier extension of its account", exc)
                    return
                if claimed is None:
                    continue
                order = claimed
            elif order.state != L.PROVISIONING:
                return
            server = self.config.server(order.server_id)
            try:
                if server is None:
                    raise _GiveUp("server no longer in the configuration")
                if order.kind == L.RENEWAL:
                    await self._extend(order, server)
                else:
                    await self._make(order, server)
            except _GiveUp as exc:
                if server is not None:
                    self.servers.answered(server, None)
                await self._give_up(order, str(exc), retryable=False)
                return
            except (ServerError, ValueError) as exc:
                assert server is not None
                self.servers.provisioned(server, exc)
                tries += 1
                error = str(exc)[:500]
                log.warning("provisioning attempt %d failed: %s", tries, error)
                self.ledger.transition(order.id, {L.PROVISIONING}, L.FAILED,
                                       attempts=order.attempts + 1, last_error=error,
                                       event=("provision_failed", error))
                if tries > len(PROVISION_BACKOFF):
                    await self._give_up(order, error, retryable=True)
                    return
                if tries == 1:
                    self.notifier.provision_failed(order, error)
                if order.attempts == 0:
                    await tell_buyer(self.bot, order.chat_id, messages.provision_delayed(order))
                with trio.move_on_after(PROVISION_BACKOFF[tries - 1]):
                    await self.stopping.wait()
                if self.stopping.is_set():
                    return
                continue
            self.servers.provisioned(server, None)
            return

    def _next_extension(self, order_id: str) -> None:
        """An extension is done, given up or waits: start the account's next one, if any."""
        order = self.ledger.get(order_id)
        if order is None or order.kind != L.RENEWAL or order.account_id is None:
            return
        following = self.ledger.next_extension(order.account_id)
        if following is not None and not self.stopping.is_set():
            self.fulfil(following)

    async def _make(self, order: Order, server: Server) -> None:
        """A purchase: create the account, then record it as its buyer's."""
        if self.ledger.username_held(order.server_id, order.username,
                                     other_than=order.id):
            # A late payment whose username another buyer has reserved meanwhile.
            raise _GiveUp("username reserved by another order after payment")
        account = self.account(order)
        try:
            delivery = await self.backends.backend(server).create(account)
        except UsernameTaken:
            raise _GiveUp("username taken on the server after payment") from None
        made = self.ledger.record_provisioned(order.id, json.dumps(delivery.to_json()),
                                              account.expires)
        if made is not None:
            self._reminded_already(made, account.expires)
        log.info("account created")

    async def _extend(self, order: Order, server: Server) -> None:
        """A renewal: set the account's new last day (decided in the ledger when the
        extension was claimed). An account the server no longer has is made again with the
        same name and secret."""
        account = self.ledger.account(order.account_id or 0)
        if account is None or order.expires_on is None:
            raise _GiveUp("the account to renew is not in the ledger")
        expires = order.expires_on
        # The account as made by its first order (its tag on the server), with the new day.
        renewed = Account(order_id=account.tag, username=account.username,
                          secret=account.secret, expires=expires, months=order.months,
                          days=self.config.shop.days_per_month * order.months)
        backend = self.backends.backend(server)
        try:
            delivery = await backend.extend(Extension(
                order_id=order.id, made_by=account.tag, username=account.username,
                secret=account.secret, expires=expires, months=order.months))
        except UsernameTaken:
            raise _GiveUp("the account's name on the server belongs to someone else") from None
        except AccountMissing:
            log.warning("the account is no longer on the server; making it again")
            try:
                delivery = await backend.create(renewed)
            except UsernameTaken:
                raise _GiveUp("the account was gone from the server and its name is taken "
                              "now") from None
        extended = self.ledger.record_extended(order.id, json.dumps(delivery.to_json()),
                                               expires)
        if extended is not None:
            self._reminded_already(extended, expires)
        log.info("account extended to %s", expires)

    def _reminded_already(self, order: Order, expires: dt.date) -> None:
        """The buyer just paid for this last day: no reminder whose time has come already
        (the nearer ones still go out)."""
        gap = (expires - self.today()).days
        passed = [d for d in self.config.shop.remind_days if gap <= d]
        if order.account_id is not None and passed:
            self.ledger.pass_reminders(order.account_id, expires, passed)

    async def _give_up(self, order: Order, reason: str, *, retryable: bool) -> None:
        """Stop retrying for now: the order waits in `failed` for the operator.

        A retryable one is tried again when the daemon next starts.
        """
        log.error("provisioning needs an admin: %s", reason)
        # One write: a crash cannot leave a failed order nobody is told about.
        if not self.ledger.transition(order.id, {L.PROVISIONING}, L.FAILED, last_error=reason,
                                      needs_attention=1, retryable=int(retryable),
                                      event=("needs_attention", reason)):
            self.ledger.update(order.id, needs_attention=1, retryable=int(retryable),
                               only_in=L.FAILED, event=("needs_attention", reason))
        self.notifier.needs_admin(order, reason)
        await tell_buyer(self.bot, order.chat_id, messages.provision_needs_admin(order))

    def account(self, order: Order) -> Account:
        assert order.expires_on is not None
        expires = order.expires_on
        # A trial lasts hours: its days are those its last day is away (at least one).
        days = (self.config.shop.days_per_month * order.months if order.kind != L.TRIAL
                else max((expires - self.today()).days, 1))
        return Account(order_id=order.id, username=order.username, secret=order.secret,
                       expires=expires, months=order.months, days=days,
                       hours=self.config.trial.hours if order.kind == L.TRIAL else 0)

    def _buy_again(self, order: Order) -> Keyboard | None:
        """Beli lagi di <server> under a reseller's new account, while that server sells."""
        server = self.config.server(order.server_id)
        if (order.kind != L.PURCHASE or server is None or not self.servers.selling(server)
                or self.ledger.reseller(order.user_id) is None):
            return None
        return [[(label("button_buy_again", order.language, server=server.name),
                  pack("again", server.id))]]

    async def _deliver(self, order: Order) -> None:
        """Send the account; while Telegram is unavailable, keep trying (the account is in
        the ledger). A buyer who blocked the bot gets it when they write again."""
        if order.chat_id == NOBODY:
            # Days the operator gave an account nobody owns: nobody to tell.
            self.ledger.transition(order.id, {L.PROVISIONED}, L.DELIVERED)
            return
        made = self.ledger.account(order.account_id or 0)
        ends = (dt.datetime.fromtimestamp(made.ends_at, self.zone)
                if made is not None and made.ends_at is not None else None)
        body = messages.account(order, ends)
        if order.txn_id is not None and order.paid_at is not None:
            # The receipt goes with the account, so it is sent exactly as often as the
            # account is (once; again only after a crash before it was recorded as sent).
            server = self.config.server(order.server_id)
            days = (order.days if order.kind == L.RENEWAL and order.days is not None
                    else self.config.shop.days_per_month * order.months)
            body = Html(body + "\n\n" + messages.receipt(
                order, server.name if server is not None else order.server_id, days,
                self.zone))
        buttons = self._buy_again(order)
        tries = 0
        while True:
            try:
                await self.bot.send_message(order.chat_id, body, buttons)
            except Unavailable as exc:
                delay = DELIVERY_BACKOFF[min(tries, len(DELIVERY_BACKOFF) - 1)]
                tries += 1
                log.warning("sending the account failed (%s); again in %d s",
                            exc.description, delay)
                if tries == len(DELIVERY_BACKOFF):
                    self.ledger.record("delivery_delayed", exc.description, order.id)
                await trio.sleep(delay)
                continue
            except TelegramError as exc:
                log.warning("account not sent (%s); kept for a later resend", exc.description)
                self.ledger.record("delivery_failed", exc.description, order.id)
                self.notifier.tell("notify_undelivered", order_id=order.id,
                                   username=order.username, reason=exc.description)
                return
            self.ledger.transition(order.id, {L.PROVISIONED}, L.DELIVERED)
            log.info("account delivered")
            # After the ledger has it delivered (a crash here: `Rewards.resume`).
            await self.rewards.delivered(order)
            return
