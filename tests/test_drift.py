"""Drift: sellers change accounts in their autoscript menu behind the shop's back. Once a
day the daemon compares each server with the ledger and tells the admins in one message;
nothing is changed because of it (days pass on the MockClock through the shop's calendar).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import attrs
import trio
from buyer import Buyer
from conftest import server_entry

from qrisbot import config
from qrisbot.ledger import Ledger
from qrisbot.provision import Account as Made
from qrisbot.provision import Existing
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.drift import compare, settling
from qrisbot.testing import config_for

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
ADMIN = 9001


def drift_notices(telegram) -> list[str]:
    return [m.body for m in telegram.messages(ADMIN) if "Pemeriksaan harian" in m.body]


async def test_the_daily_look_names_each_change_made_behind_the_shops_back(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path
):
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless"),
                      server_entry("sg2", protocol="vless")],
                     {"admins": [ADMIN], "remind_days": [], "daily_summary": ""})
    raw["telegram"]["poll_timeout"] = 50
    cfg = config.parse(raw, {})
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)
    begun = trio.current_time()
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", start))

    def at(day: int, hour: int, minute: int = 0) -> float:
        moment = dt.datetime(2026, 12, day, hour, minute, tzinfo=ZONE)
        return begun + (moment - start).total_seconds()

    for n, (name, server) in enumerate((("bob", "sg1"), ("carol", "sg1"), ("dave", "sg2"))):
        buyer = Buyer(telegram, 7000 + n)
        _, order_id = await buyer.buys(username=name, password=None, server=server, months=1)
        pakasir.pay(order_id)
        await buyer.sees("Akun VLESS Anda siap")
    # The first look (04:30 on the 2nd) finds nothing to say.
    await trio.sleep_until(at(2, 12))
    assert drift_notices(telegram) == []

    # In the seller's menu: carol deleted, bob's date moved, eve added (all on sg1).
    accounts = provisioner.accounts
    del accounts[("sg1", "carol")]
    bob = accounts[("sg1", "bob")]
    accounts[("sg1", "bob")] = attrs.evolve(bob, expires=dt.date(2027, 3, 10))
    accounts[("sg1", "eve")] = Made(order_id="menu", username="eve",
                                    secret="0b5ad2bb-5c1f-4ae4-9d43-3d1a1f9f5c40",
                                    expires=dt.date(2027, 5, 1), months=1, days=30)
    ledger = Ledger.open(cfg.shop.database)
    before = [(a.username, a.expires_on, a.state) for a in ledger.accounts()]
    admin = Buyer(telegram, ADMIN)
    admin.seen = telegram.messages(ADMIN)[-1].message_id if telegram.messages(ADMIN) else 0
    notice = await admin.sees("Pemeriksaan harian", within=at(3, 5) - trio.current_time())
    assert trio.current_time() >= at(3, 4, 30)
    body = notice.body
    assert "carol</b>: tidak ada lagi di server (hari terakhir 2026-12-31)" in body
    assert "bob</b>: hari terakhir di toko 2026-12-31, di server 2027-03-10" in body
    assert "eve</b>: di server (hari terakhir 2027-05-01), tidak dikenal toko" in body
    assert "dave" not in body and "Server SG2" not in body  # sg2 agrees with the ledger
    assert body.count("Server SG1") == 3
    # Nothing was changed by it, in the ledger or on the server.
    assert [(a.username, a.expires_on, a.state) for a in ledger.accounts()] == before
    assert ("sg1", "carol") not in accounts and ("sg1", "eve") in accounts
    # Once a day, not at every look; the next day says it again while it lasts.
    await trio.sleep_until(at(3, 23))
    assert len(drift_notices(telegram)) == 1
    await trio.sleep_until(at(4, 5))
    assert len(drift_notices(telegram)) == 2


def test_names_being_made_or_changed_right_now_are_not_drift(tmp_path):
    from test_ledger import new_order

    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    order = new_order(ledger, "VPN1", chat_id=7, username="budi", server_id="sg1")
    for state in ("awaiting_payment", "paid", "provisioning"):
        order = ledger.transition(order.id, {order.state}, state)
    ledger.record_provisioned("VPN1", '{"kind": "xray"}', dt.date(2026, 12, 10))
    ledger.transition("VPN1", {"provisioned"}, "delivered")
    # A second buyer's account is being made: on the server, not yet in the ledger.
    new_order(ledger, "VPN2", chat_id=8, username="sari", server_id="sg1")
    there = (Existing("budi", "x", dt.date(2026, 12, 10)), Existing("sari", "y",
                                                                   dt.date(2027, 1, 9)))
    assert settling(ledger, "sg1") == {"sari"}
    assert compare(ledger.accounts("sg1"), there, settling(ledger, "sg1")).none
    assert [e.username for e in compare(ledger.accounts("sg1"), there).unknown] == ["sari"]
    # Once budi's date moves on the server, that is drift.
    moved = (Existing("budi", "x", dt.date(2026, 12, 20)),)
    assert [d for _, d in compare(ledger.accounts("sg1"), moved).dates] == [
        dt.date(2026, 12, 20)]
