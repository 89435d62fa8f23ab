"""Referrals, the buyer's side: `/start ref_<code>` records who brought a newcomer, and
Ajak teman (under Akun saya) shows the person's own link, how many came through it and
how many rewards it earned, with buttons to place waiting reward days on an account.

The bot's username (for the link) is Telegram's answer to getMe, asked once when a link is
first shown. A start parameter is untrusted text: anything but `ref_` and a code of the
shop's alphabet is ignored without a word, as is a referral that does not count.
"""

from __future__ import annotations

import html
import logging

from qrisbot.ledger import referrals
from qrisbot.shop.buttons import Press
from qrisbot.shop.dialogue import Dialogue, Tables
from qrisbot.shop.messages import Outgoing
from qrisbot.shop.texts import Html, text
from qrisbot.telegram.api import TelegramError

log = logging.getLogger("qrisbot.referrals")


class Invite:
    def __init__(self, dialogue: Dialogue) -> None:
        self.d = dialogue
        self.lang = dialogue.lang
        self.config = dialogue.config.referral
        self.rewards = dialogue.checkout.fulfilment.rewards
        self._bot_username: str | None = None
        self.tables = Tables(acts={"invite": self._show, "refday": self._place_days})

    @property
    def is_on(self) -> bool:
        return self.config.is_on

    def arrived(self, user_id: int, raw: str) -> None:
        """/start with a parameter: record the referral if it is one that counts."""
        _, _, parameter = raw.strip().partition(" ")
        code = referrals.code_of(parameter.strip()) if self.is_on else None
        if code is not None and self.d.ledger.record_referral(user_id, code) is not None:
            log.info("user %d came through a referral link", user_id)

    async def _show(self, chat_id: int, user_id: int, press: Press) -> None:
        if not self.is_on:
            await self.d.stale(chat_id)
            return
        username = await self._username()
        if username is None:
            await self.d.say(chat_id, "invite_unavailable")
            return
        link = f"https://t.me/{username}?start=ref_{self.d.ledger.referral_code(user_id)}"
        standing = self.d.ledger.referral_standing(user_id)
        reward = (text("invite_days", self.lang, days=self.config.days) if self.config.days
                  else text("invite_percent", self.lang, percent=self.config.percent))
        await self.d.send(chat_id, Outgoing(text(
            "invite", self.lang, link=Html(f"<code>{html.escape(link)}</code>"),
            reward=reward, joined=standing.joined, rewarded=standing.rewarded)))
        # Days still waiting for an account: asked again here (the first ask may be lost).
        if self.config.days and self.d.ledger.referral_days_waiting(user_id):
            await self.rewards.settle(user_id, announce=True)

    async def _place_days(self, chat_id: int, user_id: int, press: Press) -> None:
        """The referrer picked the account for their waiting days."""
        account = next((a for a in self.rewards.accounts(user_id) if a.id == press.number),
                       None)
        if account is None or not self.config.days or not await self.rewards.give(
                user_id, account):
            await self.d.stale(chat_id)

    async def _username(self) -> str | None:
        if self._bot_username is None:
            try:
                self._bot_username = (await self.d.bot.get_me(attempts=2)).username
            except TelegramError as exc:
                log.warning("getMe failed, no referral link: %s", exc.description)
        return self._bot_username
