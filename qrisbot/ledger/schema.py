"""The ledger's tables, and the steps that bring an older ledger file up to date.

A migration runs in one transaction with the version bump, so a crash in the middle leaves
the file as it was; the file is copied beside itself first (`<file>.schema<N>.bak`).
"""

from __future__ import annotations

from typing import Final

# The accounts table as schema 3 made it (kept as it was: migration step 3 runs it).
_ACCOUNTS_3: Final = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    server_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    username TEXT NOT NULL,
    secret TEXT NOT NULL,
    owner_user_id INTEGER,
    owner_chat_id INTEGER,
    language TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    state TEXT NOT NULL,
    details TEXT NOT NULL,
    made_by TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_by_name ON accounts(server_id, username);
CREATE INDEX IF NOT EXISTS accounts_by_owner ON accounts(owner_user_id);
CREATE UNIQUE INDEX IF NOT EXISTS one_account_per_order ON accounts(made_by)
    WHERE made_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS accounts_by_expiry ON accounts(expires_on);
-- Reminders sent (or passed over): once per account, last day and "days before".
CREATE TABLE IF NOT EXISTS reminders (
    account_id INTEGER NOT NULL,
    expires_on TEXT NOT NULL,
    days_before INTEGER NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (account_id, expires_on, days_before)
);
"""
# What schema 4 adds: a trial's end to the minute (`ends_at`, epoch seconds of the shop's
# clock; NULL for a paid account), the operator's request to remove an account now, and
# the one trial each Telegram user may ever have.
_TRIALS: Final = """
CREATE TABLE IF NOT EXISTS trials (
    user_id INTEGER PRIMARY KEY,
    day TEXT NOT NULL,
    order_id TEXT NOT NULL,
    ends_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS trials_by_day ON trials(day);
-- Wrong proofs when claiming an account made before the shop (a few an hour per user).
CREATE TABLE IF NOT EXISTS claim_failures (
    user_id INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS claim_failures_by_user ON claim_failures(user_id, at);
-- What the lifecycle looks for every minute (bench/lifecycle_due.py).
CREATE INDEX IF NOT EXISTS accounts_by_state ON accounts(state, expires_on);
CREATE INDEX IF NOT EXISTS trials_ending ON accounts(ends_at) WHERE ends_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS removals_asked ON accounts(id) WHERE remove_asked = 1;
"""
_ACCOUNTS_4: Final = (
    "ALTER TABLE accounts ADD COLUMN ends_at REAL",
    "ALTER TABLE accounts ADD COLUMN remove_asked INTEGER NOT NULL DEFAULT 0",
)
# An account lives on a server for months; orders make or extend it (design.md, "Accounts
# outlive orders"). `made_by` is the order that created it (NULL: not made by the shop).
ACCOUNTS: Final = (_ACCOUNTS_3.replace(
    "    updated_at REAL NOT NULL\n);",
    "    updated_at REAL NOT NULL,\n    ends_at REAL,\n"
    "    remove_asked INTEGER NOT NULL DEFAULT 0\n);") + _TRIALS)

_TABLES = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    server_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    username TEXT NOT NULL,
    secret TEXT NOT NULL,
    months INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    language TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    deadline REAL NOT NULL,
    updated_at REAL NOT NULL,
    fee INTEGER,
    total INTEGER,
    txn_id TEXT,
    qr TEXT,
    qr_message_id INTEGER,
    paid_at REAL,
    expires_on TEXT,
    account TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    needs_attention INTEGER NOT NULL DEFAULT 0,
    retryable INTEGER NOT NULL DEFAULT 1,
    kind TEXT NOT NULL DEFAULT 'purchase',
    account_id INTEGER,
    days INTEGER,
    list_amount INTEGER,
    discount INTEGER NOT NULL DEFAULT 0,
    discount_source TEXT,
    promo_code TEXT,
    offer_id INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_order_per_chat ON orders(chat_id)
    WHERE state IN ('new', 'awaiting_payment');
CREATE INDEX IF NOT EXISTS orders_by_server ON orders(server_id, username);
CREATE INDEX IF NOT EXISTS orders_by_state ON orders(state);
CREATE INDEX IF NOT EXISTS orders_by_account ON orders(account_id);
{accounts}
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    order_id TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chats (
    chat_id INTEGER PRIMARY KEY,
    first_seen REAL NOT NULL,
    draft TEXT,
    handled INTEGER
);
CREATE TABLE IF NOT EXISTS inbox (
    update_id INTEGER PRIMARY KEY,
    raw TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# What schema 6 adds (issue 19, growth): promo codes, and each order's price breakdown.
# A code's use is its order: it counts while the order is not expired, cancelled or
# refunded, so the write that fixes an order's amount counts the use and the one that
# closes it unpaid gives it back, each exactly once.
_PROMOS: Final = """
CREATE TABLE IF NOT EXISTS promo_codes (
    code TEXT PRIMARY KEY,
    percent INTEGER,
    amount INTEGER,
    max_uses INTEGER,
    per_user INTEGER,
    until TEXT,
    servers TEXT,
    new_buyers_only INTEGER NOT NULL DEFAULT 0,
    kind TEXT,
    disabled_at REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_promo ON orders(promo_code, user_id)
    WHERE promo_code IS NOT NULL;
"""
# The breakdown fixed on an order when it is written: `list_amount` the price before any
# discount (the buyer's role's price; NULL for orders of earlier releases, whose `amount`
# is it), `discount` the rupiah taken off, `discount_source` what gave it ('promo' now;
# referral, win-back... later) and `promo_code` the code, if one. amount = list - discount.
_BREAKDOWN_6: Final = (
    "ALTER TABLE orders ADD COLUMN list_amount INTEGER",
    "ALTER TABLE orders ADD COLUMN discount INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE orders ADD COLUMN discount_source TEXT",
    "ALTER TABLE orders ADD COLUMN promo_code TEXT",
)


# What schema 7 adds (issue 19, growth): resellers and their prices, referrals (who came
# through whose link, and the one reward it earned), and personal one-time discounts
# (`offers`: a referrer's percent reward, a win-back offer). An offer's use is the order
# that carries it (`orders.offer_id`), counted and given back as a promo code's is; what
# earned an offer is unique, so a reward or an offer is made once through any crash.
_GROWTH: Final = """
CREATE TABLE IF NOT EXISTS resellers (
    user_id INTEGER PRIMARY KEY,
    discount_percent INTEGER NOT NULL DEFAULT 0,
    prices TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS referral_codes (
    code TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS referrals (
    user_id INTEGER PRIMARY KEY,
    referrer_id INTEGER NOT NULL,
    joined_at REAL NOT NULL,
    rewarded_by TEXT UNIQUE,
    rewarded_at REAL
);
CREATE INDEX IF NOT EXISTS referrals_by_referrer ON referrals(referrer_id);
CREATE TABLE IF NOT EXISTS offers (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    percent INTEGER NOT NULL,
    valid_until REAL,
    earned_by TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS offers_by_user ON offers(user_id);
"""
_OFFER_INDEX: Final = ("CREATE INDEX IF NOT EXISTS orders_by_offer ON orders(offer_id)"
                       " WHERE offer_id IS NOT NULL")
# `prices`: JSON, server id -> rupiah per month for that reseller (else the server's price
# less `discount_percent`). `referral_codes`: each person's link code. `referrals.rewarded_by`
# the referred person's order that earned the referrer's reward. `offers.source` 'referral'
# or 'winback', `valid_until` epoch seconds (NULL: until used), `earned_by` what earned it
# ('referral:<order id>', 'winback:<account id>:<n>'), `sent_at` when the person was told.
_OFFER_7: Final = ("ALTER TABLE orders ADD COLUMN offer_id INTEGER", _OFFER_INDEX)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


SCHEMA: Final = _TABLES.format(accounts=ACCOUNTS) + _PROMOS + _GROWTH + _OFFER_INDEX + ";"
SCHEMA_VERSION: Final = 7

# Statements taking a ledger from the previous version to each version, in order.
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    2: ("ALTER TABLE chats ADD COLUMN handled INTEGER",),
    3: (
        *_statements(_ACCOUNTS_3),
        "ALTER TABLE orders ADD COLUMN kind TEXT NOT NULL DEFAULT 'purchase'",
        "ALTER TABLE orders ADD COLUMN account_id INTEGER",
        # Every account the shop made becomes a record its buyer owns; one whose last day
        # has passed is recorded as expired (it is still on the server).
        "INSERT INTO accounts (server_id, protocol, username, secret, owner_user_id,"
        " owner_chat_id, language, expires_on, state, details, made_by, created_at,"
        " updated_at)"
        " SELECT server_id, protocol, username, secret, user_id, chat_id, language,"
        " expires_on, CASE WHEN expires_on >= date('now', 'localtime') THEN 'active'"
        " ELSE 'expired' END, account, id, COALESCE(paid_at, created_at), updated_at"
        " FROM orders WHERE state IN ('provisioned', 'delivered')"
        " AND account IS NOT NULL AND expires_on IS NOT NULL ORDER BY created_at",
        "UPDATE orders SET account_id ="
        " (SELECT accounts.id FROM accounts WHERE accounts.made_by = orders.id)"
        " WHERE state IN ('provisioned', 'delivered')",
    ),
    4: (*_ACCOUNTS_4, *_statements(_TRIALS)),
    # A renewal records the days it adds; its last day is decided when it is applied.
    # Renewals of earlier releases keep the day they fixed when paid (days NULL).
    5: ("ALTER TABLE orders ADD COLUMN days INTEGER",),
    6: (*_BREAKDOWN_6, *_statements(_PROMOS)),
    7: (*_statements(_GROWTH), *_OFFER_7),
}
