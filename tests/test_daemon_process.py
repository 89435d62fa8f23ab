"""The real `qrisbot run` process against the fakes and a real sshd, killed with SIGKILL.

A buyer who paid gets exactly one account, whenever the process dies.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from buyer import Buyer, eventually
from conftest import server_entry
from daemon import Daemon, write_config

from qrisbot.testing import config_for

STEP = 30  # generous real seconds for one step of a real process


def ledger_state(db: Path, order_id: str) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT state FROM orders WHERE id=?", (order_id,)).fetchone()
    return row[0] if row else None


def user_line(name: str) -> str:
    return subprocess.run(["getent", "passwd", name], capture_output=True, text=True).stdout


@pytest.fixture
def daemon(tmp_path, telegram, pakasir, sshd):
    def make(servers=None, **pakasir_settings) -> Daemon:
        raw = config_for(
            telegram.url, telegram.token, pakasir.url, pakasir.project, pakasir.api_key,
            str(tmp_path / "ledger.sqlite3"),
            servers or [server_entry("sg1", ssh=sshd.access())],
            **({"check_interval": 4, "payment_timeout": 30} | pakasir_settings),
        )
        raw["telegram"]["poll_timeout"] = 2
        return Daemon(write_config(tmp_path / "config.toml", raw), tmp_path / "daemon.log")

    return make


async def polling(telegram, since: int) -> None:
    await eventually(lambda: any(m == "getUpdates" for m, _ in telegram.calls[since:]), STEP)


async def to_qr(buyer: Buyer, username: str, password: str) -> tuple[object, str]:
    return await buyer.buys(username=username, password=password, months=1, within=STEP)


def slow_create_server(sshd, started: Path) -> dict:
    """A server with an operator's own create command, idempotent per order as the recipe
    contract asks; it touches `started`, then takes 2 s, so a signal lands while it runs."""
    create = (
        f"touch {started}; sleep 2; read -r p; "
        "getent passwd {username} >/dev/null || "
        "useradd -M -s /bin/false -c qrisbot-{order_id} {username}; "
        "printf '%s:%s\\n' {username} \"$p\" | chpasswd"
    )
    return server_entry("sg1", ssh=sshd.access(), commands={
        "create": create, "exists": "getent passwd {username} >/dev/null || exit 1"})


def accounts_delivered(telegram, chat_id: int) -> int:
    return sum("Akun SSH Anda siap" in m.body for m in telegram.messages(chat_id))


async def test_paid_while_down_is_provisioned_once_after_restart(
    daemon, telegram, pakasir, sshd, linux_users, tmp_path
):
    linux_users.append("qbt_kilo")
    process = daemon()
    await process.start()
    buyer = Buyer(telegram, 8101)
    qr, order_id = await to_qr(buyer, "qbt_kilo", "kilo-pass1")
    await process.kill()  # while the order awaits payment
    assert pakasir.pay(order_id)
    since = len(telegram.calls)
    await process.start()
    await polling(telegram, since)
    account = await buyer.sees("Akun SSH Anda siap", STEP)
    assert "qrisbot-" + order_id in user_line("qbt_kilo")
    assert "<code>kilo-pass1</code>" in account.text
    # If the kill fell between sending the QR and recording it, the resumed order shows
    # it again: the QR that is current says the payment arrived.
    photos = [m for m in telegram.messages(buyer.chat_id) if m.photo is not None]
    assert 1 <= len(photos) <= 2 and "diterima" in photos[-1].caption
    await eventually(
        lambda: ledger_state(tmp_path / "ledger.sqlite3", order_id) == "delivered", STEP)
    assert await process.stop() == 0
    assert accounts_delivered(telegram, buyer.chat_id) == 1
    assert "kilo-pass1" not in (tmp_path / "daemon.log").read_text()
    log = (tmp_path / "daemon.log").read_text()
    assert telegram.token not in log and pakasir.api_key not in log


async def test_killed_in_the_middle_of_the_remote_command(
    daemon, telegram, pakasir, sshd, linux_users, tmp_path
):
    linux_users.append("qbt_mike")
    started = tmp_path / "create-started"
    server = slow_create_server(sshd, started)
    process = daemon([server])
    await process.start()
    buyer = Buyer(telegram, 8102)
    qr, order_id = await to_qr(buyer, "qbt_mike", "mike-pass1")
    pakasir.pay(order_id)
    await eventually(started.exists, STEP)
    await process.kill()
    assert ledger_state(tmp_path / "ledger.sqlite3", order_id) == "provisioning"
    await process.start()
    await buyer.sees("Akun SSH Anda siap", STEP)
    assert await process.stop() == 0
    passwd = Path("/etc/passwd").read_text().splitlines()
    assert sum(line.startswith("qbt_mike:") for line in passwd) == 1
    assert accounts_delivered(telegram, buyer.chat_id) == 1


async def test_killed_after_provisioning_before_delivery_resends(
    daemon, telegram, pakasir, sshd, linux_users, tmp_path
):
    linux_users.append("qbt_nova")
    process = daemon()
    await process.start()
    buyer = Buyer(telegram, 8103)
    qr, order_id = await to_qr(buyer, "qbt_nova", "nova-pass1")
    telegram.fail("sendMessage", 0, "", hang=True)  # the account message never gets out
    pakasir.pay(order_id)
    db = tmp_path / "ledger.sqlite3"
    await eventually(lambda: ledger_state(db, order_id) == "provisioned", STEP)
    await process.kill()
    assert accounts_delivered(telegram, buyer.chat_id) == 0
    await process.start()
    await buyer.sees("Akun SSH Anda siap", STEP)
    await eventually(lambda: ledger_state(db, order_id) == "delivered", STEP)
    assert await process.stop() == 0
    assert "qrisbot-" + order_id in user_line("qbt_nova")
    assert accounts_delivered(telegram, buyer.chat_id) == 1


async def test_pending_order_resumes_with_remaining_time_and_expires(
    daemon, telegram, pakasir, sshd, tmp_path
):
    process = daemon()
    await process.start()
    buyer = Buyer(telegram, 8104)
    begun = trio.current_time()
    qr, order_id = await to_qr(buyer, "qbt_oscar", "oscar-pass1")
    await process.kill()
    await trio.sleep(3)
    await process.start()
    await buyer.sees("Waktu pembayaran habis", 60)
    # The 30 s window was not restarted from zero by the restart.
    assert trio.current_time() - begun < 30 + 15
    assert pakasir.transactions[order_id].status == "canceled"
    # The QR on record is gone. (A kill in the instant between sending the QR and recording
    # its message id makes the resumed order show it again; the first copy then stays, but
    # its transaction is cancelled at Pakasir, so it cannot be paid.)
    photos = [m for m in telegram.messages(buyer.chat_id, include_deleted=True) if m.photo]
    assert photos[-1].deleted and len(photos) <= 2
    assert await process.stop() == 0
    assert user_line("qbt_oscar") == ""


async def test_bad_config_exits_2_naming_every_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[shop]\nmax_months = 20\n[telegram]\ntoken = "x"\n[pakasir]\nproject = "p"\n'
                   'api_key = "k"\n[[servers]]\nid = "BAD ID"\nname = "n"\nprotocol = "ssh"\n'
                   'domain = "d.example.com"\nprice_per_month = 100\n'
                   'ssh = { host = "h", key_file = "k", known_hosts = "kh" }\n')
    result = subprocess.run(
        [sys.executable, "-m", "qrisbot", "run", "--config", str(bad)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    for path in ("$.shop.max_months", "$.telegram.token", "$.servers[0].id",
                 "$.servers[0].price_per_month"):
        assert path in result.stderr


async def test_refused_token_stops_with_status_3_and_a_clear_message(
    daemon, telegram, tmp_path
):
    process = daemon()
    telegram.token = "999:a-different-token-entirely"  # the one in the config is refused
    await process.start()
    with trio.fail_after(STEP):
        assert await process.process.wait() == 3  # the unit's RestartPreventExitStatus=
    log = (tmp_path / "daemon.log").read_text()
    assert "refused the bot token" in log
    assert "TEST-token" not in log


async def test_sigterm_lets_running_provisioning_finish_and_tells_systemd(
    daemon, telegram, pakasir, sshd, linux_users, tmp_path
):
    import signal
    import socket as stdlib_socket

    linux_users.append("qbt_term")
    started = tmp_path / "create-started"
    server = slow_create_server(sshd, started)
    notify_path = tmp_path / "notify.sock"
    notify = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.setblocking(False)
    process = daemon([server])
    await process.start(NOTIFY_SOCKET=str(notify_path))
    buyer = Buyer(telegram, 8105)
    qr, order_id = await to_qr(buyer, "qbt_term", "term-pass1")
    pakasir.pay(order_id)
    await eventually(started.exists, STEP)
    process.signal(signal.SIGTERM)  # while the account is being made
    with trio.fail_after(STEP):
        assert await process.process.wait() == 0
    assert ledger_state(tmp_path / "ledger.sqlite3", order_id) == "delivered"
    assert accounts_delivered(telegram, buyer.chat_id) == 1
    messages = []
    while True:
        try:
            messages.append(notify.recv(4096).decode())
        except BlockingIOError:
            break
    notify.close()
    assert any("READY=1" in m for m in messages) and any("STOPPING=1" in m for m in messages)


async def test_a_second_signal_stops_at_once(daemon, telegram, pakasir, sshd, tmp_path):
    import signal

    server = server_entry("sg1", ssh=sshd.access(), commands={
        "create": "sleep 25", "exists": "exit 1"})
    process = daemon([server])
    await process.start()
    buyer = Buyer(telegram, 8106)
    qr, order_id = await to_qr(buyer, "qbt_twice", "twice-pass1")
    pakasir.pay(order_id)
    await eventually(
        lambda: ledger_state(tmp_path / "ledger.sqlite3", order_id) == "provisioning", STEP)
    process.signal(signal.SIGTERM)
    await trio.sleep(0.5)
    process.signal(signal.SIGINT)
    with trio.fail_after(5):  # not waiting for the 25 s remote command
        assert await process.process.wait() == 130
    assert ledger_state(tmp_path / "ledger.sqlite3", order_id) == "provisioning"


async def test_an_update_in_hand_at_the_kill_is_handled_after_the_restart(
    daemon, telegram, sshd, tmp_path
):
    started = tmp_path / "check-started"
    server = server_entry("sg1", ssh=sshd.access(), commands={
        "create": "exit 1", "exists": f"touch {started}; sleep 3; exit 1"})
    process = daemon([server])
    await process.start()
    buyer = Buyer(telegram, 8107)
    await buyer.picks_server(within=STEP)
    buyer.says("qbt_inbox")
    await eventually(started.exists, STEP)  # the username is being checked on the server
    await process.kill()
    await process.start()
    # Nobody typed it again: the kept update is handled, once.
    await buyer.sees("password", STEP)
    await trio.sleep(3)
    assert sum("Ketik <b>password" in m.body for m in telegram.messages(buyer.chat_id)) == 1
    assert await process.stop() == 0


async def test_killed_while_a_renewal_is_applied_extends_once_to_the_right_day(
    daemon, telegram, pakasir, sshd, linux_users, tmp_path
):
    import datetime as dt

    linux_users.append("qbt_renew")
    started = tmp_path / "extend-started"
    # The operator's own extend: sets the date (idempotent), slowly.
    server = slow_create_server(sshd, tmp_path / "create-started")
    server["commands"]["extend"] = (
        f"touch {started}; sleep 2; getent passwd {{username}} >/dev/null || exit 6; "
        "usermod -e {expires} {username}")
    process = daemon([server])
    await process.start()
    buyer = Buyer(telegram, 8108)
    _, order_id = await to_qr(buyer, "qbt_renew", "renew-pass1")
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap", STEP)
    db = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(db) as conn:
        account_id, first_end = conn.execute(
            "SELECT id, expires_on FROM accounts WHERE username='qbt_renew'").fetchone()
    buyer.says("/akun")
    await buyer.sees("Akun saya", STEP)
    _, renewal = await buyer.renews(f"ren:{account_id}", within=STEP)
    pakasir.pay(renewal)
    await eventually(started.exists, STEP)
    await process.kill()  # while the new date is being set on the server
    assert ledger_state(db, renewal) == "provisioning"
    await process.start()
    done = await buyer.sees("diperpanjang sampai", STEP)
    new_end = dt.date.fromisoformat(first_end) + dt.timedelta(days=30)
    assert f"{new_end:%d-%m-%Y}" in done.text
    await eventually(lambda: ledger_state(db, renewal) == "delivered", STEP)
    assert await process.stop() == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT expires_on FROM accounts WHERE id=?",
                            (account_id,)).fetchone()[0] == new_end.isoformat()
        assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 1
    assert sum("diperpanjang sampai" in m.body for m in telegram.messages(buyer.chat_id)) == 1
    chage = subprocess.run(["chage", "-l", "qbt_renew"], capture_output=True, text=True).stdout
    assert f"{new_end:%b %d, %Y}" in chage, chage


async def test_killed_while_an_expired_account_is_removed_removes_it_once(
    daemon, telegram, pakasir, sshd, linux_users, tmp_path
):
    import datetime as dt
    import zoneinfo

    linux_users.append("qbt_gone")
    started = tmp_path / "delete-started"
    server = slow_create_server(sshd, tmp_path / "create-started")
    # The operator's own delete: gone already counts as removed; slowly.
    server["commands"]["delete"] = (
        f"touch {started}; sleep 2; getent passwd {{username}} >/dev/null || exit 0; "
        "userdel -f {username}")
    process = daemon([server])
    await process.start()
    buyer = Buyer(telegram, 8109)
    _, order_id = await to_qr(buyer, "qbt_gone", "gone-pass1")
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap", STEP)
    assert await process.stop() == 0
    # Its last day was four days ago (the grace period of one day is over).
    db = tmp_path / "ledger.sqlite3"
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Jakarta")).date()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE accounts SET expires_on=?",
                     ((today - dt.timedelta(days=4)).isoformat(),))
    await process.start()
    await eventually(started.exists, STEP)
    await process.kill()  # while the account is being deleted on the server
    await process.start()
    await buyer.sees("sudah dihapus", STEP)
    assert await process.stop() == 0
    assert user_line("qbt_gone") == ""
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT state FROM accounts").fetchall() == [("removed",)]
    bodies = [m.body for m in telegram.messages(buyer.chat_id)]
    assert sum("sudah dihapus" in b for b in bodies) == 1
    assert sum("sudah habis" in b for b in bodies) == 1
