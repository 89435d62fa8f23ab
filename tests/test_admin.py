"""The seller's side in Telegram: /admin, its actions, notifications and /broadcast."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import trio
from buyer import Buyer, eventually
from conftest import server_entry

from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.shop.fulfilment import PROVISION_BACKOFF
from qrisbot.shop.servers import PROBE_DEADLINE, PROBE_INTERVAL

ADMIN = 9001


@pytest.fixture
def admin(telegram):
    return Buyer(telegram, ADMIN)


@pytest.fixture
def shop_with_admin(start_shop, make_config):
    async def start(servers=None, **shop):
        cfg = make_config(servers, shop={"admins": [ADMIN], **shop})
        return await start_shop(cfg)

    return start


async def test_admin_sees_sales_and_switches_a_server_off(
    autojump_clock, shop_with_admin, telegram, buyer, admin, pakasir
):
    cfg = await shop_with_admin([server_entry("sg1"), server_entry("sg2")])
    assert [c["command"] for c in telegram.chat_commands[ADMIN]][-2:] == ["admin", "broadcast"]
    assert "admin" not in [c["command"] for c in telegram.commands]
    _, order_id = await buyer.buys(months=3)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    notice = await admin.sees("Lunas")
    assert order_id in notice.text and "budi_99" in notice.text and "Rp30.000" in notice.text

    # A second buyer is looking at sg2's QR when the seller switches sg2 off.
    other = Buyer(telegram, 5002)
    _, other_order = await other.buys(server="sg2", username="siti_1")

    admin.says("/admin")
    menu = await admin.sees("Admin · Toko Test")
    assert "Hari ini: 1 order · Rp30.000 · biaya Rp520" in menu.text
    assert "30 hari: 1 order" in menu.text and "Menunggu pembayaran: 1" in menu.text
    assert "<b>Perpanjangan</b>\nHari ini: 0 order" in menu.text
    assert "Aktif: sg1 1 · sg2 0" in menu.text and "Habis dalam 3 hari: 0" in menu.text
    assert "Trial hari ini: 0" in menu.text
    admin.taps("adm:srv")
    await eventually(lambda: "Terjual 1" in menu.text)
    assert "Hasil terakhir: OK" in menu.text and "sisa kapasitas 49" in menu.text
    admin.taps("adm:off:sg2")
    await eventually(lambda: "NONAKTIF" in menu.text)
    assert "adm:on:sg2" in menu.button_data()

    third = Buyer(telegram, 5003)
    third.says("/start")
    assert (await third.sees("Pilih server")).button_data() == ["srv:sg1", "cancel"]
    pakasir.pay(other_order)  # its open order still completes
    await other.sees("Akun SSH Anda siap")
    ledger = Ledger.open(cfg.shop.database)
    assert ("server_disabled", f"sg2 by admin {ADMIN}") in ledger.events()


async def test_failed_order_is_retried_or_refunded_from_telegram(
    autojump_clock, shop_with_admin, telegram, buyer, admin, pakasir, provisioner
):
    cfg = await shop_with_admin()
    provisioner.failures_left = 10 * (len(PROVISION_BACKOFF) + 1)
    _, order_id = await buyer.buys()
    pakasir.pay(order_id)
    first = await admin.sees("gagal dibuat")
    assert "disk full" in first.text and "rahasia123" not in first.text
    await admin.sees("perlu Anda", within=3600)
    await buyer.sees("Admin sudah diberi tahu", within=3600)

    admin.says("/admin")
    menu = await admin.sees("Perlu perhatian: 1")
    admin.taps("adm:attn")
    await eventually(lambda: order_id in menu.text)
    assert "disk full" in menu.text
    provisioner.failures_left = 0
    admin.taps(f"adm:retry:{order_id}")
    await admin.sees("dicoba lagi")
    await buyer.sees("Akun SSH Anda siap")
    ledger = Ledger.open(cfg.shop.database)
    await eventually(lambda: ledger.get(order_id).state == L.DELIVERED)
    assert ("retry_requested", f"by admin {ADMIN}") in ledger.events(order_id)

    # A second order fails for good; the seller pays the buyer back and records it.
    provisioner.failures_left = 10 * (len(PROVISION_BACKOFF) + 1)
    _, second = await buyer.buys(username="budi_2")
    pakasir.pay(second)
    await admin.sees("perlu Anda", within=3600)
    admin.says("/admin")
    menu = await admin.sees("Perlu perhatian: 1")
    admin.taps("adm:attn")
    await eventually(lambda: second in menu.text)
    admin.taps(f"adm:refund:{second}")
    confirm = await admin.sees("sudah di-refund</b>?")
    assert ledger.get(second).state == L.FAILED  # nothing until confirmed
    admin.taps(f"adm:refunded:{second}")
    await eventually(lambda: "ditandai sudah di-refund" in confirm.text)
    await buyer.sees("sudah dikembalikan")
    assert ledger.get(second).state == L.REFUNDED
    kind, detail = ledger.events(second)[-1]
    assert kind == "refunded" and detail.startswith(f"by admin {ADMIN} at 20")
    # A second tap on the confirmation (a double tap) changes nothing and says so.
    telegram.user_taps(ADMIN, confirm.message_id, f"adm:refunded:{second}")
    await admin.sees("tidak ada yang diubah")


async def test_strangers_cannot_reach_admin_actions(
    autojump_clock, shop_with_admin, telegram, buyer, pakasir, provisioner
):
    cfg = await shop_with_admin()
    provisioner.failures_left = 10 * (len(PROVISION_BACKOFF) + 1)
    _, order_id = await buyer.buys()
    pakasir.pay(order_id)
    await buyer.sees("Admin sudah diberi tahu", within=3600)
    buyer.says("/admin")
    await buyer.sees("Ketik /start")
    buyer.says("/broadcast hello everyone")
    await buyer.sees("Ketik /start")
    for data in ("adm:srv", "adm:off:sg1", f"adm:retry:{order_id}",
                 f"adm:refunded:{order_id}", "adm:bcgo"):
        telegram.user_taps(buyer.chat_id, 1, data)
        await buyer.sees("tidak berlaku")
    # Not even an admin's chat id helps: the sender is what counts.
    telegram.user_taps(ADMIN, 1, "adm:off:sg1", user_id=buyer.chat_id)
    await trio.sleep(10)
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.get(order_id).state == L.FAILED
    assert ledger.meta("server:sg1:enabled") is None
    assert not any("Admin ·" in m.body or "NONAKTIF" in m.body
                   for m in telegram.messages(buyer.chat_id))


async def test_broadcast_previews_then_reaches_every_buyer_once(
    autojump_clock, shop_with_admin, telegram, admin
):
    await shop_with_admin()
    buyers = [Buyer(telegram, 7000 + n) for n in range(3)]
    for b in buyers:
        b.says("/start")
        await b.sees("Pilih server")
    telegram.block(buyers[2].chat_id)
    admin.says("/broadcast")
    await admin.sees("Ketik /broadcast lalu pesannya")
    admin.says("/broadcast Promo <b>SG2</b> & diskon!\nBaris dua")
    preview = await admin.sees("Promo")
    assert preview.text == "Promo &lt;b&gt;SG2&lt;/b&gt; &amp; diskon!\nBaris dua"
    question = await admin.sees("Kirim pesan di atas ke <b>4</b> pembeli?")
    assert all("Promo" not in m.body for m in telegram.messages(buyers[0].chat_id))
    admin.taps("adm:bcgo")
    done = await admin.sees("Siaran selesai")
    assert "terkirim 3, memblokir bot 1, gagal 0" in done.text  # two buyers and the admin
    for b in buyers[:2]:
        assert [m.text for m in telegram.messages(b.chat_id)].count(preview.text) == 1
    telegram.user_taps(ADMIN, question.message_id, "adm:bcgo")
    await admin.sees("tidak berlaku")
    await trio.sleep(5)
    assert [m.text for m in telegram.messages(buyers[0].chat_id)].count(preview.text) == 1


async def test_admins_hear_when_a_server_stops_answering_and_comes_back(
    autojump_clock, shop_with_admin, admin, buyer, provisioner
):
    await shop_with_admin()
    provisioner.unreachable = True
    down = await admin.sees("tidak menjawab", within=PROBE_INTERVAL + 10)
    assert "Server SG1" in down.text and "cannot connect" in down.text
    # A buyer's username check finds it down too; no second notice for the same outage.
    await buyer.picks_server()
    buyer.says("budi_99")
    await buyer.sees("tidak bisa dihubungi")
    provisioner.unreachable = False
    await admin.sees("menjawab lagi", within=PROBE_INTERVAL + 10)
    assert sum("tidak menjawab" in m.body for m in admin.telegram.messages(ADMIN)) == 1


async def test_a_wedged_server_does_not_stop_the_other_servers_probes(
    autojump_clock, shop_with_admin, admin, provisioner
):
    await shop_with_admin([server_entry("sg1"), server_entry("sg2")])
    provisioner.wedged.add("sg1")  # its calls never return
    provisioner.unreachable = True  # and sg2 is down
    down = await admin.sees("Server SG2 tidak menjawab", within=PROBE_INTERVAL + 10)
    assert "cannot connect" in down.text
    wedged = await admin.sees("Server SG1 tidak menjawab", within=PROBE_DEADLINE + 10)
    assert "no answer within" in wedged.text
    provisioner.unreachable = False
    await admin.sees("Server SG2 menjawab lagi", within=PROBE_INTERVAL + PROBE_DEADLINE + 10)
    provisioner.wedged.clear()
    await admin.sees("Server SG1 menjawab lagi", within=PROBE_INTERVAL + PROBE_DEADLINE + 10)


async def test_daily_summary_reaches_the_admins(
    autojump_clock, shop_with_admin, admin, buyer, pakasir
):
    soon = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Jakarta")) + dt.timedelta(minutes=2)
    await shop_with_admin(daily_summary=soon.strftime("%H:%M"))
    _, order_id = await buyer.buys(months=2)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    buyer.says("/akun")
    renew = [d for d in (await buyer.sees("Akun saya")).button_data() if d.startswith("ren:")]
    _, renewal = await buyer.renews(renew[0], months=1)
    pakasir.pay(renewal)
    await buyer.sees("diperpanjang sampai")
    summary = await admin.sees("Ringkasan 24 jam", within=2 * 86400)
    assert "Dibayar: 2 order · Rp30.000" in summary.text
    assert "Termasuk perpanjangan: 1 order · Rp10.000" in summary.text
    assert "Akun dihapus: 0" in summary.text
    admin.says("/admin")
    menu = await admin.sees("Admin · Toko Test")
    assert "<b>Perpanjangan</b>\nHari ini: 1 order · Rp10.000" in menu.text


async def test_a_long_list_fits_in_one_message_as_telegram_counts_it(
    autojump_clock, shop_with_admin, make_config, telegram, admin
):
    import html
    import re
    import time

    from test_ledger import new_order

    cfg = make_config(shop={"admins": [ADMIN]})
    ledger = Ledger.open(cfg.shop.database)
    # A long server error with characters Telegram counts twice (emoji) or escapes (&, <).
    error = ("useradd: cannot lock /etc/passwd; try again later 🔒 & <retry> " * 12)[:500]
    for n in range(15):
        order = new_order(ledger, f"VPN{n + 1}", chat_id=6000 + n, username=f"pembeli{n}",
                          capacity=100)
        for state in (L.AWAITING, L.PAID, L.PROVISIONING):
            order = ledger.transition(order.id, {order.state}, state, paid_at=time.time())
        ledger.transition(order.id, {L.PROVISIONING}, L.FAILED, last_error=error,
                          needs_attention=1, retryable=0)
    await shop_with_admin()
    admin.says("/admin")
    menu = await admin.sees("Perlu perhatian: 15")
    admin.taps("adm:attn")
    await eventually(lambda: "lainnya" in menu.text)
    # Shown as Telegram shows it, within its limit; every order listed has its buttons.
    visible = html.unescape(re.sub(r"<[^>]+>", "", menu.text))
    assert len(visible.encode("utf-16-le")) // 2 <= 4096
    listed = [n for n in range(1, 16) if f"<code>VPN{n}</code>" in menu.body]
    assert 0 < len(listed) < 15 and f"dan {15 - len(listed)} lainnya" in visible
    assert len([d for d in menu.button_data() if d.startswith("adm:refund:")]) == len(listed)
