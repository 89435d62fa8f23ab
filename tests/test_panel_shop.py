"""The whole shop on panel servers, in process: Telegram and Pakasir fakes, the daemon with
its configured backends (no test double of ours), and a loopback 3x-ui (each version
family), Marzban or PasarGuard fake holding what the buyer was sold."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import attrs
import pytest
import trio
from buyer import eventually
from conftest import server_entry

from qrisbot import ledger as L
from qrisbot.config import Trial
from qrisbot.ledger import Ledger
from qrisbot.provision.panels.terms import GB
from qrisbot.shop.calendar import Calendar
from qrisbot.testing.fake_marzban import FakeMarzban
from qrisbot.testing.fake_xui import FakeXui

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
PANELS = ["3x-ui 2.8.5", "3x-ui 3.0.2", "3x-ui 3.4.0", "marzban", "pasarguard"]


class Panel:
    """One fake panel and the server entry that sells on it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind.startswith("3x-ui"):
            self.fake: Any = FakeXui(kind.split()[1], password="s3cret-pw")
            self.fake.add_inbound("vless")
            self.fake.add_inbound("vless")
        else:
            self.fake = FakeMarzban(kind)  # type: ignore[arg-type]

    def entry(self, **overrides: Any) -> dict[str, Any]:
        panel: dict[str, Any] = {"type": self.kind.split()[0], "url": self.fake.url,
                                 "username": "admin"}
        if self.kind.startswith("3x-ui"):
            panel |= {"password": "s3cret-pw", "inbound_ids": [1, 2],
                      "sub_url": "https://nl1.example.com:2096/sub/"}
        elif self.kind == "marzban":
            panel |= {"password": "Adm1n-Pa55word", "inbounds": ["VLESS TCP REALITY"],
                      "sub_url": "https://sub.example.com"}
        else:
            panel |= {"password": "Adm1n-Pa55word", "groups": ["VLESS only"],
                      "sub_url": "https://sub.example.com"}
        entry = server_entry("nl1", "vless", quota_gb=100, price_per_month=15000) | overrides
        del entry["ssh"]
        return entry | {"panel": panel}

    def limit(self, username: str) -> int:
        """The account's traffic limit on the panel, in bytes."""
        if self.kind.startswith("3x-ui"):
            (client,) = [c for c in self.fake.clients(1) if c["email"] == username]
            return int(client["totalGB"])
        return int(self.fake.users[username].data_limit)

    def last_day(self, username: str) -> dt.date:
        if self.kind.startswith("3x-ui"):
            (client,) = [c for c in self.fake.clients(1) if c["email"] == username]
            expire = int(client["expiryTime"]) // 1000
        else:
            expire = int(self.fake.users[username].expire)
        return dt.datetime.fromtimestamp(expire, ZONE).date()

    def on_panel(self, username: str) -> bool:
        """Does the panel still let this account in (a client emptied by the shop does not)?"""
        if self.kind.startswith("3x-ui"):
            return any(c["email"] == username and c["enable"] for c in self.fake.clients(1))
        return username in self.fake.users


@pytest.fixture(params=PANELS)
async def panel(request: pytest.FixtureRequest, nursery: trio.Nursery) -> Panel:
    made = Panel(request.param)
    await nursery.start(made.fake.serve)
    return made


async def test_a_buyer_buys_and_renews_on_a_panel_and_gets_links_and_the_quota_rule(
        autojump_clock, make_config, start_shop, buyer, pakasir, panel):
    cfg = make_config([panel.entry()])
    await start_shop(cfg, backends=None)  # the daemon's own backends, as configured
    qr, order_id = await buyer.buys(server="nl1", password=None, months=2)
    assert "Rp30.000" in qr.caption
    pakasir.pay(order_id)
    account = await buyer.sees("Akun VLESS Anda siap")
    assert "<code>budi_99</code>" in account.text
    assert "Link langganan" in account.text
    assert ("https://nl1.example.com:2096/sub/" in account.text
            if panel.kind.startswith("3x-ui") else "https://sub.example.com/" in account.text)
    assert account.text.count("vless://") >= 1
    ledger = Ledger.open(cfg.shop.database)
    (made,) = ledger.accounts("nl1")
    assert made.secret in account.text and made.secret in account.text.split("vless://")[1]
    today = dt.datetime.now(ZONE).date()
    assert panel.last_day("budi_99") == made.expires_on == today + dt.timedelta(days=60)
    assert panel.limit("budi_99") == 200 * GB  # quota_gb x months

    buyer.says("/akun")
    listing = await buyer.sees("Akun saya")
    (renew,) = [b for b in listing.button_data() if b.startswith("ren:")]
    _, renewal_id = await buyer.renews(renew, months=1)
    pakasir.pay(renewal_id)
    await buyer.sees("diperpanjang")
    await eventually(lambda: ledger.get(renewal_id).state == L.DELIVERED)
    assert panel.last_day("budi_99") == today + dt.timedelta(days=90)
    assert panel.limit("budi_99") == 300 * GB  # raised by one month's quota, usage kept


async def test_an_account_that_ran_out_is_removed_from_the_panel_after_its_grace(
        autojump_clock, make_config, start_shop, buyer, pakasir, panel):
    cfg = make_config([panel.entry()], {"days_per_month": 2, "remind_days": [],
                                        "grace_days": 1})
    start = dt.datetime.now(ZONE).replace(hour=9, minute=0, second=0, microsecond=0)
    begun = trio.current_time()
    await start_shop(cfg, backends=None, calendar=Calendar("Asia/Jakarta", start))
    _, order_id = await buyer.buys(server="nl1", password=None, months=1)
    pakasir.pay(order_id)
    await buyer.sees("Akun VLESS Anda siap")
    assert panel.on_panel("budi_99")
    last = start.date() + dt.timedelta(days=2)
    assert panel.last_day("budi_99") == last
    await buyer.sees("sudah habis", within=3 * 86400)
    assert panel.on_panel("budi_99")  # its grace day: it may still be renewed
    removed_by = begun + (dt.datetime.combine(last + dt.timedelta(days=2), dt.time(1), ZONE)
                          - start).total_seconds()
    await buyer.sees("sudah dihapus", within=removed_by - trio.current_time())
    assert not panel.on_panel("budi_99")
    (account,) = Ledger.open(cfg.shop.database).accounts("nl1")
    assert account.state == L.REMOVED


async def test_a_trial_on_a_panel_gets_its_hours_share_of_the_quota_and_ends_on_time(
        autojump_clock, make_config, start_shop, buyer, telegram, panel):
    cfg = make_config([panel.entry(quota_gb=1000)])
    cfg = attrs.evolve(cfg, trial=Trial(hours=2, servers=("nl1",)))
    start = dt.datetime.now(ZONE).replace(hour=9, minute=0, second=0, microsecond=0)
    begun = trio.current_time()
    await start_shop(cfg, backends=None, calendar=Calendar("Asia/Jakarta", start))
    buyer.says("/start")
    await buyer.sees("Pilih server")
    buyer.taps("trial")
    await buyer.sees("Coba gratis 2 jam")
    buyer.taps("tsrv:nl1")
    ready = await buyer.sees("Akun trial VLESS Anda siap")
    ((username, secret),) = [(a.username, a.secret)
                             for a in Ledger.open(cfg.shop.database).accounts("nl1")]
    assert secret in ready.text and "Link langganan" in ready.text
    assert panel.limit(username) == 1000 * GB * 2 // (30 * 24)  # 2 h of a 30-day month
    await trio.sleep_until(begun + 2 * 3600 - 60)
    assert panel.on_panel(username)
    await buyer.sees("Masa trial", within=begun + 2 * 3600 + 120 - trio.current_time())
    assert not panel.on_panel(username)


async def test_a_panel_sells_only_names_the_shop_sells(
        autojump_clock, make_config, start_shop, buyer, panel):
    await start_shop(make_config([panel.entry()]), backends=None)
    await buyer.picks_server("nl1")
    for name, answer in (("root", "disimpan untuk sistem"), ("ab", "tidak valid"),
                         ("x" * 17, "tidak valid"), ("budi-99", "tidak valid")):
        buyer.says(name)
        await buyer.sees(answer)
    buyer.says("budi_99")
    await buyer.sees("durasi")
