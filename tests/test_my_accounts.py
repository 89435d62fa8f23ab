"""The buyer's accounts: /akun (and Akun saya on /start) lists what they own, Detail shows
an account again; nobody else sees or opens it. A ledger from the previous release shows
its buyers' accounts too."""

from __future__ import annotations

import datetime as dt
import re
import shutil

from buyer import Buyer, eventually
from conftest import server_entry
from test_ledger import SCHEMA_2_FILE

from qrisbot.ledger import Ledger


def shop_today() -> dt.date:
    """Today where the shop is (Asia/Jakarta), which need not be this machine's today."""
    import zoneinfo

    return dt.datetime.now(zoneinfo.ZoneInfo("Asia/Jakarta")).date()


async def test_a_buyer_sees_their_accounts_and_their_details(
    autojump_clock, start_shop, make_config, buyer, pakasir, telegram
):
    cfg = await start_shop(make_config([server_entry("sg1"), server_entry("sg2")]))
    buyer.says("/start")
    menu = await buyer.sees("Pilih server")
    assert "acc" not in menu.button_data()  # owns nothing yet
    buyer.says("/akun")
    await buyer.sees("belum punya akun")

    _, order_id = await buyer.buys(username="budi_99", password="rahasia123", months=2)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    _, second = await buyer.buys(username="budi_dua", password="rahasia456", months=1,
                                 server="sg2")
    pakasir.pay(second)
    await buyer.sees("Akun SSH Anda siap")

    buyer.says("/start")
    menu = await buyer.sees("Pilih server")
    assert "acc" in menu.button_data()
    buyer.taps("acc")
    listing = await buyer.sees("Akun saya")
    # Soonest expiry first, each with its server, protocol, name, date and days left.
    today = shop_today()
    first_end, second_end = today + dt.timedelta(days=30), today + dt.timedelta(days=60)
    assert listing.text.index("budi_dua") < listing.text.index("budi_99")
    assert (f"1. Server SG2 · SSH · <code>budi_dua</code>\n   aktif sampai "
            f"{first_end:%d-%m-%Y} (31 hari lagi)") in listing.text
    assert f"aktif sampai {second_end:%d-%m-%Y} (61 hari lagi)" in listing.text
    assert "rahasia" not in listing.text  # secrets only in Detail
    details = [d for d in listing.button_data() if d.startswith("acd:")]
    assert len(details) == 2

    buyer.taps(details[1])
    detail = await buyer.sees("Akun SSH Anda</b> · Server SG1")
    assert "<code>budi_99</code>" in detail.text and "<code>rahasia123</code>" in detail.text
    assert f"{second_end:%d-%m-%Y}" in detail.text

    # Another buyer forging the button, or typing /akun, sees nothing of it.
    stranger = Buyer(telegram, 5099)
    telegram.user_taps(stranger.chat_id, 1, details[1])
    await stranger.sees("tidak berlaku")
    stranger.says("/accounts")
    await stranger.sees("belum punya akun")
    for forged in ("acd:999999", "ren:0"):  # no such account
        telegram.user_taps(stranger.chat_id, 1, forged)
        await stranger.sees("tidak berlaku")
    # Data the shop never sends (more digits than an account id can have) is not answered.
    stale = len([m for m in telegram.messages(5099) if "tidak berlaku" in m.body])
    for forged in ("acd:" + "9" * 40, "ren:" + "9" * 19, "ren:-1", "acd:", "acc:1"):
        telegram.user_taps(stranger.chat_id, 1, forged)
    telegram.user_taps(stranger.chat_id, 1, "ren:7")
    await stranger.sees("tidak berlaku")
    assert len([m for m in telegram.messages(5099) if "tidak berlaku" in m.body]) == stale + 1
    assert not any("rahasia123" in m.body for m in telegram.messages(5099))
    ledger = Ledger.open(cfg.shop.database)
    assert [a.username for a in ledger.accounts_of(buyer.chat_id)] == ["budi_dua", "budi_99"]


async def test_accounts_from_the_previous_release_are_listed_and_an_undelivered_one_sent(
    autojump_clock, start_shop, make_config, telegram, tmp_path
):
    import itertools

    cfg = make_config([server_entry("sg1"), server_entry("sg2", "vless")])
    shutil.copy(SCHEMA_2_FILE, cfg.shop.database)
    telegram._update_ids = itertools.count(100)  # Telegram's ids go on past the kept offset
    await start_shop(cfg)
    # Made but never delivered before the upgrade: sent when the shop starts.
    late = Buyer(telegram, 504)
    account = await late.sees("Akun SSH Anda siap")
    assert "<code>belum_kirim</code>" in account.text and "VPN1004" in account.text
    owner = Buyer(telegram, 501)
    owner.says("/akun")
    listing = await owner.sees("Akun saya")
    assert re.search(r"1\. Server SG1 · SSH · <code>budi_99</code>", listing.text)
    assert "2. Server SG1 · SSH · <code>budi_dua</code>" in listing.text
    vless = Buyer(telegram, 502)
    vless.says("/akun")
    await vless.sees("VLESS · <code>siti</code>")
    # Long past its last day and its grace: removed from the server at the first look,
    # quietly (it is not news), and listed as removed.
    ledger = Ledger.open(cfg.shop.database)
    (lama,) = ledger.accounts_of(503)
    await eventually(lambda: ledger.account(lama.id).state == "removed")
    old = Buyer(telegram, 503)
    old.says("/akun")
    listing = await old.sees("Akun saya")
    assert "sudah dihapus (habis 01-10-2026)" in listing.text
    assert "ren:" not in " ".join(listing.button_data())
    assert not any("dihapus" in m.body and "Akun saya" not in m.body
                   for m in telegram.messages(503))


async def test_a_renewal_adds_exactly_the_paid_months_to_the_current_last_day(
    autojump_clock, start_shop, buyer, pakasir, telegram, provisioner
):
    cfg = await start_shop()
    _, order_id = await buyer.buys(username="budi_99", password="rahasia123", months=1)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(buyer.chat_id)
    old_end = account.expires_on
    assert old_end == shop_today() + dt.timedelta(days=30)

    buyer.says("/akun")
    listing = await buyer.sees("Akun saya")
    assert f"ren:{account.id}" in listing.button_data()
    buyer.taps(f"ren:{account.id}")
    await buyer.sees("Pilih berapa bulan")
    buyer.taps("dur:2")
    confirm = await buyer.sees("Periksa perpanjangan")
    new_end = old_end + dt.timedelta(days=60)  # counted from the last day, not from today
    assert f"Aktif sampai: {old_end:%d-%m-%Y}" in confirm.text
    assert f"Setelah diperpanjang: <b>{new_end:%d-%m-%Y}</b>" in confirm.text
    assert "Rp20.000" in confirm.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    renewal = re.search(r"VPN\d+", qr.caption).group(0)
    # A stranger's forged Perpanjang does nothing.
    telegram.user_taps(5098, 1, f"ren:{account.id}")
    await Buyer(telegram, 5098).sees("tidak berlaku")
    pakasir.pay(renewal)
    done = await buyer.sees("diperpanjang sampai")
    assert f"diperpanjang sampai {new_end:%d-%m-%Y}" in done.text
    assert "<code>rahasia123</code>" in done.text  # same account, same password
    assert ledger.account(account.id).expires_on == new_end
    assert ledger.get(renewal).account_id == account.id
    assert provisioner.extends == 1 and provisioner.creates == 1
    assert provisioner.accounts[("sg1", "budi_99")].expires == new_end
    # Still one account, one place on the server; the listing shows the new date.
    assert len(ledger.accounts_of(buyer.chat_id)) == 1
    assert ledger.active_count("sg1") == 1
    buyer.says("/akun")
    assert f"aktif sampai {new_end:%d-%m-%Y}" in (await buyer.sees("Akun saya")).text


async def test_an_account_in_its_grace_period_is_renewed_from_today_and_made_again_if_gone(
    autojump_clock, start_shop, make_config, telegram, pakasir, provisioner
):
    import itertools
    import zoneinfo

    from qrisbot.shop.calendar import Calendar

    cfg = make_config([server_entry("sg1"), server_entry("sg2", "vless")])
    shutil.copy(SCHEMA_2_FILE, cfg.shop.database)
    telegram._update_ids = itertools.count(100)
    # "siti" (VLESS on sg2, a server no longer on sale) ran out on 05-12-2026; on the 6th it
    # is in its grace day.
    today = dt.datetime(2026, 12, 6, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Jakarta"))
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", today))
    owner = Buyer(telegram, 502)
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(502)
    owner.says("/akun")
    await owner.sees("habis sejak 05-12-2026")
    confirm, renewal = await owner.renews(f"ren:{account.id}")
    assert "Setelah diperpanjang: <b>05-01-2027</b>" in confirm.text  # from today
    pakasir.pay(renewal)
    # The server no longer had it: made again with the same name and UUID.
    done = await owner.sees("diperpanjang sampai 05-01-2027")
    assert account.secret in done.text
    made = provisioner.accounts[("sg2", "siti")]
    assert (made.order_id, made.secret, made.expires) == (
        "VPN1002", account.secret, dt.date(2027, 1, 5))
    renewed = ledger.account(account.id)
    assert (renewed.expires_on, renewed.state) == (dt.date(2027, 1, 5), "active")
