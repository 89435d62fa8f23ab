"""A panel account's traffic, as its panel counts it: read for the buyer's Detail, and the
reminder when 90 % of a limit is used.

The reminder goes out once per account and paid period (its last day): recorded in the
`reminders` table under the sentinel TRAFFIC before it is sent, so a restart never sends
it twice and a renewal (a new last day, a higher limit) arms it again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import NoReturn

import attrs
import trio

from qrisbot import ledger as L
from qrisbot.config import Config, Server
from qrisbot.ledger import Ledger
from qrisbot.provision import Backend, BackendError, Backends, Delivery, Feature, Usage
from qrisbot.shop import messages
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.notify import tell_buyer
from qrisbot.shop.reminders import DAYTIME
from qrisbot.telegram.api import BotApi

log = logging.getLogger("qrisbot.traffic")

TRAFFIC = -90  # `days_before` of the traffic reminder (date reminders are 1-60 days)
SHARE = 0.9  # the part of the limit used that earns a reminder
# One read of every account per server an hour: at 90 % of even a 10 GB month a buyer has
# 1 GB left, hours of ordinary use, so an hour late is still in time; a panel's list of all
# users can be megabytes on a large one, not worth asking for every few minutes.
READ_EVERY = 3600
READ_WITHIN = 60  # seconds a server's usage may take before it waits for the next read
DETAIL_WITHIN = 4  # seconds a buyer's Detail waits for the panel before showing what is stored


def counts_traffic(backend: Backend) -> bool:
    """Does this server count each account's traffic for the shop to read (a panel does;
    an SSH family's quota files are written, not read)?"""
    return Feature.USAGE in backend.features


@attrs.frozen
class Current:
    """An account as its panel has it now: what the buyer receives and its traffic."""

    delivery: Delivery
    usage: Usage


async def current(backend: Backend, account: L.Account) -> Current | None:
    """The account's links and traffic read now, or None when the panel failed, lacks it
    or is slow (the buyer is not kept waiting longer than DETAIL_WITHIN)."""
    with trio.move_on_after(DETAIL_WITHIN):
        try:
            usage = (await backend.usage()).get(account.username)
            if usage is None:
                return None
            delivery = await backend.delivery(account.username, account.secret,
                                              account.expires_on)
        except BackendError as exc:
            log.warning("account %d: traffic not read: %s", account.id, exc)
            return None
        return Current(delivery, usage)
    log.warning("account %d: traffic not read: the panel did not answer in %d s",
                account.id, DETAIL_WITHIN)
    return None


async def remind_traffic(config: Config, ledger: Ledger, bot: BotApi, backends: Backends,
                         calendar: Calendar) -> NoReturn:
    """Forever: every READ_EVERY seconds in daytime, remind the buyers whose accounts have
    used most of their traffic."""
    while True:
        if calendar.now().hour in DAYTIME:
            await _look(config, ledger, bot, backends)
        await trio.sleep(READ_EVERY)


async def _look(config: Config, ledger: Ledger, bot: BotApi, backends: Backends) -> None:
    # Owned, active, paid accounts (a trial ends before its small quota matters), with
    # the chat their buyer is told in.
    live: dict[str, list[tuple[L.Account, int]]] = defaultdict(list)
    for account in ledger.accounts():
        if (account.state == L.ACTIVE and account.owner_chat_id is not None
                and not account.is_trial):
            live[account.server_id].append((account, account.owner_chat_id))
    for server in config.servers:
        backend = backends.backend(server) if server.id in live else None
        if backend is None or not counts_traffic(backend):
            continue
        usage = await _read(server, backend)
        if usage is None:
            continue
        for account, chat_id in live[server.id]:
            used = usage.get(account.username)
            if used is None or used.limit <= 0 or used.share < SHARE:
                continue
            if not ledger.record_reminder(account, TRAFFIC, ()):
                continue  # this period's went out already
            log.info("telling the owner of account %d that %d%% of its traffic is used",
                     account.id, messages.percent(used))
            await tell_buyer(bot, chat_id, messages.traffic_reminder(
                account, server.name, used, quota_gb=server.quota_gb,
                renewable=Feature.EXTEND in backend.features))


async def _read(server: Server, backend: Backend) -> dict[str, Usage] | None:
    """The server's usage, or None until the next read (logged; an outage is the health
    watch's to report)."""
    with trio.move_on_after(READ_WITHIN):
        try:
            return await backend.usage()
        except BackendError as exc:
            log.warning("%s: traffic not read: %s", server.id, exc)
            return None
    log.warning("%s: traffic not read: the panel did not answer in %d s", server.id,
                READ_WITHIN)
    return None
