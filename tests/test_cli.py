"""Operator commands: check-config's permission warning, backup, orders list/show."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from qrisbot import ledger as L
from qrisbot.cli import main
from qrisbot.ledger import Ledger

EXAMPLE = Path(__file__).parent.parent / "config.toml.example"


def edited_example(tmp_path: Path, text: str | None = None) -> Path:
    """The example as a seller finishes it: own token, slug, key and admin; key files there."""
    key, known_hosts = tmp_path / "id_ed25519", tmp_path / "known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    known_hosts.write_text("")
    path = tmp_path / "config.toml"
    path.write_text((text or EXAMPLE.read_text())
                    .replace("123456:ABC-replace-with-your-bot-token",
                             "7012345678:AAF0123456789abcdefghijklmnopqrstuv")
                    .replace('project = "slug"', 'project = "tokovpn-budi"')
                    .replace('api_key = "key"', 'api_key = "pk_live_8c1e5b7a9d2f4e6b"')
                    .replace("admins = []", "admins = [123456789]")
                    .replace("/etc/qrisbot/id_ed25519", str(key))
                    .replace("/etc/qrisbot/known_hosts", str(known_hosts))
                    .replace(".example.com", ".tokovpn.id")
                    .replace("203.0.113.1", "45.77.1.1"))
    path.chmod(0o600)
    return path


def config_with_ledger(tmp_path: Path) -> tuple[Path, Path]:
    database = tmp_path / "ledger.sqlite3"
    path = tmp_path / "config.toml"
    path.write_text(EXAMPLE.read_text().replace('database = "qrisbot.sqlite3"',
                                                f'database = "{database}"'))
    ledger = Ledger.open(database)
    ledger.create_order(
        order_id="VPN1", chat_id=1, user_id=1, server_id="sg1", protocol="ssh",
        username="budi", secret="very-secret-pw", months=2, amount=20000, language="id",
        deadline=time.time() + 300, capacity=5)
    ledger.transition("VPN1", {L.NEW}, L.AWAITING, txn_id="T1")
    ledger.record("note", "something happened", "VPN1")
    ledger.close()
    return path, database


def test_check_config_warns_when_secrets_are_readable_by_others(tmp_path, capsys):
    path = edited_example(tmp_path)
    path.chmod(0o644)
    assert main(["check-config", "--config", str(path)]) == 0
    assert "readable by other users" in capsys.readouterr().err
    path.chmod(0o600)
    assert main(["check-config", "--config", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_backup_copies_the_ledger_and_never_overwrites(tmp_path, capsys):
    path, _ = config_with_ledger(tmp_path)
    copy = tmp_path / "backup.sqlite3"
    assert main(["backup", str(copy), "--config", str(path)]) == 0
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT state FROM orders WHERE id='VPN1'").fetchone() == (
            "awaiting_payment",)
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert main(["backup", str(copy), "--config", str(path)]) == 1


def test_orders_list_and_show_without_credentials(tmp_path, capsys):
    path, _ = config_with_ledger(tmp_path)
    assert main(["orders", "list", "--config", str(path)]) == 0
    listed = capsys.readouterr().out
    assert "VPN1" in listed and "awaiting_payment" in listed and "Rp20.000" in listed
    assert main(["orders", "list", "--state", "delivered", "--config", str(path)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["orders", "show", "VPN1", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "txn_id" in shown and "something happened" in shown
    assert "very-secret-pw" not in shown
    assert main(["orders", "show", "VPN404", "--config", str(path)]) == 1


def test_operator_commands_run_without_the_daemons_secrets(tmp_path, capsys, monkeypatch):
    # Under systemd the secrets live in an EnvironmentFile only the unit reads.
    for var in ("QRISBOT_TELEGRAM_TOKEN", "QRISBOT_PAKASIR_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    path, _ = config_with_ledger(tmp_path)
    path.write_text(path.read_text()
                    .replace('token = "123456:ABC-replace-with-your-bot-token"', 'token = ""')
                    .replace('api_key = "key"', 'api_key = ""'))
    assert main(["orders", "list", "--config", str(path)]) == 0
    assert "VPN1" in capsys.readouterr().out
    assert main(["check-config", "--config", str(path)]) == 2
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "$.telegram.token" in err and "$.pakasir.api_key" in err


def test_check_config_says_what_a_server_cannot_do_for_accounts(tmp_path, capsys):
    text = EXAMPLE.read_text()
    path = edited_example(tmp_path, text.replace("hours = 0 ", "hours = 3 ") + """
[[servers]]
id = "own"
name = "Own scripts"
protocol = "ssh"
domain = "own.example.com"
price_per_month = 10000
ssh.host = "own.example.com"
ssh.key_file = "/etc/qrisbot/id_ed25519"
ssh.known_hosts = "/etc/qrisbot/known_hosts"
commands = { create = "mk {username} {expires}", exists = "id {username}" }
""")
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "trials: 3 h on every enabled server, 50 a day at most" in out
    assert "accounts: reminded 3, 1 day(s) before the last day, removed 1 day(s)" in out
    own = out[out.index("  own "):]
    assert "cannot renew accounts (no commands.extend)" in own
    assert "cannot remove expired accounts (no commands.delete)" in own
    # The built-in recipes can do both.
    assert out[:out.index("  own ")].count("cannot") == 0


def test_check_config_does_not_pass_the_unedited_example(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(EXAMPLE.read_text())
    path.chmod(0o600)
    assert main(["check-config", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "configuration OK" not in out + err
    # A key file that is not there is an error; the placeholders are at least warnings.
    for key in ("$.telegram.token", "$.pakasir.project", "$.pakasir.api_key", "$.shop.admins",
                "$.servers[0].ssh.key_file", "$.servers[1].ssh.key_file",
                "$.servers[0].ssh.known_hosts", "$.servers[0].domain", "$.servers[0].ssh.host"):
        assert key in err, (key, err)
    assert "ABC-replace" not in out + err  # the token is named, never printed
    errors = err[:err.index("warning")]
    assert "/etc/qrisbot/id_ed25519 does not exist" in errors


def test_check_config_passes_a_finished_config_without_warnings(tmp_path, capsys):
    path = edited_example(tmp_path)
    assert main(["check-config", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"configuration OK: {path}") and err == "", err
    # A key file that is not a private key is an error too.
    (tmp_path / "id_ed25519").write_text("ssh-ed25519 AAAA... the public half\n")
    assert main(["check-config", "--config", str(path)]) == 2
    assert "$.servers[0].ssh.key_file" in capsys.readouterr().err


def test_version_names_the_release(capsys):
    import qrisbot

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"qrisbot {qrisbot.__version__}"


def test_orders_list_refuses_an_unknown_state_and_names_the_known_ones(tmp_path, capsys):
    path, _ = config_with_ledger(tmp_path)
    # A typo used to list nothing, as if the shop had no such orders.
    with pytest.raises(SystemExit) as exited:
        main(["orders", "list", "--state", "faild", "--config", str(path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "faild" in err
    for state in ("awaiting_payment", "failed", "delivered", "refunded"):
        assert state in err


def test_operator_output_shows_times_as_dates_in_the_shops_time_zone(tmp_path, capsys):
    import datetime as dt
    import re
    import zoneinfo

    path, database = config_with_ledger(tmp_path)
    path.write_text(path.read_text().replace('timezone = "Asia/Jakarta"',
                                             'timezone = "Asia/Makassar"'))
    created = Ledger.open(database).get("VPN1").created_at
    local = dt.datetime.fromtimestamp(created, zoneinfo.ZoneInfo("Asia/Makassar"))
    assert main(["orders", "show", "VPN1", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"\d{9,}\.\d", shown) is None, shown  # no epoch seconds
    assert f"created_at       {local:%Y-%m-%d %H:%M:%S} WITA" in shown
    assert "paid_at          -" in shown
    assert main(["orders", "list", "--config", str(path)]) == 0
    listed = capsys.readouterr().out
    assert f"{local:%Y-%m-%d %H:%M}" in listed and re.search(r"\d{9,}", listed) is None
