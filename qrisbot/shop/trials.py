"""A free trial: Coba gratis -> server -> the account is made at once, without payment.

One per Telegram user, ever, and at most `trial.daily_limit` a day: the ledger refuses
any other in the same write that records it. The name is `trial` and 5 random letters or
digits, free in the ledger and on the server; SSH accounts get a random password.
"""

from __future__ import annotations

from qrisbot import ledger as L
from qrisbot.provision import Presence
from qrisbot.shop.buttons import Press
from qrisbot.shop.checkout import trial_username
from qrisbot.shop.dialogue import Dialogue, Draft, Tables
from qrisbot.shop.messages import Outgoing, cancel_row
from qrisbot.shop.texts import text

NAME_TRIES = 5  # random names tried before giving up (each is taken 1 time in 36**5)


class Trials:
    def __init__(self, dialogue: Dialogue) -> None:
        self.d = dialogue
        self.lang = dialogue.lang
        self.tables = Tables(steps={("tsrv", "trial_server"): self._take},
                             acts={"trial": self._offer},
                             reprompts={"trial_server": self._reoffer})

    def _refused(self, user_id: int) -> str | None:
        """Why this user cannot have a trial now (a text key), if they cannot."""
        if self.d.ledger.had_trial(user_id):
            return "trial_used"
        limit = self.d.config.trial.daily_limit
        if limit and self.d.ledger.trials_on(self.d.checkout.today()) >= limit:
            return "trials_exhausted"
        return None

    async def _offer(self, chat_id: int, user_id: int, press: Press) -> None:
        """Coba gratis: which server."""
        refused = self._refused(user_id)
        servers = [s for s in self.d.trial_servers()
                   if self.d.ledger.active_count(s.id) < s.capacity]
        if refused is not None or not servers:
            await self.d.say(chat_id, refused or "no_servers")
            return
        rows = self.d.server_choice(servers, "tsrv")
        await self.d.ask(chat_id, Draft(step="trial_server"), Outgoing(
            text("ask_trial_server", self.lang, hours=self.d.config.trial.hours),
            [*rows, cancel_row(self.lang)]))

    async def _reoffer(self, chat_id: int, draft: Draft) -> None:
        await self._offer(chat_id, chat_id, Press("trial"))

    async def _take(self, chat_id: int, user_id: int, draft: Draft, press: Press) -> None:
        """Make the trial account at once: a random free name (and password)."""
        server = self.d.config.server(press.value)
        if server is None or server not in self.d.trial_servers():
            await self.d.restart(chat_id)
            return
        refused = self._refused(user_id)
        if refused is not None:
            self.d.save(chat_id, None)
            await self.d.say(chat_id, refused)
            return
        username = None
        for _ in range(NAME_TRIES):
            candidate = trial_username()
            if self.d.ledger.username_held(server.id, candidate):
                continue
            presence = await self.d.presence(server, candidate)
            if presence is None:
                # The server choice stays open (its buttons are the live ones).
                await self.d.say(chat_id, "server_unreachable")
                return
            if presence is Presence.ABSENT:
                username = candidate
                break
        if username is None:
            await self.d.restart(chat_id)
            return
        try:
            order = self.d.checkout.create_trial(chat_id=chat_id, user_id=user_id,
                                                 server=server, username=username,
                                                 language=self.lang)
        except L.TrialUsed:
            await self.d.say(chat_id, "trial_used")
            return
        except L.TrialsExhausted:
            await self.d.say(chat_id, "trials_exhausted")
            return
        except (L.UsernameHeld, L.ServerFull):
            await self.d.say(chat_id, "server_full", name=server.name)
            return
        self.d.save(chat_id, None)
        await self.d.say(chat_id, "trial_making")
        self.d.checkout.fulfil(order)
