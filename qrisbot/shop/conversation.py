"""The buyer's dialogue: server -> username -> (password) -> duration -> confirm -> pay;
their accounts (details, renewal: months -> confirm -> pay); a free trial (server -> made).

The unfinished dialogue of each chat (its draft) lives in the ledger, so a restart in the
middle of a purchase continues where the buyer was. Updates of one chat are handled one
at a time; different chats proceed independently. Admins' commands and buttons go to
`Admin`. Each step's handler is found in one table (`_typed` for what the buyer types,
`_steps` for the prompt's buttons); buttons that carry what they act on (an order, an
account) work at any step (`_acts`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from qrisbot import ledger as L
from qrisbot.config import Config, Server
from qrisbot.ledger import Ledger
from qrisbot.provision import Presence, ServerError, can_extend
from qrisbot.provision.recipes import PASSWORD, is_sellable_username
from qrisbot.shop import buttons, messages
from qrisbot.shop.admin import Admin
from qrisbot.shop.buttons import Press, pack
from qrisbot.shop.checkout import Checkout, trial_username
from qrisbot.shop.messages import Outgoing, cancel_row
from qrisbot.shop.texts import label, rupiah, text
from qrisbot.telegram.api import BotApi, Keyboard, TelegramError
from qrisbot.telegram.types import CallbackQuery, Message, Update, current_update

log = logging.getLogger("qrisbot.conversation")

COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{1,64})?(?:\s.*)?", re.DOTALL)
MAX_TEXT = 4096
USERNAME_CHECK_DEADLINE = 20  # seconds a buyer waits for the server to answer about a name
# Updates one chat may have waiting; a person never gets near it, a flood is cut off here
# instead of piling up tasks and paced replies for minutes.
MAX_QUEUED = 8
TRIAL_NAME_TRIES = 5  # random trial names tried before giving up (each is 1 in 36**5)

Draft = dict[str, Any]
# A button of the current prompt: (chat, user, the chat's draft, the press).
StepHandler = Callable[[int, int, Draft, Press], Awaitable[None]]
# A button that carries what it acts on: (chat, user, the press).
Act = Callable[[int, int, Press], Awaitable[None]]


class Conversation:
    def __init__(
        self, config: Config, ledger: Ledger, bot: BotApi, checkout: Checkout,
        nursery: trio.Nursery,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.bot = bot
        self.checkout = checkout
        self.lang = config.shop.language
        self._nursery = nursery
        self._locks: dict[int, trio.Lock] = {}
        self._queued: dict[int, int] = {}  # chat -> updates taken and not yet handled
        self.dropped = 0
        self.admin = Admin(config, ledger, bot, checkout, nursery)
        self._typed: dict[str, Callable[[Message, Draft, str], Awaitable[None]]] = {
            "username": self._on_username,
            "password": self._on_password,
        }
        self._steps: dict[tuple[str, str], StepHandler] = {
            ("srv", "server"): self._choose_server,
            ("full", "server"): self._choose_server,
            ("dur", "duration"): self._choose_duration,
            ("pay", "confirm"): self._pay,
            ("dur", "renew_duration"): self._renew_months,
            ("pay", "renew_confirm"): self._pay_renewal,
            ("tsrv", "trial_server"): self._take_trial,
        }
        self._acts: dict[str, Act] = {
            "retry": self._order_button,
            "qcancel": self._order_button,
            "acc": self._my_accounts_button,
            "acd": self._account_detail,
            "ren": self._renew,
            "trial": self._offer_trial,
        }

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
                else:
                    await self._dispatch(update)
        except TelegramError as exc:
            log.warning("chat %d: Telegram refused a reply: %s", chat_id, exc.description)
        except Exception:
            log.exception("chat %d: unexpected error while handling an update", chat_id)
            await self._send_quietly(chat_id, Outgoing(text("error", self.lang)))
        finally:
            self.ledger.update_done(update.update_id)
            self._queued[chat_id] -= 1
            if not self._queued[chat_id]:
                del self._queued[chat_id]
                self._locks.pop(chat_id, None)

    async def _dispatch(self, update: Update) -> None:
        if update.callback is not None:
            await self._on_callback(update.callback)
        elif update.message is not None:
            await self._on_message(update.message)

    # --- messages ---------------------------------------------------------------------------

    async def _on_message(self, message: Message) -> None:
        if message.chat_type != "private":
            command = _command(message.text or "")
            if command in ("start", "help"):
                await self._send(message.chat_id, Outgoing(text("group_only_private", self.lang)))
            return
        self.checkout.redeliver(message.chat_id)
        raw = (message.text or "")[:MAX_TEXT]
        command = _command(raw)
        if command in ("admin", "broadcast") and self.admin.is_admin(
                message.sender.id if message.sender else None):
            await self.admin.command(message, command, raw)
        elif command == "start":
            await self._menu(message.chat_id)
        elif command in ("akun", "accounts"):
            await self._my_accounts(message.chat_id)
        elif command == "help":
            await self._send(message.chat_id, Outgoing(text("help", self.lang)))
        elif command == "cancel":
            await self._cancel(message.chat_id)
        else:
            draft = self.ledger.draft(message.chat_id)
            typed = self._typed.get(draft.get("step", "")) if draft is not None else None
            if draft is not None and typed is not None:
                await typed(message, draft, raw)
            elif draft is not None:
                await self._send(message.chat_id, Outgoing(text("use_buttons", self.lang)))
            else:
                await self._send(message.chat_id, Outgoing(text("unknown_input", self.lang)))

    async def _menu(self, chat_id: int) -> None:
        servers = self.checkout.servers.for_sale()
        if not servers:
            self.ledger.save_draft(chat_id, None, current_update.get())
            await self._send(chat_id, Outgoing(text("no_servers", self.lang)))
            return
        rows: Keyboard = [
            [messages.server_button(s, self.lang,
                                    self.ledger.active_count(s.id) >= s.capacity)]
            for s in servers
        ]
        # In a private chat the chat is its user: the buyer's own accounts, their trial.
        if self.ledger.accounts_of(chat_id):
            rows = [*rows, [(text("button_my_accounts", self.lang), pack("acc"))]]
        if self._trial_servers() and not self.ledger.had_trial(chat_id):
            rows = [*rows, [(text("button_trial", self.lang), pack("trial"))]]
        greeting = text("greeting", self.lang, shop=self.config.shop.name)
        message_id = await self._send(chat_id, Outgoing(greeting, [*rows, cancel_row(self.lang)]))
        self.ledger.save_draft(chat_id, {"step": "server", "message_id": message_id},
                              current_update.get())

    async def _on_username(self, message: Message, draft: dict[str, Any], raw: str) -> None:
        chat_id = message.chat_id
        username = raw.strip().lower()
        server = self._server(draft)
        if server is None:
            await self._restart(chat_id)
            return
        if not is_sellable_username(username):
            await self._try_again(chat_id, "bad_username")
            return
        # Free in the ledger first (cheap), then on the server itself.
        taken = self.ledger.username_held(server.id, username)
        if not taken:
            presence = await self._presence(server, username)
            if presence is None:
                await self._try_again(chat_id, "server_unreachable")
                return
            taken = presence is Presence.TAKEN
        if taken:
            await self._try_again(chat_id, "username_taken", username=username)
            return
        draft = {**draft, "username": username}
        if server.protocol == "ssh":
            await self._ask(chat_id, draft, "password",
                            Outgoing(text("ask_password", self.lang), [cancel_row(self.lang)]))
        else:
            await self._ask_duration(chat_id, draft, server)

    async def _presence(self, server: Server, username: str) -> Presence | None:
        """Is the name free on the server? None when it did not answer in time."""
        presence = None
        # The buyer waits for this answer: a slow server gets a bounded time, then the
        # buyer hears so (the chat is not held for as long as a server likes).
        with trio.move_on_after(USERNAME_CHECK_DEADLINE):
            try:
                presence = await self.checkout.provisioner.presence(server, username)
            except ServerError as exc:
                log.warning("server %s: username check failed: %s", server.id, exc)
                self.checkout.servers.answered(server, exc)
                return None
        if presence is not None:
            self.checkout.servers.answered(server, None)
        return presence

    async def _on_password(self, message: Message, draft: dict[str, Any], raw: str) -> None:
        chat_id = message.chat_id
        # The password should not stay in the chat history.
        try:
            await self.bot.delete_message(chat_id, message.message_id)
        except TelegramError as exc:
            log.info("could not delete a password message: %s", exc.description)
        server = self._server(draft)
        if server is None:
            await self._restart(chat_id)
            return
        if not PASSWORD.fullmatch(raw):
            await self._try_again(chat_id, "bad_password")
            return
        await self._ask_duration(chat_id, {**draft, "password": raw}, server)

    async def _ask_duration(self, chat_id: int, draft: dict[str, Any], server: Server) -> None:
        await self._ask(chat_id, draft, "duration", Outgoing(
            text("ask_duration", self.lang), [*self._months(server), cancel_row(self.lang)]))

    def _months_chosen(self, press: Press) -> int | None:
        """The months a `dur` button carries, if it is one this shop offers."""
        return press.number if 1 <= press.number <= self.config.shop.max_months else None

    def _pay_or_cancel(self) -> Keyboard:
        return [[(text("button_pay", self.lang), pack("pay")),
                 (text("button_cancel", self.lang), pack("cancel"))]]

    def _months(self, server: Server) -> Keyboard:
        """1..max_months, each with its price at the server's current price."""
        buttons = [(label("duration_button", self.lang, months=months,
                          price=rupiah(months * server.price_per_month)), pack("dur", months))
                   for months in range(1, self.config.shop.max_months + 1)]
        return [buttons[i:i + 3] for i in range(0, len(buttons), 3)]

    async def _ask(
        self, chat_id: int, draft: dict[str, Any], step: str, message: Outgoing
    ) -> None:
        # The step is recorded first: if the process stops right after the prompt went out,
        # the buyer's answer still finds the dialogue at this step.
        draft = {**draft, "step": step, "message_id": None}
        self.ledger.save_draft(chat_id, draft, current_update.get())
        message_id = await self._send(chat_id, message)
        self.ledger.save_draft(chat_id, {**draft, "message_id": message_id},
                              current_update.get())

    async def _cancel(self, chat_id: int) -> None:
        order = self.ledger.open_order(chat_id)
        had_draft = self.ledger.draft(chat_id) is not None
        self.ledger.save_draft(chat_id, None, current_update.get())
        if order is not None:
            await self.checkout.buyer_cancels(order)
        elif had_draft:
            await self._send(chat_id, Outgoing(text("cancelled", self.lang)))
        else:
            await self._send(chat_id, Outgoing(text("nothing_to_cancel", self.lang)))

    async def _reprompt(self, chat_id: int) -> None:
        """Send the current step's prompt again if it never went out (a crash came first)."""
        draft = self.ledger.draft(chat_id)
        if draft is None or draft.get("message_id") is not None:
            return
        server = self._server(draft)
        step, months = draft.get("step"), draft.get("months")
        if step == "trial_server":
            await self._offer_trial(chat_id, chat_id, Press("trial"))
        elif step == "renew_duration" and isinstance(draft.get("account"), int):
            await self._renew(chat_id, chat_id, Press("ren", str(draft["account"])))
        elif step == "renew_confirm" and isinstance(months, int):
            await self._renew_months(chat_id, chat_id, draft, Press("dur", str(months)))
        elif step == "server" or server is None:
            await self._menu(chat_id)
        elif step == "username":
            await self._ask_username(chat_id, server)
        elif step == "password":
            await self._ask(chat_id, draft, "password",
                            Outgoing(text("ask_password", self.lang), [cancel_row(self.lang)]))
        elif step == "duration":
            await self._ask_duration(chat_id, draft, server)
        elif step == "confirm" and isinstance(months, int):
            await self._choose_duration(chat_id, chat_id, draft, Press("dur", str(months)))

    async def _restart(self, chat_id: int) -> None:
        self.ledger.save_draft(chat_id, None, current_update.get())
        await self._send(chat_id, Outgoing(text("server_unavailable", self.lang)))

    # --- buttons ----------------------------------------------------------------------------

    async def _on_callback(self, callback: CallbackQuery) -> None:
        await self.bot.answer_callback(callback.id)
        chat_id = callback.chat_id
        data = callback.data or ""
        press = buttons.unpack(data)
        if data.startswith(buttons.ADMIN) and chat_id is not None and (
                callback.chat_type == "private"):
            if self.admin.is_admin(callback.sender.id):
                await self.admin.callback(callback, press)
            else:  # a forged admin button looks like any stale one
                await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
            return
        if chat_id is None or callback.chat_type != "private" or press is None:
            return
        user_id = callback.sender.id
        act = self._acts.get(press.kind)
        if act is not None:
            await act(chat_id, user_id, press)
            return
        draft = self.ledger.draft(chat_id)
        if draft is None or draft.get("message_id") != callback.message_id:
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
            return
        await self._remove_buttons(chat_id, callback.message_id)
        handler = self._steps.get((press.kind, draft.get("step", "")))
        if press.kind == "cancel":
            await self._cancel(chat_id)
        elif handler is not None:
            await handler(chat_id, user_id, draft, press)
        else:
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))

    async def _choose_server(self, chat_id: int, user_id: int, draft: Draft, press: Press
                             ) -> None:
        server = self.config.server(press.value)
        if server is None or not self.checkout.servers.selling(server):
            await self._restart(chat_id)
            return
        if self.ledger.active_count(server.id) >= server.capacity:
            await self._send(chat_id, Outgoing(text("server_full", self.lang, name=server.name)))
            await self._menu(chat_id)
            return
        await self._ask_username(chat_id, server)

    async def _ask_username(self, chat_id: int, server: Server) -> None:
        prompt = text("ask_username", self.lang, name=server.name,
                      protocol=messages.PROTOCOL_NAMES[server.protocol])
        await self._ask(chat_id, {"server": server.id}, "username",
                        Outgoing(prompt, [cancel_row(self.lang)]))

    async def _choose_duration(self, chat_id: int, user_id: int, draft: Draft, press: Press
                               ) -> None:
        server = self._server(draft)
        if server is None:
            await self._restart(chat_id)
            return
        months = self._months_chosen(press)
        if months is None:
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
            return
        summary = text(
            "confirm", self.lang, server=server.name,
            protocol=messages.PROTOCOL_NAMES[server.protocol], username=draft["username"],
            months=months, price=rupiah(months * server.price_per_month),
        )
        buttons = self._pay_or_cancel()
        await self._ask(chat_id, {**draft, "months": months}, "confirm",
                        Outgoing(summary, buttons))

    async def _pay(self, chat_id: int, user_id: int, draft: Draft, press: Press) -> None:
        server = self._server(draft)
        username = draft.get("username")
        months = draft.get("months")
        if server is None or not isinstance(username, str) or not isinstance(months, int):
            await self._restart(chat_id)
            return
        password = draft.get("password") if server.protocol == "ssh" else None
        secret = self.checkout.new_secret(server, password if isinstance(password, str)
                                          else None)
        await self._place_order(chat_id, user_id, server, username, secret, months)

    async def _place_order(self, chat_id: int, user_id: int, server: Server, username: str,
                           secret: str, months: int) -> None:
        """Reserve the name and a place, then ask for the payment; or say what is in the
        way."""
        try:
            order = self.checkout.create_order(
                chat_id=chat_id, user_id=user_id, server=server, username=username,
                secret=secret, months=months, language=self.lang,
            )
        except L.OpenOrderExists as exc:
            await self._send(chat_id, Outgoing(text("open_order_exists", self.lang,
                                                    order_id=exc.order_id)))
            return
        except L.UsernameHeld:
            await self._send(chat_id, Outgoing(text("username_taken", self.lang,
                                                    username=username)))
            await self._ask_username(chat_id, server)
            return
        except L.ServerFull:
            await self._send(chat_id, Outgoing(text("server_full", self.lang, name=server.name)))
            await self._menu(chat_id)
            return
        self.ledger.save_draft(chat_id, None, current_update.get())
        await self.checkout.request_payment(order)

    async def _order_button(self, chat_id: int, user_id: int, press: Press) -> None:
        order = self.ledger.get(press.value)
        # Buttons of another chat's order (forged data) look exactly like stale ones.
        if order is None or order.chat_id != chat_id:
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
            return
        if press.kind == "qcancel":
            await self.checkout.buyer_cancels(order)
            return
        server = self.config.server(order.server_id)
        renewed = self._owned(order.user_id, order.account_id)
        if not self.checkout.can_retry_qr(order) or server is None:
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
        elif order.kind == L.RENEWAL and renewed is not None:
            await self._place_renewal(chat_id, order.user_id, renewed, server, order.months)
        elif order.kind == L.PURCHASE and self.checkout.servers.selling(server):
            await self._place_order(chat_id, order.user_id, server, order.username,
                                    order.secret, order.months)
        else:
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))

    # --- the buyer's accounts ---------------------------------------------------------------

    async def _my_accounts_button(self, chat_id: int, user_id: int, press: Press) -> None:
        await self._my_accounts(chat_id)

    async def _my_accounts(self, chat_id: int) -> None:
        names = {s.id: s.name for s in self.config.servers}
        renewable = {s.id for s in self.config.servers if can_extend(s)}
        await self._send(chat_id, messages.my_accounts(
            self.ledger.accounts_of(chat_id), names, renewable, self.checkout.today(),
            self.checkout.zone, self.lang))

    def _owned(self, user_id: int, value: object) -> L.Account | None:
        """The account `value` (an id) names, if this user owns it and it is still on its
        server."""
        account = self.ledger.account(value) if isinstance(value, int) else None
        if account is None or account.owner_user_id != user_id or account.state == L.REMOVED:
            return None
        return account

    def _renewable(self, user_id: int, value: object) -> tuple[L.Account, Server] | None:
        """The user's account `value` names and the configured server it is on."""
        account = self._owned(user_id, value)
        server = self.config.server(account.server_id) if account is not None else None
        return (account, server) if account is not None and server is not None else None

    async def _account_detail(self, chat_id: int, user_id: int, press: Press) -> None:
        account = self._owned(user_id, press.number)
        # Someone else's account (forged data) looks exactly like a stale button.
        if account is None:
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
            return
        server = self.config.server(account.server_id)
        name = server.name if server is not None else account.server_id
        await self._send(chat_id, Outgoing(messages.account_detail(account, name, self.lang)))

    async def _renew(self, chat_id: int, user_id: int, press: Press) -> None:
        """Perpanjang: how many months (at the server's current price)."""
        owned = self._renewable(user_id, press.number)
        if owned is None or not can_extend(owned[1]):
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
            return
        account, server = owned
        prompt = text("ask_renew_months", self.lang, username=account.username,
                      protocol=messages.PROTOCOL_NAMES[server.protocol], server=server.name,
                      date=account.expires_on.strftime("%d-%m-%Y"))
        await self._ask(chat_id, {"account": account.id}, "renew_duration",
                        Outgoing(prompt, [*self._months(server), cancel_row(self.lang)]))

    async def _renew_months(self, chat_id: int, user_id: int, draft: Draft, press: Press
                            ) -> None:
        owned = self._renewable(user_id, draft.get("account"))
        if owned is None:
            await self._restart(chat_id)
            return
        account, server = owned
        months = self._months_chosen(press)
        if months is None:
            await self._send(chat_id, Outgoing(text("stale_button", self.lang)))
            return
        summary = text(
            "renew_confirm", self.lang, server=server.name,
            protocol=messages.PROTOCOL_NAMES[server.protocol], username=account.username,
            current=account.expires_on.strftime("%d-%m-%Y"), months=months,
            new=self.checkout.renewed_until(account, months).strftime("%d-%m-%Y"),
            price=rupiah(months * server.price_per_month))
        buttons = self._pay_or_cancel()
        await self._ask(chat_id, {**draft, "months": months}, "renew_confirm",
                        Outgoing(summary, buttons))

    async def _pay_renewal(self, chat_id: int, user_id: int, draft: Draft, press: Press
                           ) -> None:
        owned = self._renewable(user_id, draft.get("account"))
        months = draft.get("months")
        if owned is None or not isinstance(months, int):
            await self._restart(chat_id)
            return
        account, server = owned
        await self._place_renewal(chat_id, user_id, account, server, months)

    async def _place_renewal(self, chat_id: int, user_id: int, account: L.Account,
                             server: Server, months: int) -> None:
        try:
            order = self.checkout.create_renewal(
                chat_id=chat_id, user_id=user_id, account=account, server=server,
                months=months, language=self.lang)
        except L.OpenOrderExists as exc:
            await self._send(chat_id, Outgoing(text("open_order_exists", self.lang,
                                                    order_id=exc.order_id)))
            return
        except L.RenewalPending:
            await self._send(chat_id, Outgoing(text("renewal_pending", self.lang,
                                                    username=account.username)))
            return
        self.ledger.save_draft(chat_id, None, current_update.get())
        await self.checkout.request_payment(order)

    # --- a free trial -----------------------------------------------------------------------

    def _trial_servers(self) -> list[Server]:
        return [s for s in self.checkout.servers.for_sale() if self.config.offers_trial(s)]

    def _trial_refused(self, user_id: int) -> str | None:
        """Why this user cannot have a trial now (a text key), if they cannot."""
        if self.ledger.had_trial(user_id):
            return "trial_used"
        limit = self.config.trial.daily_limit
        if limit and self.ledger.trials_on(self.checkout.today()) >= limit:
            return "trials_exhausted"
        return None

    async def _offer_trial(self, chat_id: int, user_id: int, press: Press) -> None:
        """Coba gratis: which server."""
        refused = self._trial_refused(user_id)
        servers = [s for s in self._trial_servers()
                   if self.ledger.active_count(s.id) < s.capacity]
        if refused is not None or not servers:
            await self._send(chat_id, Outgoing(text(refused or "no_servers", self.lang)))
            return
        rows: Keyboard = [[(label("trial_server_button", self.lang, name=s.name,
                                  protocol=messages.PROTOCOL_NAMES[s.protocol]),
                            pack("tsrv", s.id))] for s in servers]
        await self._ask(chat_id, {}, "trial_server", Outgoing(
            text("ask_trial_server", self.lang, hours=self.config.trial.hours),
            [*rows, cancel_row(self.lang)]))

    async def _take_trial(self, chat_id: int, user_id: int, draft: Draft, press: Press
                          ) -> None:
        """Make the trial account at once: a random free name (and password)."""
        server = self.config.server(press.value)
        if server is None or not self.checkout.servers.selling(server) or (
                not self.config.offers_trial(server)):
            await self._restart(chat_id)
            return
        refused = self._trial_refused(user_id)
        if refused is not None:
            self.ledger.save_draft(chat_id, None, current_update.get())
            await self._send(chat_id, Outgoing(text(refused, self.lang)))
            return
        username = None
        for _ in range(TRIAL_NAME_TRIES):
            candidate = trial_username()
            if self.ledger.username_held(server.id, candidate):
                continue
            presence = await self._presence(server, candidate)
            if presence is None:
                await self._try_again(chat_id, "server_unreachable")
                return
            if presence is Presence.ABSENT:
                username = candidate
                break
        if username is None:
            await self._restart(chat_id)
            return
        try:
            order = self.checkout.create_trial(chat_id=chat_id, user_id=user_id,
                                               server=server, username=username,
                                               language=self.lang)
        except L.TrialUsed:
            await self._send(chat_id, Outgoing(text("trial_used", self.lang)))
            return
        except L.TrialsExhausted:
            await self._send(chat_id, Outgoing(text("trials_exhausted", self.lang)))
            return
        except (L.UsernameHeld, L.ServerFull):
            await self._send(chat_id, Outgoing(text("server_full", self.lang, name=server.name)))
            return
        self.ledger.save_draft(chat_id, None, current_update.get())
        await self._send(chat_id, Outgoing(text("trial_making", self.lang)))
        self.checkout.fulfil(order)

    # --- helpers ----------------------------------------------------------------------------

    def _server(self, draft: dict[str, Any]) -> Server | None:
        server_id = draft.get("server")
        server = self.config.server(server_id) if isinstance(server_id, str) else None
        return server if server is not None and self.checkout.servers.selling(server) else None

    async def _send(self, chat_id: int, message: Outgoing) -> int | None:
        return await self.bot.send_message(chat_id, message.text, message.buttons)

    async def _try_again(self, chat_id: int, key: str, **values: object) -> None:
        """Say what was wrong; the step stays, and Batal is offered."""
        await self._send(chat_id, Outgoing(text(key, self.lang, **values), [cancel_row(self.lang)]))

    async def _send_quietly(self, chat_id: int, message: Outgoing) -> None:
        try:
            await self._send(chat_id, message)
        except TelegramError:
            pass

    async def _remove_buttons(self, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            return
        try:
            await self.bot.call("editMessageReplyMarkup", {
                "chat_id": chat_id, "message_id": message_id,
                "reply_markup": {"inline_keyboard": []},
            })
        except TelegramError as exc:
            log.info("could not remove buttons: %s", exc.description)


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
