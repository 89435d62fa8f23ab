"""The channel gate (`shop.join_channel`): a person must have joined the seller's channel
to see the menu (/start), to pay for an order (a purchase or a renewal) and to take a
trial; otherwise they get the channel's link and **Sudah join**, which asks Telegram again
and, once they are in, goes on where they were.

Whether someone has joined is Telegram's answer to getChatMember, never their word:

- A "joined" answer is kept for MEMBER_CACHE (5 minutes) per person, so one dialogue
  (/start, server, name, months, Bayar: a minute or two) asks Telegram once, not at every
  step. Paying or taking a trial uses the kept answer up, so the next purchase asks again.
  Someone who leaves within those minutes still finishes what they began after joining.
  "Not joined" is never kept: Sudah join must see a join at once.
- When Telegram cannot answer — unreachable, or it refuses the question (the bot is not
  an admin of the channel, there is no such channel) — the person is let through: the
  gate is a growth aid, and buyers are never turned away for the shop's own fault. The
  first failure of a run of them is logged as a warning, the rest as info. A refusal (the
  seller's setup) is told to the admins once, and again only after a check has worked in
  between; an unreachable Telegram is not (that notice could not go out either).
"""

from __future__ import annotations

import html
import logging
from typing import Final

import trio

from qrisbot.shop.buttons import Press, pack
from qrisbot.shop.dialogue import Dialogue, Draft, StepHandler
from qrisbot.shop.messages import Outgoing
from qrisbot.shop.notify import Notifier
from qrisbot.shop.texts import Html, label, text
from qrisbot.telegram.api import TelegramError, Unavailable

log = logging.getLogger("qrisbot.channel")

MEMBER_CACHE: Final = 300.0  # seconds a "joined" answer is trusted (see above)
CHECK_DEADLINE: Final = 10.0  # seconds a person waits for Telegram before being let through
CHECK_ATTEMPTS: Final = 2  # a retried network error, not the client's long backoff
MAX_KEPT: Final = 10_000  # "joined" answers kept at most (expired ones go first)


class ChannelGate:
    def __init__(self, dialogue: Dialogue, notifier: Notifier) -> None:
        self.d = dialogue
        self.channel = dialogue.config.shop.join_channel  # "@name", or "" when off
        self._notifier = notifier
        self._joined: dict[int, float] = {}  # user -> until when their "joined" is trusted
        self._failing = False  # the last check failed
        self._told = False  # the admins heard of a refusal since the last check that worked

    @property
    def is_on(self) -> bool:
        return bool(self.channel)

    async def admits(self, user_id: int, *, spend: bool = False) -> bool:
        """May this person go on: joined, or Telegram cannot tell? `spend`: a buying step,
        which uses up a kept "joined" answer (the next one asks Telegram)."""
        if not self.channel:
            return True
        now = trio.current_time()
        if self._joined.get(user_id, now) > now:
            if spend:
                del self._joined[user_id]
            return True
        joined = await self._ask(user_id)
        if joined is None:
            return True
        if joined and not spend:
            self._keep(user_id, now + MEMBER_CACHE)
        return joined

    def guard(self, step: StepHandler) -> StepHandler:
        """`step` (paying, taking a trial) for people who have joined; anyone else is asked
        to join first, and the dialogue stays at its step for Sudah join to go on with."""
        if not self.channel:
            return step

        async def guarded(chat_id: int, user_id: int, draft: Draft, press: Press) -> None:
            if await self.admits(user_id, spend=True):
                await step(chat_id, user_id, draft, press)
            else:
                await self.ask_to_join(chat_id)

        return guarded

    async def ask_to_join(self, chat_id: int, *, again: bool = False) -> None:
        """The channel's link and Sudah join (`again`: they pressed it and are not in)."""
        name = self.channel[1:]
        link = Html(f'<a href="https://t.me/{html.escape(name)}">{html.escape(self.channel)}'
                    "</a>")
        body = text("channel_not_joined" if again else "channel_join", self.d.lang,
                    shop=self.d.config.shop.name, link=link)
        await self.d.send(chat_id, Outgoing(
            body, [[(label("button_joined", self.d.lang), pack("joined"))]]))

    async def _ask(self, user_id: int) -> bool | None:
        """Telegram's answer: joined or not; None when it gave none."""
        error = f"no answer within {CHECK_DEADLINE:g} s"
        with trio.move_on_after(CHECK_DEADLINE):
            try:
                member = await self.d.bot.get_chat_member(self.channel, user_id,
                                                          attempts=CHECK_ATTEMPTS)
            except Unavailable as exc:
                error = exc.description
            except TelegramError as exc:  # refused: the seller's setup, or a stranger answer
                self._failed(exc.description)
                if not self._told:
                    self._told = True
                    self._notifier.tell("notify_channel_unchecked", channel=self.channel,
                                        error=exc.description)
                return None
            else:
                self._failing = self._told = False
                return member.has_joined
        self._failed(error)
        return None

    def _failed(self, error: str) -> None:
        level = logging.INFO if self._failing else logging.WARNING
        log.log(level, "cannot check who joined %s (%s): letting people through",
                self.channel, error)
        self._failing = True

    def _keep(self, user_id: int, until: float) -> None:
        if len(self._joined) >= MAX_KEPT:
            now = trio.current_time()
            self._joined = {u: t for u, t in self._joined.items() if t > now}
            if len(self._joined) >= MAX_KEPT:
                self._joined.clear()
        self._joined[user_id] = until
