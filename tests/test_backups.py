"""Backups the seller can restore: the daemon sends the admins the ledger each day at
`backup.at` as a Telegram document encrypted to the seller's age key (once a day, through
restarts); `qrisbot backup --telegram` sends one now; `qrisbot restore` checks a backup and
puts it in place while no daemon runs, keeping the ledger it replaces. Days pass on the
MockClock through the shop's calendar; the real app runs against the fakes."""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import subprocess
import zoneinfo
from functools import partial
from pathlib import Path

import pyrage
import pytest
import trio
from buyer import Buyer
from conftest import server_entry
from daemon import write_config

from qrisbot import app, config
from qrisbot import ledger as L
from qrisbot.backups import restore as R
from qrisbot.backups import sending
from qrisbot.cli import main
from qrisbot.ledger import Ledger
from qrisbot.ledger.schema import SCHEMA_VERSION
from qrisbot.shop.calendar import Calendar
from qrisbot.testing import config_for

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
ADMINS = [9001, 9002]
START = dt.datetime(2026, 12, 1, 2, 50, tzinfo=ZONE)
SQLITE = b"SQLite format 3\x00"


@pytest.fixture
def key(tmp_path) -> tuple[pyrage.x25519.Identity, Path]:
    """The seller's age key, as age-keygen writes it: the identity and its file."""
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / "backup-key.txt"
    path.write_text(f"# created: 2026-12-01T00:00:00+07:00\n"
                    f"# public key: {identity.to_public()}\n{identity}\n")
    return identity, path


def raw_config(telegram, pakasir, tmp_path, recipient: str, **backup) -> dict:
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless")],
                     {"admins": ADMINS, "remind_days": [], "daily_summary": ""},
                     payment_timeout=3600)
    raw["backup"] = {"telegram": True, "at": "03:00", "age_recipient": recipient, **backup}
    return raw


def at(begun: float, day: int, hour: int, minute: int = 0) -> float:
    return begun + (dt.datetime(2026, 12, day, hour, minute, tzinfo=ZONE) - START
                    ).total_seconds()


def documents(telegram, chat_id: int) -> list:
    return [m for m in telegram.messages(chat_id) if m.document is not None]


def open_backup(document: bytes, identity) -> sqlite3.Connection:
    """What the seller gets back: the document decrypted with the identity, as a database."""
    plain = pyrage.decrypt(document, [identity])
    assert plain.startswith(SQLITE)
    db = sqlite3.connect(":memory:")
    db.deserialize(plain[:18] + b"\x01\x01" + plain[20:])
    return db


async def run_shop(cfg, calendar, until: float, **kwargs) -> None:
    """The daemon from now until `until` (trio time), then stopped as SIGTERM stops it."""
    stop = trio.Event()
    async with trio.open_nursery() as shop:
        await shop.start(partial(app.run, cfg, stop=stop, calendar=calendar, **kwargs))
        await trio.sleep_until(until)
        stop.set()


async def test_the_daily_backup_reaches_each_admin_once_a_day_through_restarts(
    autojump_clock, telegram, pakasir, provisioner, tmp_path, key
):
    identity, _ = key
    cfg = config.parse(raw_config(telegram, pakasir, tmp_path, str(identity.to_public())), {})
    calendar = Calendar("Asia/Jakarta", START)
    begun = trio.current_time()
    bob = Buyer(telegram, 7001)

    async def bob_orders() -> None:
        await bob.buys(username="bob", password=None, months=1)

    stop = trio.Event()
    async with trio.open_nursery() as shop:
        await shop.start(partial(app.run, cfg, stop=stop, calendar=calendar,
                                 backends=provisioner))
        await bob_orders()
        await trio.sleep_until(at(begun, 1, 2, 59))
        assert documents(telegram, ADMINS[0]) == []  # not before its time
        await trio.sleep_until(at(begun, 1, 3, 30))
        stop.set()
    for admin in ADMINS:
        (sent,) = documents(telegram, admin)
        assert sent.file_name == "toko-test-2026-12-01-0300.sqlite3.age"
        assert "Cadangan ledger <b>Toko Test</b> · 2026-12-01 03:00" in sent.caption
        assert "qrisbot restore toko-test-2026-12-01-0300.sqlite3.age" in sent.caption
        # Only the encrypted copy left the machine: no SQLite page, no buyer's password.
        assert SQLITE not in sent.document and b"bob" not in sent.document
    assert telegram.uploads == 1  # uploaded once, sent to the second admin by its file_id
    backup = open_backup(documents(telegram, ADMINS[0])[0].document, identity)
    assert backup.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert backup.execute("SELECT username, state FROM orders").fetchall() == [
        ("bob", L.AWAITING)]

    # Restarted at 04:00 the same day: today's backup is sent already.
    await trio.sleep_until(at(begun, 1, 4))
    await run_shop(cfg, calendar, at(begun, 1, 23), backends=provisioner)
    assert [len(documents(telegram, a)) for a in ADMINS] == [1, 1]
    # Down at 03:00 the next day and started at 03:30: sent as soon as it is up.
    # (Each run lasts half an hour past the moment: the copy is encrypted in a real thread,
    # during which the mock clock jumps to the shop's next timers.)
    await trio.sleep_until(at(begun, 2, 3, 30))
    await run_shop(cfg, calendar, at(begun, 2, 4), backends=provisioner)
    assert [len(documents(telegram, a)) for a in ADMINS] == [2, 2]
    # And the day after, at its time.
    await run_shop(cfg, calendar, at(begun, 3, 3, 30), backends=provisioner)
    assert [len(documents(telegram, a)) for a in ADMINS] == [3, 3]
    assert documents(telegram, ADMINS[1])[2].file_name.endswith("2026-12-03-0300.sqlite3.age")
    assert telegram.uploads == 3


async def test_a_ledger_too_big_for_telegram_is_told_once_a_day_instead(
    autojump_clock, telegram, pakasir, provisioner, tmp_path, key
):
    identity, _ = key
    cfg = config.parse(raw_config(telegram, pakasir, tmp_path, str(identity.to_public())), {})
    ledger = Ledger.open(cfg.shop.database)
    ledger.set_meta("ballast", os.urandom(26 * 1024 * 1024).hex())  # 52 MB that will not shrink
    ledger.close()
    calendar = Calendar("Asia/Jakarta", START)
    begun = trio.current_time()
    await run_shop(cfg, calendar, at(begun, 1, 23), backends=provisioner)
    for admin in ADMINS:
        assert documents(telegram, admin) == []
        (told,) = [m.text for m in telegram.messages(admin) if "tidak terkirim" in m.body]
        assert re.search(r"ledger terenkripsi 52\.\d MiB", told) and "qrisbot backup FILE" in told
    assert "sendDocument" not in [method for method, _ in telegram.calls]


async def test_a_backup_opened_by_debians_age_restores_into_a_shop_that_resumes_its_order(
    autojump_clock, telegram, pakasir, provisioner, tmp_path, key, capsys
):
    identity, key_file = key
    raw = raw_config(telegram, pakasir, tmp_path, str(identity.to_public()))
    cfg = config.parse(raw, {})
    calendar = Calendar("Asia/Jakarta", START)
    begun = trio.current_time()
    bob = Buyer(telegram, 7001)
    stop = trio.Event()
    async with trio.open_nursery() as shop:
        await shop.start(partial(app.run, cfg, stop=stop, calendar=calendar,
                                 backends=provisioner))
        _, order_id = await bob.buys(username="bob", password=None, months=1)
        await trio.sleep_until(at(begun, 1, 3, 30))
        stop.set()
    sent = documents(telegram, ADMINS[0])
    downloaded = tmp_path / sent[0].file_name
    downloaded.write_bytes(sent[0].document)

    # The server's disk is lost with the ledger on it.
    database = Path(cfg.shop.database)
    for path in tmp_path.glob("ledger.sqlite3*"):
        path.unlink()
    # The seller decrypts it with the standard tool, and restores the plain copy.
    plain = tmp_path / "restored.sqlite3"
    subprocess.run(["age", "-d", "-i", str(key_file), "-o", str(plain), str(downloaded)],
                   check=True)
    config_file = write_config(tmp_path / "config.toml", raw)
    status = await trio.to_thread.run_sync(
        main, ["restore", str(plain), "--yes", "--config", str(config_file)])
    assert status == 0, capsys.readouterr().err
    assert "1 orders" in capsys.readouterr().out
    assert database.stat().st_mode & 0o777 == 0o600

    # The shop starts on it and finishes bob's order when his payment comes.
    async with trio.open_nursery() as shop:
        stop = trio.Event()
        await shop.start(partial(app.run, cfg, stop=stop, calendar=calendar,
                                 backends=provisioner))
        pakasir.pay(order_id)
        await bob.sees("Akun VLESS Anda siap")
        stop.set()


async def test_backup_telegram_sends_one_now(telegram, pakasir, tmp_path, key, capsys):
    identity, _ = key
    raw = raw_config(telegram, pakasir, tmp_path, str(identity.to_public()))
    config_file = write_config(tmp_path / "config.toml", raw)
    with config_file.open("a") as out:
        out.write(f'[backup]\nage_recipient = "{identity.to_public()}"\n')
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    ledger.create_order(
        order_id="VPN1", chat_id=1, user_id=1, server_id="sg1", protocol="vless",
        username="budi", secret="very-secret-pw", months=1, amount=10000, language="id",
        deadline=2e9, capacity=5)
    ledger.close()

    status = await trio.to_thread.run_sync(
        main, ["backup", "--telegram", "--config", str(config_file)])
    assert status == 0, capsys.readouterr().err
    assert "backup sent to 2 of 2 admin(s)" in capsys.readouterr().out
    for admin in ADMINS:
        (sent,) = documents(telegram, admin)
        assert b"very-secret-pw" not in sent.document
        db = open_backup(sent.document, identity)
        assert db.execute("SELECT id, username FROM orders").fetchall() == [("VPN1", "budi")]

    # Without a recipient nothing is sent; and backup wants a FILE or --telegram.
    config_file.write_text(config_file.read_text().replace(
        f'age_recipient = "{identity.to_public()}"', 'age_recipient = ""'))
    status = await trio.to_thread.run_sync(
        main, ["backup", "--telegram", "--config", str(config_file)])
    assert status == 1 and "set backup.age_recipient" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["backup", "--config", str(config_file)])
    assert [len(documents(telegram, a)) for a in ADMINS] == [1, 1]


# --- restore ----------------------------------------------------------------------------

def shop_config(tmp_path, recipient: str = "") -> config.Config:
    raw = config_for("http://127.0.0.1:9", "123456:TEST-token-for-the-fake",
                     "http://127.0.0.1:9", "shop", "key", str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1")], {"admins": ADMINS})
    raw["backup"] = {"age_recipient": recipient}
    return config.parse(raw, {})


def ledger_with(path: Path, *usernames: str) -> Path:
    ledger = Ledger.open(path)
    for n, name in enumerate(usernames, len(ledger.orders(None)) + 1):
        ledger.create_order(
            order_id=f"VPN{n}", chat_id=n, user_id=n, server_id="sg1", protocol="ssh",
            username=name, secret=f"pw-{name}", months=1, amount=10000, language="id",
            deadline=2e9, capacity=50)
    ledger.close()
    return path


def usernames(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT username FROM orders ORDER BY id")]


NOW = dt.datetime(2026, 12, 8, 9, 30, 15, tzinfo=ZONE)


def test_restore_puts_an_encrypted_backup_in_place_and_keeps_the_ledger_before(
        tmp_path, key, capsys):
    identity, key_file = key
    cfg = shop_config(tmp_path, str(identity.to_public()))
    database = ledger_with(tmp_path / "ledger.sqlite3", "budi", "sari")
    backup = tmp_path / "backup.age"
    backup.write_bytes(sending.encrypted_copy(cfg))
    ledger_with(tmp_path / "ledger.sqlite3", "rudi")  # a third order since the backup
    os.chown(database, 65534, 65534)  # the daemon's user owns its ledger

    asked: list[str] = []
    no = R.restore(cfg, backup, key_file, False, lambda q: asked.append(q) or "n", NOW)
    assert no == 1 and usernames(database) == ["budi", "sari", "rudi"]
    kept = tmp_path / "ledger.sqlite3.before-restore-20261208-093015"
    assert f"the current one is kept as {kept}" in asked[0]

    assert R.restore(cfg, backup, key_file, False, lambda q: "y", NOW) == 0
    assert usernames(database) == ["budi", "sari"]
    assert usernames(kept) == ["budi", "sari", "rudi"]
    run_lock = tmp_path / "ledger.sqlite3.run"  # taken by restore as the daemon takes it
    for path in (database, kept, run_lock):  # the daemon (not root) opens each
        assert (path.stat().st_mode & 0o777, path.stat().st_uid) == (0o600, 65534)
    assert not (tmp_path / "ledger.sqlite3-wal").exists()
    out = capsys.readouterr().out
    assert "schema" in out and "2 orders" in out and "systemctl start qrisbot" in out
    Ledger.open(database).close()  # the daemon's own open takes it
    # Restored again within the same second: the ledger before is kept beside the first.
    ledger_with(database, "tono")
    assert R.restore(cfg, backup, key_file, True, now=NOW) == 0
    assert usernames(kept) == ["budi", "sari", "rudi"]
    assert usernames(kept.with_name(kept.name + "-2")) == ["budi", "sari", "tono"]


def test_restore_refuses_what_it_cannot_use_and_changes_nothing(tmp_path, key, capsys):
    identity, key_file = key
    cfg = shop_config(tmp_path, str(identity.to_public()))
    database = ledger_with(tmp_path / "ledger.sqlite3", "budi")
    good = sending.encrypted_copy(cfg)

    def refused(data: bytes, identity_file: Path | None = key_file) -> str:
        path = tmp_path / "candidate"
        path.write_bytes(data)
        assert R.restore(cfg, path, identity_file, True, now=NOW) == 1
        assert usernames(database) == ["budi"]
        assert list(tmp_path.glob("*.before-restore-*")) == []
        return capsys.readouterr().err

    other = tmp_path / "other-key.txt"
    other.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    assert "cannot decrypt it with this identity" in refused(good, other)
    assert "give the secret key with --identity" in refused(good, None)
    assert "cannot decrypt" in refused(good[:-40])  # cut short on the way

    plain = pyrage.decrypt(good, [identity])
    damaged = bytearray(plain)
    page = 4096 * 2  # a page of the orders table's b-tree in the middle of the file
    damaged[page:page + 200] = b"\xa5" * 200
    assert "damaged" in refused(bytes(damaged))
    assert "neither an age file nor an SQLite database" in refused(b"PK\x03\x04 a zip")

    newer = tmp_path / "newer.sqlite3"
    newer.write_bytes(plain)
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    assert f"newer than this qrisbot knows ({SCHEMA_VERSION})" in refused(newer.read_bytes())

    stranger = tmp_path / "stranger.sqlite3"
    with sqlite3.connect(stranger) as db:
        db.execute("CREATE TABLE notes (x)")
        db.execute("PRAGMA user_version=5")
    db.close()
    assert ("not a qrisbot ledger of schema 5: no table(s) accounts, chats, events, meta, "
            "orders, reminders, trials") in refused(stranger.read_bytes())


async def test_restore_is_refused_while_the_daemon_runs(
        autojump_clock, start_shop, make_config, tmp_path, capsys):
    cfg = make_config()
    await start_shop(cfg)
    backup = ledger_with(tmp_path / "copy.sqlite3", "budi")
    status = await trio.to_thread.run_sync(
        partial(R.restore, cfg, backup, None, True, now=NOW))
    assert status == 1
    err = capsys.readouterr().err
    assert "daemon is running" in err and "systemctl stop qrisbot" in err
    assert usernames(Path(cfg.shop.database)) == []


# --- check-config -------------------------------------------------------------------------

def problems(tmp_path, **backup) -> list[str]:
    raw = config_for("http://127.0.0.1:9", "123456:TEST-token-for-the-fake",
                     "http://127.0.0.1:9", "shop", "key", str(tmp_path / "l.sqlite3"),
                     [server_entry("sg1")], {"admins": ADMINS})
    raw["backup"] = backup
    try:
        config.parse(raw, {})
    except config.ConfigError as exc:
        return exc.problems
    return []


def test_check_config_names_what_is_wrong_with_backup(tmp_path, key, capsys):
    identity, _ = key
    recipient = str(identity.to_public())
    assert problems(tmp_path) == [] and problems(tmp_path, age_recipient=recipient) == []
    assert problems(tmp_path, telegram=True, age_recipient=recipient, at="23:59") == []
    (missing,) = problems(tmp_path, telegram=True)
    assert missing.startswith("$.backup.age_recipient: needed when backup.telegram is on")
    (shape,) = problems(tmp_path, age_recipient="AGE-SECRET-KEY-1" + "Q" * 58)
    assert shape.startswith("$.backup.age_recipient: not an age public key")
    assert problems(tmp_path, age_recipient=recipient[:-1]) == [shape]
    (hour,) = problems(tmp_path, at="3:00")
    assert hour.startswith("$.backup.at: must be HH:MM")
    assert problems(tmp_path, telegram="yes") == [
        "expected true or false, got a string @ $.backup.telegram"]
    assert problems(tmp_path, every="day") == ["unknown key(s) every @ $.backup"]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")],
                   check=True)
    (tmp_path / "known_hosts").touch(mode=0o600)
    ssh = {"host": "127.0.0.1", "key_file": str(tmp_path / "key"),
           "known_hosts": str(tmp_path / "known_hosts")}
    path = write_config(tmp_path / "good.toml", config_for(
        "http://127.0.0.1:9", "123456:TEST-token-for-the-fake", "http://127.0.0.1:9", "shop",
        "key", str(tmp_path / "l.sqlite3"), [server_entry("sg1", ssh=ssh)], {"admins": ADMINS}))
    path.chmod(0o600)
    with path.open("a") as out:
        out.write(f'[backup]\ntelegram = true\nat = "02:30"\nage_recipient = "{recipient}"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    assert f"backups: daily at 02:30 to the admins, encrypted to {recipient}" in (
        capsys.readouterr().out)

    raw = config_for("http://127.0.0.1:9", "123456:TEST-token-for-the-fake",
                     "http://127.0.0.1:9", "shop", "key", str(tmp_path / "l.sqlite3"),
                     [server_entry("sg1")], {"admins": ADMINS})
    path = write_config(tmp_path / "config.toml", raw)
    path.chmod(0o600)
    with path.open("a") as out:
        out.write("[backup]\ntelegram = true\n")
    assert main(["check-config", "--config", str(path)]) == 2
    assert "$.backup.age_recipient: needed when backup.telegram is on" in (
        capsys.readouterr().err)
