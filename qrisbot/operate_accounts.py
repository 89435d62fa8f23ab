"""The operator's `accounts` sub-commands. Safe while the daemon runs.

Listing and showing read the ledger. Extending and removing write a request to it that
the running daemon carries out (the next start does, if it is not running): days given
become a renewal order, ready to be made, that is fulfilled once like any paid one, with
the buyer told; a removal is made at the daemon's next look, within seconds.
"""

from __future__ import annotations

import datetime as dt
import getpass
import secrets
import time
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

from qrisbot import config as cfg
from qrisbot import ledger as L
from qrisbot.ledger import Account, Ledger
from qrisbot.operate import (
    EXIT_FAILURE,
    EXIT_OK,
    Ask,
    accounts_on,
    confirmed,
    fail,
    open_ledger,
    shop_today,
)
from qrisbot.provision.ssh.connections import SshError
from qrisbot.shop.texts import rupiah

if TYPE_CHECKING:
    from qrisbot.provision.port import Existing
    from qrisbot.provision.ssh.binding import Bound

MAX_GIFT_DAYS = 366
STATES = (L.ACTIVE, L.ACCOUNT_EXPIRED, L.REMOVED)


def _ends(config: cfg.Config, account: Account) -> str:
    if account.ends_at is None:
        return account.expires_on.isoformat()
    zone = zoneinfo.ZoneInfo(config.shop.timezone)
    return dt.datetime.fromtimestamp(account.ends_at, zone).strftime("%Y-%m-%d %H:%M")


def accounts_list(config: cfg.Config, server_id: str | None, state: str | None,
                  expiring: int | None) -> int:
    """One line per account: id, server, username, protocol, state, last day, days left,
    owner."""
    if state is not None and state not in STATES:
        return fail(f"--state must be one of {', '.join(STATES)}")
    with open_ledger(config) as ledger:
        if ledger is None:
            return EXIT_FAILURE
        today = shop_today(config)
        for a in ledger.accounts(server_id):
            if state is not None and a.state != state:
                continue
            if expiring is not None and (a.state == L.REMOVED or
                                         (a.expires_on - today).days > expiring):
                continue
            left = "-" if a.state == L.REMOVED else str(a.days_left(today))
            kind = " trial" if a.is_trial else ""
            print(f"{a.id:6} {a.server_id:16} {a.username:16} {a.protocol:6} {a.state:7} "
                  f"{_ends(config, a):16} {left:>4} d  owner {a.owner_user_id or '-'}{kind}")
        return EXIT_OK


def accounts_import(config: cfg.Config, server_id: str, dry_run: bool) -> int:
    """Record the accounts already on a server as accounts without an owner: they
    hold their names and places and are removed at expiry like any other. Twice is once."""
    import json

    from qrisbot.provision import Account as Made
    from qrisbot.provision import details
    from qrisbot.provision.ssh.binding import WHY, Bound

    on_panel = config.server(server_id)
    if on_panel is not None and on_panel.panel is not None:
        from qrisbot.operate_panel_import import import_panel

        return import_panel(config, on_panel, dry_run)
    read = accounts_on(config, server_id)
    if read is None:
        return EXIT_FAILURE
    server, found = read
    with open_ledger(config, create=True) as ledger:
        if ledger is None:
            return EXIT_FAILURE
        today, added = shop_today(config), 0
        bound = {} if dry_run else _bind(server, [
            there for there in found.accounts
            if not ledger.username_held(server.id, there.username)])
        if bound is None:
            return EXIT_FAILURE
        for there in found.accounts:
            # An SSH account's password is not on the server (only its hash): a stand-in
            # nobody is shown, until the buyer who claims it proves the real one.
            secret = there.secret or secrets.token_urlsafe(18)
            made = Made(order_id=L.IMPORTED, username=there.username,
                        secret=secret, expires=there.last_day, months=0, days=0)
            held = ledger.username_held(server.id, there.username)
            outcome = bound.get(there.username)
            if not held and outcome is not None and outcome is not Bound.BOUND:
                print(f"skipped  {there.username}: {WHY[outcome]}")
                continue
            if not dry_run and not held:
                held = not ledger.import_account(
                    server_id=server.id, protocol=server.protocol, username=there.username,
                    secret=secret, expires_on=there.last_day,
                    details=json.dumps(details(server, made)), today=today)
            added += not held
            print(f"{'known  ' if held else 'new    '} {there.username:16} last day "
                  f"{there.last_day}")
        for note in found.notes:
            print(f"skipped  {note}")
        verb = "would be imported" if dry_run else "imported"
        print(f"{server_id}: {len(found.accounts)} account(s) on the server, {added} {verb}"
              + (f"; {found.skipped} line(s) skipped (not an account)" if found.skipped else ""))
        return EXIT_OK


def _bind(server: cfg.Server, fresh: list[Existing]) -> dict[str, Bound] | None:
    """The SSH users about to be imported, marked as the shop's on the server (each only
    while it is the user that was read): a renewal or removal never reaches a stranger
    given the name later. {} on other servers; None (said why) when the server failed."""
    from qrisbot.provision.ssh.binding import bind

    if server.protocol != "ssh" or not fresh:
        return {}
    try:
        return trio.run(bind, server, fresh)
    except SshError as exc:
        fail(f"{server.id}: {exc}")
        return None


def accounts_assign(config: cfg.Config, server_id: str, username: str, user_id: int) -> int:
    """Bind an account nobody owns (imported) to a Telegram user: from then on it is theirs
    to renew, with reminders."""
    if not 0 < user_id < 2**53:
        return fail("TELEGRAM_USER_ID must be a Telegram user id (a positive number)")
    with _named(config, server_id, username) as found:
        if found is None:
            return EXIT_FAILURE
        ledger, account = found
        if account.owner_user_id is not None or account.state == L.REMOVED:
            return fail(f"{username} on {server_id} is {account.state} and owned by "
                        f"{account.owner_user_id or 'nobody'}; only accounts nobody owns can "
                        "be assigned")
        # In a private chat the chat is its user.
        if not ledger.assign(account, user_id, user_id, config.shop.language):
            return fail(f"{username} on {server_id} got an owner meanwhile")
        ledger.record("assigned", f"{server_id}/{username} to {user_id} by cli "
                                  f"{getpass.getuser()}")
        print(f"{username} on {server_id} now belongs to Telegram user {user_id}")
        return EXIT_OK


@contextmanager
def _named(config: cfg.Config, server_id: str, username: str
           ) -> Iterator[tuple[Ledger, Account] | None]:
    """The ledger and the account of that name on that server (None, said why: none)."""
    with open_ledger(config) as ledger:
        account = ledger.account_named(server_id, username) if ledger is not None else None
        if ledger is not None and account is None:
            fail(f"no account {username!r} on {server_id!r} in the ledger")
        yield (ledger, account) if ledger is not None and account is not None else None


def accounts_show(config: cfg.Config, server_id: str, username: str) -> int:
    """Everything about one account and its orders (no password, UUID or links)."""
    with _named(config, server_id, username) as found:
        if found is None:
            return EXIT_FAILURE
        ledger, account = found
        zone = zoneinfo.ZoneInfo(config.shop.timezone)
        for field in ("id", "server_id", "username", "protocol", "state", "owner_user_id",
                      "owner_chat_id", "language", "made_by"):
            print(f"{field:14} {getattr(account, field)}")
        print(f"{'last day':14} {account.expires_on.isoformat()} "
              f"({account.days_left(shop_today(config))} day(s) left)")
        if account.is_trial:
            print(f"{'trial ends':14} {_ends(config, account)}")
        if account.remove_asked and account.state != L.REMOVED:
            print(f"{'removal':14} asked by the operator; the daemon makes it")
        for order in ledger.orders_of(account):
            when = dt.datetime.fromtimestamp(order.created_at, zone).strftime("%Y-%m-%d %H:%M")
            print(f"order {order.id}  {when}  {order.kind:8} {order.state:17} "
                  f"{order.months:2} mo  {rupiah(order.amount):>10}  last day "
                  f"{order.expires_on or '-'}")
        return EXIT_OK


def accounts_extend(config: cfg.Config, server_id: str, username: str, days: int,
                    wait: float) -> int:
    """Give the account `days` more (compensation): carried out once by the daemon, which
    tells the buyer."""
    if not 1 <= days <= MAX_GIFT_DAYS:
        return fail(f"--days must be 1-{MAX_GIFT_DAYS}")
    with _named(config, server_id, username) as found:
        if found is None:
            return EXIT_FAILURE
        ledger, account = found
        try:
            order = ledger.grant_days(order_id=f"OPS{int(time.time() * 1000)}",
                                      account=account, days=days, language=account.language)
        except L.LedgerError as exc:
            return fail(f"{username} on {server_id}: {exc}")
        ledger.record("days_given", f"{days} day(s) by cli {getpass.getuser()}", order.id)
        # Added to the day the account has when the daemon applies it, after any renewal
        # paid before (never a day fixed now that a renewal landing meanwhile would undo).
        print(f"{username} on {server_id}: last day {account.expires_on} + {days} day(s) "
              f"(order {order.id}); the running daemon sets it within seconds, after any "
              f"renewal paid before it")
        return _follow(ledger, wait, lambda: _extended(ledger, order.id),
                       f"`qrisbot orders show {order.id}` follows it")


def _extended(ledger: Ledger, order_id: str) -> str | None:
    order = ledger.get(order_id)
    assert order is not None
    if order.state in (L.PROVISIONED, L.DELIVERED):
        return f"done: the server has the new last day {order.expires_on} ({order.state})"
    if order.state == L.FAILED:
        return f"the attempt failed: {order.last_error} (the daemon keeps trying)"
    return None


def accounts_remove(config: cfg.Config, server_id: str, username: str, yes: bool,
                    wait: float, ask: Ask = input) -> int:
    """Remove the account from its server now (asks first unless `yes`)."""
    with _named(config, server_id, username) as found:
        if found is None:
            return EXIT_FAILURE
        ledger, account = found
        if account.state == L.REMOVED:
            return fail(f"{username} on {server_id} was removed already")
        question = (f"Remove {username} ({account.protocol}) from {server_id} now? Its buyer "
                    f"loses {account.days_left(shop_today(config))} day(s) left.")
        if not confirmed(question, yes, ask):
            return fail("not removed")
        try:
            ledger.ask_removal(account)
        except L.RenewalPending:
            return fail(f"a renewal of {username} is under way; not removed")
        ledger.record("removal_asked", f"{server_id}/{username} by cli {getpass.getuser()}")
        print(f"removal of {username} on {server_id} asked; the running daemon makes it "
              "within seconds")
        return _follow(ledger, wait, lambda: _removed(ledger, account.id),
                       f"`qrisbot accounts show {server_id} {username}` follows it")


def _removed(ledger: Ledger, account_id: int) -> str | None:
    account = ledger.account(account_id)
    return "done: removed from the server" if account and account.state == L.REMOVED else None


def _follow(ledger: Ledger, wait: float, outcome: Callable[[], str | None], how: str) -> int:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        result = outcome()
        if result is not None:
            print(result)
            return EXIT_OK
        time.sleep(0.5)
    print(f"not done within {wait:g} s; if the daemon is not running, it is done when it "
          f"starts ({how})")
    return EXIT_OK
