"""The buyer's side of the bot: updates in, one chat at a time, to the handler of the
chat's step; admins' commands and buttons to `Admin`.

The flows are purchase.py (buy an account), my_accounts.py (list, details, renewal),
trials.py (a free trial) and claims.py (an account made before the shop); each declares
its handlers in tables (dialogue.py) that are merged here. The unfinished dialogue of each
chat (its draft) lives in the ledger, so a restart in the middle of a purchase continues
where the buyer was. Updates of one chat are handled one at a time; different chats
proceed independently.
"""

from __future__ import annotations

import logging
import re

import trio

from qrisbot import ledger as L
from qrisbot.config import Config
from qrisbot.ledger import Ledger
from qrisbot.shop import buttons
from qrisbot.shop.admin import Admin
from qrisbot.shop.buttons import Press
from qrisbot.shop.channel_gate import ChannelGate
from qrisbot.shop.checkout import Checkout
from qrisbot.shop.claims import Claims
from qrisbot.shop.dialogue import Dialogue, Tables
from qrisbot.shop.messages import Outgoing
from qrisbot.shop.my_accounts import MyAccounts
from qrisbot.shop.payments import Payments, is_paid_claim
from qrisbot.shop.purchase import Purchase
from qrisbot.shop.referrals import Invite
from qrisbot.shop.texts import text
from qrisbot.shop.trials import Trials
from qrisbot.telegram.api import BotApi, TelegramError
from qrisbot.telegram.types import CallbackQuery, Message, Update, current_update

log = logging.getLogger("qrisbot.conversation")

COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{1,64})?(?:\s.*)?", re.DOTALL)
MAX_TEXT = 4096
# Updates one chat may have waiting; a person never gets near it, a flood is cut off here
# instead of piling up tasks and paced replies for minutes.
MAX_QUEUED = 8


class Conversation:
    def __init__(
        self, config: Config, ledger: Ledger, bot: BotApi, checkout: Checkout,
        nursery: trio.Nursery,
    ) -> None:
        self.ledger = ledger
        self.checkout = checkout
        self.lang = config.shop.language
        self._nursery = nursery
        self._locks: dict[int, trio.Lock] = {}
        self._queued: dict[int, int] = {}  # chat -> updates taken and not yet handled
        self.dropped = 0
        self.admin = Admin(config, ledger, bot, checkout, nursery)
        self.d = Dialogue(config, ledger, bot, checkout)
        self.purchase = Purchase(self.d)
        self.accounts = MyAccounts(self.d)
        self.payments = Payments(self.d)
        self.tables = Tables(acts={"retry": self._order_button, "qcancel": self._order_button,
                                   "contact": self.d.contact, "joined": self._joined,
                                   "shop": self._shop_button})
        self.invite = Invite(self.d)
        for flow in (self.purchase.tables, self.accounts.tables, self.payments.tables,
                     Trials(self.d).tables, Claims(self.d).tables, self.invite.tables):
            self.tables.merge(flow)
        # shop.join_channel: paying and taking a trial are for people in the channel.
        self.gate = ChannelGate(self.d, checkout.notifier)
        for gated in (("pay", "confirm"), ("pay", "renew_confirm"), ("tsrv", "trial_server")):
            self.tables.steps[gated] = self.gate.guard(self.tables.steps[gated])

    # --- entry from polling ---------------------------------------------------------------

    def handle(self, update: Update) -> None:
        """Hand the update over without blocking the polling loop."""
        chat_id = _chat_of(update)
        if chat_id is None:
            self.ledger.update_done(update.update_id)
            return
        queued = self._queued.get(chat_id, 0)
        if queued >= MAX_QUEUED:
            if self.dropped % 100 == 0:
                log.warning("chat %d floods the bot; dropping its updates", chat_id)
            self.dropped += 1
            self.ledger.update_done(update.update_id)
            return
        self._queued[chat_id] = queued + 1
        self._nursery.start_soon(self._serialised, chat_id, update)

    async def _serialised(self, chat_id: int, update: Update) -> None:
        lock = self._locks.setdefault(chat_id, trio.Lock())
        current_update.set(update.update_id)
        try:
            async with lock:
                if update.update_id <= self.ledger.handled(chat_id):
                    # Replayed after a crash, and its step was already taken: not again.
                    log.info("chat %d: update %d was handled before the restart", chat_id,
                             update.update_id)
                    await self._reprompt(chat_id)
                elif update.callback is not None:
                    await self._on_callback(update.callback)
                elif update.message is not None:
                    await self._on_message(update.message)
        except TelegramError as exc:
            log.warning("chat %d: Telegram refused a reply: %s", chat_id, exc.description)
        except Exception:
            log.exception("chat %d: unexpected error while handling an update", chat_id)
            await self.d.send_quietly(chat_id, Outgoing(text("error", self.lang)))
        finally:
            self.ledger.update_done(update.update_id)
            self._queued[chat_id] -= 1
            if not self._queued[chat_id]:
                del self._queued[chat_id]
                self._locks.pop(chat_id, None)

    # --- messages ---------------------------------------------------------------------------

    async def _on_message(self, message: Message) -> None:
        if message.chat_type != "private":
            command = _command(message.text or "")
            if command in ("start", "help"):
                await self.d.say(message.chat_id, "group_only_private")
            return
        chat_id = message.chat_id
        self.checkout.redeliver(chat_id)
        raw = (message.text or "")[:MAX_TEXT]
        command = _command(raw)
        if command in ("admin", "broadcast") and self.admin.is_admin(
                message.sender.id if message.sender else None):
            await self.admin.command(message, command, raw)
            return
        claimed = self.payments.claimed(chat_id) if (
            command is None and is_paid_claim(raw)) else None
        if claimed is not None:  # "sudah bayar": the order's real state, not the menu
            await self.payments.check(chat_id, claimed)
            return
        draft = self.d.draft(chat_id)
        typed = self.tables.typed.get(draft.step) if draft is not None else None
        awaiting = self.payments.awaiting(chat_id)
        # An order awaits payment: said first, before the menu, the accounts or an answer
        # to a stray text (an answer to a question the bot asked goes on without it).
        if awaiting is not None and command in ("start", "akun", "accounts", None) and (
                command is not None or typed is None):
            await self.payments.note(chat_id, awaiting)
            if command is None:
                return
        if command == "start":
            await self._start(chat_id, message.sender.id if message.sender else chat_id, raw)
        elif command in ("akun", "accounts"):
            await self.accounts.show(chat_id)
        elif command == "help":
            await self.d.help(chat_id)
        elif command == "cancel":
            await self._cancel(chat_id)
        elif draft is not None and typed is not None:
            await typed(message, draft, raw)
        elif draft is not None:
            await self.d.say(chat_id, "use_buttons")
        else:
            await self.d.say(chat_id, "unknown_input")

    async def _start(self, chat_id: int, user_id: int, raw: str = "/start") -> None:
        """The menu, for people in the channel (shop.join_channel); others are asked to
        join it first, and what they were doing is dropped (as /start always does). A
        referral link's parameter is recorded first, so joining the channel later counts."""
        self.invite.arrived(user_id, raw)
        if await self.gate.admits(user_id):
            await self.d.menu(chat_id)
        else:
            self.d.save(chat_id, None)
            await self.gate.ask_to_join(chat_id)

    async def _shop_button(self, chat_id: int, user_id: int, press: Press) -> None:
        """A win-back offer's button: the menu, as /start gives it."""
        await self._start(chat_id, user_id)

    async def _joined(self, chat_id: int, user_id: int, press: Press) -> None:
        """Sudah join: in the channel now? Then on where they were (the step they were
        stopped at, asked again), else the menu."""
        if not self.gate.is_on:
            await self.d.stale(chat_id)
        elif not await self.gate.admits(user_id):
            await self.gate.ask_to_join(chat_id, again=True)
        else:
            draft = self.d.draft(chat_id)
            reprompt = self.tables.reprompts.get(draft.step) if draft is not None else None
            if draft is not None and reprompt is not None:
                await reprompt(chat_id, draft)
            else:
                await self.d.menu(chat_id)

    async def _cancel(self, chat_id: int) -> None:
        order = self.ledger.open_order(chat_id)
        had_draft = self.ledger.draft(chat_id) is not None
        self.d.save(chat_id, None)
        if order is not None:
            await self.checkout.buyer_cancels(order)
        elif had_draft:
            await self.d.say(chat_id, "cancelled")
        else:
            await self.d.say(chat_id, "nothing_to_cancel")

    async def _reprompt(self, chat_id: int) -> None:
        """Send the current step's prompt again if it never went out (a crash came first)."""
        draft = self.d.draft(chat_id)
        if draft is None or draft.message_id is not None:
            return
        reprompt = self.tables.reprompts.get(draft.step)
        if reprompt is not None:
            await reprompt(chat_id, draft)
        else:  # the menu, or a step of an older release
            await self.d.menu(chat_id)

    # --- buttons ----------------------------------------------------------------------------

    async def _on_callback(self, callback: CallbackQuery) -> None:
        await self.d.bot.answer_callback(callback.id)
        chat_id = callback.chat_id
        data = callback.data or ""
        press = buttons.unpack(data)
        if data.startswith(buttons.ADMIN) and chat_id is not None and (
                callback.chat_type == "private"):
            if self.admin.is_admin(callback.sender.id):
                await self.admin.callback(callback, press)
            else:  # a forged admin button looks like any stale one
                await self.d.stale(chat_id)
            return
        if chat_id is None or callback.chat_type != "private" or press is None:
            return
        user_id = callback.sender.id
        act = self.tables.acts.get(press.kind)
        if act is not None:
            await act(chat_id, user_id, press)
            return
        draft = self.d.draft(chat_id)
        if draft is None or draft.message_id != callback.message_id:
            await self.d.stale(chat_id)
            return
        await self.d.remove_buttons(chat_id, callback.message_id)
        handler = self.tables.steps.get((press.kind, draft.step))
        if press.kind == "cancel":
            await self._cancel(chat_id)
        elif handler is not None:
            await handler(chat_id, user_id, draft, press)
        else:
            await self.d.stale(chat_id)

    async def _order_button(self, chat_id: int, user_id: int, press: Press) -> None:
        """Retry (a QR that could not be made) or Batal on an order's message."""
        order = self.ledger.get(press.value)
        # Buttons of another chat's order (forged data) look exactly like stale ones.
        if order is None or order.chat_id != chat_id:
            await self.d.stale(chat_id)
            return
        if press.kind == "qcancel":
            await self.checkout.buyer_cancels(order)
            return
        server = self.d.config.server(order.server_id)
        renewed = self.accounts.owned(order.user_id, order.account_id)
        if not self.checkout.can_retry_qr(order) or server is None:
            await self.d.stale(chat_id)
        elif order.kind == L.RENEWAL and renewed is not None:
            await self.accounts.place_renewal(chat_id, order.user_id, renewed, server,
                                              order.months, order.breakdown)
        elif order.kind == L.PURCHASE and self.checkout.servers.selling(server):
            await self.purchase.place_order(chat_id, order.user_id, server, order.username,
                                            order.secret, order.months, order.breakdown)
        else:
            await self.d.stale(chat_id)


def _command(raw: str) -> str | None:
    match = COMMAND.fullmatch(raw.strip())
    return match.group(1).lower() if match else None


def _chat_of(update: Update) -> int | None:
    if update.message is not None:
        return update.message.chat_id
    if update.callback is not None:
        return update.callback.chat_id if update.callback.chat_id is not None else (
            update.callback.sender.id)
    return None
