"""The ledger's guarantees: compare-and-set transitions and reservations."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from qrisbot import ledger as L
from qrisbot.ledger import Ledger

TODAY = dt.date(2026, 11, 26)


def new_order(ledger: Ledger, order_id: str, chat_id: int = 1, username: str = "budi",
              capacity: int = 10, server_id: str = "sg1") -> L.Order:
    return ledger.create_order(
        order_id=order_id, chat_id=chat_id, user_id=chat_id, server_id=server_id,
        protocol="ssh", username=username, secret="password1", months=1, amount=10000,
        language="id", deadline=time.time() + 300, capacity=capacity, today=TODAY)


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
    assert ledger.active_count("sg1", TODAY) == 2


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
    old_schema = L.SCHEMA.replace("    draft TEXT,\n    handled INTEGER\n", "    draft TEXT\n")
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
