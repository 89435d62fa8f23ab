"""The operator's `promo` sub-commands: add, list and disable promo codes. Safe while the
daemon runs (it reads the codes from the ledger when a buyer types one)."""

from __future__ import annotations

import datetime as dt

import attrs

from qrisbot import config as cfg
from qrisbot import ledger as L
from qrisbot.ledger.promos import Promo, normalise
from qrisbot.operate import EXIT_OK, fail, open_ledger, shop_today
from qrisbot.shop.texts import rupiah


@attrs.frozen
class NewPromo:
    """`promo add`'s arguments as typed (checked by `promo_add`)."""

    code: str
    percent: int | None = None
    amount: int | None = None
    max_uses: int | None = None
    per_user: int | None = None
    until: str | None = None
    servers: str | None = None
    new_buyers_only: bool = False
    kind: str | None = None  # 'purchase' or 'renewal'


def promo_add(config: cfg.Config, new: NewPromo) -> int:
    code = normalise(new.code)
    if code is None:
        return fail("a promo code is 3-32 letters A-Z, digits, _ or -")
    if (new.percent is None) == (new.amount is None):
        return fail("give exactly one of --percent and --amount")
    if new.percent is not None and not 1 <= new.percent <= 100:
        return fail("--percent must be 1-100")
    if new.amount is not None and new.amount < 1:
        return fail("--amount must be at least 1 (rupiah)")
    for name, value in (("--max-uses", new.max_uses), ("--per-user", new.per_user)):
        if value is not None and value < 1:
            return fail(f"{name} must be at least 1")
    until = None
    if new.until is not None:
        try:
            until = dt.date.fromisoformat(new.until)
        except ValueError:
            return fail(f"--until must be a date YYYY-MM-DD, not {new.until!r}")
        if until < shop_today(config):
            return fail(f"--until {until.isoformat()} is in the past (shop time)")
    servers: tuple[str, ...] = ()
    if new.servers is not None:
        servers = tuple(s.strip() for s in new.servers.split(",") if s.strip())
        unknown = [s for s in servers if config.server(s) is None]
        if unknown or not servers:
            return fail(f"--servers: no server {', '.join(unknown) or '(none given)'} in "
                        "the configuration")
    promo = Promo(code=code, percent=new.percent, amount=new.amount, max_uses=new.max_uses,
                  per_user=new.per_user, until=until, servers=servers,
                  new_buyers_only=new.new_buyers_only, kind=new.kind)
    with open_ledger(config, create=True) as ledger:
        if ledger is None:
            return fail("no ledger")
        if not ledger.add_promo(promo):
            return fail(f"promo code {code} exists already (codes are never reused)")
    print(f"promo code {code} added: {_describe(promo)}")
    return EXIT_OK


def promo_list(config: cfg.Config) -> int:
    """One line per code: code, discount, uses, left, until, limits, state."""
    today = shop_today(config)
    with open_ledger(config) as ledger:
        if ledger is None:
            return fail("no ledger")
        uses = ledger.promos()
    if not uses:
        print("no promo codes")
        return EXIT_OK
    print(f"{'CODE':<32} {'OFF':>9} {'USES':>5} {'LEFT':>9} {'UNTIL':<10} STATE  LIMITS")
    for use in uses:
        promo = use.promo
        state = ("disabled" if promo.disabled_at is not None else
                 "ended" if promo.until is not None and promo.until < today else "active")
        left = "unlimited" if use.left is None else str(use.left)
        until = promo.until.isoformat() if promo.until else "-"
        print(f"{promo.code:<32} {_off(promo):>9} {use.uses:>5} {left:>9} {until:<10} "
              f"{state:<6} {_limits(promo)}")
    return EXIT_OK


def promo_disable(config: cfg.Config, raw: str) -> int:
    code = normalise(raw)
    with open_ledger(config) as ledger:
        if ledger is None:
            return fail("no ledger")
        promo = ledger.promo(code) if code is not None else None
        if promo is None:
            return fail(f"no promo code {raw!r}")
        if promo.disabled_at is not None:
            print(f"promo code {promo.code} was disabled already")
            return EXIT_OK
        ledger.disable_promo(promo.code)
    print(f"promo code {promo.code} disabled: buyers cannot use it from now on (orders "
          "already placed with it keep their price)")
    return EXIT_OK


def _off(promo: Promo) -> str:
    return f"{promo.percent}%" if promo.percent is not None else rupiah(promo.amount or 0)


def _limits(promo: Promo) -> str:
    parts = []
    if promo.max_uses is not None:
        parts.append(f"{promo.max_uses} uses")
    if promo.per_user is not None:
        parts.append(f"{promo.per_user} per buyer")
    if promo.servers:
        parts.append(f"servers {','.join(promo.servers)}")
    if promo.new_buyers_only:
        parts.append("new buyers only")
    if promo.kind == L.PURCHASE:
        parts.append("purchases only")
    elif promo.kind == L.RENEWAL:
        parts.append("renewals only")
    return ", ".join(parts) or "-"


def _describe(promo: Promo) -> str:
    until = f" through {promo.until.isoformat()} (shop time)" if promo.until else ""
    return f"{_off(promo)} off{until}; {_limits(promo)}"
