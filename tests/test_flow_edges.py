"""Purchase-flow edges a buyer or operator would notice."""

from __future__ import annotations

import base64
import json
import re
import uuid

import trio
from buyer import Buyer, eventually, order_id_of
from conftest import server_entry
from test_purchase import buy_until_qr
from test_ssh_provisioning import XRAY_LAYOUT

from qrisbot import ledger as L
from qrisbot.config import Server, SshAccess, Xray
from qrisbot.ledger import Ledger
from qrisbot.provision import Account, details, links
from qrisbot.provision.ssh.connections import Connections
from qrisbot.testing.fake_pakasir import Fault


async def test_cancel_works_at_every_step(autojump_clock, start_shop, buyer, pakasir):
    await start_shop()
    steps = [("srv:sg1", None), ("username", "budi"), ("password", "budi12345"),
             ("durasi", None)]
    for depth in range(len(steps) + 1):
        await buyer.picks_server()
        if depth >= 1:
            buyer.says("budi")
            await buyer.sees("password")
        if depth >= 2:
            buyer.says("budi12345")
            await buyer.sees("durasi")
        if depth >= 3:
            buyer.taps("dur:1")
            await buyer.sees("Periksa")
        if depth % 2:
            buyer.says("/cancel")
        else:
            buyer.taps("Batal")
        await buyer.sees("Pembelian dibatalkan")
    buyer.says("/cancel")
    await buyer.sees("Tidak ada pembelian")
    # Nothing was created or asked about at Pakasir (the confirmation read its fee table).
    assert {call for call, _ in pakasir.calls} == {"fee"}


async def test_full_server_is_shown_full_and_cannot_be_chosen(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    cfg = await start_shop(make_config([server_entry("sg1", capacity=1),
                                        server_entry("sg2")]))
    first = Buyer(telegram, 9001)
    await buy_until_qr(first)  # holds the only place on sg1
    second = Buyer(telegram, 9002)
    second.says("/start")
    menu = await second.sees("Pilih server")
    assert "PENUH" in menu.button_labels()[0] and "PENUH" not in menu.button_labels()[1]
    second.taps("full:sg1")
    await second.sees("sudah penuh")
    assert Ledger.open(cfg.shop.database).draft(9002)["step"] == "server"


async def test_disabled_server_is_hidden(autojump_clock, start_shop, make_config, buyer):
    await start_shop(make_config([server_entry("sg1", enabled=False), server_entry("sg2")]))
    buyer.says("/start")
    menu = await buyer.sees("Pilih server")
    assert menu.button_data() == ["srv:sg2", "cancel"]
    buyer.user = None
    buyer.telegram.user_taps(buyer.chat_id, menu.message_id, "srv:sg1")  # forged
    await buyer.sees("tidak tersedia")


async def test_pakasir_and_telegram_trouble_delays_but_does_not_lose_the_order(
    autojump_clock, start_shop, buyer, telegram, pakasir
):
    await start_shop()
    telegram.fail("sendPhoto", 429, "Too Many Requests: retry after 3", retry_after=3)
    qr, order_id = await buy_until_qr(buyer)
    pakasir.fail("status", Fault(502, b"<html>Bad Gateway</html>"), times=3)
    pakasir.fail("status", Fault(200, b'{"status": '))
    pakasir.fail("status", Fault(delay=60))
    pakasir.pay(order_id)
    telegram.fail("editMessageCaption", 500, "Internal Server Error", times=2)
    telegram.fail("sendMessage", 0, "", drop=True)
    await buyer.sees("Akun SSH Anda siap", within=200)
    assert "diterima" in qr.caption


async def test_blocked_buyer_does_not_stop_the_shop(
    autojump_clock, start_shop, buyer, telegram, pakasir
):
    cfg = await start_shop()
    qr, order_id = await buy_until_qr(buyer)
    telegram.block(buyer.chat_id)
    pakasir.pay(order_id)
    ledger = Ledger.open(cfg.shop.database)
    await eventually(lambda: ledger.get(order_id).state == L.PROVISIONED, 60)
    await trio.sleep(10)
    # The account is kept (for a resend) and other buyers are served.
    assert ledger.get(order_id).state == L.PROVISIONED
    other = Buyer(telegram, 4242)
    other.says("/start")
    await other.sees("Pilih server")


async def test_english_texts(autojump_clock, start_shop, make_config, buyer):
    cfg = make_config()
    import attrs

    cfg = attrs.evolve(cfg, shop=attrs.evolve(cfg.shop, language="en"))
    await start_shop(cfg)
    buyer.says("/help")
    await buyer.sees("How to buy")
    buyer.says("/start")
    menu = await buyer.sees("Pick a server")
    assert "Rp10.000/mo" in menu.button_labels()[0]


async def test_a_restart_mid_dialogue_continues_where_the_buyer_was(
    start_shop, make_config, telegram, buyer, nursery
):
    from functools import partial

    from qrisbot import app
    from qrisbot.testing.local_provisioner import LocalProvisioner

    cfg = make_config()
    async with trio.open_nursery() as first:
        await first.start(partial(app.run, cfg, backends=LocalProvisioner()))
        await buyer.picks_server(within=20)
        first.cancel_scope.cancel()
    await nursery.start(partial(app.run, cfg, backends=LocalProvisioner()))
    buyer.says("budi")
    await buyer.sees("password", 20)


def test_share_links_decode_to_what_clients_expect():
    uid = str(uuid.uuid4())
    tls = links.Endpoint("sg.example.com", 443, True, "ws", "/vmess")
    body = json.loads(base64.b64decode(links.vmess(uid, tls, "budi 1").removeprefix("vmess://")))
    assert body == {"v": "2", "ps": "budi 1", "add": "sg.example.com", "port": "443",
                    "id": uid, "aid": "0", "scy": "auto", "net": "ws", "type": "none",
                    "host": "sg.example.com", "path": "/vmess", "tls": "tls",
                    "sni": "sg.example.com"}
    trojan = links.trojan("pa ss", links.Endpoint("t.example.com", 443, True, "grpc", "tr"),
                          "a#b")
    assert trojan == ("trojan://pa%20ss@t.example.com:443?type=grpc&security=tls&"
                      "serviceName=tr&mode=gun&sni=t.example.com#a%23b")


async def test_vless_bought_in_telegram_lands_in_the_servers_config(
    start_shop, make_config, buyer, pakasir, sshd, tmp_path, telegram
):
    from qrisbot.provision import SshProvisioner

    config_file = tmp_path / "xray.json"
    config_file.write_text(XRAY_LAYOUT)
    entry = server_entry("sg1", "vless", ssh=sshd.access(), xray={
        "config": str(config_file), "markers": ["#vless", "#vlessgrpc"], "prefix": "#&",
        "restart": "true", "path": "/vless", "grpc_service": "vless-grpc"})
    cfg = make_config([entry], check_interval=4, payment_timeout=60)
    await start_shop(cfg, backends=SshProvisioner(Connections()))
    qr, order_id = await buy_until_qr(buyer, username="vina", password=None)
    paid = trio.current_time()
    pakasir.pay(order_id)
    account = await buyer.sees("Akun VLESS Anda siap", 30)
    assert trio.current_time() - paid < cfg.pakasir.check_interval + 5
    secret = re.search(r"vless://([0-9a-f-]{36})@", account.text).group(1)
    text = config_file.read_text()
    assert '#& vina ' in text and text.count(f'"id": "{secret}", "email": "vina"') == 2
    assert "serviceName=vless-grpc" in account.text


async def test_two_buyers_at_once_on_one_server_both_get_working_accounts(
    start_shop, make_config, telegram, pakasir, sshd, linux_users
):
    from qrisbot.provision import SshProvisioner

    linux_users.extend(["qbt_twin1", "qbt_twin2"])
    cfg = make_config([server_entry("sg1", ssh=sshd.access())], check_interval=4,
                      payment_timeout=60)
    await start_shop(cfg, backends=SshProvisioner())
    twins = [Buyer(telegram, 9101), Buyer(telegram, 9102)]
    orders = []
    for n, twin in enumerate(twins, 1):
        _, order_id = await buy_until_qr(twin, username=f"qbt_twin{n}",
                                         password=f"twin-pass{n}")
        orders.append(order_id)
    for order_id in orders:  # both pay in the same instant
        pakasir.pay(order_id)
    async with trio.open_nursery() as nursery:
        for twin in twins:
            nursery.start_soon(twin.sees, "Akun SSH Anda siap", 30)
    import paramiko

    for n in (1, 2):
        transport = paramiko.Transport(("127.0.0.1", sshd.port))
        transport.start_client(timeout=10)
        transport.auth_password(f"qbt_twin{n}", f"twin-pass{n}")
        assert transport.is_authenticated()
        transport.close()


def test_details_never_hold_more_than_the_order():
    server = Server(id="sg1", name="SG", protocol="trojan", domain="t.example.com",
                    price_per_month=1000, ssh=SshAccess(host="h", key_file="k", known_hosts="k"),
                    xray=Xray(markers=("#trojanws",), prefix="#!", path="/trojan-ws"))
    import datetime as dt

    info = details(server, Account(order_id="VPN1", username="budi", secret=str(uuid.uuid4()),
                                   expires=dt.date(2027, 1, 1), months=1, days=30))
    assert info["links"][0][1].startswith("trojan://")
    assert order_id_of("Order VPN123") == "VPN123"
