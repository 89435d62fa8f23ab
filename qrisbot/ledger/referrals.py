"""Referrals in the ledger: each person's link code, who came through whose link, and the
one reward each referred person earns their referrer.

A referral is recorded only for someone new (never paid, never referred), never for the
code's owner, never in a loop. Its reward is claimed by the referred person's first paid
order once delivered, in one write that also makes the reward: `rewarded_by` is unique
and set only while empty, so through any crash the reward is given exactly once. A reward
of days is a renewal order with a fixed id (`reward_order_id`), made when the referrer has
an account to put them on; until then the referral is rewarded but its days wait.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import string
import time
from typing import Final

import attrs

from qrisbot.ledger import offers

# A code: random and unguessable (10 of 62 letters and digits, ~59 bits).
ALPHABET: Final = string.ascii_letters + string.digits
CODE_LENGTH: Final = 10
START: Final = re.compile(rf"ref_([A-Za-z0-9]{{{CODE_LENGTH}}})")
MAX_CHAIN: Final = 1000  # referrers walked up looking for a loop (a chain is never longer)


def code_of(start_parameter: str) -> str | None:
    """The code in a /start parameter (`ref_<code>`); None for anything else."""
    match = START.fullmatch(start_parameter) if len(start_parameter) <= 64 else None
    return match.group(1) if match else None


def code_for(db: sqlite3.Connection, user_id: int) -> str:
    """The person's link code, made the first time it is asked for."""
    row = db.execute("SELECT code FROM referral_codes WHERE user_id=?", (user_id,)).fetchone()
    while row is None:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        db.execute("INSERT OR IGNORE INTO referral_codes (code, user_id) VALUES (?, ?)",
                   (code, user_id))
        row = db.execute("SELECT code FROM referral_codes WHERE user_id=?",
                         (user_id,)).fetchone()
    return str(row[0])


def record(db: sqlite3.Connection, user_id: int, code: str) -> int | None:
    """Record that `user_id` came through `code`'s link; the referrer, or None when it
    does not count (no such code, their own, not new, or a loop). Call inside a write."""
    row = db.execute("SELECT user_id FROM referral_codes WHERE code=?", (code,)).fetchone()
    if row is None or int(row[0]) == user_id:
        return None
    referrer = int(row[0])
    if db.execute("SELECT 1 FROM referrals WHERE user_id=?", (user_id,)).fetchone():
        return None
    if db.execute("SELECT 1 FROM orders WHERE user_id=? AND paid_at IS NOT NULL LIMIT 1",
                  (user_id,)).fetchone():
        return None
    # A loop: the newcomer is somewhere above the referrer already.
    above = referrer
    for _ in range(MAX_CHAIN):
        up = db.execute("SELECT referrer_id FROM referrals WHERE user_id=?",
                        (above,)).fetchone()
        if up is None:
            break
        above = int(up[0])
        if above == user_id:
            return None
    db.execute("INSERT INTO referrals (user_id, referrer_id, joined_at) VALUES (?, ?, ?)",
               (user_id, referrer, time.time()))
    return referrer


def reward_order_id(earned_by: str) -> str:
    """The renewal order that gives a referrer the days `earned_by` (an order) earned."""
    return f"REF{earned_by}"


@attrs.frozen
class Reward:
    """A referral that earned its reward: whose, and the referred person's order."""

    referrer_id: int
    earned_by: str


def claim(db: sqlite3.Connection, order_id: str) -> Reward | None:
    """Claim the reward `order_id` earns, if it is the referred person's first paid order
    (not a trial, not Rp0) and delivered, and the referral has no reward yet. Call inside
    a write, with what makes the reward."""
    row = db.execute(
        "SELECT r.referrer_id, o.user_id, o.paid_at FROM orders o JOIN referrals r"
        " ON r.user_id = o.user_id WHERE o.id=? AND o.state='delivered'"
        " AND o.kind != 'trial' AND o.amount > 0 AND o.paid_at IS NOT NULL"
        " AND r.rewarded_by IS NULL", (order_id,)).fetchone()
    if row is None:
        return None
    earlier = db.execute(
        "SELECT 1 FROM orders WHERE user_id=? AND id != ? AND kind != 'trial' AND amount > 0"
        " AND paid_at IS NOT NULL AND paid_at < ? LIMIT 1",
        (row["user_id"], order_id, row["paid_at"])).fetchone()
    if earlier is not None:
        return None
    cursor = db.execute("UPDATE referrals SET rewarded_by=?, rewarded_at=? WHERE user_id=?"
                        " AND rewarded_by IS NULL", (order_id, time.time(), row["user_id"]))
    return Reward(int(row["referrer_id"]), order_id) if cursor.rowcount == 1 else None


def unclaimed(db: sqlite3.Connection) -> list[str]:
    """Delivered paid orders of referred people whose referral has no reward yet (a crash
    came between the delivery and the claim); `claim` decides which one earns it."""
    return [str(r[0]) for r in db.execute(
        "SELECT o.id FROM orders o JOIN referrals r ON r.user_id = o.user_id"
        " WHERE r.rewarded_by IS NULL AND o.state='delivered' AND o.kind != 'trial'"
        " AND o.amount > 0 AND o.paid_at IS NOT NULL ORDER BY o.paid_at")]


# A reward whose days are on no account yet: no renewal order of its id, no offer for it.
_DAYS_WAITING: Final = (
    "rewarded_by IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = 'REF' || r.rewarded_by)"
    " AND NOT EXISTS (SELECT 1 FROM offers f WHERE f.earned_by = 'referral:' ||"
    " r.rewarded_by)")


def days_waiting(db: sqlite3.Connection, referrer_id: int) -> list[str]:
    """The referrer's rewards (earning orders) whose days are on no account yet."""
    return [str(r[0]) for r in db.execute(
        f"SELECT rewarded_by FROM referrals r WHERE referrer_id=? AND {_DAYS_WAITING}"
        " ORDER BY rewarded_at", (referrer_id,))]


def waiting_referrers(db: sqlite3.Connection) -> list[int]:
    """Referrers with days on no account yet (a crash came between the claim and the
    renewal order, or they have no account)."""
    return [int(r[0]) for r in db.execute(
        f"SELECT DISTINCT referrer_id FROM referrals r WHERE {_DAYS_WAITING}"
        " ORDER BY referrer_id")]


def grant_offer(db: sqlite3.Connection, user_id: int, percent: int, earned_by: str) -> None:
    """A one-time percent off the referrer's next order (an offer, source 'referral', used
    by pricing), once per earning order."""
    offers.grant(db, user_id=user_id, source="referral", percent=percent, valid_until=None,
                 earned_by=f"referral:{earned_by}")


@attrs.frozen
class Standing:
    """What a referrer sees: how many came through their link, how many earned a reward."""

    joined: int
    rewarded: int


def standing(db: sqlite3.Connection, referrer_id: int) -> Standing:
    row = db.execute("SELECT COUNT(*), COUNT(rewarded_by) FROM referrals WHERE referrer_id=?",
                     (referrer_id,)).fetchone()
    return Standing(int(row[0]), int(row[1]))


def top(db: sqlite3.Connection, limit: int) -> list[tuple[int, Standing]]:
    """The referrers with the most rewarded referrals (then the most joined)."""
    rows = db.execute(
        "SELECT referrer_id, COUNT(*) AS joined, COUNT(rewarded_by) AS rewarded"
        " FROM referrals GROUP BY referrer_id ORDER BY rewarded DESC, joined DESC,"
        " referrer_id LIMIT ?", (limit,)).fetchall()
    return [(int(r[0]), Standing(int(r[1]), int(r[2]))) for r in rows]
