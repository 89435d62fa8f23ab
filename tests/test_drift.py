"""Drift: sellers change accounts in their autoscript menu behind the shop's back. Once a
day the daemon compares each server with the ledger and tells the admins in one message;
nothing is changed because of it (days pass on the MockClock through the shop's calendar).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import zoneinfo
from functools import partial

import attrs
import trio
from buyer import Buyer, eventually
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
    assert "Server SG1: 1 akun di server tidak dikenal toko (eve); " in body
    assert "qrisbot accounts import sg1" in body
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


def chage_day(name: str) -> str:
    out = subprocess.run(["chage", "-l", name], capture_output=True, text=True).stdout
    return next(line for line in out.splitlines() if line.startswith("Account expires"))


async def test_reconcile_fix_settles_each_difference_without_losing_paid_days(
    sshd, linux_users, tmp_path, start_shop, telegram, pakasir, capsys
):
    """Beside the running daemon, on the real sshd: a lost account is made again, an
    earlier day is set back, a later one is adopted, a stranger is left alone."""
    from test_ledger import new_order

    from qrisbot import operate_drift
    from qrisbot.provision import SshProvisioner

    names = ["qbt_fa", "qbt_fb", "qbt_fc", "qbt_fd"]
    linux_users += names
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access())],
                     {"remind_days": []})
    cfg = config.parse(raw, {})
    server = cfg.servers[0]
    today = dt.datetime.now(ZONE).date()
    last = today + dt.timedelta(days=30)
    ledger = Ledger.open(cfg.shop.database)
    provisioner = SshProvisioner()
    try:
        for n, name in enumerate(names[:3]):  # sold by the shop: on the server and ledger
            order = new_order(ledger, f"VPN{n}", chat_id=7600 + n, username=name)
            for state in ("awaiting_payment", "paid", "provisioning"):
                order = ledger.transition(order.id, {order.state}, state)
            await provisioner.create(server, Made(order_id=order.id, username=name,
                                                  secret="password1", expires=last,
                                                  months=1, days=30))
            ledger.record_provisioned(order.id, '{"kind": "ssh"}', last)
            ledger.transition(order.id, {"provisioned"}, "delivered")
    finally:
        provisioner.close()

    def shadow(day: dt.date) -> str:  # as chage prints the day after the last day
        return f"{day + dt.timedelta(days=1):%b %d, %Y}"

    # By hand in the menu: qbt_fa deleted, qbt_fb cut short, qbt_fc given 20 days more,
    # qbt_fd made.
    subprocess.run(["userdel", "-f", "qbt_fa"], check=True)
    subprocess.run(["chage", "-E", (last - dt.timedelta(days=9)).isoformat(), "qbt_fb"],
                   check=True)
    subprocess.run(["chage", "-E", (last + dt.timedelta(days=21)).isoformat(), "qbt_fc"],
                   check=True)
    subprocess.run(["useradd", "-M", "-s", "/bin/false", "-e", "2027-06-01", "qbt_fd"],
                   check=True)
    await start_shop(cfg, backends=SshProvisioner())

    def reconcile(**policy) -> int:
        return operate_drift.servers_reconcile(cfg, "sg1", **policy)

    assert await trio.to_thread.run_sync(reconcile) == 1  # only a report
    out = capsys.readouterr().out
    assert "nothing was changed" in out and "-> " not in out
    assert await trio.to_thread.run_sync(partial(reconcile, fix=True)) == 0
    out = capsys.readouterr().out
    assert "made again on the server by the daemon" in out
    assert f"set back to {last}" in out
    assert f"the ledger takes the server's last day {last + dt.timedelta(days=20)}" in out
    assert "unknown  qbt_fd" in out

    await eventually(lambda: subprocess.run(["id", "qbt_fa"], capture_output=True
                                            ).returncode == 0, within=30)
    await eventually(lambda: shadow(last) in chage_day("qbt_fb"), within=30)
    assert shadow(last) in chage_day("qbt_fa")
    assert shadow(last + dt.timedelta(days=20)) in chage_day("qbt_fc")  # kept as given
    assert "Jun 01, 2027" in chage_day("qbt_fd")  # never touched
    fc = ledger.account_named("sg1", "qbt_fc")
    assert fc is not None and fc.expires_on == last + dt.timedelta(days=20)
    await eventually(lambda: not ledger.unfinished(), within=30)
    # Repairs are silent: nobody was told of an extension, nothing counts as a sale.
    for n in range(3):
        assert not telegram.messages(7600 + n)
    assert ledger.sales(0, "renewal").orders == 0
    assert await trio.to_thread.run_sync(reconcile) == 1  # only the stranger is left
    out = capsys.readouterr().out
    assert "missing" not in out and "date " not in out and "unknown  qbt_fd" in out


def test_many_accounts_unknown_to_the_shop_are_one_line():
    from qrisbot.shop.drift import Drift, entries

    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     "x.sqlite3", [server_entry("sg1", protocol="vless")])
    (server,) = config.parse(raw, {}).servers
    strangers = tuple(Existing(f"user{n}", "x", dt.date(2027, 1, 1)) for n in range(300))
    (line, buttons), = entries(server, Drift((), (), strangers), "en")
    assert "300 account(s) on the server unknown to the shop (user0, user1, user2, user3, " \
           "user4…)" in line and buttons == []


async def test_reconcile_leaves_what_the_shop_changes_while_the_server_is_read(
    sshd, linux_users, tmp_path, telegram, pakasir, capsys, monkeypatch
):
    """An account delivered and one renewed while `reconcile --fix` reads the server are not
    judged against that reading: the paid account is not forgotten, the paid month not
    taken back (the real sshd; the daemon's two writes made at the worst moment: after the
    server was read, before the ledger would be)."""
    from test_ledger import new_order

    from qrisbot import operate_drift
    from qrisbot.provision import SshBackend, SshProvisioner

    linux_users += ["qbt_ga", "qbt_gb"]
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access())],
                     {"remind_days": []})
    cfg = config.parse(raw, {})
    server = cfg.servers[0]
    last = dt.datetime.now(ZONE).date() + dt.timedelta(days=30)
    ledger = Ledger.open(cfg.shop.database)
    provisioner = SshProvisioner()

    async def sold(order_id: str, name: str) -> None:
        """As the daemon sells: made on the server, then recorded and delivered."""
        order = new_order(ledger, order_id, chat_id=7700 + len(order_id), username=name)
        for state in ("awaiting_payment", "paid", "provisioning"):
            order = ledger.transition(order.id, {order.state}, state)
        await provisioner.create(server, Made(order_id=order.id, username=name,
                                              secret="password1", expires=last, months=1,
                                              days=30))
        ledger.record_provisioned(order.id, '{"kind": "ssh"}', last)
        ledger.transition(order.id, {"provisioned"}, "delivered")

    try:
        await sold("VPN1", "qbt_gb")
        read = SshBackend.read_accounts

        async def read_while_the_shop_works(backend):
            found = await read(backend)
            # Meanwhile the daemon delivers qbt_ga and renews qbt_gb by a month.
            await sold("VPN22", "qbt_ga")
            subprocess.run(["chage", "-E", (last + dt.timedelta(days=31)).isoformat(),
                            "qbt_gb"], check=True)
            renewal = ledger.grant_days(order_id="VPN3", account=ledger.account_named(
                "sg1", "qbt_gb"), days=30, language="id")
            ledger.claim_extension(renewal.id, dt.date.today())
            ledger.record_extended(renewal.id, '{"kind": "ssh"}',
                                   last + dt.timedelta(days=30))
            return found

        monkeypatch.setattr(SshBackend, "read_accounts", read_while_the_shop_works)
        code = await trio.to_thread.run_sync(partial(
            operate_drift.servers_reconcile, cfg, "sg1", fix=True, missing="forget",
            dates="server"))
    finally:
        provisioner.close()
    out = capsys.readouterr().out
    assert "recorded as removed" not in out and "ledger takes" not in out
    assert "changed  qbt_ga" in out and "changed  qbt_gb" in out
    assert code == 0 and "missing" not in out and "date " not in out
    ga, gb = ledger.account_named("sg1", "qbt_ga"), ledger.account_named("sg1", "qbt_gb")
    assert ga.state == "active" and ledger.username_held("sg1", "qbt_ga")
    assert gb.expires_on == last + dt.timedelta(days=30)
