"""What every flow of the buyer's dialogue uses: the chat's draft (typed), asking and
answering, the menu, the months keyboard and the username check on a server.

A flow (purchase.py, my_accounts.py, trials.py) declares its handlers in four tables,
which the conversation merges: what the buyer types at a step (`typed`), the buttons of
the current prompt (`steps`), buttons that carry what they act on and work at any step
(`acts`), and how to ask a step again after a crash (`reprompts`).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import trio

from qrisbot.config import Config, Server
from qrisbot.ledger import Ledger, Reseller
from qrisbot.provision import Presence, ServerError
from qrisbot.shop import messages, texts
from qrisbot.shop.buttons import Press, pack
from qrisbot.shop.checkout import Checkout
from qrisbot.shop.messages import Outgoing, cancel_row
from qrisbot.shop.pricing import per_month, price
from qrisbot.shop.texts import Html, label, rupiah, text
from qrisbot.telegram.api import BotApi, Keyboard, TelegramError
from qrisbot.telegram.types import Message, current_update

log = logging.getLogger("qrisbot.conversation")

USERNAME_CHECK_DEADLINE = 20  # seconds a buyer waits for the server to answer about a name

_T = TypeVar("_T")


@attrs.frozen
class Draft:
    """A chat's unfinished dialogue: the step it is at and what was chosen so far. Stored
    in the ledger as JSON (the shape of earlier releases: older drafts load too)."""

    step: str
    message_id: int | None = None  # the prompt whose buttons are live
    server: str | None = None
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    months: int | None = None
    account: int | None = None  # the account being renewed
    promo: str | None = None  # the promo code the buyer typed (usable when it was typed)
    total: int | None = None  # the amount the confirmation showed (before the QRIS fee)

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> Draft | None:
        """From the ledger; a field of the wrong type is dropped, no step is no draft."""
        if raw is None or not isinstance(raw.get("step"), str):
            return None

        def field(name: str, kind: type[_T]) -> _T | None:
            value = raw.get(name)
            return value if isinstance(value, kind) and not isinstance(value, bool) else None

        return cls(step=raw["step"], message_id=field("message_id", int),
                   server=field("server", str), username=field("username", str),
                   password=field("password", str), months=field("months", int),
                   account=field("account", int), promo=field("promo", str),
                   total=field("total", int))

    def dump(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items()
                if v is not None or k == "message_id"}


# A button of the current prompt: (chat, user, the chat's draft, the press).
StepHandler = Callable[[int, int, Draft, Press], Awaitable[None]]
# A button that carries what it acts on: (chat, user, the press).
Act = Callable[[int, int, Press], Awaitable[None]]
# What the buyer typed at a step: (the message, the chat's draft, the text).
Typed = Callable[[Message, Draft, str], Awaitable[None]]
# Ask the step again (its prompt never went out): (chat, the chat's draft).
Reprompt = Callable[[int, Draft], Awaitable[None]]


@attrs.define
class Tables:
    typed: dict[str, Typed] = attrs.Factory(dict)
    steps: dict[tuple[str, str], StepHandler] = attrs.Factory(dict)
    acts: dict[str, Act] = attrs.Factory(dict)
    reprompts: dict[str, Reprompt] = attrs.Factory(dict)

    def merge(self, other: Tables) -> None:
        """Add a flow's handlers (no two flows may claim the same step or button)."""
        _merge(self.typed, other.typed)
        _merge(self.steps, other.steps)
        _merge(self.acts, other.acts)
        _merge(self.reprompts, other.reprompts)


_K = TypeVar("_K")


def _merge(mine: dict[_K, _T], theirs: dict[_K, _T]) -> None:
    assert not set(mine) & set(theirs), set(mine) & set(theirs)
    mine.update(theirs)


class Dialogue:
    def __init__(self, config: Config, ledger: Ledger, bot: BotApi, checkout: Checkout
                 ) -> None:
        self.config = config
        self.ledger = ledger
        self.bot = bot
        self.checkout = checkout
        self.lang = config.shop.language

    # --- the draft ----------------------------------------------------------------------------

    def draft(self, chat_id: int) -> Draft | None:
        return Draft.load(self.ledger.draft(chat_id))

    def save(self, chat_id: int, draft: Draft | None) -> None:
        """Record the chat's step, with the update that moved it there (see Ledger)."""
        self.ledger.save_draft(chat_id, None if draft is None else draft.dump(),
                               current_update.get())

    async def ask(self, chat_id: int, draft: Draft, message: Outgoing) -> None:
        """Send the prompt of `draft.step`, its buttons live from now on."""
        # The step is recorded first: if the process stops right after the prompt went out,
        # the buyer's answer still finds the dialogue at this step.
        draft = attrs.evolve(draft, message_id=None)
        self.save(chat_id, draft)
        message_id = await self.send(chat_id, message)
        self.save(chat_id, attrs.evolve(draft, message_id=message_id))

    # --- the menu -----------------------------------------------------------------------------

    def trial_servers(self) -> list[Server]:
        return [s for s in self.checkout.servers.for_sale() if self.config.offers_trial(s)]

    def reseller(self, user_id: int) -> Reseller | None:
        """The user's reseller terms, if they are one (read now: a change shows at once)."""
        return self.ledger.reseller(user_id)

    def sells_to(self, server: Server, user_id: int) -> bool:
        """Is `server` for sale, and to this user (a reseller-only one to resellers)?"""
        return self.checkout.servers.selling(server) and (
            not server.reseller_only or self.reseller(user_id) is not None)

    async def menu(self, chat_id: int) -> None:
        """/start: the servers for sale, then Akun saya and Coba gratis where they apply."""
        # In a private chat the chat is its user: a reseller sees their prices (and the
        # servers sold only to resellers).
        reseller = self.reseller(chat_id)
        servers = [s for s in self.checkout.servers.for_sale()
                   if not s.reseller_only or reseller is not None]
        if not servers:
            self.save(chat_id, None)
            await self.say(chat_id, "no_servers")
            return
        rows: Keyboard = [
            [messages.server_button(s, self.lang,
                                    self.ledger.active_count(s.id) >= s.capacity,
                                    per_month(s, reseller))]
            for s in servers
        ]
        # In a private chat the chat is its user: the buyer's own accounts (or old ones to
        # claim), their trial.
        if self.ledger.accounts_of(chat_id) or self.ledger.servers_with_unowned():
            rows = [*rows, [(text("button_my_accounts", self.lang), pack("acc"))]]
        if self.trial_servers() and not self.ledger.had_trial(chat_id):
            rows = [*rows, [(text("button_trial", self.lang), pack("trial"))]]
        greeting = text("greeting", self.lang, shop=self.config.shop.name)
        message_id = await self.send(chat_id, Outgoing(
            greeting, [*rows, *self.contact_row(), cancel_row(self.lang)]))
        self.save(chat_id, Draft(step="server", message_id=message_id))

    def contact_row(self) -> Keyboard:
        """Hubungi penjual, when the seller has set `shop.contact`."""
        if not self.config.shop.contact:
            return []
        return [[(label("button_contact", self.lang), pack("contact"))]]

    async def help(self, chat_id: int) -> None:
        """/help: every feature the buyer can use here, the seller's own words, the contact."""
        extras = ""
        if self.trial_servers():
            extras += text("help_trial", self.lang, hours=self.config.trial.hours)
        if self.ledger.servers_with_unowned():
            extras += text("help_claim", self.lang)
        body = text("help", self.lang, extras=Html(extras))
        if self.config.shop.help.strip():
            body = Html(body + text("help_seller", self.lang, help=self.config.shop.help.strip()))
        await self.send(chat_id, Outgoing(body, self.contact_row() or None))

    async def contact(self, chat_id: int, user_id: int, press: Press) -> None:
        """The seller's contact, as a link the buyer opens with one tap."""
        contact = self.config.shop.contact
        if not contact:
            await self.stale(chat_id)
            return
        url = f"https://t.me/{contact[1:]}" if contact.startswith("@") else contact
        link = Html(f'<a href="{html.escape(url)}">{html.escape(contact)}</a>')
        await self.say(chat_id, "contact", link=link)

    # --- prompts and answers --------------------------------------------------------------------

    def server_choice(self, servers: list[Server], kind: str) -> Keyboard:
        """One button per server (name and protocol), carrying its id as `kind`."""
        return [[(label("server_choice_button", self.lang, name=s.name,
                        protocol=messages.PROTOCOL_NAMES[s.protocol]), pack(kind, s.id))]
                for s in servers]

    def months(self, server: Server, user_id: int) -> Keyboard:
        """1..max_months, each with its price at the server's current price (for this user:
        a reseller's own)."""
        reseller = self.reseller(user_id)
        buttons = [(label("duration_button", self.lang, months=texts.months(months, self.lang),
                          price=rupiah(price(server, months, reseller))), pack("dur", months))
                   for months in range(1, self.config.shop.max_months + 1)]
        return [buttons[i:i + 3] for i in range(0, len(buttons), 3)]

    def months_chosen(self, press: Press) -> int | None:
        """The months a `dur` button carries, if it is one this shop offers."""
        return press.number if 1 <= press.number <= self.config.shop.max_months else None

    def pay_or_cancel(self) -> Keyboard:
        return [[(text("button_pay", self.lang), pack("pay")),
                 (text("button_cancel", self.lang), pack("cancel"))]]

    def server(self, draft: Draft, user_id: int) -> Server | None:
        """The draft's server, if it is still configured and selling to this user."""
        server = self.config.server(draft.server) if draft.server is not None else None
        return server if server is not None and self.sells_to(server, user_id) else None

    async def presence(self, server: Server, username: str) -> Presence | None:
        """Is the name free on the server? None when it did not answer in time."""
        presence = None
        # The buyer waits for this answer: a slow server gets a bounded time, then the
        # buyer hears so (the chat is not held for as long as a server likes).
        with trio.move_on_after(USERNAME_CHECK_DEADLINE):
            try:
                presence = await self.checkout.backends.backend(server).presence(username)
            except ServerError as exc:
                log.warning("server %s: username check failed: %s", server.id, exc)
                self.checkout.servers.answered(server, exc)
                return None
        if presence is not None:
            self.checkout.servers.answered(server, None)
        return presence

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        return await self.bot.send_message(chat_id, message.text, message.buttons)

    async def say(self, chat_id: int, key: str, **values: object) -> None:
        await self.send(chat_id, Outgoing(text(key, self.lang, **values)))

    async def try_again(self, chat_id: int, key: str, **values: object) -> None:
        """Say what was wrong at a typed step; the step stays, and this message's Batal is
        the live one from now on (the prompt's buttons go, so no dead Batal is left)."""
        draft = self.draft(chat_id)
        message_id = await self.send(
            chat_id, Outgoing(text(key, self.lang, **values), [cancel_row(self.lang)]))
        if draft is not None and message_id is not None:
            await self.remove_buttons(chat_id, draft.message_id)
            self.save(chat_id, attrs.evolve(draft, message_id=message_id))

    async def restart(self, chat_id: int) -> None:
        """The dialogue cannot go on (its server went away): drop it and say so."""
        self.save(chat_id, None)
        await self.say(chat_id, "server_unavailable")

    async def stale(self, chat_id: int) -> None:
        await self.say(chat_id, "stale_button")

    async def send_quietly(self, chat_id: int, message: Outgoing) -> None:
        try:
            await self.send(chat_id, message)
        except TelegramError:
            pass

    async def remove_buttons(self, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            return
        try:
            await self.bot.call("editMessageReplyMarkup", {
                "chat_id": chat_id, "message_id": message_id,
                "reply_markup": {"inline_keyboard": []},
            })
        except TelegramError as exc:
            log.info("could not remove buttons: %s", exc.description)
