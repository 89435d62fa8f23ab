"""After an account's last day: tell its buyer it ran out (and when it will be removed),
and once `shop.grace_days` have passed, remove it from its server and free its place. A
trial is removed when its hours are over (to the minute); an account the operator asked
to remove, at the next look.

Removals are batched per server (one script, one lock, one restart). A removal only
takes an account whose date on the server is still the old one: one renewed meanwhile is
kept, on the server and in the ledger (every state change is a compare-and-set on the
last day). An account already gone from the server counts as removed. A server that
fails is tried again at the next look; the admins hear of a server that stops answering.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging

import trio

from qrisbot.config import Config
from qrisbot.ledger import Account, Ledger
from qrisbot.provision import Backends, Feature, Removal, Removed, ServerError
from qrisbot.shop import messages
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.notify import tell_buyer
from qrisbot.shop.servers import Servers
from qrisbot.telegram.api import BotApi

log = logging.getLogger("qrisbot.expiry")

LOOK_EVERY = 60  # seconds between looks (a trial ends to the minute)
# Seconds before a server whose removals failed is asked again (then the last, repeated).
REMOVAL_BACKOFF = (60, 300, 900, 1800)
# Buyers hear of a change only while it is news: not of an account that ran out long ago
# (a ledger from before this release, or a daemon that was down for weeks).
NEWS_DAYS = 7
REMOVAL_DEADLINE = 600  # seconds one server's removals may take before the next look


class Expiry:
    def __init__(self, config: Config, ledger: Ledger, bot: BotApi, backends: Backends,
                 servers: Servers, calendar: Calendar) -> None:
        self.config = config
        self.ledger = ledger
        self.bot = bot
        self.backends = backends
        self.servers = servers
        self.calendar = calendar
        # Accounts a server showed with a later day than the ledger's (renewed meanwhile, or
        # changed by hand): not asked about again until the daemon restarts.
        self._kept: set[tuple[int, dt.date]] = set()
        self._failures: dict[str, tuple[int, float]] = {}  # server -> (failures, retry at)
        self._woken = trio.Event()

    async def run(self) -> None:
        while True:
            await self.look()
            # A trial ends to the minute: the next look is no later than the next end.
            now = self.calendar.now().timestamp()
            soonest = self.ledger.next_trial_end(now)
            wait = LOOK_EVERY if soonest is None else min(LOOK_EVERY, soonest - now + 0.5)
            with trio.move_on_after(wait):
                await self._woken.wait()
            self._woken = trio.Event()

    def wake(self) -> None:
        """Look now: the operator asked for a removal (`accounts remove`)."""
        self._woken.set()

    async def look(self) -> None:
        today = self.calendar.today()
        for account in self.ledger.past_last_day(today):
            if self.ledger.record_expired(account) and self._news(account, 0):
                await self._tell(account, "ran_out")
        now = trio.current_time()
        due = [a for a in self.ledger.due_removal(today, self.config.shop.grace_days,
                                                  self.calendar.now().timestamp())
               if (a.id, a.expires_on) not in self._kept
               and self._failures.get(a.server_id, (0, now))[1] <= now]
        async with trio.open_nursery() as removing:
            for server_id, accounts in itertools.groupby(due, key=lambda a: a.server_id):
                removing.start_soon(self._remove, server_id, list(accounts))

    async def _remove(self, server_id: str, accounts: list[Account]) -> None:
        server = self.config.server(server_id)
        if server is None or Feature.REMOVE not in self.backends.backend(server).features:
            return  # nothing the shop can remove there: the accounts stay expired
        removals = [Removal(made_by=a.tag, username=a.username,
                            secret=a.secret, expires=a.expires_on) for a in accounts]
        outcomes: dict[str, Removed] = {}
        with trio.move_on_after(REMOVAL_DEADLINE):
            try:
                outcomes = await self.backends.backend(server).remove(removals)
            except ServerError as exc:
                failures = self._failures.get(server.id, (0, 0.0))[0]
                delay = REMOVAL_BACKOFF[min(failures, len(REMOVAL_BACKOFF) - 1)]
                log.warning("removing %d account(s) on %s failed (again in %d s): %s",
                            len(removals), server.id, delay, exc)
                self._failures[server.id] = (failures + 1, trio.current_time() + delay)
                self.servers.answered(server, exc)
                return
        self._failures.pop(server.id, None)
        self.servers.answered(server, None)
        for account in accounts:
            outcome = outcomes.get(account.username)
            if outcome is Removed.KEPT:
                log.warning("account %d: %s shows a later last day than the ledger's; kept "
                            "there", account.id, server.id)
                self._kept.add((account.id, account.expires_on))
            elif outcome is Removed.FOREIGN:
                log.warning("account %d: the name %s on %s is someone else's now; not removed "
                            "there", account.id, account.username, server.id)
                if self.ledger.record_removed(account) and self.servers.notifier:
                    self.servers.notifier.tell("notify_removal_foreign",
                                               username=account.username, server=server.name)
            elif outcome is Removed.GONE and self.ledger.record_removed(account):
                log.info("account %d removed from %s", account.id, server.id)
                if account.remove_asked:
                    await self._tell(account, "removed_by_admin")
                elif account.is_trial:
                    await self._tell(account, "trial_ended")
                elif self._news(account, self.config.shop.grace_days):
                    await self._tell(account, "removed")

    def _news(self, account: Account, after: int) -> bool:
        """Did this happen to the account lately (`after` days past its last day)?"""
        late = (self.calendar.today() - account.expires_on).days - 1 - after
        return late <= NEWS_DAYS

    async def _tell(self, account: Account, what: str) -> None:
        if account.owner_chat_id is None:
            return
        server = self.config.server(account.server_id)
        removal_day = account.expires_on + dt.timedelta(days=self.config.shop.grace_days + 1)
        message = messages.lifecycle(
            account, what, server.name if server is not None else account.server_id,
            removal_day=removal_day,
            renewable=what == "ran_out" and server is not None
            and Feature.EXTEND in self.backends.backend(server).features)
        await tell_buyer(self.bot, account.owner_chat_id, message)
