"""The order ledger: SQLite, one writer, every state change a compare-and-set.

Calls are small synchronous statements on a local file; they are made directly from the
event loop (a few hundred microseconds each), which also keeps them deterministic under
trio's MockClock.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import attrs

from qrisbot.ledger import offers, promos, referrals, resellers
from qrisbot.ledger.daily import Day, Life, Paid, starts, tally
from qrisbot.ledger.offers import Offer as Offer
from qrisbot.ledger.offers import OfferUnusable as OfferUnusable
from qrisbot.ledger.promos import Promo as Promo
from qrisbot.ledger.promos import PromoRefused as PromoRefused
from qrisbot.ledger.promos import PromoUse as PromoUse
from qrisbot.ledger.promos import Refusal as Refusal
from qrisbot.ledger.referrals import Reward as Reward
from qrisbot.ledger.referrals import Standing as Standing
from qrisbot.ledger.resellers import Reseller as Reseller
from qrisbot.ledger.resellers import ResellerSales as ResellerSales
from qrisbot.ledger.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION


class OrderState(enum.StrEnum):
    """An order's state (its SQL value is the member's value)."""

    NEW = "new"
    AWAITING = "awaiting_payment"
    PAID = "paid"
    PROVISIONING = "provisioning"
    PROVISIONED = "provisioned"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REFUNDED = "refunded"


NEW: Final = OrderState.NEW
AWAITING: Final = OrderState.AWAITING
PAID: Final = OrderState.PAID
PROVISIONING: Final = OrderState.PROVISIONING
PROVISIONED: Final = OrderState.PROVISIONED
DELIVERED: Final = OrderState.DELIVERED
EXPIRED: Final = OrderState.EXPIRED
CANCELLED: Final = OrderState.CANCELLED
FAILED: Final = OrderState.FAILED
REFUNDED: Final = OrderState.REFUNDED

# The state machine of design.md; anything else is refused.
TRANSITIONS: Final[dict[OrderState, frozenset[OrderState]]] = {
    NEW: frozenset({AWAITING, CANCELLED}),
    AWAITING: frozenset({PAID, EXPIRED, CANCELLED}),
    # REFUNDED: a payment that arrived but was not honoured (e.g. the wrong amount).
    EXPIRED: frozenset({PAID, REFUNDED}),
    CANCELLED: frozenset({PAID, REFUNDED}),
    PAID: frozenset({PROVISIONING}),
    PROVISIONING: frozenset({PROVISIONED, FAILED}),
    FAILED: frozenset({PROVISIONING, REFUNDED}),
    PROVISIONED: frozenset({DELIVERED}),
    DELIVERED: frozenset(),
    REFUNDED: frozenset(),
}
OPEN: Final = frozenset({NEW, AWAITING})
# States in which an order holds its username and a place on its server; once its account
# is made (provisioned), the account holds them.
HOLDING: Final = frozenset({NEW, AWAITING, PAID, PROVISIONING, FAILED})
UNFINISHED: Final = frozenset({NEW, AWAITING, PAID, PROVISIONING, PROVISIONED, FAILED})



class OrderKind(enum.StrEnum):
    """What an order buys."""

    PURCHASE = "purchase"  # a new account
    RENEWAL = "renewal"  # more time on an account the buyer owns (or the operator's gift)
    TRIAL = "trial"  # a free account for a few hours, one per Telegram user ever


PURCHASE: Final = OrderKind.PURCHASE
RENEWAL: Final = OrderKind.RENEWAL
TRIAL: Final = OrderKind.TRIAL


class AccountState(enum.StrEnum):
    """An account's life on its server."""

    ACTIVE = "active"
    EXPIRED = "expired"  # past its last day, still on the server
    REMOVED = "removed"


ACTIVE: Final = AccountState.ACTIVE
ACCOUNT_EXPIRED: Final = AccountState.EXPIRED
REMOVED: Final = AccountState.REMOVED

# Stands for the order that made an account made before the shop (imported): such an
# account is known on its server by its name and secret.
IMPORTED: Final = "imported"

OFFSET_KEY: Final = "telegram_offset"  # meta: the getUpdates offset to continue from


class LedgerError(Exception):
    """Base of the ledger's refusals."""


class OpenOrderExists(LedgerError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"chat already has open order {order_id}")
        self.order_id = order_id


class UsernameHeld(LedgerError):
    pass


class ServerFull(LedgerError):
    pass


class BadTransition(LedgerError):
    pass


class TrialUsed(LedgerError):
    """This Telegram user has had their trial."""


class TrialsExhausted(LedgerError):
    """The shop has given today's trials."""


class RenewalPending(LedgerError):
    """The account has a renewal that is not finished yet (a buyer renews one at a time)."""


class ExtensionQueued(LedgerError):
    """Another extension of the account is applied first (see `claim_extension`)."""


def _date_or_none(value: str | dt.date | None) -> dt.date | None:
    """A day as the ledger stores it (ISO text) or as given."""
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


@attrs.frozen
class Sales:
    orders: int
    amount: int  # net: what buyers paid before the QRIS fee
    fees: int
    gross: int = 0  # before discounts
    discounts: int = 0


class DiscountSource(enum.StrEnum):
    """What took rupiah off an order's price (referral, win-back... join here)."""

    PROMO = "promo"
    REFERRAL = "referral"  # a referrer's one-time percent reward (an offer)
    WINBACK = "winback"  # a personal offer after an account was removed


@attrs.frozen
class Breakdown:
    """An order's price as fixed when it is written: the buyer's role's price, what was
    taken off and why. `amount` (charged, before the QRIS fee) is what is left."""

    list_amount: int
    discount: int = 0
    discount_source: DiscountSource | None = None
    promo_code: str | None = None
    offer_id: int | None = None  # the personal offer that took it off

    @property
    def amount(self) -> int:
        return self.list_amount - self.discount


@attrs.frozen
class Order:
    id: str
    chat_id: int
    user_id: int
    server_id: str
    protocol: str
    username: str
    secret: str = attrs.field(repr=False)
    months: int
    amount: int
    language: str
    state: OrderState = attrs.field(converter=OrderState)
    created_at: float
    deadline: float
    updated_at: float
    fee: int | None = None
    total: int | None = None
    txn_id: str | None = None
    qr: str | None = attrs.field(default=None, repr=False)
    qr_message_id: int | None = None
    paid_at: float | None = None
    # The account's last day: a purchase's from when it was made, a renewal's from when it
    # was claimed (`claim_extension`).
    expires_on: dt.date | None = attrs.field(default=None, converter=_date_or_none)
    account: str | None = attrs.field(default=None, repr=False)
    attempts: int = 0
    last_error: str | None = None
    # the operator should look at this order
    needs_attention: bool = attrs.field(default=False, converter=bool)
    # a failed order the shop may try again by itself (e.g. on start)
    retryable: bool = attrs.field(default=True, converter=bool)
    kind: OrderKind = attrs.field(default=PURCHASE, converter=OrderKind)
    account_id: int | None = None  # the account it made
    # A renewal: the days it adds (0: puts the ledger's day back on the server; None: a
    # renewal of an earlier release, whose day was fixed when it was paid).
    days: int | None = None
    # Its breakdown (schema 6; None for orders of earlier releases: `amount` is the price).
    list_amount: int | None = None
    discount: int = 0
    discount_source: DiscountSource | None = attrs.field(
        default=None, converter=attrs.converters.optional(DiscountSource))
    promo_code: str | None = None
    offer_id: int | None = None  # the personal offer it uses (schema 7)

    def account_details(self) -> dict[str, Any]:
        return dict(json.loads(self.account)) if self.account else {}

    @property
    def breakdown(self) -> Breakdown:
        return Breakdown(self.amount if self.list_amount is None else self.list_amount,
                         self.discount, self.discount_source, self.promo_code, self.offer_id)


_COLUMNS: Final = tuple(f.name for f in attrs.fields(Order))


@attrs.frozen
class Account:
    """An account on a server, as the shop knows it (schema 3 onward)."""

    id: int
    server_id: str
    protocol: str
    username: str
    secret: str = attrs.field(repr=False)
    owner_user_id: int | None
    owner_chat_id: int | None
    language: str
    expires_on: dt.date  # the last day it works
    state: AccountState = attrs.field(converter=AccountState)
    details: str = attrs.field(repr=False)  # JSON of what the buyer is shown
    made_by: str | None  # the order that created it
    created_at: float
    updated_at: float
    ends_at: float | None = None  # a trial's end (epoch seconds of the shop's clock)
    # the operator asked for its removal
    remove_asked: bool = attrs.field(default=False, converter=bool)

    @property
    def is_trial(self) -> bool:
        return self.ends_at is not None

    def account_details(self) -> dict[str, Any]:
        return {**json.loads(self.details), "expires": self.expires_on.isoformat()}

    @property
    def tag(self) -> str:
        """The order that made it (IMPORTED for one made before the shop)."""
        return self.made_by or IMPORTED

    def days_left(self, today: dt.date) -> int:
        """Days it still works, today included (0 once its last day has passed)."""
        return max((self.expires_on - today).days + 1, 0)


_ACCOUNT_COLUMNS: Final = tuple(f.name for f in attrs.fields(Account))


class Ledger:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._seen_version = -1

    @classmethod
    def open(cls, path: str | Path) -> Ledger:
        path = Path(path)
        # It holds buyers' passwords: owner-only from the first byte (SQLite gives the WAL
        # and shared-memory files the database file's mode).
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a paid order must survive a power cut too
        db.execute("PRAGMA busy_timeout=5000")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError(f"ledger schema {version} is newer than this qrisbot understands")
        if 0 < version < SCHEMA_VERSION:
            _migrate(db, path, version)
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return cls(db)

    def close(self) -> None:
        self._db.close()

    def written_elsewhere(self) -> bool:
        """Has another connection (an operator's command) written since the last ask?"""
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        changed, self._seen_version = version != self._seen_version, version
        return changed

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- orders ---------------------------------------------------------------------------

    def create_order(
        self,
        *,
        order_id: str,
        chat_id: int,
        user_id: int,
        server_id: str,
        protocol: str,
        username: str,
        secret: str,
        months: int,
        language: str,
        deadline: float,
        capacity: int,
        amount: int | None = None,
        breakdown: Breakdown | None = None,
        today: dt.date | None = None,
        now: float | None = None,
    ) -> Order:
        """Write a `new` order, reserving the username and a place on the server atomically;
        its price is `breakdown` (or a plain `amount`), and a promo code or personal offer in
        it is used in this same write (raises PromoRefused or OfferUnusable when it may not
        be: `today` and `now`, epoch seconds, are the shop's)."""
        fixed = _breakdown(amount, breakdown)
        with self._write() as db:
            _refuse_a_second_open_order(db, chat_id)
            self._reserve(server_id, username, capacity)
            _use_promo(db, fixed, user_id=user_id, server_id=server_id, kind=PURCHASE,
                       today=today)
            _use_offer(db, fixed, user_id=user_id, now=now)
            _insert_order(db, id=order_id, chat_id=chat_id, user_id=user_id,
                          server_id=server_id, protocol=protocol, username=username,
                          secret=secret, months=months, language=language,
                          state=NEW, deadline=deadline, **_breakdown_columns(fixed))
        return self._written(order_id)

    def create_renewal(
        self, *, order_id: str, chat_id: int, user_id: int, account: Account, months: int,
        days: int, language: str, deadline: float, amount: int | None = None,
        breakdown: Breakdown | None = None, today: dt.date | None = None,
        now: float | None = None,
    ) -> Order:
        """Write a `new` renewal order for the account (no name or place to reserve) that
        adds `days`; its last day is decided when it is applied (`claim_extension`). Its
        price as for `create_order`."""
        fixed = _breakdown(amount, breakdown)
        with self._write() as db:
            _refuse_a_second_open_order(db, chat_id)
            _refuse_a_second_renewal(db, account)
            _use_promo(db, fixed, user_id=user_id, server_id=account.server_id, kind=RENEWAL,
                       today=today)
            _use_offer(db, fixed, user_id=user_id, now=now)
            _insert_order(db, id=order_id, chat_id=chat_id, user_id=user_id,
                          **_of_account(account), months=months,
                          language=language, state=NEW, deadline=deadline, kind=RENEWAL,
                          account_id=account.id, days=days, **_breakdown_columns(fixed))
        return self._written(order_id)

    # --- promo codes (ledger/promos.py) ------------------------------------------------------

    def add_promo(self, promo: Promo) -> bool:
        """False when the code exists already."""
        with self._write() as db:
            return promos.add(db, promo)

    def promo(self, code: str) -> Promo | None:
        return promos.get(self._db, code)

    def promos(self) -> list[PromoUse]:
        """Every code, oldest first, with its uses now."""
        return promos.listing(self._db)

    def disable_promo(self, code: str) -> bool:
        return promos.disable(self._db, code)

    def has_usable_promo(self, today: dt.date) -> bool:
        return promos.any_usable(self._db, today)

    def promo_refusal(self, code: str, *, user_id: int, server_id: str, kind: str,
                      today: dt.date) -> tuple[Promo | None, Refusal | None]:
        """The code, and why this user may not use it now (None: they may)."""
        return promos.refusal(self._db, code, user_id=user_id, server_id=server_id,
                              kind=kind, today=today)

    # --- personal offers (ledger/offers.py) --------------------------------------------------

    def grant_offer(self, *, user_id: int, source: str, percent: int,
                    valid_until: float | None, earned_by: str) -> bool:
        """False when what earned it earned an offer already."""
        with self._write() as db:
            return offers.grant(db, user_id=user_id, source=source, percent=percent,
                                valid_until=valid_until, earned_by=earned_by)

    def usable_offer(self, user_id: int, now: float) -> Offer | None:
        """The person's best offer they may use on an order now."""
        return offers.usable(self._db, user_id, now)

    def offer(self, offer_id: int) -> Offer | None:
        return offers.get(self._db, offer_id)

    def offers_of(self, user_id: int) -> list[Offer]:
        return offers.of_user(self._db, user_id)

    def winback_candidates(self, last_days: Iterable[dt.date]) -> list[Account]:
        """Accounts the shop removed (not trials, not the operator's) whose last day is one
        of `last_days`: their owners may be offered a win-back."""
        ids = offers.removed_on(self._db, [d.isoformat() for d in last_days])
        return [a for i in ids if (a := self.account(i)) is not None]

    def bought_since(self, user_id: int, since: float) -> bool:
        return offers.bought_since(self._db, user_id, since)

    def offer_sent_since(self, user_id: int, since: float) -> bool:
        return offers.sent_since(self._db, user_id, since)

    def grant_sent_offer(self, *, user_id: int, source: str, percent: int, earned_by: str,
                         sent_at: float, valid_until: float) -> Offer | None:
        """Grant an offer recorded as sent (once: None when it was granted before)."""
        with self._write() as db:
            return offers.grant_sent(db, user_id=user_id, source=source, percent=percent,
                                     earned_by=earned_by, sent_at=sent_at,
                                     valid_until=valid_until)

    # --- resellers (ledger/resellers.py) -----------------------------------------------------

    def put_reseller(self, reseller: Reseller) -> bool:
        """Add a reseller or replace their terms; True when they are new."""
        with self._write() as db:
            return resellers.put(db, reseller)

    def reseller(self, user_id: int) -> Reseller | None:
        return resellers.get(self._db, user_id)

    def resellers(self) -> list[Reseller]:
        return resellers.listing(self._db)

    def remove_reseller(self, user_id: int) -> bool:
        """False when they were no reseller (their orders stay as they were)."""
        return resellers.remove(self._db, user_id)

    def reseller_sales(self, since: float) -> list[ResellerSales]:
        """Per reseller, most paid first: their orders paid since `since` (epoch seconds)."""
        return resellers.sales(self._db, since)

    # --- referrals (ledger/referrals.py) ------------------------------------------------------

    def referral_code(self, user_id: int) -> str:
        """The person's link code (made once)."""
        with self._write() as db:
            return referrals.code_for(db, user_id)

    def record_referral(self, user_id: int, code: str) -> int | None:
        """`user_id` came through `code`'s link: the referrer, or None when it does not
        count (unknown code, their own, not new, a loop)."""
        with self._write() as db:
            return referrals.record(db, user_id, code)

    def reward_referral(self, order_id: str, *, percent: int) -> Reward | None:
        """Claim the referral reward the delivered order earns, once ever; with `percent`,
        the referrer's one-time offer is made in the same write (days are given with
        `give_referral_days`)."""
        with self._write() as db:
            reward = referrals.claim(db, order_id)
            if reward is not None and percent > 0:
                referrals.grant_offer(db, reward.referrer_id, percent, reward.earned_by)
        return reward

    def unclaimed_referral_orders(self) -> list[str]:
        return referrals.unclaimed(self._db)

    def referral_days_waiting(self, referrer_id: int) -> list[str]:
        """The referrer's rewards (the orders that earned them) whose days wait for an
        account."""
        return referrals.days_waiting(self._db, referrer_id)

    def referrers_with_days_waiting(self) -> list[int]:
        return referrals.waiting_referrers(self._db)

    def give_referral_days(self, earned_by: str, account: Account, days: int,
                           language: str) -> Order | None:
        """Put a waiting reward's days on the referrer's account: a renewal order ready to
        be made, whose id the reward fixes (so once); None when it was given already or is
        not this account owner's to give."""
        if account.owner_user_id is None or earned_by not in referrals.days_waiting(
                self._db, account.owner_user_id):
            return None
        try:
            return self.grant_days(order_id=referrals.reward_order_id(earned_by),
                                   account=account, days=days, language=language)
        except sqlite3.IntegrityError:
            return None

    def referral_standing(self, referrer_id: int) -> Standing:
        return referrals.standing(self._db, referrer_id)

    def top_referrers(self, limit: int) -> list[tuple[int, Standing]]:
        return referrals.top(self._db, limit)

    def create_trial(
        self, *, order_id: str, chat_id: int, user_id: int, server_id: str, protocol: str,
        username: str, secret: str, language: str, day: dt.date, ends_at: float,
        expires_on: dt.date, capacity: int, daily_limit: int,
    ) -> Order:
        """Write a trial, ready to be made (`paid`, for nothing): the user's one trial, one
        of the day's `daily_limit` (0: no limit), with its username and a place reserved."""
        now = time.time()
        with self._write() as db:
            if db.execute("SELECT 1 FROM trials WHERE user_id=?", (user_id,)).fetchone():
                raise TrialUsed(str(user_id))
            given = db.execute("SELECT COUNT(*) FROM trials WHERE day=?",
                               (day.isoformat(),)).fetchone()[0]
            if daily_limit and given >= daily_limit:
                raise TrialsExhausted(day.isoformat())
            self._reserve(server_id, username, capacity)
            _insert_order(db, id=order_id, chat_id=chat_id, user_id=user_id,
                          server_id=server_id, protocol=protocol, username=username,
                          secret=secret, months=0, amount=0, language=language, state=PAID,
                          deadline=now, kind=TRIAL, expires_on=expires_on.isoformat())
            db.execute("INSERT INTO trials (user_id, day, order_id, ends_at) VALUES (?,?,?,?)",
                       (user_id, day.isoformat(), order_id, ends_at))
        return self._written(order_id)

    def _reserve(self, server_id: str, username: str, capacity: int) -> None:
        """Refuse a name spoken for on the server, or a server without a free place."""
        if self.username_held(server_id, username):
            raise UsernameHeld(username)
        if self.active_count(server_id) >= capacity:
            raise ServerFull(server_id)

    def had_trial(self, user_id: int) -> bool:
        return self._db.execute("SELECT 1 FROM trials WHERE user_id=?",
                                (user_id,)).fetchone() is not None

    def trials_on(self, day: dt.date) -> int:
        """Trials given on that day of the shop's calendar."""
        return int(self._db.execute("SELECT COUNT(*) FROM trials WHERE day=?",
                                    (day.isoformat(),)).fetchone()[0])

    def grant_days(self, *, order_id: str, account: Account, days: int,
                   language: str, silent: bool = False) -> Order:
        """The operator gives the account `days` more for nothing: a renewal order, ready
        to be made (`paid`), that the daemon fulfils once, after any extension paid before
        it (and tells the owner, unless `silent`). 0 days with `silent` is a repair: the
        ledger's last day, put back on the server when it is applied."""
        if silent or account.owner_chat_id is None or account.owner_user_id is None:
            chat_id, user_id = 0, 0
        else:
            chat_id, user_id = account.owner_chat_id, account.owner_user_id
        now = time.time()
        with self._write() as db:
            if account.state == REMOVED:
                raise LedgerError("the account was removed from its server")
            _insert_order(db, id=order_id, chat_id=chat_id, user_id=user_id,
                          **_of_account(account), months=0, amount=0, language=language,
                          state=PAID, deadline=now, kind=RENEWAL, account_id=account.id,
                          days=days)
        return self._written(order_id)

    def claim_extension(self, order_id: str, today: dt.date) -> Order | None:
        """Take a renewal that is `paid` (or `failed`, to try again) to apply it now, and
        decide its last day in the same write.

        The rule: an account's extensions are applied one at a time, in the order they were
        paid, each from the day the one before it produced; no extension moves the
        account's last day backwards. Raises ExtensionQueued while another extension of the
        account is being applied, or was paid earlier and waits; None when the order is not
        `paid` or `failed` (another path took it).
        """
        with self._write() as db:
            row = db.execute("SELECT * FROM orders WHERE id=? AND kind=? AND state IN (?, ?)",
                             (order_id, RENEWAL, PAID, FAILED)).fetchone()
            if row is None:
                return None
            order = _order(row)
            ahead = db.execute(
                f"SELECT id FROM orders WHERE account_id=? AND kind='{RENEWAL}' AND id != ?"
                f" AND (state='{PROVISIONING}' OR (state IN ('{PAID}', '{FAILED}')"
                f" AND needs_attention=0 AND (COALESCE(paid_at, created_at), id) < (?, ?)))"
                " LIMIT 1",
                (order.account_id, order.id, order.paid_at or order.created_at, order.id),
            ).fetchone()
            if ahead is not None:
                raise ExtensionQueued(str(ahead[0]))
            account = self.account(order.account_id or 0)
            day = (_extended_day(account, order, today) if account is not None
                   else order.expires_on)
            db.execute("UPDATE orders SET state=?, expires_on=?, updated_at=? WHERE id=?",
                       (PROVISIONING, day.isoformat() if day else None, time.time(),
                        order.id))
        return self.get(order_id)

    def next_extension(self, account_id: int) -> Order | None:
        """The account's extension to apply next (paid first, first), if none is being
        applied."""
        row = self._db.execute(
            f"SELECT * FROM orders WHERE account_id=? AND kind='{RENEWAL}'"
            f" AND (state='{PAID}' OR (state='{FAILED}' AND needs_attention=0))"
            f" AND NOT EXISTS (SELECT 1 FROM orders WHERE account_id=? AND kind='{RENEWAL}'"
            f" AND state='{PROVISIONING}') ORDER BY COALESCE(paid_at, created_at), id LIMIT 1",
            (account_id, account_id)).fetchone()
        return _order(row) if row is not None else None

    def _written(self, order_id: str) -> Order:
        order = self.get(order_id)
        assert order is not None
        return order

    def get(self, order_id: str) -> Order | None:
        row = self._db.execute("SELECT * FROM orders WHERE id=?", (order_id,)).fetchone()
        return _order(row) if row is not None else None

    def transition(
        self, order_id: str, from_states: Iterable[OrderState], to_state: OrderState, *,
        event: tuple[str, str] | None = None, **fields: Any
    ) -> Order | None:
        """Move the order to `to_state` only if it is in one of `from_states` right now;
        `event` (kind, detail) is recorded in the same write.

        Returns the updated order, or None when another path got there first.
        """
        sources = frozenset(from_states)
        for source in sources:
            if to_state not in TRANSITIONS[source]:
                raise BadTransition(f"{source} -> {to_state} is not a transition")
        unknown = set(fields) - set(_COLUMNS)
        if unknown or {"id", "state"} & set(fields):
            raise LedgerError(f"cannot set {sorted(unknown | ({'id', 'state'} & set(fields)))}")
        assignments = ", ".join(f"{name}=?" for name in fields)
        marks = ",".join("?" * len(sources))
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE orders SET state=?, updated_at=?{', ' if fields else ''}{assignments}"
                f" WHERE id=? AND state IN ({marks})",
                (to_state, time.time(), *fields.values(), order_id, *sorted(sources)),
            )
            changed = cursor.rowcount == 1
            if changed and event is not None:
                self.record(*event, order_id)
        return self.get(order_id) if changed else None

    def update(self, order_id: str, *, event: tuple[str, str] | None = None,
               only_in: str | None = None, **fields: Any) -> bool:
        """Set bookkeeping fields that are not part of the state machine (only while the
        order is in state `only_in`, if given); `event` is recorded in the same write.
        False when the order was not in that state."""
        allowed = {"qr_message_id", "last_error", "needs_attention", "attempts", "retryable"}
        if not fields or set(fields) - allowed:
            raise LedgerError(f"cannot update {sorted(set(fields) - allowed)}")
        assignments = ", ".join(f"{name}=?" for name in fields)
        condition = " AND state=?" if only_in else ""
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE orders SET {assignments}, updated_at=? WHERE id=?{condition}",
                (*fields.values(), time.time(), order_id, *([only_in] if only_in else [])),
            )
            changed = cursor.rowcount == 1
            if changed and event is not None:
                self.record(*event, order_id)
        return changed

    def open_order(self, chat_id: int) -> Order | None:
        row = self._db.execute(
            "SELECT * FROM orders WHERE chat_id=? AND state IN ('new','awaiting_payment')",
            (chat_id,),
        ).fetchone()
        return _order(row) if row is not None else None

    def last_with_qr(self, chat_id: int) -> Order | None:
        """The chat's newest order that had a QR (the one a buyer who says they paid means)."""
        row = self._db.execute(
            "SELECT * FROM orders WHERE chat_id=? AND txn_id IS NOT NULL "
            "ORDER BY created_at DESC LIMIT 1", (chat_id,)).fetchone()
        return _order(row) if row is not None else None

    def undelivered(self, chat_id: int) -> list[Order]:
        """Accounts made for this chat that never reached it (e.g. the bot was blocked)."""
        rows = self._db.execute("SELECT * FROM orders WHERE state=? AND chat_id=?",
                                (PROVISIONED, chat_id)).fetchall()
        return [_order(row) for row in rows]

    def unfinished(self) -> list[Order]:
        marks = ",".join("?" * len(UNFINISHED))
        rows = self._db.execute(
            f"SELECT * FROM orders WHERE state IN ({marks}) ORDER BY created_at",
            tuple(sorted(UNFINISHED)),
        ).fetchall()
        return [_order(row) for row in rows]

    def orders(self, state: str | None = None) -> list[Order]:
        if state is None:
            rows = self._db.execute("SELECT * FROM orders ORDER BY created_at").fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM orders WHERE state=? ORDER BY created_at", (state,)
            ).fetchall()
        return [_order(row) for row in rows]

    def attention(self) -> list[Order]:
        """Orders the operator should look at (newest first)."""
        rows = self._db.execute(
            "SELECT * FROM orders WHERE needs_attention=1 AND state NOT IN (?, ?)"
            " ORDER BY updated_at DESC", (DELIVERED, REFUNDED),
        ).fetchall()
        return [_order(row) for row in rows]

    def retry_requested(self) -> list[Order]:
        """Orders the operator put in from outside the daemon: failed ones they asked to try
        again, and days they gave (`grant_days`, written `paid`)."""
        rows = self._db.execute(
            "SELECT * FROM orders WHERE (state=? AND needs_attention=0) OR state=?"
            " ORDER BY updated_at", (FAILED, PAID),
        ).fetchall()
        return [_order(row) for row in rows]

    def sales(self, since: float, kind: str | None = None) -> Sales:
        """Orders (of that kind) paid since `since` (epoch seconds), whatever became of
        them."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0), COALESCE(SUM(fee), 0),"
            " COALESCE(SUM(COALESCE(list_amount, amount)), 0), COALESCE(SUM(discount), 0)"
            " FROM orders WHERE paid_at >= ? AND kind = COALESCE(?, kind)", (since, kind),
        ).fetchone()
        return Sales(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))

    def daily(self, days: Sequence[dt.date], zone: dt.tzinfo, now: float) -> list[Day]:
        """Per day (consecutive `days` in `zone`, oldest first): purchases and renewals paid
        that day, whatever became of them (as `sales`), and the paid accounts working at
        its end (`now` for today)."""
        edges = starts(days, zone)
        paid = [Paid(float(at), kind == RENEWAL, int(amount)) for at, kind, amount in
                self._db.execute(
                    "SELECT paid_at, kind, amount FROM orders WHERE paid_at >= ?"
                    f" AND paid_at < ? AND kind IN ('{PURCHASE}', '{RENEWAL}')",
                    (edges[0], edges[-1]))]
        lives = [Life(float(created), dt.date.fromisoformat(last),
                      None if removed is None else float(removed))
                 for created, last, removed in self._db.execute(
                     f"SELECT created_at, expires_on, CASE WHEN state='{REMOVED}'"
                     " THEN updated_at END FROM accounts WHERE ends_at IS NULL"
                     " AND created_at < ? AND expires_on >= ?"
                     f" AND (state != '{REMOVED}' OR updated_at >= ?)",
                     (edges[-1], days[0].isoformat(), edges[0]))]
        return tally(days, zone, now, paid, lives)

    def live_accounts(self) -> dict[str, int]:
        """Active accounts per server."""
        return {str(server): int(count) for server, count in self._db.execute(
            f"SELECT server_id, COUNT(*) FROM accounts WHERE state='{ACTIVE}'"
            " GROUP BY server_id ORDER BY server_id")}

    def expiring(self, today: dt.date, days: int) -> int:
        """Active paid accounts whose last day is within `days` days of `today`."""
        return int(self._db.execute(
            f"SELECT COUNT(*) FROM accounts WHERE state='{ACTIVE}' AND ends_at IS NULL"
            " AND expires_on <= ?", ((today + dt.timedelta(days=days)).isoformat(),),
        ).fetchone()[0])

    def removed_since(self, since: float) -> int:
        """Accounts taken off their servers since `since` (epoch seconds)."""
        return int(self._db.execute(
            f"SELECT COUNT(*) FROM accounts WHERE state='{REMOVED}' AND updated_at >= ?",
            (since,)).fetchone()[0])

    def sold(self, server_id: str) -> int:
        """Accounts made on the server, ever."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM accounts WHERE server_id=? AND made_by IS NOT NULL",
            (server_id,),
        ).fetchone()
        return int(row[0])

    def chat_ids(self) -> list[int]:
        """Every private chat that ever talked to the bot (broadcast audience)."""
        return [int(row[0]) for row in
                self._db.execute("SELECT chat_id FROM chats ORDER BY chat_id").fetchall()]

    def username_held(self, server_id: str, username: str, *, other_than: str = "") -> bool:
        """Is the username spoken for on that server, by an open or unfinished order (other
        than `other_than`) or by an account (other than the one `other_than` made)?"""
        row = self._db.execute(
            f"SELECT 1 FROM orders WHERE server_id=? AND username=? AND id != ?"
            f" AND {_ORDER_HOLDS}"
            f" UNION ALL SELECT 1 FROM accounts WHERE server_id=? AND username=?"
            f" AND (made_by IS NULL OR made_by != ?) AND {_ACCOUNT_HOLDS} LIMIT 1",
            (server_id, username, other_than, server_id, username, other_than),
        ).fetchone()
        return row is not None

    def active_count(self, server_id: str) -> int:
        """Places taken on the server: orders pending or being made, and live accounts."""
        row = self._db.execute(
            f"SELECT (SELECT COUNT(*) FROM orders WHERE server_id=? AND {_ORDER_HOLDS})"
            f" + (SELECT COUNT(*) FROM accounts WHERE server_id=? AND {_ACCOUNT_HOLDS})",
            (server_id, server_id),
        ).fetchone()
        return int(row[0])

    # --- accounts ---------------------------------------------------------------------------

    def record_provisioned(self, order_id: str, details: str, expires_on: dt.date
                           ) -> Order | None:
        """The order's account exists on its server: move the order to `provisioned` and
        record the account its buyer owns, in one write. None when the order was not
        being provisioned (another path got there first)."""
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "UPDATE orders SET state=?, updated_at=?, account=?, last_error=NULL"
                " WHERE id=? AND state=?", (PROVISIONED, now, details, order_id, PROVISIONING))
            if cursor.rowcount != 1:
                return None
            db.execute(
                "INSERT INTO accounts (server_id, protocol, username, secret, owner_user_id,"
                " owner_chat_id, language, expires_on, state, details, made_by, created_at,"
                " updated_at, ends_at) SELECT server_id, protocol, username, secret, user_id,"
                " chat_id, language, ?, ?, ?, id, ?, ?,"
                " (SELECT ends_at FROM trials t WHERE t.order_id=orders.id)"
                " FROM orders WHERE id=?",
                (expires_on.isoformat(), ACTIVE, details, now, now, order_id))
            db.execute("UPDATE orders SET account_id=last_insert_rowid() WHERE id=?",
                       (order_id,))
        return self.get(order_id)

    def record_extended(self, order_id: str, details: str, expires_on: dt.date
                        ) -> Order | None:
        """The renewal's new last day is set on the server: move the order to `provisioned`
        and give the account that day, in one write. None when the order was not being
        provisioned (another path got there first)."""
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "UPDATE orders SET state=?, updated_at=?, account=?, last_error=NULL"
                " WHERE id=? AND state=? AND kind=?",
                (PROVISIONED, now, details, order_id, PROVISIONING, RENEWAL))
            if cursor.rowcount != 1:
                return None
            # A renewed trial is a paid account from now on. The later day wins: no
            # extension moves an account's last day backwards.
            db.execute(
                "UPDATE accounts SET expires_on=MAX(expires_on, ?), state=?, details=?,"
                " updated_at=?,"
                " ends_at=NULL, remove_asked=0"
                " WHERE id=(SELECT account_id FROM orders WHERE id=?)",
                (expires_on.isoformat(), ACTIVE, details, now, order_id))
        return self.get(order_id)

    def due_reminders(self, today: dt.date, remind_days: Iterable[int]
                      ) -> list[tuple[Account, int]]:
        """Owned accounts on their servers whose reminder is due today, each with the
        reminder it is due for: the nearest of `remind_days` (days before the last day) the
        last day is within, if that one has not gone out yet. One that fell due while the
        daemon was down goes out late; only the nearest, never a stale one after it."""
        days = sorted(set(remind_days))
        if not days:
            return []
        rows = self._db.execute(
            f"SELECT * FROM accounts WHERE state != '{REMOVED}' AND owner_chat_id IS NOT NULL"
            " AND ends_at IS NULL AND expires_on >= ? AND expires_on <= ?"
            " ORDER BY expires_on, id",
            (today.isoformat(), (today + dt.timedelta(days=days[-1])).isoformat()),
        ).fetchall()
        sent = {(row[0], row[1], row[2]) for row in self._db.execute(
            "SELECT account_id, expires_on, days_before FROM reminders WHERE expires_on >= ?",
            (today.isoformat(),))}
        due = []
        for account in map(_account, rows):
            gap = (account.expires_on - today).days
            nearest = min(d for d in days if gap <= d)
            if (account.id, account.expires_on.isoformat(), nearest) not in sent:
                due.append((account, nearest))
        return due

    def pass_reminders(self, account_id: int, expires_on: dt.date, days_before: Iterable[int]
                       ) -> None:
        """Reminders nobody needs (the buyer set this last day inside their window)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO reminders (account_id, expires_on, days_before, sent_at)"
            " VALUES (?, ?, ?, ?)",
            [(account_id, expires_on.isoformat(), d, time.time()) for d in days_before])

    def record_reminder(self, account: Account, days_before: int, remind_days: Iterable[int]
                        ) -> bool:
        """Mark the reminder (and the farther ones, now passed over) as sent; False when it
        was already, so that it goes out once."""
        farther = [d for d in remind_days if d >= days_before]
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO reminders (account_id, expires_on, days_before,"
                " sent_at) VALUES (?, ?, ?, ?)",
                (account.id, account.expires_on.isoformat(), days_before, now))
            if cursor.rowcount != 1:
                return False
            db.executemany(
                "INSERT OR IGNORE INTO reminders (account_id, expires_on, days_before,"
                " sent_at) VALUES (?, ?, ?, ?)",
                [(account.id, account.expires_on.isoformat(), d, now) for d in farther])
        return True

    def past_last_day(self, today: dt.date) -> list[Account]:
        """Active paid accounts whose last day was before `today` (a trial ends by the
        hour: `due_removal`)."""
        rows = self._db.execute(
            f"SELECT * FROM accounts WHERE state='{ACTIVE}' AND expires_on < ?"
            " AND ends_at IS NULL ORDER BY id",
            (today.isoformat(),)).fetchall()
        return [_account(row) for row in rows]

    def record_expired(self, account: Account) -> bool:
        """active -> expired, unless it was renewed meanwhile (compare-and-set on the day)."""
        cursor = self._db.execute(
            f"UPDATE accounts SET state='{ACCOUNT_EXPIRED}', updated_at=? WHERE id=?"
            f" AND state='{ACTIVE}' AND expires_on=?",
            (time.time(), account.id, account.expires_on.isoformat()))
        return cursor.rowcount == 1

    def due_removal(self, today: dt.date, grace_days: int, now: float) -> list[Account]:
        """Accounts to take off their servers, with no renewal under way: expired ones whose
        grace period is over, trials whose hours are over (`now`: epoch seconds of the
        shop's clock), and those the operator asked to remove."""
        # Three indexed lookups (an OR of them would scan every account).
        rows = self._db.execute(
            f"SELECT * FROM accounts a WHERE id IN ("
            f"SELECT id FROM accounts WHERE state='{ACCOUNT_EXPIRED}' AND expires_on < ?"
            f" AND ends_at IS NULL"
            f" UNION SELECT id FROM accounts WHERE ends_at <= ? AND state != '{REMOVED}'"
            f" UNION SELECT id FROM accounts WHERE remove_asked = 1 AND state != '{REMOVED}')"
            f" AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.account_id=a.id AND {_RENEWING})"
            " ORDER BY server_id, id",
            ((today - dt.timedelta(days=grace_days)).isoformat(), now),
        ).fetchall()
        return [_account(row) for row in rows]

    def next_trial_end(self, now: float) -> float | None:
        """The soonest end, after `now`, of a trial still on its server."""
        row = self._db.execute(
            f"SELECT MIN(ends_at) FROM accounts WHERE ends_at > ? AND state != '{REMOVED}'",
            (now,)).fetchone()
        return float(row[0]) if row[0] is not None else None

    def ask_removal(self, account: Account) -> None:
        """The operator wants the account off its server now (the daemon removes it)."""
        with self._write() as db:
            _refuse_a_second_renewal(db, account)
            db.execute(f"UPDATE accounts SET remove_asked=1, updated_at=? WHERE id=?"
                       f" AND state != '{REMOVED}'", (time.time(), account.id))

    def record_removed(self, account: Account) -> bool:
        """-> removed, unless it was renewed meanwhile (compare-and-set on its state and
        day as read); its name and place are free from now on."""
        cursor = self._db.execute(
            f"UPDATE accounts SET state='{REMOVED}', updated_at=? WHERE id=?"
            f" AND state=? AND state != '{REMOVED}' AND expires_on=?",
            (time.time(), account.id, account.state, account.expires_on.isoformat()))
        return cursor.rowcount == 1

    def adopt_day(self, account: Account, day: dt.date, today: dt.date) -> bool:
        """Take the last day the server has (changed there by hand) as the account's;
        compare-and-set on its day as read, never while a renewal is under way or for a
        trial (which ends by the hour)."""
        cursor = self._db.execute(
            f"UPDATE accounts SET expires_on=?, state=?, updated_at=? WHERE id=?"
            f" AND expires_on=? AND state != '{REMOVED}' AND ends_at IS NULL"
            f" AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.account_id=? AND {_RENEWING})",
            (day.isoformat(), ACTIVE if day >= today else ACCOUNT_EXPIRED, time.time(),
             account.id, account.expires_on.isoformat(), account.id))
        return cursor.rowcount == 1

    def adopt_secret(self, account: Account, secret: str) -> bool:
        """Take the secret the panel has (changed there by hand) as the account's, so its
        renewals and removal recognise it; compare-and-set on the secret as read, never
        while a renewal is being made (it read the old one). A renewal waiting or failed
        (refused for the changed secret) reads the new one when it is made."""
        cursor = self._db.execute(
            f"UPDATE accounts SET secret=?, updated_at=? WHERE id=? AND secret=?"
            f" AND state != '{REMOVED}' AND NOT EXISTS (SELECT 1 FROM orders o"
            f" WHERE o.account_id=? AND o.state='{PROVISIONING}')",
            (secret, time.time(), account.id, account.secret, account.id))
        return cursor.rowcount == 1

    def account(self, account_id: int) -> Account | None:
        row = self._db.execute("SELECT * FROM accounts WHERE id=?", (account_id,)).fetchone()
        return _account(row) if row is not None else None

    def accounts_of(self, user_id: int) -> list[Account]:
        """The accounts a Telegram user owns, soonest expiry first (removed ones last)."""
        rows = self._db.execute(
            f"SELECT * FROM accounts WHERE owner_user_id=?"
            f" ORDER BY state = '{REMOVED}', expires_on, id", (user_id,)).fetchall()
        return [_account(row) for row in rows]

    def import_account(self, *, server_id: str, protocol: str, username: str, secret: str,
                       expires_on: dt.date, details: str, today: dt.date) -> bool:
        """Record an account found on the server (made before the shop) without an owner;
        False when the name is spoken for already (imported before, or the shop's own)."""
        now = time.time()
        with self._write() as db:
            if self.username_held(server_id, username):
                return False
            db.execute(
                "INSERT INTO accounts (server_id, protocol, username, secret, owner_user_id,"
                " owner_chat_id, language, expires_on, state, details, made_by, created_at,"
                " updated_at) VALUES (?,?,?,?,NULL,NULL,'id',?,?,?,NULL,?,?)",
                (server_id, protocol, username, secret, expires_on.isoformat(),
                 ACTIVE if expires_on >= today else ACCOUNT_EXPIRED, details, now, now))
        return True

    def unowned(self, server_id: str, username: str) -> Account | None:
        """The account of that name on that server nobody owns yet (imported)."""
        row = self._db.execute(
            f"SELECT * FROM accounts WHERE server_id=? AND username=? AND owner_user_id IS"
            f" NULL AND state != '{REMOVED}'", (server_id, username)).fetchone()
        return _account(row) if row is not None else None

    def servers_with_unowned(self) -> set[str]:
        return {str(row[0]) for row in self._db.execute(
            f"SELECT DISTINCT server_id FROM accounts WHERE owner_user_id IS NULL"
            f" AND state != '{REMOVED}'")}

    def assign(self, account: Account, user_id: int, chat_id: int, language: str, *,
               secret: str | None = None, details: str | None = None) -> bool:
        """Give an account nobody owns to a Telegram user (compare-and-set: only while it
        has no owner); with the secret the claim proved and the details it makes."""
        cursor = self._db.execute(
            "UPDATE accounts SET owner_user_id=?, owner_chat_id=?, language=?, updated_at=?,"
            " secret=COALESCE(?, secret), details=COALESCE(?, details)"
            " WHERE id=? AND owner_user_id IS NULL",
            (user_id, chat_id, language, time.time(), secret, details, account.id))
        return cursor.rowcount == 1

    def claim_failed(self, user_id: int, at: float) -> None:
        self._db.execute("INSERT INTO claim_failures (user_id, at) VALUES (?, ?)",
                         (user_id, at))

    def claim_failures(self, user_id: int, since: float) -> int:
        return int(self._db.execute(
            "SELECT COUNT(*) FROM claim_failures WHERE user_id=? AND at >= ?",
            (user_id, since)).fetchone()[0])

    def account_named(self, server_id: str, username: str) -> Account | None:
        """The account of that name on that server: the one on it now, else the last one
        that was."""
        row = self._db.execute(
            f"SELECT * FROM accounts WHERE server_id=? AND username=?"
            f" ORDER BY state != '{REMOVED}' DESC, id DESC LIMIT 1",
            (server_id, username)).fetchone()
        return _account(row) if row is not None else None

    def orders_of(self, account: Account) -> list[Order]:
        """The orders that made the account and renewed it, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM orders WHERE account_id=? OR id=? ORDER BY created_at",
            (account.id, account.made_by)).fetchall()
        return [_order(row) for row in rows]

    def changed_since(self, server_id: str, moment: float) -> set[str]:
        """Names on the server whose account or any order was written at or after `moment`
        (epoch seconds): a comparison with the server read after `moment` must leave them
        for the next one."""
        return {str(row[0]) for row in self._db.execute(
            "SELECT username FROM accounts WHERE server_id=? AND updated_at >= ?"
            " UNION SELECT username FROM orders WHERE server_id=? AND updated_at >= ?",
            (server_id, moment, server_id, moment))}

    def removal_asked(self) -> bool:
        """Has the operator asked for a removal the daemon has not made yet?"""
        return self._db.execute(f"SELECT 1 FROM accounts WHERE remove_asked=1 AND"
                                f" state != '{REMOVED}' LIMIT 1").fetchone() is not None

    def accounts(self, server_id: str | None = None) -> list[Account]:
        if server_id is None:
            rows = self._db.execute("SELECT * FROM accounts ORDER BY id").fetchall()
        else:
            rows = self._db.execute("SELECT * FROM accounts WHERE server_id=? ORDER BY id",
                                    (server_id,)).fetchall()
        return [_account(row) for row in rows]

    # --- events for the operator ------------------------------------------------------------

    def record(self, kind: str, detail: str, order_id: str | None = None) -> None:
        self._db.execute(
            "INSERT INTO events (at, order_id, kind, detail) VALUES (?,?,?,?)",
            (time.time(), order_id, kind, detail[:2000]),
        )

    def events(self, order_id: str | None = None) -> list[tuple[str, str]]:
        return [(kind, detail) for _, kind, detail in self.timed_events(order_id)]

    def timed_events(self, order_id: str | None = None) -> list[tuple[float, str, str]]:
        if order_id is None:
            rows = self._db.execute("SELECT at, kind, detail FROM events ORDER BY id").fetchall()
        else:
            rows = self._db.execute(
                "SELECT at, kind, detail FROM events WHERE order_id=? ORDER BY id", (order_id,)
            ).fetchall()
        return [(row["at"], row["kind"], row["detail"]) for row in rows]

    # --- chats and their unfinished dialogue -----------------------------------------------

    def draft(self, chat_id: int) -> dict[str, Any] | None:
        row = self._db.execute("SELECT draft FROM chats WHERE chat_id=?", (chat_id,)).fetchone()
        if row is None or row["draft"] is None:
            return None
        value = json.loads(row["draft"])
        return value if isinstance(value, dict) else None

    def save_draft(
        self, chat_id: int, draft: dict[str, Any] | None, update_id: int | None = None
    ) -> None:
        """Store the chat's dialogue step and, in the same write, the update that moved it
        there: a replayed update (see `inbox`) is then recognised and not applied twice."""
        self._db.execute(
            "INSERT INTO chats (chat_id, first_seen, draft, handled) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(chat_id) DO UPDATE SET draft=excluded.draft,"
            " handled=MAX(COALESCE(handled, 0), COALESCE(excluded.handled, 0))",
            (chat_id, time.time(), None if draft is None else json.dumps(draft), update_id),
        )

    def handled(self, chat_id: int) -> int:
        """The newest update that moved this chat's dialogue (0 for none)."""
        row = self._db.execute("SELECT handled FROM chats WHERE chat_id=?",
                               (chat_id,)).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    # --- updates taken from Telegram and not yet handled -----------------------------------

    def take_updates(self, raws: list[tuple[int, str]], offset: int,
                     chats: Iterable[int] = ()) -> None:
        """Keep a batch of updates, the offset that confirms them and the private chats
        they come from (the broadcast audience), in one write."""
        now = time.time()
        with self._write() as db:
            db.executemany("INSERT OR IGNORE INTO inbox (update_id, raw) VALUES (?, ?)", raws)
            db.executemany("INSERT OR IGNORE INTO chats (chat_id, first_seen) VALUES (?, ?)",
                           [(chat_id, now) for chat_id in set(chats)])
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)"
                       " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                       (OFFSET_KEY, str(offset)))

    def telegram_offset(self) -> int | None:
        value = self.meta(OFFSET_KEY)
        return int(value) if value else None

    def update_done(self, update_id: int) -> None:
        self._db.execute("DELETE FROM inbox WHERE update_id=?", (update_id,))

    def inbox(self) -> list[str]:
        """Updates taken but not handled when the process stopped, oldest first."""
        return [str(row[0]) for row in
                self._db.execute("SELECT raw FROM inbox ORDER BY update_id").fetchall()]

    # --- small settings ---------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )


def _refuse_a_second_open_order(db: sqlite3.Connection, chat_id: int) -> None:
    row = db.execute(
        "SELECT id FROM orders WHERE chat_id=? AND state IN ('new','awaiting_payment')",
        (chat_id,),
    ).fetchone()
    if row is not None:
        raise OpenOrderExists(row["id"])


def _insert_order(db: sqlite3.Connection, **columns: Any) -> None:
    """One new order row (created and updated now)."""
    now = time.time()
    columns = {**columns, "created_at": now, "updated_at": now}
    db.execute(f"INSERT INTO orders ({', '.join(columns)}) VALUES "
               f"({','.join('?' * len(columns))})", tuple(columns.values()))


def _breakdown(amount: int | None, breakdown: Breakdown | None) -> Breakdown:
    if breakdown is None:
        if amount is None:
            raise LedgerError("an order needs its amount or its breakdown")
        return Breakdown(amount)
    if amount is not None and amount != breakdown.amount:
        raise LedgerError(f"amount {amount} is not the breakdown's {breakdown.amount}")
    return breakdown


def _breakdown_columns(breakdown: Breakdown) -> dict[str, Any]:
    return {"amount": breakdown.amount, "list_amount": breakdown.list_amount,
            "discount": breakdown.discount, "discount_source": breakdown.discount_source,
            "promo_code": breakdown.promo_code, "offer_id": breakdown.offer_id}


def _use_promo(db: sqlite3.Connection, breakdown: Breakdown, *, user_id: int, server_id: str,
               kind: OrderKind, today: dt.date | None) -> None:
    """Refuse the order's code if it may not be used now: the order's insert, in the same
    write, is the use."""
    code = breakdown.promo_code
    if code is None:
        return
    if today is None:
        raise LedgerError("an order with a promo code needs the shop's day")
    _, refused = promos.refusal(db, code, user_id=user_id, server_id=server_id, kind=kind,
                                today=today)
    if refused is not None:
        raise PromoRefused(code, refused)


def _use_offer(db: sqlite3.Connection, breakdown: Breakdown, *, user_id: int,
               now: float | None) -> None:
    """Refuse the order's offer if it was used meanwhile or is past its hours: the order's
    insert, in the same write, is the use."""
    if breakdown.offer_id is None:
        return
    if now is None:
        raise LedgerError("an order with a personal offer needs the shop's time")
    offers.check_use(db, breakdown.offer_id, user_id=user_id, now=now)


def _of_account(account: Account) -> dict[str, Any]:
    """The columns an order for this account shares with it."""
    return {"server_id": account.server_id, "protocol": account.protocol,
            "username": account.username, "secret": account.secret}


def _refuse_a_second_renewal(db: sqlite3.Connection, account: Account) -> None:
    if db.execute(f"SELECT 1 FROM orders o WHERE o.account_id=? AND {_RENEWING}",
                  (account.id,)).fetchone():
        raise RenewalPending(account.username)


def _extended_day(account: Account, order: Order, today: dt.date) -> dt.date:
    """The last day an extension gives the account, decided when it is applied."""
    if order.days is None:  # fixed when it was paid, by an earlier release: never backwards
        return max(order.expires_on or account.expires_on, account.expires_on)
    if order.days == 0:  # a repair: the day the ledger has, put back on the server
        return account.expires_on
    # Days left are never lost; a trial becomes a paid account from today.
    start = today if account.is_trial else max(account.expires_on, today)
    return start + dt.timedelta(days=order.days)


def _migrate(db: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring a ledger of an older schema up to date: a copy first, then every step and the
    version bump in one transaction."""
    copy = path.with_name(f"{path.name}.schema{version}.bak")
    os.close(os.open(copy, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600))
    with sqlite3.connect(copy) as target:
        db.backup(target)
    target.close()
    db.execute("BEGIN IMMEDIATE")
    try:
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# Orders that hold their username and a place (and are not yet an account).
_ORDER_HOLDS: Final = (f"kind IN ('{PURCHASE}', '{TRIAL}') AND state IN "
                       f"({','.join(repr(str(s)) for s in sorted(HOLDING))})")
# A renewal of order o's account that is not finished (one at a time per account).
_RENEWING: Final = (f"o.kind='{RENEWAL}' AND o.state IN "
                    f"({','.join(repr(str(s)) for s in sorted(HOLDING))})")
# Accounts that hold them: on their server (active, or expired and in its grace period,
# when it may still be renewed).
_ACCOUNT_HOLDS: Final = f"state != '{REMOVED}'"


def _account(row: sqlite3.Row) -> Account:
    values = {name: row[name] for name in _ACCOUNT_COLUMNS}
    values["expires_on"] = dt.date.fromisoformat(values["expires_on"])
    return Account(**values)


def _order(row: sqlite3.Row) -> Order:
    return Order(**{name: row[name] for name in _COLUMNS})
