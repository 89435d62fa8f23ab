"""One order's life: QR -> watch -> paid -> provision -> deliver, on the ledger.

Every step is a compare-and-set on the ledger, so the checker, a buyer's cancel, a resumed
order after a restart (and later a webhook) can race without paying twice or provisioning
twice. Whatever is in flight when the process dies is picked up again by `resume`.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import random
import secrets
import string
import time
import uuid
from collections.abc import Callable
from typing import Any

import trio

from qrisbot import ledger as L
from qrisbot import log as qlog
from qrisbot import qr
from qrisbot.config import Config, Server
from qrisbot.ledger import Ledger, Order
from qrisbot.pakasir import CANCELED, COMPLETED, EXPIRED, Pakasir, PakasirError, Refused, Status
from qrisbot.provision import Backends, SecretKind
from qrisbot.shop import messages
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.fees import Fees
from qrisbot.shop.fulfilment import Fulfilment
from qrisbot.shop.notify import Notifier, Outage, Refusal, tell_buyer
from qrisbot.shop.pricing import quote
from qrisbot.shop.servers import Servers
from qrisbot.shop.texts import Html
from qrisbot.telegram.api import BotApi, TelegramError

log = logging.getLogger("qrisbot.checkout")

# Seconds between attempts to settle an expiring order when Pakasir is unreachable.
SETTLE_BACKOFF = (5, 10, 20, 40, 60, 120, 300)
# Seconds between looks for failed orders an operator asked to retry (from the CLI).
SWEEP_INTERVAL = 5


class Hint(enum.Enum):
    """What a payment notification (a webhook) led to."""

    PAID = "paid"
    ALREADY = "already handled"
    UNKNOWN_ORDER = "unknown order"
    WRONG_AMOUNT = "amount does not match the order"
    NOT_COMPLETED = "not completed at Pakasir"
    UNAVAILABLE = "Pakasir status unavailable"


class Checkout:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        bot: BotApi,
        pakasir: Pakasir,
        backends: Backends,
        nursery: trio.Nursery,
        *,
        work: trio.Nursery | None = None,
        notifier: Notifier | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        """`nursery` runs the checkers; `work` (default: the same) provisions and delivers."""
        self.config = config
        self.ledger = ledger
        self.bot = bot
        self.pakasir = pakasir
        self.backends = backends
        self._nursery = nursery
        self._work = work or nursery
        self.notifier = notifier or Notifier(config, bot, nursery)
        self.servers = Servers(config, ledger, self.notifier)
        self.pakasir_outage = Outage(self.notifier, "notify_pakasir_down", "notify_pakasir_up")
        self.pakasir_refusal = Refusal(self.notifier)
        self._watchers: dict[str, trio.CancelScope] = {}
        self.fulfilment = Fulfilment(config, ledger, bot, backends, self.servers,
                                     self.notifier, self._work, self.today)
        self.fulfil = self.fulfilment.fulfil
        self.redeliver = self.fulfilment.redeliver
        self.calendar = calendar or Calendar(config.shop.timezone)
        self.zone = self.calendar.zone
        self.fees = Fees(pakasir)

    # --- starting an order --------------------------------------------------------------

    def today(self) -> dt.date:
        return self.calendar.today()

    def new_secret(self, server: Server, password: str | None) -> str:
        chosen = self.backends.backend(server).secret_kind is SecretKind.PASSWORD
        return password if chosen and password else str(uuid.uuid4())

    def create_order(
        self, *, chat_id: int, user_id: int, server: Server, username: str, secret: str,
        months: int, language: str, breakdown: L.Breakdown | None = None,
    ) -> Order:
        """Write the order at `breakdown` (the one the buyer confirmed; default: the list
        price) and use its promo code in the same write (raises the ledger's refusals);
        stale unshown orders are dropped."""
        return self.ledger.create_order(
            order_id=self._new_order_id(chat_id), chat_id=chat_id, user_id=user_id,
            server_id=server.id,
            protocol=server.protocol, username=username, secret=secret, months=months,
            breakdown=breakdown or quote(server, months), language=language,
            deadline=time.time() + self.config.pakasir.payment_timeout,
            capacity=server.capacity, today=self.today(),
            now=self.calendar.now().timestamp(),
        )

    def create_renewal(
        self, *, chat_id: int, user_id: int, account: L.Account, server: Server, months: int,
        language: str, breakdown: L.Breakdown | None = None,
    ) -> Order:
        """Write a renewal of the account at `breakdown` (default: the server's current
        price), as `create_order` (raises the ledger's refusals)."""
        return self.ledger.create_renewal(
            order_id=self._new_order_id(chat_id), chat_id=chat_id, user_id=user_id,
            account=account, months=months, days=self.config.shop.days_per_month * months,
            breakdown=breakdown or quote(server, months), today=self.today(),
            now=self.calendar.now().timestamp(), language=language,
            deadline=time.time() + self.config.pakasir.payment_timeout,
        )

    def create_trial(self, *, chat_id: int, user_id: int, server: Server, username: str,
                     language: str) -> Order:
        """Write the user's free trial on the server, ready to be made (raises the ledger's
        refusals); it ends `trial.hours` from now, to the minute."""
        now = self.calendar.now()
        ends = now + dt.timedelta(hours=self.config.trial.hours)
        return self.ledger.create_trial(
            order_id=self._new_order_id(chat_id), chat_id=chat_id, user_id=user_id,
            server_id=server.id, protocol=server.protocol, username=username,
            secret=self.new_secret(server, _random(12)), language=language, day=now.date(),
            ends_at=ends.timestamp(), expires_on=ends.date(), capacity=server.capacity,
            daily_limit=self.config.trial.daily_limit)

    def _new_order_id(self, chat_id: int) -> str:
        stale = self.ledger.open_order(chat_id)
        if stale is not None and stale.state == L.NEW:
            # A `new` order never had its QR shown, so nothing can be paid on it.
            self.ledger.transition(stale.id, {L.NEW}, L.CANCELLED)
        return f"VPN{int(time.time() * 1000)}{chat_id}"

    async def request_payment(self, order: Order) -> None:
        """Create the QRIS transaction and show it; on failure offer to try again.

        A failed creation closes the order at once, so its username and its place on the
        server are free for anyone again (the buyer never saw a QR: nothing can be paid on
        it). Trying again places a new order under the usual rules; if someone took the
        name or the last place meanwhile, the buyer hears so as when ordering.
        """
        with qlog.order_context(order.id):
            try:
                txn = await self.pakasir.create(order.id, order.amount)
                png = qr.png(txn.qr_string)
            except (PakasirError, ValueError) as exc:
                log.warning("QRIS could not be created: %s", exc)
                if isinstance(exc, PakasirError):
                    self._pakasir_failed(exc)
                await self._qr_failed(order, str(exc)[:200])
                return
            self.pakasir_refusal.accepted()
            updated = self.ledger.transition(
                order.id, {L.NEW}, L.AWAITING, txn_id=txn.txn_id, fee=txn.fee, total=txn.total,
                qr=txn.qr_string, deadline=time.time() + self.config.pakasir.payment_timeout,
            )
            if updated is None:
                log.info("order changed while its QR was made; not showing it")
                return
            log.info("QRIS created: amount %d fee %d total %d", txn.amount, txn.fee, txn.total)
            await self._show_qr(updated, png)
            self.watch(updated)

    def _pakasir_failed(self, exc: PakasirError) -> None:
        """What a failed call tells the admins: a refused key or slug at once (once), an
        outage once it has lasted."""
        if isinstance(exc, Refused):
            self.pakasir_refusal.refused(exc.settings, str(exc))
        elif exc.transient:
            self.pakasir_outage.failed(str(exc))

    async def _qr_failed(self, order: Order, reason: str) -> None:
        self.ledger.transition(order.id, {L.NEW}, L.CANCELLED, event=("qr_failed", reason))
        await self._say(order, messages.qr_failed(order))

    def can_retry_qr(self, order: Order) -> bool:
        """A Retry button of this order may place it again: it was closed before any QR
        was made (so never payable)."""
        return order.state == L.CANCELLED and order.txn_id is None

    async def _show_qr(self, order: Order, png: bytes | None = None) -> None:
        if png is None:
            png = qr.png(order.qr or "")
        try:
            message_id = await self.bot.send_photo(
                order.chat_id, png, messages.qr_caption(order, self.zone),
                messages.qr_buttons(order),
            )
        except TelegramError as exc:
            log.warning("could not send the QR: %s", exc.description)
            return
        if message_id is not None:
            self.ledger.update(order.id, qr_message_id=message_id)

    # --- watching for the payment ------------------------------------------------------

    def watch(self, order: Order, *, first_check: float | None = None) -> None:
        """Check the order's payment every poll interval until paid, gone or expired.

        `first_check` (seconds) moves the first check earlier: resumed orders spread theirs
        over one interval instead of all asking Pakasir in the same instant.
        """
        if order.id not in self._watchers:
            scope = trio.CancelScope()
            self._watchers[order.id] = scope
            remaining = max(order.deadline - time.time(), 0)
            self._nursery.start_soon(qlog.guarded, order.id, self._watch, order.id, scope,
                                     remaining, first_check)

    async def _watch(self, order_id: str, scope: trio.CancelScope, remaining: float,
                     first_check: float | None) -> None:
        interval = self.config.pakasir.poll_interval
        try:
            with scope:
                with trio.move_on_after(remaining):
                    # Checks keep to a fixed grid, so a slow answer does not push every
                    # later check back.
                    next_check = trio.current_time() + (
                        interval if first_check is None else first_check)
                    while True:
                        await trio.sleep_until(next_check)
                        if await self._check(order_id):
                            return
                        next_check = max(next_check + interval, trio.current_time())
                await self._settle_expired(order_id)
        finally:
            self._watchers.pop(order_id, None)

    async def _check(self, order_id: str) -> bool:
        """One status check; True when the order no longer needs watching."""
        order = self.ledger.get(order_id)
        if order is None or order.state != L.AWAITING or order.txn_id is None:
            return True
        status = await self._status(order, "status check")
        if status is None:
            return False
        if status.state == COMPLETED:
            return await self.paid(order, status)
        return False

    async def check_now(self, order: Order) -> bool:
        """The buyer asks where their payment stands: one status check now, if the order
        could still be paid (or a late payment could have landed), taken the checker's way:
        through the client's gate of one status call per 4 s per transaction, which the
        checker shares (no number of taps makes it more often), and a completed payment
        through `paid`. False when Pakasir did not answer."""
        if order.txn_id is None or order.state not in (L.AWAITING, L.EXPIRED, L.CANCELLED):
            return True  # nothing Pakasir could add to what the ledger says
        with qlog.order_context(order.id):
            status = await self._status(order, "status check asked by the buyer")
            if status is None:
                return False
            current = self.ledger.get(order.id)
            if status.state == COMPLETED and current is not None and current.state in (
                    L.AWAITING, L.EXPIRED, L.CANCELLED):
                await self.paid(current, status)
            return True

    async def _status(self, order: Order, what: str) -> Status | None:
        """The transaction's status at Pakasir, its answer (or failure) counted for the
        outage and refusal notices; None when Pakasir did not answer."""
        assert order.txn_id is not None
        try:
            status = await self.pakasir.status(order.id, order.txn_id, order.amount)
        except PakasirError as exc:
            log.warning("%s failed: %s", what, exc)
            self._pakasir_failed(exc)
            return None
        self.pakasir_outage.answered()
        self.pakasir_refusal.accepted()
        return status

    def is_payable(self, order: Order) -> bool:
        """Its QR may still be paid: shown, awaiting payment, before its deadline."""
        return order.state == L.AWAITING and order.qr is not None and (
            order.deadline > time.time())

    async def show_qr_again(self, order: Order) -> None:
        """The buyer asked for the QR again: a new message with it, then the old one goes
        (one live QR per order, the one the expiry retires)."""
        old = order.qr_message_id
        await self._show_qr(order)
        current = self.ledger.get(order.id)
        if old is None or current is None or current.qr_message_id == old:
            return
        try:
            if not await self.bot.delete_message(order.chat_id, old):
                await self.bot.edit_caption(order.chat_id, old, messages.qr_moved_caption(order))
        except TelegramError as exc:
            log.info("could not retire the earlier QR message: %s", exc.description)

    async def _settle_expired(self, order_id: str) -> None:
        """Time is up: cancel at Pakasir, look once more, and only then call it expired."""
        order = self.ledger.get(order_id)
        if order is None or order.state != L.AWAITING:
            return
        await self._retire_qr(order, messages.expired_caption(order))
        settled = await self._cancel_and_recheck(order)
        tries = 0
        while not _closed(settled):
            # Until Pakasir confirms the QR can no longer be paid (it did not answer, or it
            # refused the cancel and still says pending), a payment may still land: the
            # order stays awaiting and is looked at again, ever less often.
            if tries == len(SETTLE_BACKOFF) // 2:
                reason = ("Pakasir unreachable" if settled is None
                          else f"cancel refused, status {settled.state}")
                log.error("cannot settle the expired order with Pakasir (%s); still trying",
                          reason)
                self.ledger.record("settle_failed", f"{reason} at expiry", order.id)
                self.notifier.tell("notify_unsettled", order_id=order.id, reason=reason)
            await trio.sleep(SETTLE_BACKOFF[min(tries, len(SETTLE_BACKOFF) - 1)])
            tries += 1
            current = self.ledger.get(order.id)
            if current is None or current.state != L.AWAITING:
                return  # a payment notice or an operator settled it meanwhile
            settled = await self._cancel_and_recheck(order)
        assert settled is not None
        if settled.state == COMPLETED:
            if await self.paid(order, settled):
                return
            # Money arrived, but not what the order asks: the admin decides (refund).
            if self.ledger.transition(order.id, {L.AWAITING}, L.EXPIRED):
                await self._say(order, messages.provision_needs_admin(order))
            return
        if self.ledger.transition(order.id, {L.AWAITING}, L.EXPIRED):
            log.info("payment time is over; order expired")
            await self._say(order, messages.about("expired", order))

    async def _cancel_and_recheck(self, order: Order) -> Status | None:
        """Cancel the transaction, then read its status; None when Pakasir did not answer."""
        assert order.txn_id is not None
        try:
            await self.pakasir.cancel(order.id, order.txn_id, order.amount)
        except PakasirError as exc:
            if not (exc.status and 400 <= exc.status < 500 and not exc.transient):
                log.warning("cancel at Pakasir failed: %s", exc)
                return None
            # 4xx: e.g. already cancelled or completed; the status below decides.
        try:
            return await self.pakasir.status(order.id, order.txn_id, order.amount)
        except PakasirError as exc:
            if exc.status == 404:
                # Pakasir does not know the transaction (any more): nobody can pay it.
                log.warning("Pakasir does not know the transaction; treating it as cancelled")
                return Status(CANCELED, order.id, order.amount, None)
            log.warning("status after cancel failed: %s", exc)
            return None

    async def buyer_cancels(self, order: Order) -> None:
        """The buyer pressed Batal on the QR (or sent /cancel) while it was payable."""
        with qlog.order_context(order.id):
            if order.state == L.NEW:
                if self.ledger.transition(order.id, {L.NEW}, L.CANCELLED):
                    await self._say(order, messages.about("cancelled", order))
                return
            if order.state in (L.CANCELLED, L.EXPIRED):
                await self._say(order, messages.about(order.state, order))
                return
            if order.state != L.AWAITING:
                await self._say(order, messages.about("already_paid", order))
                return
            status = await self._cancel_and_recheck(order)
            if not _closed(status):
                # Pakasir did not answer, or refused and the QR is still payable: the
                # order stays open (and watched) until it is really closed.
                await self._say(order, messages.plain("cancel_failed", order.language))
                return
            assert status is not None
            if status.state == COMPLETED:
                await self.paid(order, status)
                await self._say(order, messages.about("already_paid", order))
                return
            if self.ledger.transition(order.id, {L.AWAITING}, L.CANCELLED):
                log.info("cancelled by the buyer")
                scope = self._watchers.get(order.id)
                if scope is not None:
                    scope.cancel()
                await self._retire_qr(order, messages.cancelled_caption(order))
                await self._say(order, messages.about("cancelled", order))

    async def _retire_qr(self, order: Order, caption: Html) -> None:
        """Delete the QR so nobody pays a dead order; edit it where deleting is refused."""
        current = self.ledger.get(order.id) or order
        if current.qr_message_id is None:
            return
        try:
            if not await self.bot.delete_message(order.chat_id, current.qr_message_id):
                await self.bot.edit_caption(order.chat_id, current.qr_message_id, caption)
        except TelegramError as exc:
            log.warning("could not retire the QR message: %s", exc.description)

    async def payment_hint(self, order_id: str, amount: int) -> Hint:
        """Someone says this order was paid: believe only Pakasir's own status."""
        order = self.ledger.get(order_id)
        if order is None:
            log.warning("payment notice for unknown order %s", order_id)
            return Hint.UNKNOWN_ORDER
        with qlog.order_context(order.id):
            if amount != order.amount:
                log.warning("payment notice with amount %d ignored (order is %d)",
                            amount, order.amount)
                self.ledger.record("webhook_mismatch", f"amount {amount}", order.id)
                return Hint.WRONG_AMOUNT
            if order.state not in (L.AWAITING, L.EXPIRED, L.CANCELLED) or order.txn_id is None:
                return Hint.ALREADY if order.state not in L.OPEN else Hint.NOT_COMPLETED
            try:
                status = await self.pakasir.status(order.id, order.txn_id, order.amount)
            except PakasirError as exc:
                log.warning("status check after a payment notice failed: %s", exc)
                return Hint.UNAVAILABLE
            if status.state != COMPLETED:
                log.warning("payment notice, but Pakasir says %s", status.state)
                return Hint.NOT_COMPLETED
            await self.paid(order, status)
            current = self.ledger.get(order.id)
            return Hint.PAID if current is not None and current.state not in L.OPEN else (
                Hint.NOT_COMPLETED)

    # --- paid ---------------------------------------------------------------------------

    def paid_terms(self, order: Order) -> dict[str, Any]:
        """What the payment buys, fixed in the ledger when it is paid (before any remote
        call): a purchase's last day; a renewal's days, whose last day is decided when it
        is applied, from the day the account has then (`Ledger.claim_extension`)."""
        days = self.config.shop.days_per_month * order.months
        if order.kind == L.RENEWAL:
            # A renewal written by an earlier release has no days yet.
            return {"days": order.days if order.days is not None else days}
        return {"expires_on": (self.today() + dt.timedelta(days=days)).isoformat()}

    def renewed_until(self, account: L.Account, months: int) -> dt.date:
        """The account's last day after a renewal of `months` applied today, for the buyer
        to see before paying (a trial becomes a paid account from today)."""
        days = dt.timedelta(days=self.config.shop.days_per_month * months)
        if account.is_trial:
            return self.today() + days
        return max(account.expires_on, self.today()) + days

    async def paid(self, order: Order, status: Status) -> bool:
        """A completed status was seen. True when the order needs no more watching; False
        when the status does not match the order (never honoured; watching goes on, in case
        Pakasir corrects itself)."""
        if status.order_id != order.id or status.amount != order.amount:
            log.error("completed status does not match the order (amount %d)", status.amount)
            if not order.needs_attention:  # tell the admin once, not at every check
                self.ledger.update(
                    order.id, needs_attention=1,
                    last_error="completed payment does not match the order",
                    event=("payment_mismatch", f"Pakasir reports a completed payment of "
                                               f"{status.amount} for {status.order_id!r}"))
                self.notifier.needs_admin(order, "completed payment does not match the order")
            return False
        updated = self.ledger.transition(
            order.id, {L.AWAITING, L.EXPIRED, L.CANCELLED}, L.PAID, paid_at=time.time(),
            **self.paid_terms(order),
        )
        if updated is None:
            return True  # someone else (checker, cancel, resume) already took it
        if order.state != L.AWAITING:
            log.warning("late payment for a %s order: fulfilling it", order.state)
            self.ledger.record("late_payment", f"paid after {order.state}", order.id)
        log.info("payment received")
        self.notifier.paid(updated)
        # A running checker sees the new state at its next tick and stops by itself.
        if updated.qr_message_id is not None:
            try:
                await self.bot.edit_caption(
                    updated.chat_id, updated.qr_message_id, messages.paid_caption(updated)
                )
            except TelegramError as exc:
                log.warning("could not edit the QR caption: %s", exc.description)
        self.fulfil(updated)
        return True

    # --- provisioning and delivery ------------------------------------------------------

    # --- start-up ---------------------------------------------------------------------------

    async def resume(self) -> None:
        """Pick up every unfinished order, as the ledger left it."""
        for order in self.ledger.unfinished():
            with qlog.order_context(order.id):
                log.info("resuming %s order", order.state)
                if order.state == L.NEW and order.deadline <= time.time():
                    # Its QR was never shown: nothing can have been paid on it.
                    self.ledger.transition(order.id, {L.NEW}, L.CANCELLED)
                elif order.state == L.NEW:
                    # Stopped while its QR was being made: closed (the buyer never saw a
                    # QR), and the buyer may try again.
                    await self._qr_failed(order, "stopped while the QR was made")
                elif order.state == L.AWAITING:
                    # A crash between recording the QR and sending it: show it now.
                    if order.qr_message_id is None and order.qr and order.deadline > time.time():
                        await self._show_qr(order)
                    spread = random.uniform(0, self.config.pakasir.poll_interval)
                    self.watch(order, first_check=spread)
                elif order.state == L.FAILED and not order.retryable:
                    continue
                else:
                    self.fulfil(order)
        # Referral rewards a crash left unclaimed after their order was delivered.
        await self.fulfilment.rewards.resume()

    async def sweep(self, removal_asked: Callable[[], None] = lambda: None) -> None:
        """Take what an operator put in from outside (the CLI, while the daemon runs):
        failed orders to retry, days given (orders to fulfil), and removals asked
        (`removal_asked` is called)."""
        while True:
            await trio.sleep(SWEEP_INTERVAL)
            if not self.ledger.written_elsewhere():
                continue  # nobody outside the daemon has written to the ledger
            if self.ledger.removal_asked():
                removal_asked()
            for order in self.ledger.retry_requested():
                if not self.fulfilment.is_busy(order.id):
                    with qlog.order_context(order.id):
                        log.info("put in by an operator (a retry or days given)")
                    self.fulfil(order)

    # --- helpers ----------------------------------------------------------------------------

    async def _say(self, order: Order, message: messages.Outgoing) -> None:
        await tell_buyer(self.bot, order.chat_id, message)


def trial_username() -> str:
    """`trial` and 5 random letters or digits."""
    return "trial" + _random(5)


def _random(length: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits)
                   for _ in range(length))


def _closed(status: Status | None) -> bool:
    """Pakasir has said how the transaction ended: paid, or never payable again."""
    return status is not None and status.state in (COMPLETED, CANCELED, EXPIRED)
