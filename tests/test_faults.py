"""The fault suite: Pakasir, Telegram and the servers misbehave. For each fault the shop keeps
running, nothing paid is lost, the buyer and the admin hear what a person needs to know, and
it recovers by itself when the fault clears. RELIABILITY.md has the table of outcomes.

Quick form in the test command; the long form keeps each fault up longer (more consecutive
failed calls, more failed provisioning attempts before it clears):
    QRISBOT_FAULT_TIMES=40 .venv/bin/pytest tests/test_faults.py
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import trio
from buyer import Buyer, buy_on_each, eventually
from conftest import server_entry
from sshd import keygen
from tcp_proxy import Proxy

from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.provision import SshProvisioner
from qrisbot.testing.fake_pakasir import Fault

ADMIN = 9001
TIMES = int(os.environ.get("QRISBOT_FAULT_TIMES", "4"))  # consecutive failures per fault
ATTEMPTS = 1 if TIMES <= 4 else 3  # failed provisioning attempts before a server fault clears


@pytest.fixture
def admin(telegram):
    return Buyer(telegram, ADMIN)


@pytest.fixture
def shop(start_shop, make_config):
    async def start(servers=None, *, run=None, **settings):
        return await start_shop(make_config(servers, shop={"admins": [ADMIN]}, **settings),
                                **(run or {}))

    return start


async def still_serving(telegram) -> None:
    """The daemon is alive: a new buyer gets the menu."""
    other = Buyer(telegram, 4999)
    other.says("/start")
    await other.sees("Pilih server", within=120)


def completed(order_id: str, amount: int) -> bytes:
    return json.dumps({"transaction": {"order_id": order_id, "amount": amount,
                                       "status": "completed"}}).encode()


# --- Pakasir ----------------------------------------------------------------------------------

STATUS_FAULTS = {
    "429 Too Many Requests": Fault(429, b'{"message": "rate limited"}'),
    "500": Fault(500),
    "502 (HTML body)": Fault(502, b"<html>502 Bad Gateway</html>"),
    "timeout": Fault(delay=60),  # longer than the client's 20 s
    "dropped connection": Fault(drop=True),
    "malformed JSON": Fault(200, b"{this is not json"),
    "truncated JSON": Fault(200, b'{"transaction": {"status": "compl'),
    "unknown order (404)": Fault(404, b'{"message": "transaction not found"}'),
}


@pytest.mark.parametrize("name", list(STATUS_FAULTS))
async def test_pakasir_status_faults_delay_but_never_lose_a_payment(
    autojump_clock, shop, buyer, pakasir, telegram, name
):
    await shop()
    _, order_id = await buyer.buys()
    pakasir.fail("status", STATUS_FAULTS[name], times=TIMES)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap", within=300 + 400 * TIMES)
    await still_serving(telegram)


async def test_admins_hear_when_pakasir_is_down_for_a_while_and_back(
    autojump_clock, shop, buyer, admin, pakasir
):
    await shop()
    _, order_id = await buyer.buys()
    pakasir.fail("status", Fault(502, b"<html>502</html>"), times=max(TIMES, 4) * 4)
    pakasir.pay(order_id)
    down = await admin.sees("Pakasir tidak bisa dihubungi", within=600)
    assert "HTTP 502" in down.text
    await admin.sees("Pakasir menjawab lagi", within=300 + 400 * TIMES)
    await buyer.sees("Akun SSH Anda siap", within=60)
    said = [m.body for m in admin.telegram.messages(ADMIN)]
    assert sum("tidak bisa dihubungi" in b for b in said) == 1


@pytest.mark.parametrize("fault", [Fault(503), Fault(200, b'{"payment": {}}'), Fault(delay=60)])
async def test_pakasir_create_faults_offer_a_retry(autojump_clock, shop, buyer, pakasir, fault):
    await shop()
    pakasir.fail("create", fault, times=TIMES)
    await buyer.orders()
    buyer.taps("pay")
    failed = await buyer.sees("gagal dibuat", within=120)
    assert "Belum ada uang yang berpindah" in failed.text
    retry = next(d for d in failed.button_data() if d.startswith("retry:"))
    for _ in range(TIMES - 1):  # the fault lasts: each retry says so again
        buyer.taps(retry)
        await buyer.sees("gagal dibuat", within=120)
    buyer.taps(retry)
    qr = await buyer.sees(lambda m: m.photo is not None)
    pakasir.pay(qr.caption.split("<code>")[1].split("</code>")[0])
    await buyer.sees("Akun SSH Anda siap", within=60)


async def test_a_failed_qr_frees_the_name_and_the_place_at_once(
    autojump_clock, shop, pakasir, telegram
):
    cfg = await shop([server_entry(capacity=1)])
    first, second = Buyer(telegram, 7401), Buyer(telegram, 7402)
    pakasir.fail("create", Fault(503), times=1)
    await first.orders(username="satu")
    first.taps("pay")
    failed = await first.sees("gagal dibuat", within=60)
    # The only place and the name are free for the next buyer right away (no restart).
    _, order_id = await second.buys(username="satu")
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.AWAITING
    # Trying again now meets the usual rules: the name is someone else's.
    retry = next(d for d in failed.button_data() if d.startswith("retry:"))
    first.taps(retry)
    await first.sees("sudah dipakai", within=60)
    # The old order's Batal button is harmless.
    first.taps(retry.replace("retry:", "qcancel:"))
    await first.sees("dibatalkan", within=60)


async def test_a_completed_status_with_the_wrong_amount_is_never_honoured(
    autojump_clock, shop, buyer, admin, pakasir
):
    cfg = await shop()
    _, order_id = await buyer.buys()
    pakasir.fail("status", Fault(200, completed(order_id, 1000)), times=TIMES)
    notice = await admin.sees("perlu Anda", within=60)
    assert order_id in notice.text and "does not match" in notice.text
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.AWAITING
    pakasir.pay(order_id)  # Pakasir corrects itself, the real payment arrives
    await buyer.sees("Akun SSH Anda siap", within=300 + 400 * TIMES)
    assert sum("perlu Anda" in m.body for m in admin.telegram.messages(ADMIN)) == 1


async def test_a_wrong_amount_until_the_end_leaves_a_flagged_order_to_refund(
    autojump_clock, shop, buyer, admin, pakasir
):
    cfg = await shop()
    _, order_id = await buyer.buys()
    pakasir.fail("status", Fault(200, completed(order_id, 1000)), times=1000)
    await buyer.sees("Admin sudah diberi tahu", within=600)
    ledger = Ledger.open(cfg.shop.database)
    order = ledger.get(order_id)
    assert order.state == L.EXPIRED and order.needs_attention
    admin.says("/admin")
    menu = await admin.sees("Perlu perhatian: 1")
    admin.taps("adm:attn")
    await eventually(lambda: f"adm:refund:{order_id}" in menu.button_data())
    assert f"adm:retry:{order_id}" not in menu.button_data()


async def test_an_order_pakasir_no_longer_knows_expires_instead_of_hanging(
    autojump_clock, shop, buyer, pakasir
):
    cfg = await shop()
    _, order_id = await buyer.buys()
    pakasir.fail("status", STATUS_FAULTS["unknown order (404)"], times=1000)
    pakasir.fail("cancel", STATUS_FAULTS["unknown order (404)"], times=1000)
    await buyer.sees("Waktu pembayaran habis", within=400)
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.EXPIRED


async def test_a_refused_cancel_keeps_the_order_watched_until_pakasir_closes_it(
    autojump_clock, shop, buyer, admin, pakasir, telegram
):
    cfg = await shop(payment_timeout=60)
    _, order_id = await buyer.buys()
    pakasir.fail("cancel", Fault(400, b'{"message": "cannot cancel now"}'), times=1000)
    notice = await admin.sees("belum memastikan", within=400)
    assert order_id in notice.text and "cancel refused, status pending" in notice.text
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.get(order_id).state == L.AWAITING  # the QR can still be paid
    assert pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap", within=400)
    said = [m.body for m in telegram.messages(buyer.chat_id)]
    assert not any("Waktu pembayaran habis" in b for b in said)
    assert sum("belum memastikan" in m.body for m in telegram.messages(ADMIN)) == 1


async def test_a_buyer_cancel_pakasir_refuses_leaves_the_order_payable(
    autojump_clock, shop, buyer, pakasir
):
    cfg = await shop()
    _, order_id = await buyer.buys()
    pakasir.fail("cancel", Fault(400, b'{"message": "cannot cancel now"}'), times=1)
    buyer.says("/cancel")
    await buyer.sees("Pembatalan belum berhasil", within=60)
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.AWAITING
    assert pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap", within=60)


# --- Telegram ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [
    dict(status=429, description="Too Many Requests: retry after 3", retry_after=3),
    dict(status=502, description="Bad Gateway"),
    dict(status=0, description="", drop=True),
], ids=["429 retry_after", "502", "dropped connection"])
async def test_telegram_send_faults_are_retried(
    autojump_clock, shop, buyer, pakasir, telegram, fault
):
    await shop()
    _, order_id = await buyer.buys()
    telegram.fail("sendMessage", times=TIMES, **fault)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap", within=60 + 30 * TIMES)


async def test_another_poller_is_reported_and_waited_out(autojump_clock, shop, buyer, admin,
                                                         telegram):
    await shop()
    telegram.fail("getUpdates", 409, "Conflict: terminated by other getUpdates request; make "
                  "sure that only one bot instance is running", times=2)
    notice = await admin.sees("Program lain", within=120)
    assert "Hanya satu salinan" in notice.text
    buyer.says("/start")
    await buyer.sees("Pilih server", within=120)


async def test_a_buyer_who_blocked_the_bot_gets_the_account_on_return(
    autojump_clock, shop, buyer, admin, pakasir, telegram
):
    cfg = await shop()
    _, order_id = await buyer.buys()
    telegram.block(buyer.chat_id)
    pakasir.pay(order_id)
    notice = await admin.sees("tidak bisa dikirim", within=60)
    assert order_id in notice.text and "blocked" in notice.text
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.get(order_id).state == L.PROVISIONED
    await still_serving(telegram)
    telegram.unblock(buyer.chat_id)
    buyer.says("/start")
    await buyer.sees("Akun SSH Anda siap", within=60)
    await eventually(lambda: ledger.get(order_id).state == L.DELIVERED)


# --- the servers ------------------------------------------------------------------------------

SSH_FAULTS = ["connection refused", "connect hangs", "reset mid-command", "auth failure",
              "changed host key", "command exits non-zero (disk full)", "command hangs"]


async def test_server_faults_are_retried_until_they_clear(
    shop, telegram, pakasir, sshd, linux_users, nursery, tmp_path
):
    """Every fault on its own server (own address, key, known_hosts), all at once."""
    servers, proxies, clear = [], {}, {}
    for n, name in enumerate(SSH_FAULTS):
        proxy = Proxy(sshd.port)
        await nursery.start(proxy.serve)
        folder = tmp_path / f"server{n}"
        folder.mkdir()
        key = folder / "key"
        shutil.copy(sshd.key_file, key)
        known = folder / "known_hosts"
        known.write_text(sshd.host_key_line.replace(f":{sshd.port}", f":{proxy.port}"))
        flag = folder / "fault-on"
        started = folder / "create-started"
        create = (f"touch {started}; "
                  f"if [ -e {flag} ] && [ -e {folder}/disk ]; then "
                  "echo 'No space left on device' >&2; exit 1; fi; "
                  f"if [ -e {flag} ] && [ -e {folder}/slow ]; then sleep 600; fi; "
                  f"if [ -e {folder}/midway ]; then sleep 2; fi; "
                  "read -r p; getent passwd {username} >/dev/null || "
                  "useradd -M -s /bin/false -c qrisbot-{order_id} {username}; "
                  "printf '%s:%s\\n' {username} \"$p\" | chpasswd")
        servers.append(server_entry(
            f"f{n}", ssh=sshd.access(port=proxy.port, key_file=str(key), known_hosts=str(known),
                                     connect_timeout=3, command_timeout=4),
            commands={"create": create, "exists": "getent passwd {username} >/dev/null || exit 1"}))
        proxies[name] = proxy
        clear[name] = (proxy, key, known, flag, folder, started)
    cfg = await shop(servers, run={"backends": SshProvisioner()})
    ledger_path = cfg.shop.database

    linux_users.extend(f"qbt_fault{n}" for n in range(len(SSH_FAULTS)))
    buyers = await buy_on_each(telegram, SSH_FAULTS, chat_base=9300, server_prefix="f",
                               tag="fault")

    good_key = (tmp_path / "server0" / "key").read_bytes()
    # Break each server its own way (dropping the open connection so the next command
    # connects anew), then pay.
    for name, (proxy, key, known, flag, folder, _) in clear.items():
        if name == "connection refused":
            proxy.mode = "refuse"
        elif name == "connect hangs":
            proxy.mode = "hang"
        elif name == "reset mid-command":
            (folder / "midway").touch()
        elif name == "auth failure":
            key.unlink()
            keygen(key)  # a key the server does not accept
        elif name == "changed host key":
            keygen(folder / "other")
            kind, data = (folder / "other.pub").read_text().split()[:2]
            known.write_text(f"[127.0.0.1]:{proxy.port} {kind} {data}\n")
        elif name == "command exits non-zero (disk full)":
            flag.touch()
            (folder / "disk").touch()
        elif name == "command hangs":
            flag.touch()
            (folder / "slow").touch()
        proxy.cut()
    admin = Buyer(telegram, ADMIN)
    for _, order_id in buyers.values():
        pakasir.pay(order_id)

    async def first_failure_then_clear(name: str) -> None:
        buyer, order_id = buyers[name]
        proxy, key, known, flag, folder, started = clear[name]
        if name == "reset mid-command":
            await eventually(started.exists, 60)
            await trio.sleep(0.5)
            proxy.cut()
        with trio.fail_after(90):
            await telegram.wait_for(
                ADMIN, lambda m: order_id in m.body and "gagal dibuat" in m.body)
        await buyer.sees("Pembayaran Anda <b>aman</b>", within=60)
        db = Ledger.open(ledger_path)
        with trio.fail_after(60 + 40 * ATTEMPTS):
            while db.get(order_id).attempts < ATTEMPTS:  # noqa: ASYNC110 - another loop's file
                await trio.sleep(0.2)
        proxy.mode = "pass"
        key.write_bytes(good_key)
        known.write_text(sshd.host_key_line.replace(f":{sshd.port}", f":{proxy.port}"))
        flag.unlink(missing_ok=True)
        (folder / "midway").unlink(missing_ok=True)

    async with trio.open_nursery() as faults:
        for name in SSH_FAULTS:
            faults.start_soon(first_failure_then_clear, name)
    async with trio.open_nursery() as recoveries:
        for buyer, _ in buyers.values():
            recoveries.start_soon(buyer.sees, "Akun SSH Anda siap", 180)
    passwd = Path("/etc/passwd").read_text()
    for name, (_, order_id) in buyers.items():
        assert passwd.count(f"qrisbot-{order_id}") == 1, name
    # The four that make a server silent were reported as such, and its return too.
    said = " ".join(m.body for m in telegram.messages(ADMIN))
    assert said.count("tidak menjawab") == 4 and said.count("menjawab lagi") == 4, said
    assert "fault-pw" not in said
    await admin.sees("Lunas")
