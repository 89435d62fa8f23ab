"""Pakasir's webhook: a hint that is verified, never trusted; the checker stays as fallback."""

from __future__ import annotations

import json

import pytest
import trio
from buyer import Buyer
from conftest import server_entry
from sshd import free_port

from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.testing.fake_pakasir import Fault

SECRET = "whsec-0123456789abcdef"


@pytest.fixture
async def hooked(start_shop, make_config):
    port = free_port()
    cfg = make_config(webhook_listen=f"127.0.0.1:{port}", webhook_secret=SECRET,
                      webhook_path="/pakasir/webhook", webhook_fallback_interval=30)
    await start_shop(cfg)
    return cfg, f"http://127.0.0.1:{port}/pakasir/webhook"


async def test_webhook_delivers_at_once_and_a_replay_changes_nothing(
    hooked, buyer, pakasir, telegram, provisioner
):
    cfg, url = hooked
    qr, order_id = await buyer.buys()
    await trio.sleep(6)
    assert pakasir.count("status") == 0  # with the webhook on, polling is a 30 s fallback
    pakasir.pay(order_id)
    paid = trio.current_time()
    assert await pakasir.notify(url, order_id, secret=SECRET) == 200
    await buyer.sees("Akun SSH Anda siap", within=5)
    assert trio.current_time() - paid < 2
    for _ in range(3):  # Pakasir retries, or someone replays it
        assert await pakasir.notify(url, order_id, secret=SECRET) == 200
    await trio.sleep(2)
    assert provisioner.creates == 1
    assert sum("Akun SSH" in m.body for m in telegram.messages(buyer.chat_id)) == 1
    # Pakasir calls for this paid order: create, one status check for the notice.
    assert pakasir.count("create") + pakasir.count("status") + pakasir.count("cancel") <= 3


async def test_forged_or_wrong_notices_change_nothing(hooked, buyer, pakasir):
    cfg, url = hooked
    qr, order_id = await buyer.buys()
    amount = pakasir.transactions[order_id].amount
    body = json.dumps({"order_id": order_id, "amount": amount, "status": "completed"}).encode()
    assert await pakasir.notify(url, order_id, secret=None, body=body) == 401
    assert await pakasir.notify(url, order_id, secret="whsec-guess", body=body) == 401
    # The right secret, but the buyer has not paid: Pakasir's status says so.
    assert await pakasir.notify(url, order_id, secret=SECRET, body=body) == 409
    wrong = json.dumps({"order_id": order_id, "amount": 1, "status": "completed"}).encode()
    assert await pakasir.notify(url, order_id, secret=SECRET, body=wrong) == 409
    unknown = json.dumps({"order_id": "VPN123", "amount": amount}).encode()
    assert await pakasir.notify(url, order_id, secret=SECRET, body=unknown) == 404
    for junk in (b"", b"{", b"[]", b'{"order_id": "../x", "amount": 5}', b"\xff" * 100,
                 b'{"order_id": "VPN1", "amount": true}', b"[" * 10000,
                 b'{"a": ' * 2000):
        assert await pakasir.notify(url, order_id, secret=SECRET, body=junk) == 400
    assert await pakasir.notify(url, order_id, secret=SECRET, body=b"x" * 20000) == 413
    ledger = Ledger.open(hooked[0].shop.database)
    assert ledger.get(order_id).state == L.AWAITING


async def test_notice_without_content_type_or_as_a_form_is_read(hooked, buyer, pakasir):
    cfg, url = hooked
    qr, order_id = await buyer.buys()
    pakasir.pay(order_id)
    amount = pakasir.transactions[order_id].amount
    form = f"order_id={order_id}&amount={amount}&status=completed".encode()
    assert await pakasir.notify(url, order_id, secret=SECRET, body=form,
                                content_type=None) == 200
    await buyer.sees("Akun SSH Anda siap", within=5)


async def test_pakasir_down_during_notice_asks_for_a_retry(hooked, buyer, pakasir):
    cfg, url = hooked
    qr, order_id = await buyer.buys()
    pakasir.pay(order_id)
    pakasir.fail("status", Fault(502, b"bad gateway"))
    assert await pakasir.notify(url, order_id, secret=SECRET) == 503
    assert await pakasir.notify(url, order_id, secret=SECRET) == 200
    await buyer.sees("Akun SSH Anda siap", within=5)


async def test_fallback_polling_still_delivers_when_the_notice_is_lost(
    autojump_clock, hooked, buyer, pakasir
):
    cfg, url = hooked
    qr, order_id = await buyer.buys()
    pakasir.pay(order_id)  # no notice ever arrives
    await buyer.sees("Akun SSH Anda siap", within=35)


async def test_late_payment_by_webhook_is_fulfilled(
    autojump_clock, start_shop, make_config, buyer, pakasir, telegram, provisioner
):
    port = free_port()
    cfg = make_config(webhook_listen=f"127.0.0.1:{port}", webhook_secret=SECRET,
                      payment_timeout=60)
    await start_shop(cfg)
    url = f"http://127.0.0.1:{port}/pakasir/webhook"
    qr, order_id = await buyer.buys()
    await buyer.sees("Waktu pembayaran habis", within=120)
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.EXPIRED
    # The buyer scanned in time; the bank settles it after the shop cancelled.
    pakasir.pay(order_id, settled_late=True)
    assert await pakasir.notify(url, order_id, secret=SECRET) == 200
    await buyer.sees("Akun SSH Anda siap", within=30)
    events = [kind for kind, _ in Ledger.open(cfg.shop.database).events(order_id)]
    assert "late_payment" in events


async def test_late_payment_whose_username_was_taken_goes_to_the_admin(
    autojump_clock, start_shop, make_config, pakasir, telegram, provisioner
):
    port = free_port()
    cfg = make_config(webhook_listen=f"127.0.0.1:{port}", webhook_secret=SECRET,
                      payment_timeout=60)
    await start_shop(cfg)
    url = f"http://127.0.0.1:{port}/pakasir/webhook"
    late, quick = Buyer(telegram, 7301), Buyer(telegram, 7302)
    qr, order_id = await late.buys(username="sama")
    await late.sees("Waktu pembayaran habis", within=120)
    await quick.buys(username="sama")  # the name is free again and someone reserves it
    pakasir.pay(order_id, settled_late=True)
    assert await pakasir.notify(url, order_id, secret=SECRET) == 200
    await late.sees("Admin sudah diberi tahu", within=30)
    order = Ledger.open(cfg.shop.database).get(order_id)
    assert order.state == L.FAILED and order.needs_attention and not order.retryable
    assert provisioner.creates == 0


async def test_webhook_needs_a_secret(make_config):
    from qrisbot.config import ConfigError

    with pytest.raises(ConfigError, match="webhook_secret"):
        make_config(webhook_listen="127.0.0.1:8787")
    assert server_entry()  # the shared helper stays importable here
