"""The buyer's whole purchase, in process, against the loopback fakes (mock clock)."""

from __future__ import annotations

import re

import trio
from buyer import eventually, order_id_of
from conftest import server_entry

from qrisbot import ledger as L
from qrisbot.ledger import Ledger


async def buy_until_qr(buyer, **order):
    return await buyer.buys(**order)


async def test_buyer_pays_and_receives_ssh_account(
    autojump_clock, start_shop, buyer, telegram, pakasir, provisioner
):
    cfg = await start_shop()
    buyer.says("/start")
    menu = await buyer.sees("Selamat datang")
    assert menu.button_data() == ["srv:sg1", "cancel"]
    assert "Rp10.000/bln" in menu.button_labels()[0]
    buyer.taps("srv:sg1")
    await buyer.sees("Ketik <b>username</b>")
    buyer.says("Budi_99")  # lower-cased
    await buyer.sees("password")
    secret_message = buyer.says("rahasia123")
    duration = await buyer.sees("durasi")
    assert (buyer.chat_id, secret_message) in telegram.deleted_user_messages
    assert duration.button_data()[:12] == [f"dur:{n}" for n in range(1, 13)]
    assert "3 bulan · Rp30.000" in duration.button_labels()
    buyer.taps("dur:3")
    confirm = await buyer.sees("Periksa pesanan")
    assert "budi_99" in confirm.text and "Rp30.000" in confirm.text
    buyer.taps("Bayar")
    qr = await buyer.sees(lambda m: m.photo is not None)
    order_id = order_id_of(qr.caption)
    assert re.fullmatch(rf"VPN\d{{13}}{buyer.chat_id}", order_id)
    assert qr.photo.startswith(b"\x89PNG")
    assert "Rp30.000" in qr.caption and "Rp520" in qr.caption and "Rp30.520" in qr.caption
    assert qr.button_data() == [f"qcheck:{order_id}", f"qcancel:{order_id}"]

    paid_at = trio.current_time()
    assert pakasir.pay(order_id)
    account = await buyer.sees("Akun SSH Anda siap")
    assert trio.current_time() - paid_at <= cfg.pakasir.check_interval + 1
    assert "<code>budi_99</code>" in account.text
    assert "<code>rahasia123</code>" in account.text
    assert "sg1.example.com" in account.text
    assert "diterima" in qr.caption and qr.buttons == []
    made = provisioner.accounts[("sg1", "budi_99")]
    assert made.secret == "rahasia123" and made.order_id == order_id

    await eventually(lambda: Ledger.open(cfg.shop.database).get(order_id).state == L.DELIVERED)
    order = Ledger.open(cfg.shop.database).get(order_id)
    assert order.months == 3 and order.amount == 30000 and order.fee == 520


async def test_vless_buyer_gets_links(autojump_clock, start_shop, make_config, buyer, pakasir):
    await start_shop(make_config([server_entry("sg1", "vless")]))
    qr, order_id = await buy_until_qr(buyer, password=None)
    pakasir.pay(order_id)
    account = await buyer.sees("Akun VLESS Anda siap")
    links = re.findall(r"vless://[^<]+", account.text)
    assert len(links) == 2
    assert "@sg1.example.com:443?type=ws&amp;security=tls" in links[0]


async def test_bad_inputs_are_explained_and_nothing_is_charged(
    autojump_clock, start_shop, buyer, pakasir
):
    await start_shop()
    await buyer.picks_server()
    for bad in ("ab", "1budi", "budi; rm -rf /", "b" * 17, "budi$(id)"):
        buyer.says(bad)
        await buyer.sees("Username tidak valid")
    buyer.says("budi")
    await buyer.sees("password")
    for bad in ("short", "has space1", "colon:pass", "x" * 33):
        buyer.says(bad)
        await buyer.sees("Password tidak valid")
    buyer.says("hello")
    await buyer.sees("Password tidak valid")
    assert pakasir.calls == []


async def test_username_taken_on_server_or_in_ledger_is_refused_before_payment(
    autojump_clock, start_shop, telegram, pakasir, provisioner
):
    from buyer import Buyer

    await start_shop()
    provisioner.take("sg1", "andi")
    first, second = Buyer(telegram, 7001), Buyer(telegram, 7002)
    await first.picks_server()
    first.says("andi")
    await first.sees("sudah dipakai")
    # A pending order holds its username too.
    _, order_id = await buy_until_qr(second, username="citra")
    first.says("citra")
    await first.sees("sudah dipakai")
    assert pakasir.count("create") == 1


async def test_timeout_cancels_at_pakasir_and_removes_the_qr(
    autojump_clock, start_shop, buyer, telegram, pakasir
):
    cfg = await start_shop()
    qr, order_id = await buy_until_qr(buyer)
    started = trio.current_time()
    await buyer.sees("Waktu pembayaran habis", within=400)
    assert 299 <= trio.current_time() - started <= 310
    assert pakasir.transactions[order_id].status == "canceled"
    assert qr.deleted
    # The QR was checked about every 5 s.
    assert 55 <= pakasir.count("status", pakasir.transactions[order_id].txn_id) <= 62
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.EXPIRED
    # The buyer can start again.
    buyer.says("/start")
    await buyer.sees("Pilih server")


async def test_payment_landing_at_the_last_moment_wins(
    autojump_clock, start_shop, buyer, pakasir
):
    cfg = await start_shop()
    qr, order_id = await buy_until_qr(buyer)
    # The buyer pays after the last regular check; the expiry's cancel is refused and its
    # final status check finds the payment.
    await trio.sleep(297)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap", within=30)
    assert pakasir.count("cancel") == 1
    assert Ledger.open(cfg.shop.database).get(order_id).state in (L.PROVISIONED, L.DELIVERED)


async def test_buyer_cancels_the_qr(autojump_clock, start_shop, buyer, pakasir):
    cfg = await start_shop()
    qr, order_id = await buy_until_qr(buyer)
    buyer.taps(f"qcancel:{order_id}")
    await buyer.sees("dibatalkan")
    assert qr.deleted
    assert pakasir.transactions[order_id].status == "canceled"
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.CANCELLED
    checks = pakasir.count("status")
    await trio.sleep(60)
    assert pakasir.count("status") == checks  # nothing watches a cancelled order


async def test_one_open_order_per_buyer(autojump_clock, start_shop, buyer, pakasir):
    await start_shop()
    qr, order_id = await buy_until_qr(buyer)
    await buyer.orders(username="other_name", password="another123", months=1)
    buyer.taps("pay")
    refused = await buyer.sees("masih punya pesanan")
    assert order_id in refused.text
    assert pakasir.count("create") == 1


async def test_qr_failure_offers_retry_of_the_same_order(
    autojump_clock, start_shop, buyer, pakasir
):
    from qrisbot.testing.fake_pakasir import Fault

    cfg = await start_shop()
    pakasir.fail("create", Fault(503, b"<html>bad gateway</html>"))
    await buyer.orders(username="dewi", password="dewi12345", months=1)
    buyer.taps("pay")
    failed = await buyer.sees("gagal dibuat")
    retry = next(d for d in failed.button_data() if d.startswith("retry:"))
    buyer.taps(retry)
    qr = await buyer.sees(lambda m: m.photo is not None)
    # The failed order was closed at once (its name and place freed); the retry placed the
    # same purchase again.
    ledger = Ledger.open(cfg.shop.database)
    old, new = ledger.get(retry.removeprefix("retry:")), ledger.get(order_id_of(qr.caption))
    assert old.state == L.CANCELLED and new.state == L.AWAITING
    assert (new.username, new.secret, new.months, new.server_id) == (
        "dewi", "dewi12345", 1, old.server_id)


async def test_provisioning_failure_tells_buyer_payment_is_safe_then_retries(
    autojump_clock, start_shop, buyer, pakasir, provisioner
):
    cfg = await start_shop()
    provisioner.failures_left = 2
    qr, order_id = await buy_until_qr(buyer)
    pakasir.pay(order_id)
    await buyer.sees("Pembayaran Anda <b>aman</b>")
    await buyer.sees("Akun SSH Anda siap", within=120)
    ledger = Ledger.open(cfg.shop.database)
    assert [k for k, _ in ledger.events(order_id)].count("provision_failed") == 2
    assert provisioner.creates == 3


async def test_groups_are_ignored_politely(autojump_clock, start_shop, telegram):
    await start_shop()
    telegram.user_sends(-100123, "/start", chat_type="supergroup", user_id=42)
    telegram.user_sends(-100123, "hello everyone", chat_type="supergroup", user_id=42)
    await trio.sleep(5)
    sent = telegram.messages(-100123)
    assert len(sent) == 1 and "pribadi" in sent[0].text


async def test_stale_and_forged_buttons_change_nothing(
    autojump_clock, start_shop, buyer, telegram, pakasir
):
    cfg = await start_shop()
    qr, order_id = await buy_until_qr(buyer)
    intruder = 6666
    telegram.user_taps(intruder, qr.message_id, f"qcancel:{order_id}")
    telegram.user_taps(intruder, 1, "x" * 300)
    telegram.user_taps(intruder, 1, "srv:../../etc")
    telegram.user_taps(buyer.chat_id, 1, "srv:sg1")  # the old menu
    await buyer.sees("tidak berlaku")
    await trio.sleep(5)
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.AWAITING
    assert pakasir.transactions[order_id].status == "pending"
    assert all("VPN" not in m.body for m in telegram.messages(intruder))


async def test_legacy_v1_api_flow(autojump_clock, start_shop, make_config, buyer, pakasir):
    cfg = await start_shop(make_config(api_version=1))
    qr, order_id = await buy_until_qr(buyer)
    assert pakasir.transactions[order_id].txn_id not in qr.caption
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    assert Ledger.open(cfg.shop.database).get(order_id).txn_id == order_id
    assert pakasir.count("status", order_id) >= 1


async def test_expiry_waits_for_pakasir_to_confirm(autojump_clock, start_shop, buyer, pakasir):
    from qrisbot.testing.fake_pakasir import Fault

    cfg = await start_shop()
    qr, order_id = await buy_until_qr(buyer)
    await trio.sleep(290)
    pakasir.fail("cancel", Fault(503, b"{}"), times=8)
    await trio.sleep(60)
    ledger = Ledger.open(cfg.shop.database)
    # Pakasir has not confirmed the cancel: the order is not declared dead yet, but the
    # QR is already gone so nobody scans it.
    assert ledger.get(order_id).state == L.AWAITING and qr.deleted
    await buyer.sees("Waktu pembayaran habis", within=1200)
    assert ledger.get(order_id).state == L.EXPIRED
    assert pakasir.transactions[order_id].status == "canceled"


async def test_exhausted_provisioning_waits_for_admin_and_resumes_on_restart(
    autojump_clock, make_config, buyer, pakasir, provisioner, nursery
):
    from functools import partial

    from qrisbot import app

    cfg = make_config()
    provisioner.failures_left = 100
    async with trio.open_nursery() as first:
        await first.start(partial(app.run, cfg, backends=provisioner))
        qr, order_id = await buy_until_qr(buyer)
        pakasir.pay(order_id)
        await buyer.sees("Pembayaran Anda <b>aman</b>")
        await buyer.sees("Admin sudah diberi tahu", within=3 * 3600)
        order = Ledger.open(cfg.shop.database).get(order_id)
        assert order.state == L.FAILED and order.needs_attention and order.retryable
        first.cancel_scope.cancel()
    provisioner.failures_left = 0  # the server is fixed
    await nursery.start(partial(app.run, cfg, backends=provisioner))
    await buyer.sees("Akun SSH Anda siap")
    assert len(provisioner.accounts) == 1


async def test_username_taken_after_payment_is_not_retried(
    autojump_clock, start_shop, buyer, pakasir, provisioner
):
    cfg = await start_shop()
    qr, order_id = await buy_until_qr(buyer)
    provisioner.take("sg1", "budi_99")  # someone made it on the server meanwhile
    pakasir.pay(order_id)
    await buyer.sees("Admin sudah diberi tahu")
    order = Ledger.open(cfg.shop.database).get(order_id)
    assert order.state == L.FAILED and order.needs_attention and not order.retryable
    assert provisioner.creates == 1
