"""Reminders before an account's last day, each with a Perpanjang button.

Each goes out once per account and last day (the ledger records it before it is sent, so a
crash can lose one but never send one twice), in daytime of the shop's time zone, through
the paced client. A renewed account has a new last day and so its own reminders; the old
day's are never sent. One that fell due while the daemon was down goes out when it is back.
"""

from __future__ import annotations

import logging

import trio

from qrisbot.config import Config
from qrisbot.ledger import Ledger
from qrisbot.provision import Backends, Feature
from qrisbot.shop import messages
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.notify import tell_buyer
from qrisbot.telegram.api import BotApi

log = logging.getLogger("qrisbot.reminders")

LOOK_EVERY = 300  # seconds between looks for reminders due
DAYTIME = range(8, 21)  # hours (shop time) in which buyers are reminded


async def send_reminders(config: Config, ledger: Ledger, bot: BotApi, backends: Backends,
                         calendar: Calendar) -> None:
    """Forever: every LOOK_EVERY seconds in daytime, send the reminders that are due."""
    if not config.shop.remind_days:
        return
    while True:
        now = calendar.now()
        if now.hour in DAYTIME:
            await _send_due(config, ledger, bot, backends, calendar)
        await trio.sleep(LOOK_EVERY)


async def _send_due(config: Config, ledger: Ledger, bot: BotApi, backends: Backends,
                    calendar: Calendar) -> None:
    days = config.shop.remind_days
    for account, before in ledger.due_reminders(calendar.today(), days):
        if account.owner_chat_id is None or not ledger.record_reminder(account, before, days):
            continue
        server = config.server(account.server_id)
        message = messages.reminder(
            account, server.name if server is not None else account.server_id,
            renewable=server is not None and Feature.EXTEND in backends.backend(server).features,
            today=calendar.today())
        log.info("reminding the owner of account %d (%d days before its last day)",
                 account.id, before)
        await tell_buyer(bot, account.owner_chat_id, message)
