"""Win-back offers (issue 19 §6): after the shop removes an account, its owner gets a
personal one-time discount on each of `winback.days` after the removal, in daytime.

Each offer is granted once (what earned it, `winback:<account>:<day>`, is unique) and
recorded as sent in the same write, before the message goes: a restart never sends one
twice (a crash between the write and the message loses that one message, never repeats it).
It lasts `valid_hours` from then and pricing.quote applies it by itself. The offers stop
once the person has bought anything since the removal or has blocked the bot, and nobody
gets more than one offer a day.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Final

import trio

from qrisbot.config import Config
from qrisbot.ledger import Account, Ledger
from qrisbot.shop import messages
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.reminders import DAYTIME
from qrisbot.telegram.api import BotApi, Forbidden, TelegramError

log = logging.getLogger("qrisbot.winback")

LOOK_EVERY = 300  # seconds between looks for offers due
# meta key: when the person's chat last refused a message (they blocked the bot).
BLOCKED_KEY: Final = "blocked:{user}"


def removal_day(config: Config, account: Account) -> dt.date:
    """The day the shop removes an account that ran out (`shop.grace_days` after its last
    day): offers count their days from it."""
    return account.expires_on + dt.timedelta(days=config.shop.grace_days + 1)


async def send_offers(config: Config, ledger: Ledger, bot: BotApi, calendar: Calendar) -> None:
    """Forever: every LOOK_EVERY seconds in daytime, send the win-back offers that are due."""
    if not config.winback.days:
        return
    while True:
        if calendar.now().hour in DAYTIME:
            await send_due(config, ledger, bot, calendar)
        await trio.sleep(LOOK_EVERY)


async def send_due(config: Config, ledger: Ledger, bot: BotApi, calendar: Calendar) -> None:
    today = calendar.today()
    grace = config.shop.grace_days
    # day n after the removal: the account's last day was today - n - grace - 1
    last_days = {today - dt.timedelta(days=n + grace + 1): n for n in config.winback.days}
    for account in ledger.winback_candidates(last_days):
        await _offer(config, ledger, bot, calendar, account, last_days[account.expires_on])


async def _offer(config: Config, ledger: Ledger, bot: BotApi, calendar: Calendar,
                 account: Account, day: int) -> None:
    user, chat = account.owner_user_id, account.owner_chat_id
    if user is None or chat is None:
        return
    # Both against the ledger's own clock, which wrote the removal (`updated_at`).
    blocked = ledger.meta(BLOCKED_KEY.format(user=user))
    if ledger.bought_since(user, account.updated_at) or (
            blocked is not None and float(blocked) > account.updated_at):
        return
    now = calendar.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if ledger.offer_sent_since(user, midnight.timestamp()):
        return  # one offer a day at most (another removed account's, or a referral's)
    until = now.timestamp() + config.winback.valid_hours * 3600
    offer = ledger.grant_sent_offer(user_id=user, source="winback",
                                    percent=config.winback.percent,
                                    earned_by=f"winback:{account.id}:{day}",
                                    sent_at=now.timestamp(), valid_until=until)
    if offer is None:
        return  # sent before (a restart)
    log.info("win-back offer %d (%d%%) to the owner of account %d, day %d", offer.id,
             offer.percent, account.id, day)
    message = messages.winback_offer(offer.percent, dt.datetime.fromtimestamp(
        until, calendar.zone), account.language)
    try:
        await bot.send_message(chat, message.text, message.buttons)
    except Forbidden:
        log.info("the owner of account %d blocked the bot: no more offers", account.id)
        ledger.set_meta(BLOCKED_KEY.format(user=user), repr(time.time()))
    except TelegramError as exc:
        log.warning("could not send a win-back offer: %s", exc.description)
