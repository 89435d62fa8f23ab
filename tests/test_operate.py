"""The operator's CLI actions: orders retry/refund next to a running daemon, servers check/trust
against a real sshd."""

from __future__ import annotations

import shutil
from functools import partial

import trio
from buyer import eventually
from conftest import server_entry

from qrisbot import config, operate
from qrisbot import ledger as L
from qrisbot.cli import main
from qrisbot.ledger import Ledger
from qrisbot.testing import config_for


async def stuck_order(buyer, pakasir, provisioner, cfg, username):
    """A paid order whose username someone else made on the server meanwhile."""
    _, order_id = await buyer.buys(username=username)
    provisioner.take("sg1", username)
    pakasir.pay(order_id)
    await buyer.sees("Admin sudah diberi tahu", within=30)
    assert Ledger.open(cfg.shop.database).get(order_id).state == L.FAILED
    return order_id


async def test_cli_retry_and_refund_act_through_the_running_daemon(
    autojump_clock, start_shop, buyer, pakasir, provisioner, capsys
):
    cfg = await start_shop()
    order_id = await stuck_order(buyer, pakasir, provisioner, cfg, "budi_99")
    del provisioner.accounts[("sg1", "budi_99")]  # the operator cleared the server
    status = await trio.to_thread.run_sync(partial(operate.orders_retry, cfg, order_id, 30))
    assert status == 0
    assert "account made" in capsys.readouterr().out
    await buyer.sees("Akun SSH Anda siap", within=30)

    second = await stuck_order(buyer, pakasir, provisioner, cfg, "budi_77")
    asked = []
    no = partial(operate.orders_refund, cfg, second, False, lambda q: asked.append(q) or "n")
    assert await trio.to_thread.run_sync(no) == 1
    assert "budi_77" in asked[0] and "Rp30.520" in asked[0]
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.get(second).state == L.FAILED
    yes = partial(operate.orders_refund, cfg, second, False, lambda q: "y")
    assert await trio.to_thread.run_sync(yes) == 0
    await buyer.sees("sudah dikembalikan", within=10)
    assert ledger.get(second).state == L.REFUNDED and ledger.get(second).needs_attention == 0
    kind, detail = ledger.events(second)[-1]
    assert kind == "refunded" and detail.startswith("by cli ")
    # Neither action applies twice, nor to an order that is not failed.
    assert await trio.to_thread.run_sync(yes) == 1
    retry_delivered = partial(operate.orders_retry, cfg, order_id, 1)
    assert await trio.to_thread.run_sync(retry_delivered) == 1
    assert "only failed orders" in capsys.readouterr().err
    await eventually(lambda: ledger.get(order_id).state == L.DELIVERED)


def test_cli_refuses_unknown_orders_with_status_1(tmp_path, capsys):
    from test_cli import config_with_ledger

    path, _ = config_with_ledger(tmp_path)
    assert main(["orders", "retry", "VPN404", "--config", str(path)]) == 1
    assert main(["orders", "refund", "VPN1", "--yes", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no order VPN404" in err and "awaiting_payment" in err
    assert main(["servers", "check", "nope", "--config", str(path)]) == 1
    assert "no server 'nope'" in capsys.readouterr().err


def shop_config(tmp_path, *servers):
    raw = config_for("http://127.0.0.1:9", "123456:TEST-token-xyz", "http://127.0.0.1:9", "p",
                     "key", str(tmp_path / "ledger.sqlite3"), list(servers))
    return config.parse(raw, {})


def test_servers_check_reports_latency_and_what_the_recipe_needs(sshd, tmp_path, capsys):
    missing_xray = server_entry("vl1", "vless", ssh=sshd.access(),
                                xray={"config": str(tmp_path / "nope.json")})
    cfg = shop_config(tmp_path, server_entry("sg1", ssh=sshd.access()), missing_xray)
    assert operate.servers_check(cfg, "sg1") == 0
    out = capsys.readouterr().out
    assert "sg1 (ssh) root@127.0.0.1" in out and "OK; host key verified" in out
    assert "ok      command useradd" in out and "ok      root" in out
    assert operate.servers_check(cfg, None) == 1
    out = capsys.readouterr().out
    assert f"MISSING xray config {tmp_path / 'nope.json'}" in out
    assert "MISSING marker #vless" in out


def test_servers_trust_adds_a_key_only_when_confirmed(sshd, tmp_path, capsys):
    known = tmp_path / "known_hosts"
    cfg = shop_config(tmp_path, server_entry("sg1", ssh=sshd.access(known_hosts=str(known))))
    known.write_text("")
    assert operate.servers_check(cfg, "sg1") == 1
    assert "host key unknown" in capsys.readouterr().out

    assert operate.servers_trust(cfg, "sg1", False, lambda q: "n") == 1
    shown = capsys.readouterr().out
    assert "presents ssh-ed25519 key SHA256:" in shown and known.read_text() == ""
    fingerprint = shown.split("key ")[1].split()[0]
    assert operate.servers_trust(cfg, "sg1", False, lambda q: "yes") == 0
    assert known.read_text() == sshd.host_key_line
    assert operate.servers_check(cfg, "sg1") == 0
    assert operate.servers_trust(cfg, "sg1", True) == 0
    assert "already trusted" in capsys.readouterr().out

    # A different key on file for that address is never replaced silently.
    other = tmp_path / "other"
    shutil.copy(sshd.directory / "client_ed25519.pub", other)
    key_type, key_data = other.read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key_data}\n")
    assert operate.servers_trust(cfg, "sg1", True) == 1
    err = capsys.readouterr().err
    assert "DIFFERENT" in err and "ssh-keygen -f" in err and fingerprint not in err
    assert known.read_text().count("\n") == 1


async def test_cli_accounts_list_show_extend_and_remove_through_the_running_daemon(
    autojump_clock, start_shop, buyer, pakasir, provisioner, capsys
):
    import datetime as dt

    from qrisbot import operate_accounts as accounts

    cfg = await start_shop()
    _, order_id = await buyer.buys(username="budi_99", months=1)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap", within=30)
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(buyer.chat_id)
    first_day = account.expires_on

    assert accounts.accounts_list(cfg, "sg1", "active", 31) == 0
    line = capsys.readouterr().out
    assert "budi_99" in line and "owner 5001" in line and "rahasia123" not in line
    assert accounts.accounts_list(cfg, None, "removed", None) == 0
    assert capsys.readouterr().out == ""

    # Seven days as compensation: set once by the daemon, the buyer told the new day.
    give = partial(accounts.accounts_extend, cfg, "sg1", "budi_99", 7, 30)
    assert await trio.to_thread.run_sync(give) == 0
    assert "done" in capsys.readouterr().out
    new_day = first_day + dt.timedelta(days=7)
    await buyer.sees(f"diperpanjang sampai {new_day:%d-%m-%Y}", within=30)
    assert provisioner.accounts[("sg1", "budi_99")].expires == new_day
    assert ledger.account(account.id).expires_on == new_day and provisioner.extends == 1
    assert accounts.accounts_show(cfg, "sg1", "budi_99") == 0
    shown = capsys.readouterr().out
    assert f"last day       {new_day.isoformat()}" in shown and "rahasia123" not in shown
    assert shown.count("order ") == 2 and "renewal" in shown
    # Bad requests change nothing.
    assert accounts.accounts_extend(cfg, "sg1", "budi_99", 0, 1) == 1
    assert accounts.accounts_extend(cfg, "sg1", "nobody", 3, 1) == 1
    assert "no account" in capsys.readouterr().err

    # Removal: asked first; "no" keeps it, --yes removes it and tells the buyer.
    asked = []
    no = partial(accounts.accounts_remove, cfg, "sg1", "budi_99", False, 1,
                 lambda q: asked.append(q) or "n")
    assert await trio.to_thread.run_sync(no) == 1 and "budi_99" in asked[0]
    assert ("sg1", "budi_99") in provisioner.accounts
    yes = partial(accounts.accounts_remove, cfg, "sg1", "budi_99", True, 30)
    assert await trio.to_thread.run_sync(yes) == 0
    assert "done: removed" in capsys.readouterr().out
    await buyer.sees("dihapus oleh admin", within=30)
    assert ("sg1", "budi_99") not in provisioner.accounts
    assert ledger.account(account.id).state == L.REMOVED
    assert await trio.to_thread.run_sync(yes) == 1  # once
    assert provisioner.extends == 1 and provisioner.removes == 1



def test_servers_trust_says_in_one_line_that_a_server_cannot_be_reached(tmp_path):
    import socket
    import subprocess
    import sys
    import threading

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    mute = socket.socket()  # accepts, then hangs up without an SSH banner
    mute.bind(("127.0.0.1", 0))
    mute.listen()

    def hang_up() -> None:
        while True:
            try:
                conn, _ = mute.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    servers = ""
    for name, host, port in (("gone", "127.0.0.1", closed.getsockname()[1]),
                             ("mute", "127.0.0.1", mute.getsockname()[1]),
                             ("typo", "sg1.no-such-name.invalid", 22)):
        servers += f"""
[[servers]]
id = "{name}"
name = "{name}"
protocol = "ssh"
domain = "{name}.tokovpn.id"
price_per_month = 10000
ssh.host = "{host}"
ssh.port = {port}
ssh.key_file = "{tmp_path}/key"
ssh.known_hosts = "{tmp_path}/known_hosts"
ssh.connect_timeout = 5
"""
    path = tmp_path / "config.toml"
    path.write_text(f"""
[shop]
name = "Toko"
database = "{tmp_path}/ledger.sqlite3"
[telegram]
token = ""
[pakasir]
project = "p"
api_key = ""
{servers}""")
    try:
        for name, why in (("gone", "cannot reach 127.0.0.1"),
                          ("mute", "answered, but not as an SSH server"),
                          ("typo", "cannot reach sg1.no-such-name.invalid:22: no such host")):
            result = subprocess.run(
                [sys.executable, "-m", "qrisbot", "servers", "trust", name, "--yes",
                 "--config", str(path)], capture_output=True, text=True, timeout=60)
            assert result.returncode == 1 and result.stdout == "", result
            assert result.stderr.count("\n") == 1, result.stderr  # no traceback
            assert result.stderr.startswith(f"{name}: ") and why in result.stderr
        assert not (tmp_path / "known_hosts").exists()
    finally:
        closed.close()
        mute.close()
