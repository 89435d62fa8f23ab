"""The ledger's guarantees: compare-and-set transitions and reservations."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from qrisbot import ledger as L
from qrisbot.ledger import Ledger

TODAY = dt.date(2026, 11, 26)


def new_order(ledger: Ledger, order_id: str, chat_id: int = 1, username: str = "budi",
              capacity: int = 10, server_id: str = "sg1") -> L.Order:
    return ledger.create_order(
        order_id=order_id, chat_id=chat_id, user_id=chat_id, server_id=server_id,
        protocol="ssh", username=username, secret="password1", months=1, amount=10000,
        language="id", deadline=time.time() + 300, capacity=capacity)


def test_transitions_are_compare_and_set(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    new_order(ledger, "VPN1")
    assert ledger.transition("VPN1", {L.NEW}, L.AWAITING, txn_id="T1").txn_id == "T1"
    # Two paths see the payment at once: only one wins.
    assert ledger.transition("VPN1", {L.AWAITING}, L.PAID) is not None
    assert ledger.transition("VPN1", {L.AWAITING}, L.PAID) is None
    assert ledger.transition("VPN1", {L.PAID}, L.PROVISIONING).state == L.PROVISIONING
    with pytest.raises(L.BadTransition):
        ledger.transition("VPN1", {L.PROVISIONING}, L.DELIVERED)
    with pytest.raises(L.LedgerError):
        ledger.transition("VPN1", {L.PROVISIONING}, L.FAILED, **{"state; DROP": 1})


def test_one_open_order_per_chat_and_usernames_are_reserved(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    new_order(ledger, "VPN1", chat_id=1, username="budi")
    with pytest.raises(L.OpenOrderExists):
        new_order(ledger, "VPN2", chat_id=1, username="other")
    with pytest.raises(L.UsernameHeld):
        new_order(ledger, "VPN3", chat_id=2, username="budi")
    new_order(ledger, "VPN4", chat_id=3, username="budi", server_id="sg2")  # other server
    ledger.transition("VPN1", {L.NEW}, L.CANCELLED)
    new_order(ledger, "VPN5", chat_id=2, username="budi")  # released by the cancel


def test_capacity_counts_pending_and_active_accounts(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    new_order(ledger, "VPN1", chat_id=1, username="aaa", capacity=2)
    new_order(ledger, "VPN2", chat_id=2, username="bbb", capacity=2)
    with pytest.raises(L.ServerFull):
        new_order(ledger, "VPN3", chat_id=3, username="ccc", capacity=2)
    assert ledger.active_count("sg1") == 2


def test_everything_survives_reopening(tmp_path):
    path = tmp_path / "l.sqlite3"
    ledger = Ledger.open(path)
    new_order(ledger, "VPN1")
    ledger.save_draft(7, {"step": "username", "server": "sg1"})
    ledger.set_meta("telegram_offset", "42")
    ledger.close()
    again = Ledger.open(path)
    assert again.get("VPN1").state == L.NEW
    assert again.draft(7) == {"step": "username", "server": "sg1"}
    assert again.meta("telegram_offset") == "42"
    assert [o.id for o in again.unfinished()] == ["VPN1"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_version_1_ledger_is_migrated_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    from qrisbot.ledger.schema import ACCOUNTS

    old_schema = L.SCHEMA.replace("    draft TEXT,\n    handled INTEGER\n", "    draft TEXT\n")
    old_schema = old_schema.replace(ACCOUNTS, "").replace(
        "CREATE INDEX IF NOT EXISTS orders_by_account ON orders(account_id);", "").replace(
        "    retryable INTEGER NOT NULL DEFAULT 1,\n    kind TEXT NOT NULL DEFAULT 'purchase',\n"
        "    account_id INTEGER,\n    days INTEGER,\n    list_amount INTEGER,\n"
        "    discount INTEGER NOT NULL DEFAULT 0,\n    discount_source TEXT,\n"
        "    promo_code TEXT,\n    offer_id INTEGER\n",
        "    retryable INTEGER NOT NULL DEFAULT 1\n")
    assert "account" not in old_schema.replace("account TEXT", "")
    old_schema = old_schema[:old_schema.index("CREATE TABLE IF NOT EXISTS inbox")]
    with sqlite3.connect(path) as db:
        db.executescript(old_schema)
        db.execute("INSERT INTO chats (chat_id, first_seen, draft) VALUES (7, 0, '{\"step\": 1}')")
        db.execute("PRAGMA user_version=1")
    ledger = Ledger.open(path)
    assert ledger.draft(7) == {"step": 1} and ledger.handled(7) == 0
    ledger.save_draft(7, None, update_id=41)
    ledger.take_updates([(42, '{"update_id": 42}')], 43)
    assert ledger.handled(7) == 41 and ledger.inbox() == ['{"update_id": 42}']
    assert ledger.telegram_offset() == 43
    ledger.update_done(42)
    assert ledger.inbox() == []


def test_a_newer_ledger_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "new.sqlite3"
    Ledger.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={L.SCHEMA_VERSION + 1}")
    with pytest.raises(L.LedgerError, match="newer"):
        Ledger.open(path)


def test_a_new_ledger_is_owner_only_from_the_first_byte(tmp_path, monkeypatch):
    import os
    import sqlite3
    import stat

    path = tmp_path / "fresh.sqlite3"
    seen = []
    connect = sqlite3.connect

    def watched(*args, **kwargs):
        # The moment SQLite opens the file, another user could open it too.
        seen.append(stat.S_IMODE(path.stat().st_mode) if path.exists() else None)
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", watched)
    old = os.umask(0)  # the most permissive umask a unit could run with
    try:
        ledger = Ledger.open(path)
        new_order(ledger, "VPN1")
    finally:
        os.umask(old)
    assert seen == [0o600]
    for file in (path, tmp_path / "fresh.sqlite3-wal", tmp_path / "fresh.sqlite3-shm"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    ledger.close()


# A ledger written by the previous release (schema 2, qrisbot at d00dcf0) through its own
# Ledger: orders in every state, two accounts of one buyer, an expired one, one made but
# not delivered, a dialogue in progress, an update in the inbox, a switched-off server.
SCHEMA_2_FILE = Path(__file__).parent / "data" / "ledger-schema2.sqlite3"


def rows(path: Path, query: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


def test_a_schema_2_ledger_keeps_everything_and_gains_the_accounts_it_made(tmp_path):
    import json
    import shutil

    path = tmp_path / "ledger.sqlite3"
    shutil.copy(SCHEMA_2_FILE, path)
    orders_before = rows(path, "SELECT * FROM orders ORDER BY id")
    kept = ["SELECT * FROM events ORDER BY id", "SELECT * FROM chats ORDER BY chat_id",
            "SELECT * FROM inbox", "SELECT * FROM meta ORDER BY key"]
    before = [rows(path, q) for q in kept]
    assert rows(path, "PRAGMA user_version") == [(2,)] and len(orders_before) == 11

    ledger = Ledger.open(path)
    assert rows(path, "PRAGMA user_version") == [(L.SCHEMA_VERSION,)]
    # Every order, with every field it had; the rest of the file as it was.
    after = rows(path, "SELECT * FROM orders ORDER BY id")
    assert [row[:len(orders_before[0])] for row in after] == orders_before
    assert [rows(path, q) for q in kept] == before
    # A copy of the file as it was, beside it.
    backup = tmp_path / "ledger.sqlite3.schema2.bak"
    assert rows(backup, "SELECT * FROM orders ORDER BY id") == orders_before
    assert rows(backup, "PRAGMA user_version") == [(2,)]

    # Every account the shop made is now a record its buyer owns.
    made = {o.id: o for o in ledger.orders() if o.state in (L.PROVISIONED, L.DELIVERED)}
    accounts = {a.made_by: a for a in ledger.accounts()}
    assert set(accounts) == set(made) == {"VPN1001", "VPN1002", "VPN1003", "VPN1004",
                                          "VPN1011"}
    today = dt.date.today()
    for order_id, order in made.items():
        account = accounts[order_id]
        assert ledger.get(order_id).account_id == account.id
        assert (account.server_id, account.username, account.secret, account.protocol) == (
            order.server_id, order.username, order.secret, order.protocol)
        assert (account.owner_user_id, account.owner_chat_id) == (order.user_id, order.chat_id)
        assert account.expires_on == order.expires_on
        assert account.state == (L.ACTIVE if account.expires_on >= today
                                 else L.ACCOUNT_EXPIRED)
        assert account.account_details() == json.loads(order.account)
    assert [a.username for a in ledger.accounts_of(501)] == ["budi_99", "budi_dua"]
    assert ledger.accounts_of(599) == []

    # Names and places: held by open and unfinished orders and by accounts still on their
    # server (an expired one too: it may be renewed until it is removed).
    for name, held in [("budi_99", True), ("belum_kirim", True), ("menunggu", True),
                       ("gagal", True), ("lama", True), ("batal", False), ("habis", False),
                       ("refund", False), ("baru", False)]:
        assert ledger.username_held("sg1", name) is held, name
    assert ledger.username_held("sg2", "siti")
    # sg1: budi_99, budi_dua, belum_kirim, lama (accounts) + menunggu, gagal, dicoba.
    assert ledger.active_count("sg1") == 7
    assert ledger.sold("sg1") == 4 and ledger.sold("sg2") == 1
    assert ledger.draft(511) == {"step": "username", "server": "sg1", "message_id": 40}
    assert ledger.telegram_offset() == 79 and len(ledger.inbox()) == 1
    ledger.close()

    # Opening it again changes nothing.
    Ledger.open(path).close()
    assert len(rows(path, "SELECT * FROM accounts")) == 5


def test_a_migration_that_fails_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    import shutil

    from qrisbot.ledger import schema

    path = tmp_path / "ledger.sqlite3"
    shutil.copy(SCHEMA_2_FILE, path)
    broken = {**schema.MIGRATIONS, 3: (*schema.MIGRATIONS[3], "SELECT * FROM no_such_table")}
    monkeypatch.setattr(L, "MIGRATIONS", broken)
    with pytest.raises(Exception, match="no_such_table"):
        Ledger.open(path)
    assert rows(path, "PRAGMA user_version") == [(2,)]
    assert not rows(path, "SELECT name FROM sqlite_master WHERE name='accounts'")
    monkeypatch.undo()
    assert len(Ledger.open(path).accounts()) == 5


def test_an_account_is_recorded_with_its_order_in_one_write(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    order = new_order(ledger, "VPN1", chat_id=7, username="budi")
    for state in (L.AWAITING, L.PAID, L.PROVISIONING):
        order = ledger.transition(order.id, {order.state}, state)
    made = ledger.record_provisioned("VPN1", '{"kind": "ssh"}', dt.date(2026, 12, 26))
    assert made.state == L.PROVISIONED and made.account_id is not None
    assert ledger.record_provisioned("VPN1", '{"kind": "ssh"}', TODAY) is None  # only once
    (account,) = ledger.accounts_of(7)
    assert (account.id, account.username, account.state) == (made.account_id, "budi", L.ACTIVE)
    assert account.days_left(dt.date(2026, 12, 26)) == 1
    assert account.days_left(dt.date(2026, 12, 27)) == 0
    # The account holds the name and the place now, not the order.
    assert ledger.username_held("sg1", "budi")
    assert not ledger.username_held("sg1", "budi", other_than="VPN1")
    assert ledger.active_count("sg1") == 1


# A ledger written by the previous release (schema 3, qrisbot at b3ebd74) through its own
# Ledger: the schema-2 file above migrated, plus a delivered renewal, a renewal awaiting
# payment, a reminder sent and an account removed from its server.
SCHEMA_3_FILE = Path(__file__).parent / "data" / "ledger-schema3.sqlite3"


def test_a_schema_3_ledger_keeps_every_order_account_and_reminder(tmp_path):
    import shutil

    path = tmp_path / "ledger.sqlite3"
    shutil.copy(SCHEMA_3_FILE, path)
    assert rows(path, "PRAGMA user_version") == [(3,)]
    kept = ["SELECT * FROM reminders",
            "SELECT * FROM events ORDER BY id", "SELECT * FROM chats ORDER BY chat_id",
            "SELECT * FROM inbox", "SELECT * FROM meta ORDER BY key"]
    before = [rows(path, q) for q in kept]
    orders_before = rows(path, "SELECT * FROM orders ORDER BY id")
    accounts_before = rows(path, "SELECT * FROM accounts ORDER BY id")
    assert len(orders_before) == 13 and len(accounts_before) == 5

    ledger = Ledger.open(path)
    assert rows(path, "PRAGMA user_version") == [(L.SCHEMA_VERSION,)]
    assert [rows(path, q) for q in kept] == before
    # Every order with every field it had (later schemas add columns).
    orders_after = rows(path, "SELECT * FROM orders ORDER BY id")
    assert [row[:len(orders_before[0])] for row in orders_after] == orders_before
    # Every account as it was; none is a trial or asked to be removed.
    after = rows(path, "SELECT * FROM accounts ORDER BY id")
    assert [row[:len(accounts_before[0])] for row in after] == accounts_before
    assert all(not a.is_trial and not a.remove_asked for a in ledger.accounts())
    assert rows(tmp_path / "ledger.sqlite3.schema3.bak", "PRAGMA user_version") == [(3,)]

    by_name = {a.username: a for a in ledger.accounts()}
    assert by_name["budi_99"].expires_on == dt.date(2027, 2, 19)
    assert by_name["lama"].state == L.REMOVED and not ledger.username_held("sg1", "lama")
    # The renewal awaiting payment still holds its account back from a second one.
    with pytest.raises(L.RenewalPending):
        ledger.create_renewal(order_id="VPN3", chat_id=777, user_id=501,
                              account=by_name["budi_dua"], months=1, days=30, amount=1,
                              language="id",
                              deadline=0)
    # Nobody has had a trial yet.
    assert not ledger.had_trial(501) and ledger.trials_on(dt.date(2026, 12, 1)) == 0
    ledger.close()
    Ledger.open(path).close()
    assert rows(path, "SELECT COUNT(*) FROM accounts") == [(5,)]


# A ledger written by the previous release (schema 4, qrisbot at 3d221bd) through its own
# Ledger: the schema-3 file above migrated, plus the renewal that was awaiting payment
# settled late (paid, its day fixed when paid, not yet made), days the operator gave (not
# yet on the server), a trial made and delivered, an imported account nobody has claimed,
# and an account the operator asked to remove.
SCHEMA_4_FILE = Path(__file__).parent / "data" / "ledger-schema4.sqlite3"


def test_a_schema_4_ledger_keeps_everything_and_applies_its_renewals_in_flight(tmp_path):
    import shutil

    path = tmp_path / "ledger.sqlite3"
    shutil.copy(SCHEMA_4_FILE, path)
    assert rows(path, "PRAGMA user_version") == [(4,)]
    kept = ["SELECT * FROM accounts ORDER BY id", "SELECT * FROM reminders",
            "SELECT * FROM trials", "SELECT * FROM events ORDER BY id",
            "SELECT * FROM chats ORDER BY chat_id", "SELECT * FROM inbox",
            "SELECT * FROM meta ORDER BY key"]
    before = [rows(path, q) for q in kept]
    orders_before = rows(path, "SELECT * FROM orders ORDER BY id")
    assert len(orders_before) == 15 and len(before[0]) == 7

    ledger = Ledger.open(path)
    assert rows(path, "PRAGMA user_version") == [(L.SCHEMA_VERSION,)]
    assert [rows(path, q) for q in kept] == before
    after = rows(path, "SELECT * FROM orders ORDER BY id")
    assert [row[:len(orders_before[0])] for row in after] == orders_before
    assert rows(tmp_path / "ledger.sqlite3.schema4.bak", "PRAGMA user_version") == [(4,)]
    accounts = {a.username: a for a in ledger.accounts()}
    assert accounts["trialab12"].is_trial and accounts["belum_kirim"].remove_asked
    assert ledger.unowned("sg2", "warisan") is not None and ledger.had_trial(601)

    # The renewal paid under the previous release keeps the day it was paid for, and the
    # days given keep theirs; neither ever moves an account's day backwards.
    today = dt.date(2026, 12, 8)
    renewal = ledger.claim_extension("VPN2002", today)
    assert (renewal.state, renewal.days, renewal.expires_on) == (
        L.PROVISIONING, None, dt.date(2027, 12, 22))
    gift = ledger.claim_extension("OPS1765000000000", today)
    assert gift.expires_on == dt.date(2026, 12, 12)
    ledger.close()
    Ledger.open(path).close()
    assert rows(path, "SELECT COUNT(*) FROM orders") == [(15,)]


# A ledger written by the previous release (schema 5, qrisbot at 4a5b4d8) through its own
# Ledger: the schema-4 file above migrated, plus a renewal awaiting payment (its days
# recorded), a purchase paid and delivered, and a purchase written but not yet shown.
SCHEMA_5_FILE = Path(__file__).parent / "data" / "ledger-schema5.sqlite3"


def test_a_schema_5_ledger_keeps_every_order_and_counts_it_at_its_price(tmp_path):
    import shutil

    path = tmp_path / "ledger.sqlite3"
    shutil.copy(SCHEMA_5_FILE, path)
    assert rows(path, "PRAGMA user_version") == [(5,)]
    kept = ["SELECT * FROM accounts ORDER BY id", "SELECT * FROM reminders",
            "SELECT * FROM trials", "SELECT * FROM events ORDER BY id",
            "SELECT * FROM chats ORDER BY chat_id", "SELECT * FROM inbox",
            "SELECT * FROM meta ORDER BY key"]
    before = [rows(path, q) for q in kept]
    orders_before = rows(path, "SELECT * FROM orders ORDER BY id")
    assert len(orders_before) == 18

    ledger = Ledger.open(path)
    assert rows(path, "PRAGMA user_version") == [(L.SCHEMA_VERSION,)]
    assert [rows(path, q) for q in kept] == before
    after = rows(path, "SELECT * FROM orders ORDER BY id")
    assert [row[:len(orders_before[0])] for row in after] == orders_before
    assert rows(tmp_path / "ledger.sqlite3.schema5.bak", "PRAGMA user_version") == [(5,)]
    # Every earlier order's breakdown is its amount, nothing taken off.
    for order in ledger.orders():
        assert order.breakdown == L.Breakdown(order.amount) and order.promo_code is None
    assert ledger.promos() == [] and not ledger.has_usable_promo(dt.date(2026, 12, 8))
    # Gross is net for them: the figures do not move.
    sales = ledger.sales(0)
    assert sales.gross == sales.amount and sales.discounts == 0
    # The renewal awaiting payment still holds its account; the delivered one stays so.
    renewal = ledger.get("VPN3001")
    assert (renewal.state, renewal.days, renewal.amount) == (L.AWAITING, 30, 10000)
    assert ledger.get("VPN3002").state == L.DELIVERED
    assert ledger.username_held("sg1", "tunggu5")
    # A code made now is used by the next order on this ledger.
    ledger.add_promo(L.Promo("HEMAT", percent=10, max_uses=1))
    ledger.create_order(order_id="VPN4001", chat_id=801, user_id=801, server_id="sg2",
                        protocol="vmess", username="promo6", secret="x", months=1,
                        breakdown=L.Breakdown(10000, 1000, L.DiscountSource.PROMO, "HEMAT"),
                        language="id", deadline=0, capacity=50, today=dt.date(2026, 12, 8))
    assert ledger.promos()[0].uses == 1
    ledger.close()
    Ledger.open(path).close()
    assert rows(path, "SELECT COUNT(*) FROM orders") == [(19,)]


# A ledger written by the previous release (schema 6, qrisbot at 887c1d3) through its own
# Ledger: the schema-5 file above migrated, two promo codes (one used by an order awaiting
# payment, one past its last day).
SCHEMA_6_FILE = Path(__file__).parent / "data" / "ledger-schema6.sqlite3"


def test_a_schema_6_ledger_keeps_every_order_and_code(tmp_path):
    import shutil

    path = tmp_path / "ledger.sqlite3"
    shutil.copy(SCHEMA_6_FILE, path)
    assert rows(path, "PRAGMA user_version") == [(6,)]
    kept = ["SELECT * FROM accounts ORDER BY id", "SELECT * FROM reminders",
            "SELECT * FROM trials", "SELECT * FROM events ORDER BY id",
            "SELECT * FROM chats ORDER BY chat_id", "SELECT * FROM inbox",
            "SELECT * FROM meta ORDER BY key", "SELECT * FROM promo_codes ORDER BY code"]
    before = [rows(path, q) for q in kept]
    orders_before = rows(path, "SELECT * FROM orders ORDER BY id")
    assert len(orders_before) == 19

    ledger = Ledger.open(path)
    assert rows(path, "PRAGMA user_version") == [(L.SCHEMA_VERSION,)]
    assert [rows(path, q) for q in kept] == before
    after = rows(path, "SELECT * FROM orders ORDER BY id")
    assert [row[:len(orders_before[0])] for row in after] == orders_before
    assert all(order.offer_id is None for order in ledger.orders())
    assert rows(tmp_path / "ledger.sqlite3.schema6.bak", "PRAGMA user_version") == [(6,)]
    # The code's use is still its order awaiting payment; the breakdown is as it was.
    uses = {use.promo.code: use.uses for use in ledger.promos()}
    assert uses == {"HEMAT10": 1, "LAMA": 0}
    assert ledger.get("VPN4001").breakdown == L.Breakdown(10000, 1000, L.DiscountSource.PROMO,
                                                          "HEMAT10")
    ledger.close()
    Ledger.open(path).close()  # opening it again changes nothing
    assert rows(path, "SELECT COUNT(*) FROM orders") == [(19,)]
