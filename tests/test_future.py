"""The real `qrisbot run` at a future date (libfaketime, tests/future.py) against the real
sshd: an account nobody renewed runs out and is removed from the server after its grace
period, once, even when the process is killed in the middle of removing it; an account
on its last day is reminded, and renewed from the reminder to the right day on the
server."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import subprocess
import zoneinfo

from buyer import Buyer, eventually
from conftest import server_entry
from daemon import Daemon, write_config
from future import check, environment

from qrisbot.testing import config_for

STEP = 30
ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")


def noon_in(days: int) -> tuple[dt.date, str]:
    """That day in the shop's time zone, and the faketime offset to its noon (reminders go
    out in daytime only)."""
    now = dt.datetime.now(ZONE)
    day = now.date() + dt.timedelta(days=days)
    noon = dt.datetime.combine(day, dt.time(12), ZONE)
    return day, f"+{math.ceil((noon - now).total_seconds() / 60)}m"


def user_exists(name: str) -> bool:
    return subprocess.run(["getent", "passwd", name], capture_output=True).returncode == 0


async def test_a_neglected_account_is_removed_once_at_a_future_date(
    tmp_path, telegram, pakasir, sshd, linux_users
):
    later_day, offset = noon_in(3)
    assert check(tmp_path, offset) == later_day.isoformat()
    started = tmp_path / "delete-started"
    custom = server_entry("sg2", ssh=sshd.access(), commands={
        "create": "read -r p; getent passwd {username} >/dev/null || "
                  "useradd -M -s /bin/false -c qrisbot-{order_id} {username}; "
                  "printf '%s:%s\\n' {username} \"$p\" | chpasswd",
        "exists": "getent passwd {username} >/dev/null || exit 1",
        # Idempotent, as removal asks, and slow: the kill lands while it runs.
        "delete": f"getent passwd {{username}} >/dev/null || exit 0; touch {started}; "
                  "sleep 2; userdel -f {username}"})
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", ssh=sshd.access()), custom],
                     {"days_per_month": 1, "grace_days": 1}, check_interval=4,
                     payment_timeout=60)
    raw["telegram"]["poll_timeout"] = 2
    config = write_config(tmp_path / "config.toml", raw)
    daemon = Daemon(config, tmp_path / "daemon.log")
    await daemon.start()
    buyers = {"sg1": Buyer(telegram, 8301), "sg2": Buyer(telegram, 8302)}
    for server, buyer in buyers.items():
        name = f"qbt_old_{server}"
        linux_users.append(name)
        _, order_id = await buyer.buys(username=name, password=f"old-pass-{server}", months=1,
                                       server=server, within=STEP)
        pakasir.pay(order_id)
        await buyer.sees("Akun SSH Anda siap", STEP)  # one day: its last day is tomorrow
        assert user_exists(name)
    # A third account lasts three days: its last day is the later day.
    keeper = Buyer(telegram, 8303)
    linux_users.append("qbt_keep")
    _, order_id = await keeper.buys(username="qbt_keep", password="keep-pass-1", months=3,
                                    within=STEP)
    pakasir.pay(order_id)
    await keeper.sees("Akun SSH Anda siap", STEP)
    assert await daemon.stop() == 0

    # Three days later: it ran out the day before yesterday; its grace day is over.
    later = Daemon(config, tmp_path / "later.log")
    await later.start(**environment(tmp_path, offset))
    for buyer in buyers.values():
        ran_out = await buyer.sees("sudah habis", STEP)
        assert "dihapus pada" in ran_out.text
    await eventually(started.exists, STEP)
    await later.kill()  # while sg2's delete command runs
    again = Daemon(config, tmp_path / "again.log")
    await again.start(**environment(tmp_path, offset))
    for buyer in buyers.values():
        await buyer.sees("sudah dihapus", STEP)
    await eventually(lambda: not user_exists("qbt_old_sg1") and not user_exists("qbt_old_sg2"),
                     STEP)

    # The third buyer was reminded on its last day, and renews from the reminder: one more
    # day after the last one, on the server too (the recipe sets the day after the last).
    reminder = await keeper.sees("⏰", STEP)
    assert "aktif sampai hari ini" in reminder.text
    _, renewal = await keeper.renews(reminder.button_data()[0], within=STEP)
    pakasir.pay(renewal)
    new_day = later_day + dt.timedelta(days=1)
    await keeper.sees(f"diperpanjang sampai {new_day:%d-%m-%Y}", STEP)
    chage = subprocess.run(["chage", "-l", "qbt_keep"], capture_output=True, text=True).stdout
    assert f"{new_day + dt.timedelta(days=1):%b %d, %Y}" in chage, chage
    assert await again.stop() == 0
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        assert db.execute("SELECT username, state FROM accounts ORDER BY id").fetchall() == [
            ("qbt_old_sg1", "removed"), ("qbt_old_sg2", "removed"), ("qbt_keep", "active")]
    for buyer in buyers.values():
        said = [m.body for m in telegram.messages(buyer.chat_id)]
        assert sum(b.startswith("🗑") for b in said) == 1
        assert sum(b.startswith("⌛") for b in said) == 1
