"""The daemon's long-running tasks (the daily look, the server probe, reminders, expiry,
the operator's sweep, the daily summary) never stop the shop: a bug in one is logged and
told to the admins once, and the task goes on at its next round. A server the daily look
cannot read is told once, and again when it reads again. Days pass on the MockClock
through the shop's calendar; the real app runs."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import attrs
import trio
from buyer import Buyer
from conftest import server_entry

from qrisbot import config
from qrisbot.config import Server
from qrisbot.provision import Account as Made
from qrisbot.provision import Found, Presence
from qrisbot.provision.ssh.connections import CommandFailed
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.servers import PROBE_USERNAME
from qrisbot.testing import config_for
from qrisbot.testing.local_provisioner import LocalProvisioner

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
ADMIN = 9001
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)
STRANGER = "0b5ad2bb-5c1f-4ae4-9d43-3d1a1f9f5c40"


@attrs.define
class Flawed(LocalProvisioner):
    """A backend with bugs in it: the daily look's read raises on the days listed (as the
    reader did on a date out of range), or (`unreadable`) the server refuses to be read;
    the probe's question raises every time."""

    bug_days: set[dt.date] = attrs.Factory(set)
    unreadable: set[dt.date] = attrs.Factory(set)
    probe_bug: bool = False
    calendar: Calendar | None = None

    async def read_accounts(self, server: Server) -> Found:
        assert self.calendar is not None
        today = self.calendar.today()
        if today in self.bug_days:
            raise OverflowError("date value out of range")
        if today in self.unreadable:
            raise CommandFailed("reading /etc/xray/config.json failed (exit 4)", 4,
                                "config file not found")
        return await super().read_accounts(server)

    async def presence(self, server: Server, username: str) -> Presence:
        if self.probe_bug and username == PROBE_USERNAME:
            raise KeyError(username)
        return await super().presence(server, username)


def shop_config(telegram, pakasir, tmp_path) -> config.Config:
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless")],
                     {"admins": [ADMIN], "remind_days": [], "daily_summary": ""})
    raw["telegram"]["poll_timeout"] = 50
    return config.parse(raw, {})


def at(begun: float, day: int, hour: int, minute: int = 0) -> float:
    moment = dt.datetime(2026, 12, day, hour, minute, tzinfo=ZONE)
    return begun + (moment - START).total_seconds()


def admin_says(telegram, words: str) -> list[str]:
    return [m.body for m in telegram.messages(ADMIN) if words in m.body]


async def test_a_bug_in_the_daily_look_is_told_once_and_the_shop_goes_on(
    autojump_clock, start_shop, telegram, pakasir, tmp_path
):
    calendar = Calendar("Asia/Jakarta", START)
    provisioner = Flawed(calendar=calendar, bug_days={dt.date(2026, 12, 2),
                                                      dt.date(2026, 12, 3)})
    begun = trio.current_time()
    await start_shop(shop_config(telegram, pakasir, tmp_path), backends=provisioner,
                     calendar=calendar)
    bob = Buyer(telegram, 7001)
    _, order_id = await bob.buys(username="bob", password=None, months=1)
    pakasir.pay(order_id)
    await bob.sees("Akun VLESS Anda siap")

    # 04:30 on the 2nd: the look raises. The shop goes on: a buyer is served after it.
    await trio.sleep_until(at(begun, 2, 12))
    bugs = admin_says(telegram, "Kesalahan program")
    assert len(bugs) == 1
    assert "pemeriksaan harian server" in bugs[0] and "OverflowError" in bugs[0]
    carol = Buyer(telegram, 7002)
    _, order_id = await carol.buys(username="carol", password=None, months=1)
    pakasir.pay(order_id)
    await carol.sees("Akun VLESS Anda siap")

    # The same bug on the 3rd: in the log, not told again.
    await trio.sleep_until(at(begun, 3, 12))
    assert len(admin_says(telegram, "Kesalahan program")) == 1
    # The 4th: the look works again and finds what the seller changed meanwhile.
    provisioner.accounts[("sg1", "eve")] = Made(
        order_id="menu", username="eve", secret=STRANGER, expires=dt.date(2027, 5, 1),
        months=1, days=30)
    await trio.sleep_until(at(begun, 4, 12))
    (notice,) = admin_says(telegram, "Pemeriksaan harian")
    assert "(eve)" in notice


async def test_a_probe_that_raises_every_round_is_told_once(
    autojump_clock, start_shop, telegram, pakasir, tmp_path
):
    calendar = Calendar("Asia/Jakarta", START)
    provisioner = Flawed(calendar=calendar, probe_bug=True)
    await start_shop(shop_config(telegram, pakasir, tmp_path), backends=provisioner,
                     calendar=calendar)
    await trio.sleep(3 * 3600)  # dozens of probe rounds, each raising
    (bug,) = admin_says(telegram, "Kesalahan program")
    assert "KeyError" in bug and "qrisbotprobe" not in bug
    bob = Buyer(telegram, 7001)
    _, order_id = await bob.buys(username="bob", password=None, months=1)
    pakasir.pay(order_id)
    await bob.sees("Akun VLESS Anda siap")


async def test_a_server_the_daily_look_cannot_read_is_told_once_until_it_reads_again(
    autojump_clock, start_shop, telegram, pakasir, tmp_path
):
    calendar = Calendar("Asia/Jakarta", START)
    down = {dt.date(2026, 12, 2), dt.date(2026, 12, 3)}
    provisioner = Flawed(calendar=calendar, unreadable=down)
    begun = trio.current_time()
    await start_shop(shop_config(telegram, pakasir, tmp_path), backends=provisioner,
                     calendar=calendar)
    await trio.sleep_until(at(begun, 2, 12))
    (told,) = admin_says(telegram, "tidak bisa dibaca untuk")
    assert "Server SG1" in told and "exit 4" in told
    await trio.sleep_until(at(begun, 3, 12))  # still unreadable: said once is enough
    assert len(admin_says(telegram, "tidak bisa dibaca untuk")) == 1
    assert admin_says(telegram, "bisa dibaca lagi") == []
    await trio.sleep_until(at(begun, 4, 12))
    (again,) = admin_says(telegram, "bisa dibaca lagi")
    assert "Server SG1" in again
    await trio.sleep_until(at(begun, 5, 12))
    assert len(admin_says(telegram, "bisa dibaca lagi")) == 1
    assert len(admin_says(telegram, "tidak bisa dibaca untuk")) == 1
