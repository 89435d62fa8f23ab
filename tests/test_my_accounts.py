"""The buyer's accounts: /akun (and Akun saya on /start) lists what they own, Detail shows
an account again; nobody else sees or opens it. A ledger from the previous release shows
its buyers' accounts too."""

from __future__ import annotations

import datetime as dt
import re
import shutil

from buyer import Buyer
from conftest import server_entry
from test_ledger import SCHEMA_2_FILE

from qrisbot.ledger import Ledger


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
    today = dt.date.today()
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
    old = Buyer(telegram, 503)
    old.says("/akun")
    assert "habis sejak 01-10-2026" in (await old.sees("Akun saya")).text
