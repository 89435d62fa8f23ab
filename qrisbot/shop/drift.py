"""Drift between the ledger and a server: sellers still use their autoscript menu by hand.

Compares the accounts the ledger has on a server (not removed) with those the server's
Xray config holds (provision/existing.py): one the ledger thinks is there but the server
no longer has, a last day changed on the server, and one on the server the ledger does not
know. Only a report: nothing is changed because of it, so nobody's paid days are lost.
"""

from __future__ import annotations

import datetime as dt

import attrs

from qrisbot.ledger import REMOVED, Account
from qrisbot.provision.existing import Existing


@attrs.frozen
class Drift:
    missing: tuple[Account, ...]  # live in the ledger, not on the server
    dates: tuple[tuple[Account, dt.date], ...]  # the server's last day differs
    unknown: tuple[Existing, ...]  # on the server, not in the ledger

    @property
    def none(self) -> bool:
        return not (self.missing or self.dates or self.unknown)


def compare(ledger_accounts: list[Account], on_server: tuple[Existing, ...]) -> Drift:
    live = {a.username: a for a in ledger_accounts if a.state != REMOVED}
    there = {e.username: e for e in on_server}
    return Drift(
        missing=tuple(a for name, a in sorted(live.items()) if name not in there),
        dates=tuple((a, there[name].last_day) for name, a in sorted(live.items())
                    if name in there and there[name].last_day != a.expires_on),
        unknown=tuple(e for name, e in sorted(there.items()) if name not in live),
    )
