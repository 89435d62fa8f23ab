"""A referrer's reward, given when the person they referred has their first paid order
delivered (`[referral] days` or `percent`).

The claim is one ledger write after the order is recorded delivered (ledger/referrals.py):
a crash before it, or between it and the days' renewal order, is caught up at the next
start (`resume`); a repeat finds the reward taken. Days go on the referrer's one account as
a renewal order whose id the reward fixes; with several accounts the referrer picks one
with buttons (Invite's `refday`), with none the days wait until they have one (`settle`,
after each of their own deliveries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from qrisbot import ledger as L
from qrisbot.config import Config
from qrisbot.ledger import Ledger, Order
from qrisbot.provision import Backends, Feature
from qrisbot.shop.buttons import pack
from qrisbot.shop.messages import Outgoing
from qrisbot.shop.notify import tell_buyer
from qrisbot.shop.texts import label, text
from qrisbot.telegram.api import BotApi

log = logging.getLogger("qrisbot.referrals")


class Rewards:
    def __init__(self, config: Config, ledger: Ledger, bot: BotApi, backends: Backends,
                 fulfil: Callable[[Order], None]) -> None:
        self.config = config
        self.ledger = ledger
        self.bot = bot
        self.backends = backends
        self.fulfil = fulfil
        self.lang = config.shop.language

    async def delivered(self, order: Order) -> None:
        """The order reached its buyer: the reward it earns their referrer, if any; and
        days waiting for this buyer's own account, now that they may have one."""
        referral = self.config.referral
        if referral.is_on:
            reward = self.ledger.reward_referral(order.id, percent=referral.percent)
            if reward is not None:
                log.info("referral reward earned by %s for user %d", order.id,
                         reward.referrer_id)
                if referral.percent:
                    await tell_buyer(self.bot, reward.referrer_id, Outgoing(
                        text("referral_percent", self.lang, percent=referral.percent)))
                else:
                    await self.settle(reward.referrer_id, announce=True)
        if order.kind == L.PURCHASE and referral.days:
            await self.settle(order.user_id, announce=False)

    async def resume(self) -> None:
        """Rewards a crash left unclaimed after their order was delivered, and days a crash
        left claimed but on no account (between the claim and the renewal order)."""
        for order_id in self.ledger.unclaimed_referral_orders():
            order = self.ledger.get(order_id)
            if order is not None:
                await self.delivered(order)
        if self.config.referral.days:
            for referrer_id in self.ledger.referrers_with_days_waiting():
                await self.settle(referrer_id, announce=False)

    def accounts(self, user_id: int) -> list[L.Account]:
        """The user's paid accounts that can take more days."""
        chosen = []
        for account in self.ledger.accounts_of(user_id):
            server = self.config.server(account.server_id)
            if (account.state != L.REMOVED and not account.is_trial and server is not None
                    and Feature.EXTEND in self.backends.backend(server).features):
                chosen.append(account)
        return chosen

    async def settle(self, user_id: int, *, announce: bool) -> None:
        """Put the user's waiting days on their account: at once when they have one, asked
        with buttons when several (and `announce`), kept when none (told if `announce`)."""
        days = self.config.referral.days
        if not days or not self.ledger.referral_days_waiting(user_id):
            return
        accounts = self.accounts(user_id)
        if len(accounts) == 1:
            await self.give(user_id, accounts[0])
        elif accounts and announce:
            await tell_buyer(self.bot, user_id, self.choice(accounts))
        elif announce:
            await tell_buyer(self.bot, user_id, Outgoing(
                text("referral_kept", self.lang, days=days)))

    def choice(self, accounts: list[L.Account]) -> Outgoing:
        rows = []
        for account in accounts:
            server = self.config.server(account.server_id)
            rows.append([(label("referral_account_button", self.lang,
                                username=account.username,
                                server=server.name if server else account.server_id),
                          pack("refday", account.id))])
        return Outgoing(text("referral_choose", self.lang, days=self.config.referral.days),
                        rows)

    async def give(self, user_id: int, account: L.Account) -> bool:
        """Every waiting reward's days on this account (the user's own); False if none."""
        days = self.config.referral.days
        given = 0
        for earned_by in self.ledger.referral_days_waiting(user_id):
            order = self.ledger.give_referral_days(earned_by, account, days, self.lang)
            if order is not None:
                given += days
                self.fulfil(order)
        if given:
            await tell_buyer(self.bot, user_id, Outgoing(text(
                "referral_days_given", self.lang, username=account.username, days=given)))
        return given > 0
