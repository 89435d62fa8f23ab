"""After the last day: the buyer is told, may still renew during the grace period, and then
the account is removed from its server and its name and place are free (days pass on the
MockClock through the shop's calendar)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import trio
from buyer import Buyer
from conftest import server_entry

from qrisbot import config
from qrisbot.ledger import Ledger
from qrisbot.shop.calendar import Calendar
from qrisbot.testing import config_for

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")


async def test_an_account_runs_out_is_removed_after_grace_unless_renewed(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path
):
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry(capacity=2)],
                     {"days_per_month": 2, "remind_days": [], "grace_days": 1})
    raw["telegram"]["poll_timeout"] = 50
    cfg = config.parse(raw, {})
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)
    begun = trio.current_time()
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", start))

    def at(day: int, hour: int) -> float:
        return begun + (dt.datetime(2026, 12, day, hour, tzinfo=ZONE) - start).total_seconds()

    neglect, keep, late = Buyer(telegram, 6101), Buyer(telegram, 6102), Buyer(telegram, 6103)
    for buyer, name in ((neglect, "lupa"), (keep, "setia")):
        _, order_id = await buyer.buys(username=name, months=1)  # last day 03-12-2026
        pakasir.pay(order_id)
        await buyer.sees("Akun SSH Anda siap")
    ledger = Ledger.open(cfg.shop.database)
    lupa, setia = ledger.accounts_of(6101)[0], ledger.accounts_of(6102)[0]

    # The day after the last day: told, with the removal day and a Perpanjang button.
    ran_out = await neglect.sees("sudah habis", within=at(4, 1) - trio.current_time())
    assert "aktif sampai 03-12-2026" in ran_out.text and "dihapus pada 05-12-2026" in ran_out.text
    assert ran_out.button_data() == [f"ren:{lupa.id}"]
    notice = await keep.sees("sudah habis")
    # In its grace period an account still holds its name and its place.
    assert ledger.account(lupa.id).state == "expired" and ("sg1", "lupa") in provisioner.accounts
    late.says("/start")
    assert "full:sg1" in (await late.sees("Pilih server")).button_data()

    # One buyer renews from the notice: counted from today, the last day having passed.
    confirm, renewal = await keep.renews(notice.button_data()[0])
    assert "Setelah diperpanjang: <b>06-12-2026</b>" in confirm.text
    pakasir.pay(renewal)
    await keep.sees("diperpanjang sampai 06-12-2026")

    # After the grace day: the neglected one is removed from the server and its owner told;
    # the renewed one stays.
    removed = await neglect.sees("sudah dihapus", within=at(5, 1) - trio.current_time())
    assert "lupa" in removed.text
    assert ("sg1", "lupa") not in provisioner.accounts
    assert ledger.account(lupa.id).state == "removed"
    assert provisioner.accounts[("sg1", "setia")].expires == dt.date(2026, 12, 6)
    assert ledger.account(setia.id).state == "active"
    assert not any("sudah dihapus" in m.body for m in telegram.messages(6102))
    # Its name and its place are free again.
    _, order_id = await late.buys(username="lupa", months=1)
    pakasir.pay(order_id)
    await late.sees("Akun SSH Anda siap")
    neglect.says("/akun")
    assert "sudah dihapus (habis 03-12-2026)" in (await neglect.sees("Akun saya")).text
    await trio.sleep_until(at(5, 12))
    assert sum(m.body.startswith("🗑") for m in telegram.messages(6101)) == 1
