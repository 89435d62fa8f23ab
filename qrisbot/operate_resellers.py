"""The operator's `resellers` sub-commands: add (or change), list and remove resellers.
Safe while the daemon runs: the shop reads a buyer's terms each time it shows a price, and
an order keeps the price its confirmation showed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from qrisbot import config as cfg
from qrisbot.ledger import Reseller
from qrisbot.operate import EXIT_OK, fail, open_ledger, when
from qrisbot.shop.pricing import QRIS_MINIMUM, per_month
from qrisbot.shop.texts import rupiah

MAX_DISCOUNT: Final = 90  # percent: a reseller still pays something for an account
QRIS_LIMIT: Final = 10_000_000  # rupiah: the largest QRIS payment (as check-config says)
_PERCENT: Final = re.compile(r"([0-9]{1,3})%?")
_PRICE: Final = re.compile(r"([a-z0-9-]{1,16})=([0-9]{1,9})")
# Telegram user ids are positive and below 2**52 (groups and channels are negative).
_MAX_USER_ID: Final = 2**52


def resellers_add(config: cfg.Config, user: str, discount: str | None,
                  prices: Sequence[str]) -> int:
    """Add a reseller, or replace an existing one's terms with the ones given."""
    user_id = _user_id(user)
    if user_id is None:
        return fail(f"{user!r} is no Telegram user id (a positive number; the person can "
                    "see theirs with @userinfobot)")
    percent = 0
    if discount is not None:
        match = _PERCENT.fullmatch(discount.strip())
        if match is None or not 1 <= int(match[1]) <= MAX_DISCOUNT:
            return fail(f"--discount must be 1-{MAX_DISCOUNT} % (e.g. 20%), not {discount!r}")
        percent = int(match[1])
    own: dict[str, int] = {}
    for raw in prices:
        match = _PRICE.fullmatch(raw.strip())
        if match is None:
            return fail(f"--price must be SERVER=RP (rupiah a month, digits only, e.g. "
                        f"sg1=8000), not {raw!r}")
        server_id, rupiah_a_month = match[1], int(match[2])
        server = config.server(server_id)
        if server is None:
            return fail(f"--price: no server {server_id!r} in the configuration")
        if server_id in own:
            return fail(f"--price: server {server_id} given twice")
        if rupiah_a_month < QRIS_MINIMUM:
            return fail(f"--price {server_id}: at least {rupiah(QRIS_MINIMUM)} a month "
                        "(the QRIS minimum)")
        if rupiah_a_month * config.shop.max_months > QRIS_LIMIT:
            return fail(f"--price {server_id}: shop.max_months x {rupiah(rupiah_a_month)} "
                        f"exceeds the QRIS limit of {rupiah(QRIS_LIMIT)}")
        own[server_id] = rupiah_a_month
    reseller = Reseller(user_id, percent, own)
    with open_ledger(config, create=True) as ledger:
        if ledger is None:
            return fail("no ledger")
        new = ledger.put_reseller(reseller)
    print(f"reseller {user_id} {'added' if new else 'updated (terms replaced)'}: "
          f"{_terms(reseller)}")
    for server in config.servers:
        print(f"  {server.id:<16} {rupiah(per_month(server, reseller))}/month "
              f"(everyone: {rupiah(server.price_per_month)})"
              f"{', resellers only' if server.reseller_only else ''}")
    return EXIT_OK


def resellers_list(config: cfg.Config) -> int:
    """One line per reseller: id, terms, when added."""
    with open_ledger(config) as ledger:
        if ledger is None:
            return fail("no ledger")
        everyone = ledger.resellers()
    if not everyone:
        print("no resellers")
        return EXIT_OK
    print(f"{'TELEGRAM ID':<14} {'ADDED':<16} TERMS")
    for reseller in everyone:
        print(f"{reseller.user_id:<14} {when(config, reseller.added_at, seconds=False):<16} "
              f"{_terms(reseller)}")
    return EXIT_OK


def resellers_remove(config: cfg.Config, user: str) -> int:
    user_id = _user_id(user)
    with open_ledger(config) as ledger:
        if ledger is None:
            return fail("no ledger")
        if user_id is None or not ledger.remove_reseller(user_id):
            return fail(f"no reseller {user!r}")
    print(f"reseller {user_id} removed: from now on they see everyone's prices (orders "
          "already placed keep their price)")
    return EXIT_OK


def _user_id(raw: str) -> int | None:
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16:
        return None
    value = int(raw)
    return value if 0 < value < _MAX_USER_ID else None


def _terms(reseller: Reseller) -> str:
    parts = [f"{server} {rupiah(rp)}/month" for server, rp in sorted(reseller.prices.items())]
    if reseller.discount_percent:
        parts.append(f"{reseller.discount_percent}% off"
                     + (" every other server" if reseller.prices else " every server"))
    return ", ".join(parts) or "everyone's prices (reseller-only servers, Beli lagi)"
