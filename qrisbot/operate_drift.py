"""`qrisbot servers reconcile ID [--fix]`: the ledger's live accounts on a server against
what the server has (sellers still use their autoscript menu by hand). Safe while the
daemon runs.

Without --fix it only reports. With --fix each difference is settled by the operator's
policy, whose defaults lose nobody's paid days:

- an account the ledger has but the server lost is made again with its name, secret and
  last day (`--missing recreate`), or recorded as removed (`forget`), or left (`ignore`);
- a last day changed on the server: the later of the two wins (`--dates longer`: the
  ledger adopts a later day, the server gets back an earlier one), or always the
  server's (`server`), always the ledger's (`ledger`), or neither (`ignore`);
- an account on the server the ledger does not know is never touched (`accounts import`
  takes it on);
- on a panel server, a secret (UUID / Trojan password) changed on the panel: the ledger
  takes the panel's (`--secrets panel`) or leaves it (`ignore`). The panel is where access
  is granted: its secret is the one that works now, and a seller who changed it meant it
  (Marzban's "revoke subscription", a link that leaked); putting the old one back would
  open that link again. Recorded, the account is renewable and removable again (both
  recognise it by its secret: a renewal the buyer pays for meanwhile is refused as
  someone else's), and a repair order with no day added has the daemon ask the panel for
  the new links and send them to the account's owner (an account nobody owns: nobody
  told; a trial or an account that ran out: recorded, nothing sent).

What the server needs is written as a silent repair order (a renewal to the day the
ledger has, nothing paid, nobody told) that the running daemon fulfils once, like days
given; what the ledger needs is one compare-and-set on the account.
"""

from __future__ import annotations

import datetime as dt
import getpass
import time

from qrisbot import config as cfg
from qrisbot import ledger as L
from qrisbot.ledger import Account, Ledger
from qrisbot.operate import EXIT_FAILURE, EXIT_OK, accounts_on, open_ledger, shop_today
from qrisbot.provision.port import Existing
from qrisbot.provision.ssh.existing import leeway
from qrisbot.shop.drift import Drift, compare, settling


def servers_reconcile(config: cfg.Config, server_id: str, *, fix: bool = False,
                      missing: str = "recreate", dates: str = "longer",
                      secrets: str = "panel") -> int:
    """Report each difference; with `fix`, settle it by the policies. Exit 1 when they
    differ and nothing was asked to settle them (or a step was refused)."""
    with open_ledger(config, create=True) as ledger:
        if ledger is None:
            return EXIT_FAILURE
        # The ledger's moment first, then the server: what the daemon delivers or renews
        # while the server is read is left for the next run, never judged against (or
        # settled by) a reading taken before it happened.
        moment = time.time()
        known, busy = ledger.accounts(server_id), settling(ledger, server_id)
        read = accounts_on(config, server_id)
        if read is None:
            return EXIT_FAILURE
        server, found = read
        changed = ledger.changed_since(server_id, moment) - busy
        drift = compare(known, found.accounts, busy | changed, leeway(server),
                        secrets=found.secrets_held)
        for name in sorted(changed):
            print(f"changed  {name:16} by the shop while the server was read; left for the "
                  "next run")
        today = shop_today(config)
        refused = _report(ledger, server, drift, today, fix, missing, dates)
        refused += _report_secrets(ledger, drift, fix, secrets)
    for note in found.notes:
        print(f"skipped  {note}")
    if found.skipped:
        print(f"({found.skipped} of the server's entries skipped: not an account the shop "
              "can take on)")
    if drift.none:
        print(f"{server_id}: no differences")
        return EXIT_OK
    if not fix:
        print(f"{server_id}: differences found; nothing was changed (--fix settles them)")
        return EXIT_FAILURE
    print(f"{server_id}: settled as above; the running daemon puts back what the server "
          "needs within seconds")
    return EXIT_FAILURE if refused else EXIT_OK


def _report(ledger: Ledger, server: cfg.Server, drift: Drift, today: dt.date, fix: bool,
            missing: str, dates: str) -> int:
    """Print each difference and, with `fix`, what was done; returns how many steps the
    ledger refused."""
    refused = 0
    for account in drift.missing:
        print(f"missing  {account.username:16} the ledger has it ({account.state}, last day "
              f"{account.expires_on}), the server does not")
        if fix:
            outcome = _settle_missing(ledger, server, account, missing)
            refused += outcome.startswith("refused")
            print(f"         -> {outcome}")
    for account, day in drift.dates:
        print(f"date     {account.username:16} ledger {account.expires_on}, server {day}")
        if fix:
            outcome = _settle_date(ledger, account, day, today, dates)
            refused += outcome.startswith("refused")
            print(f"         -> {outcome}")
    for stranger in drift.unknown:
        print(f"unknown  {stranger.username:16} on the server (last day {stranger.last_day}), "
              "not in the ledger (`accounts import` takes it on)")
    return refused


def _report_secrets(ledger: Ledger, drift: Drift, fix: bool, policy: str) -> int:
    """The accounts whose secret the panel changed (never printed: the operator's terminal
    is not the buyer's); returns how many steps the ledger refused."""
    refused = 0
    for account, there in drift.secrets:
        print(f"secret   {account.username:16} UUID/password changed on the panel: the links "
              "its buyer has no longer work, its renewals are refused")
        if fix:
            outcome = _settle_secret(ledger, account, there, policy)
            refused += outcome.startswith("refused")
            print(f"         -> {outcome}")
    return refused


def _settle_secret(ledger: Ledger, account: Account, there: Existing, policy: str) -> str:
    if policy == "ignore":
        return "left (--secrets ignore)"
    if not ledger.adopt_secret(account, there.secret):
        return "refused: the account changed or is being renewed meanwhile; run it again"
    ledger.record("drift_secret_adopted", f"{account.server_id}/{account.username} by cli "
                                          f"{getpass.getuser()}")
    adopted = ledger.account(account.id)
    if adopted is None or adopted.state != L.ACTIVE or adopted.is_trial:
        return "the ledger takes the panel's secret (no links sent: a trial or ran out)"
    try:
        order = ledger.grant_days(order_id=f"OPS{time.time_ns()}", account=adopted, days=0,
                                  language=adopted.language)
    except L.LedgerError as exc:
        return f"the ledger takes the panel's secret; no links sent: {exc}"
    ledger.record("drift_relink", f"{account.server_id}/{account.username} by cli "
                                  f"{getpass.getuser()}", order.id)
    who = "its owner" if adopted.owner_chat_id is not None else "nobody (no owner yet)"
    return (f"the ledger takes the panel's secret; the daemon asks the panel for the new "
            f"links and sends them to {who} (order {order.id})")


def _unrepairable(account: Account) -> str | None:
    """Why the server cannot be given this account back as the ledger has it."""
    if account.is_trial:
        return "left: a trial (it ends by the hour)"
    if account.state != L.ACTIVE:
        return "left: it ran out; the shop removes it at the end of its grace period"
    if account.protocol == "ssh" and account.tag == L.IMPORTED and account.owner_user_id \
            is None:
        return "left: made before the shop and never claimed, so its password is unknown"
    return None


def _settle_missing(ledger: Ledger, server: cfg.Server, account: Account, policy: str
                    ) -> str:
    if policy == "ignore":
        return "left (--missing ignore)"
    if policy == "forget":
        if not ledger.record_removed(account):
            return "refused: the account changed meanwhile; run reconcile again"
        ledger.record("drift_forgotten", f"{server.id}/{account.username} by cli "
                                         f"{getpass.getuser()}")
        return "recorded as removed: its name and place are free"
    return _unrepairable(account) or _repair(ledger, account, "made again")


def _settle_date(ledger: Ledger, account: Account, day: dt.date, today: dt.date,
                 policy: str) -> str:
    if policy == "ignore":
        return "left (--dates ignore)"
    keep_server = policy == "server" or (policy == "longer" and day > account.expires_on)
    if keep_server:
        if not ledger.adopt_day(account, day, today):
            return "refused: a trial, or changed or being renewed meanwhile; run it again"
        ledger.record("drift_adopted", f"{account.server_id}/{account.username} "
                                       f"{account.expires_on} -> {day} by cli "
                                       f"{getpass.getuser()}")
        return f"the ledger takes the server's last day {day}"
    return _unrepairable(account) or _repair(ledger, account,
                                             f"set back to {account.expires_on}")


def _repair(ledger: Ledger, account: Account, what: str) -> str:
    try:
        order = ledger.grant_days(order_id=f"OPS{time.time_ns()}", account=account,
                                  days=0, language=account.language, silent=True)
    except L.LedgerError as exc:
        return f"refused: {exc}"
    ledger.record("drift_repair", f"{account.server_id}/{account.username} by cli "
                                  f"{getpass.getuser()}", order.id)
    return f"{what} on the server by the daemon (order {order.id}), its buyer not told"
