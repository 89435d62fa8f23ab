"""Drift between the ledger and a server: sellers still use their autoscript menu by hand.

Compares the accounts the ledger has on a server (not removed) with those the server
holds (its backend reads them): one the ledger thinks is there but the server no longer
has, a last day changed on the server, and one on the server the ledger does not know.
On a panel server also the secret: a UUID or Trojan password changed on the panel (an
edit, Marzban's "revoke subscription") means the links the buyer holds stopped working,
and every renewal of the account would be refused as someone else's (the backends
recognise an account by its secret). Subscription URLs are never compared: PasarGuard's
token changes at every read. An SSH server's secrets are not compared (the server keeps
only a password's hash; its Xray layouts are the shop's own files).
Once a day the daemon looks at every server it can read and tells the admins of what
differs in one message; `qrisbot servers reconcile` does the same on demand. Only a
report: nothing is changed because of it, so nobody's paid days are lost (the operator's
`reconcile --fix` decides what to do).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import NoReturn

import attrs
import trio

from qrisbot.config import Config, Server
from qrisbot.ledger import REMOVED, Account, Ledger
from qrisbot.provision import Backends, Existing, Feature, ServerError
from qrisbot.provision.ssh.existing import leeway
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.messages import Entry, listing
from qrisbot.shop.notify import Notifier
from qrisbot.shop.texts import text

log = logging.getLogger("qrisbot.drift")

LOOK_AT = dt.time(4, 30)  # shop time: the daily look, when buyers sleep
READ_DEADLINE = 120  # seconds one server may take to list its accounts
CHECKED_KEY = "drift_checked"  # meta: the shop date of the last daily look
UNKNOWN_NAMED = 5  # accounts unknown to the shop named in the daily message (then "…")


@attrs.frozen
class Drift:
    missing: tuple[Account, ...]  # live in the ledger, not on the server
    dates: tuple[tuple[Account, dt.date], ...]  # the server's last day differs
    unknown: tuple[Existing, ...]  # on the server, not in the ledger
    # a panel's secret differs from the ledger's: (the ledger's account, the panel's)
    secrets: tuple[tuple[Account, Existing], ...] = ()

    @property
    def none(self) -> bool:
        return not (self.missing or self.dates or self.unknown or self.secrets)


def is_same_secret(protocol: str, ours: str, theirs: str) -> bool:
    """A UUID is the same in any case (VMess / VLESS read it so); a Trojan password is
    compared exactly."""
    return ours == theirs if protocol == "trojan" else ours.lower() == theirs.lower()


def compare(ledger_accounts: list[Account], on_server: tuple[Existing, ...],
            settling: Iterable[str] = (), leeway: int = 0, *,
            secrets: bool = False) -> Drift:
    """`settling`: names an unfinished order is making or changing right now (the ledger
    and the server may differ for a moment; that is not drift). A last day agrees when the
    server's is the ledger's or at most `leeway` days later (existing.leeway: the grace
    period the shop's own dates give on a family's Xray layout). `secrets`: compare them
    too (a server whose reading gives the secrets its buyers hold: a panel)."""
    busy = set(settling)
    live = {a.username: a for a in ledger_accounts
            if a.state != REMOVED and a.username not in busy}
    there = {e.username: e for e in on_server if e.username not in busy}
    return Drift(
        missing=tuple(a for name, a in sorted(live.items()) if name not in there),
        dates=tuple((a, there[name].last_day) for name, a in sorted(live.items())
                    if name in there and not a.expires_on <= there[name].last_day
                    <= a.expires_on + dt.timedelta(days=leeway)),
        unknown=tuple(e for name, e in sorted(there.items()) if name not in live),
        secrets=tuple((a, there[name]) for name, a in sorted(live.items())
                      if secrets and name in there and there[name].secret
                      and not is_same_secret(a.protocol, a.secret, there[name].secret)),
    )


def settling(ledger: Ledger, server_id: str) -> set[str]:
    return {o.username for o in ledger.unfinished() if o.server_id == server_id}


async def drift_on(server: Server, ledger: Ledger, backends: Backends) -> Drift:
    """Read the server and compare (raises ServerError): the ledger as it was before the
    server was read, without what the shop changed meanwhile."""
    moment = time.time()
    known, busy = ledger.accounts(server.id), settling(ledger, server.id)
    found = await backends.backend(server).read_accounts()
    return compare(known, found.accounts, busy | ledger.changed_since(server.id, moment),
                   leeway(server), secrets=found.secrets_held)


def entries(server: Server, drift: Drift, lang: str) -> list[Entry]:
    """One line per difference, for the admins."""
    lines = [text("drift_missing", lang, server=server.name, username=a.username,
                  day=a.expires_on.isoformat()) for a in drift.missing]
    lines += [text("drift_date", lang, server=server.name, username=a.username,
                   ledger=a.expires_on.isoformat(), there=day.isoformat())
              for a, day in drift.dates]
    lines += [text("drift_secret", lang, server=server.name, username=a.username,
                   id=server.id) for a, _ in drift.secrets]
    # Accounts the shop does not know are many on a server nobody imported yet: one line.
    if drift.unknown:
        names = ", ".join(e.username for e in drift.unknown[:UNKNOWN_NAMED])
        more = "…" if len(drift.unknown) > UNKNOWN_NAMED else ""
        lines.append(text("drift_unknown", lang, server=server.name, id=server.id,
                          count=len(drift.unknown), names=names + more))
    return [(line, []) for line in lines]


async def watch(config: Config, ledger: Ledger, backends: Backends,
                notifier: Notifier, calendar: Calendar) -> NoReturn:
    """Forever: once a day at LOOK_AT (or as soon as the daemon is up, if it was down
    then), compare every readable server with the ledger; tell the admins of differences
    in one message."""
    while True:
        now = calendar.now()
        due = dt.datetime.combine(now.date(), LOOK_AT, now.tzinfo)
        if ledger.meta(CHECKED_KEY) == now.date().isoformat() or now < due:
            if now >= due:
                due += dt.timedelta(days=1)
            await trio.sleep((due - now).total_seconds())
            continue
        ledger.set_meta(CHECKED_KEY, now.date().isoformat())
        await look(config, ledger, backends, notifier)


async def look(config: Config, ledger: Ledger, backends: Backends,
               notifier: Notifier) -> None:
    """One look at every server that can be read, side by side (a slow one delays none)."""
    found: dict[str, list[Entry]] = {}
    servers = [s for s in config.servers if Feature.READ in backends.backend(s).features]

    async def one(server: Server) -> None:
        with trio.move_on_after(READ_DEADLINE):
            try:
                drift = await drift_on(server, ledger, backends)
            except ServerError as exc:
                log.warning("drift check of %s failed: %s", server.id, exc)
                record_unreadable(ledger, notifier, server, str(exc)[:300])
                return
            record_unreadable(ledger, notifier, server, None)
            if not drift.none:
                log.warning("%s differs from the ledger: %d missing, %d dates, %d unknown, "
                            "%d secrets", server.id, len(drift.missing), len(drift.dates),
                            len(drift.unknown), len(drift.secrets))
                ledger.record("drift", f"{server.id}: {len(drift.missing)} missing, "
                                       f"{len(drift.dates)} dates, {len(drift.unknown)} unknown"
                                       f", {len(drift.secrets)} secrets")
                found[server.id] = entries(server, drift, notifier.lang)
            return
        log.warning("drift check of %s: no answer within %d s", server.id, READ_DEADLINE)
        record_unreadable(ledger, notifier, server, f"no answer within {READ_DEADLINE} s")

    async with trio.open_nursery() as nursery:
        for server in servers:
            nursery.start_soon(one, server)
    if found:
        lines = [entry for server in servers for entry in found.get(server.id, [])]
        notifier.send(listing(text("drift_title", notifier.lang), lines, len(lines),
                              notifier.lang).text)


def record_unreadable(ledger: Ledger, notifier: Notifier, server: Server,
                      error: str | None) -> None:
    """How reading the server went (`error` None: it was read). The admins hear once that
    it cannot be read, and once that it can again (kept in the ledger across restarts)."""
    key = f"drift:{server.id}:unreadable"
    told = ledger.meta(key) == "1"
    if error is not None and not told:
        ledger.set_meta(key, "1")
        notifier.tell("notify_drift_unreadable", name=server.name, error=error)
    elif error is None and told:
        ledger.set_meta(key, "0")
        log.info("the accounts on %s can be read again", server.id)
        notifier.tell("notify_drift_readable", name=server.name)
