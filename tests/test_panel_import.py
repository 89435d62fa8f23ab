"""Accounts made on a web panel before the shop: `accounts import` takes them on with the
panel's own links, a buyer claims one with its UUID or a share link, and drift (the
daily look's lines, `servers reconcile`) sees what the seller changed on the panel, the
UUID included. On 3x-ui 2.x and 3.1+, Marzban and PasarGuard loopback fakes."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from functools import partial
from typing import Any

import pytest
import trio
from buyer import Buyer
from conftest import server_entry

from qrisbot import operate_accounts, operate_drift
from qrisbot.ledger import Ledger
from qrisbot.provision import Registry
from qrisbot.shop.drift import drift_on, entries
from qrisbot.testing.fake_marzban import FakeMarzban
from qrisbot.testing.fake_xui import FakeXui
from qrisbot.testing.marzban_users import PanelUser
from qrisbot.testing.panel_faults import BAD_GATEWAY

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
PANELS = ["3x-ui 2.8.5", "3x-ui 3.4.0", "marzban", "pasarguard"]
OLD = "55555555-5555-5555-5555-555555555555"
LATER = dt.date(2030, 1, 1)


def noon(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(12), ZONE).timestamp())


class Panel:
    """A fake panel holding the seller's accounts, and the server entry that sells on it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.is_xui = kind.startswith("3x-ui")
        if self.is_xui:
            self.fake: Any = FakeXui(kind.split()[1], password="s3cret-pw")
            self.fake.add_inbound("vless")
        else:
            self.fake = FakeMarzban(kind)  # type: ignore[arg-type]

    def entry(self) -> dict[str, Any]:
        panel: dict[str, Any] = {"type": self.kind.split()[0], "url": self.fake.url,
                                 "username": "admin"}
        if self.is_xui:
            panel |= {"password": "s3cret-pw", "inbound_ids": [1],
                      "sub_url": "https://nl1.example.com:2096/sub/"}
        else:
            panel |= {"password": "Adm1n-Pa55word", "sub_url": "https://sub.example.com"}
            panel |= ({"inbounds": ["VLESS TCP REALITY"]} if self.kind == "marzban"
                      else {"groups": ["VLESS only"]})
        entry = server_entry("nl1", "vless", price_per_month=15000)
        del entry["ssh"]
        return entry | {"panel": panel}

    def add(self, name: str, secret: str, last_day: dt.date | None) -> None:
        """An account the seller made on the panel by hand (None: it never expires)."""
        if self.is_xui:
            self.fake.panel.add_clients(1, [{
                "id": secret, "email": name, "flow": "", "limitIp": 0, "totalGB": 0,
                "expiryTime": noon(last_day) * 1000 if last_day else 0, "enable": True,
                "tgId": 0, "subId": uuid.uuid4().hex[:16], "comment": "", "reset": 0}])
            return
        if self.kind == "marzban":
            proxies = {"vless": {"id": secret, "flow": ""}}
            where: dict[str, Any] = {"inbounds": {"vless": ["VLESS TCP REALITY"]}}
        else:
            proxies = {"vless": {"id": secret, "flow": ""}, "vmess": {"id": str(uuid.uuid4())},
                       "trojan": {"password": uuid.uuid4().hex}}
            where = {"group_ids": [2]}
        self.fake.users[name] = PanelUser(self.fake.next_id(), name, proxies, **where,
                                          expire=noon(last_day) if last_day else None)

    def client(self, name: str) -> dict[str, Any]:
        (found,) = [c for c in self.fake.clients(1) if c["email"] == name]
        return found  # type: ignore[no-any-return]

    def set_day(self, name: str, day: dt.date) -> None:
        if self.is_xui:
            self.client(name)["expiryTime"] = noon(day) * 1000
        else:
            self.fake.users[name].expire = noon(day)

    def set_secret(self, name: str, secret: str) -> None:
        """The seller gives the account a new UUID on the panel."""
        if self.is_xui:
            self.client(name)["id"] = secret
        else:
            self.fake.users[name].proxies["vless"]["id"] = secret

    def delete(self, name: str) -> None:
        if self.is_xui:
            self.fake.clients(1).remove(self.client(name))
        else:
            del self.fake.users[name]


@pytest.fixture(params=PANELS)
async def panel(request: pytest.FixtureRequest, nursery: trio.Nursery) -> Panel:
    made = Panel(request.param)
    await nursery.start(made.fake.serve)
    return made


def cli(function: Any, *args: Any, **kwargs: Any) -> Any:
    """An operator command, in a thread of its own (it runs trio itself)."""
    return trio.to_thread.run_sync(partial(function, *args, **kwargs))


async def test_import_takes_on_the_panels_accounts_once_with_the_panels_links(
        make_config, panel, capsys):
    cfg = make_config([panel.entry()])
    panel.add("lama", OLD, LATER)
    panel.add("punya", str(uuid.uuid4()), dt.date(2030, 2, 1))
    panel.add("abadi", str(uuid.uuid4()), None)

    assert await cli(operate_accounts.accounts_import, cfg, "nl1", True) == 0
    out = capsys.readouterr().out
    assert "new     lama             last day 2030-01-01" in out
    assert "new     punya            last day 2030-02-01" in out
    assert "skipped  abadi: " in out and ("expir" in out)  # never expires: said why
    assert "2 would be imported" in out
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.accounts("nl1") == []  # a dry run writes nothing

    assert await cli(operate_accounts.accounts_import, cfg, "nl1", False) == 0
    out = capsys.readouterr().out
    assert "2 imported" in out and "skipped  abadi" in out
    assert OLD not in out  # the operator's terminal never shows a buyer's UUID
    accounts = {a.username: a for a in ledger.accounts("nl1")}
    assert set(accounts) == {"lama", "punya"}
    lama = accounts["lama"]
    assert lama.owner_user_id is None and lama.secret == OLD
    assert lama.expires_on == LATER
    details = lama.account_details()
    assert details["kind"] == "panel"  # the panel's own, not an autoscript's
    assert details["links"] and all(OLD in link for _, link in details["links"])
    assert details["subscription"].startswith(
        "https://nl1.example.com:2096/sub/" if panel.is_xui else "https://sub.example.com/")

    assert await cli(operate_accounts.accounts_import, cfg, "nl1", False) == 0  # twice is once
    out = capsys.readouterr().out
    assert "known   lama" in out and "0 imported" in out
    assert len(ledger.accounts("nl1")) == 2


async def test_a_panel_that_stops_answering_half_way_says_what_was_imported(
        make_config, panel, capsys):
    cfg = make_config([panel.entry()])
    for n in range(3):
        panel.add(f"old{n}", str(uuid.uuid4()), LATER)
    # The accounts are read and the first one's links given; then the panel answers only
    # 502 pages to what a delivery asks (3x-ui 2.x reads its inbounds again for it).
    call, answered = {"3x-ui 2.8.5": ("inbounds/list", 2), "3x-ui 3.4.0": ("clients/get", 1),
                      "marzban": ("get", 1), "pasarguard": ("get", 1)}[panel.kind]
    panel.fake.fail(call, BAD_GATEWAY, times=50)
    panel.fake._faults[call][:0] = [None] * answered  # those first calls go through
    assert await cli(operate_accounts.accounts_import, cfg, "nl1", False) == 1
    ledger = Ledger.open(cfg.shop.database)
    assert [a.username for a in ledger.accounts("nl1")] == ["old0"]
    captured = capsys.readouterr()
    assert "new     old0" in captured.out
    assert "imported before it did: old0; not imported: old1, old2" in captured.err

    panel.fake._faults.clear()  # the panel is back: the rest is taken on, old0 once
    assert await cli(operate_accounts.accounts_import, cfg, "nl1", False) == 0
    assert sorted(a.username for a in ledger.accounts("nl1")) == ["old0", "old1", "old2"]
    assert "known   old0" in capsys.readouterr().out


async def claim(buyer: Buyer, username: str, proof: str) -> None:
    buyer.says("/akun")
    listing = await buyer.sees("akun")
    assert "claim" in listing.button_data()
    buyer.taps("claim")
    await buyer.sees("Pilih servernya")
    buyer.taps("csrv:nl1")
    await buyer.sees("username")
    buyer.says(username)
    await buyer.sees("UUID")
    buyer.says(proof)


async def test_a_buyer_claims_a_panel_account_by_uuid_or_link_and_sees_its_links(
        autojump_clock, make_config, start_shop, telegram, panel, capsys):
    cfg = make_config([panel.entry()])
    other = str(uuid.uuid4())
    panel.add("lama", OLD, LATER)
    panel.add("punya", other, LATER)
    assert await cli(operate_accounts.accounts_import, cfg, "nl1", False) == 0
    ledger = Ledger.open(cfg.shop.database)
    link = ledger.account_named("nl1", "punya").account_details()["links"][0][1]
    await start_shop(cfg, backends=None)

    stranger = Buyer(telegram, 7302)
    await claim(stranger, "lama", str(uuid.uuid4()))  # a wrong UUID
    await stranger.sees("Data tidak cocok")
    assert ledger.claim_failures(7302, 0) == 1 and ledger.accounts_of(7302) == []

    owner = Buyer(telegram, 7301)
    await claim(owner, "lama", OLD.upper())  # typed, in any case
    await owner.sees("sekarang tercatat milik Anda")
    detail = await owner.sees("Akun VLESS Anda")
    assert "Link langganan" in detail.text and f"vless://{OLD}" in detail.text
    assert ("https://nl1.example.com:2096/sub/" if panel.is_xui
            else "https://sub.example.com/sub/") in detail.text
    assert [a.username for a in ledger.accounts_of(7301)] == ["lama"]
    if not panel.is_xui:  # asked again at the claim: PasarGuard's token is new every read
        imported = ledger.account_named("nl1", "punya").account_details()["subscription"]
        assert imported not in detail.text

    pasted = Buyer(telegram, 7303)
    await claim(pasted, "punya", f"ini link saya: {link}")  # the panel's own share link
    await pasted.sees("sekarang tercatat milik Anda")
    detail = await pasted.sees("Akun VLESS Anda")
    assert f"vless://{other}" in detail.text and "Link langganan" in detail.text
    assert [a.username for a in ledger.accounts_of(7303)] == ["punya"]


async def test_drift_on_a_panel_names_what_the_seller_changed_and_reconcile_settles_it(
        make_config, panel, capsys):
    cfg = make_config([panel.entry()])
    fresh = str(uuid.uuid4())
    for name in ("lama", "hilang", "ganti", "sama"):
        panel.add(name, OLD if name == "lama" else str(uuid.uuid4()), LATER)
    assert await cli(operate_accounts.accounts_import, cfg, "nl1", False) == 0
    capsys.readouterr()
    # By hand on the panel: lama's day moved, hilang deleted, ganti given a new UUID
    # (its buyer's links stop working), baru made.
    panel.set_day("lama", dt.date(2030, 3, 1))
    panel.delete("hilang")
    panel.set_secret("ganti", fresh)
    panel.add("baru", str(uuid.uuid4()), LATER)

    # The daily look's lines for the admins: the secret's change named, never the secret.
    ledger = Ledger.open(cfg.shop.database)
    backends = Registry(shop=cfg.shop)
    try:
        drift = await drift_on(cfg.servers[0], ledger, backends)
    finally:
        await backends.aclose()
    lines = [line for line, _ in entries(cfg.servers[0], drift, "id")]
    assert any("hilang</b>: tidak ada lagi di server" in line for line in lines)
    assert any("lama</b>: hari terakhir di toko 2030-01-01, di server 2030-03-01" in line
               for line in lines)
    assert any("ganti</b>: UUID/kata sandi diganti di panel" in line
               and "reconcile nl1 --fix" in line for line in lines)
    assert any("1 akun di server tidak dikenal toko (baru)" in line for line in lines)
    assert not any("sama" in line or fresh in line for line in lines)
    assert len(lines) == 4  # subscription URLs (new at every read) are not compared

    assert await cli(operate_drift.servers_reconcile, cfg, "nl1") == 1  # only a report
    out = capsys.readouterr().out
    assert "missing  hilang" in out and "date     lama             ledger 2030-01-01, " \
        "server 2030-03-01" in out and "unknown  baru" in out
    assert "secret   ganti            UUID/password changed on the panel" in out
    assert "sama" not in out and fresh not in out
    assert "nothing was changed" in out
    ganti = ledger.account_named("nl1", "ganti")
    assert ganti.secret != fresh

    assert await cli(operate_drift.servers_reconcile, cfg, "nl1", fix=True) == 0
    out = capsys.readouterr().out
    assert "the ledger takes the panel's secret" in out and fresh not in out
    assert ledger.account_named("nl1", "ganti").secret == fresh  # renewable again
    assert ledger.account_named("nl1", "lama").expires_on == dt.date(2030, 3, 1)

    assert await cli(operate_drift.servers_reconcile, cfg, "nl1", secrets="ignore") == 1
    out = capsys.readouterr().out
    assert "secret   ganti" not in out and "date     lama" not in out  # settled
    assert "unknown  baru" in out  # never touched: `accounts import` takes it on


async def test_a_uuid_changed_on_the_panel_reaches_its_buyer_and_renewals_work_again(
        autojump_clock, make_config, start_shop, telegram, pakasir, panel, capsys):
    """reconcile --fix beside the running daemon: the ledger takes the panel's UUID, the
    owner gets the panel's new links, and the renewal they pay for then goes through."""
    cfg = make_config([panel.entry()], {"remind_days": []})
    panel.add("lama", OLD, LATER)
    assert await cli(operate_accounts.accounts_import, cfg, "nl1", False) == 0
    await start_shop(cfg, backends=None)
    owner = Buyer(telegram, 7301)
    await claim(owner, "lama", OLD)
    await owner.sees("sekarang tercatat milik Anda")
    await owner.sees("Akun VLESS Anda")

    fresh = str(uuid.uuid4())
    panel.set_secret("lama", fresh)
    assert await cli(operate_drift.servers_reconcile, cfg, "nl1", fix=True) == 0
    out = capsys.readouterr().out
    assert "secret   lama" in out and "sends them to its owner" in out and fresh not in out
    relinked = await owner.sees("Tautan akun VLESS Anda diperbarui")
    assert f"vless://{fresh}" in relinked.text and OLD not in relinked.text
    assert "sampai 01-01-2030" in relinked.text  # no day added
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(7301)
    assert account.secret == fresh and account.expires_on == LATER

    owner.says("/akun")
    await owner.sees("Akun saya")
    _, renewal = await owner.renews(f"ren:{account.id}")
    pakasir.pay(renewal)
    await owner.sees("diperpanjang sampai 31-01-2030")
    assert await cli(operate_drift.servers_reconcile, cfg, "nl1") == 0  # agrees again
    assert "nl1: no differences" in capsys.readouterr().out
