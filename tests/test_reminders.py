"""Reminders before an account's last day, on the shop's calendar (trio's MockClock makes
the days pass): once each, in daytime, with a Perpanjang button that renews."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import trio
from conftest import server_entry
from test_ledger import new_order

from qrisbot import config
from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.shop.calendar import Calendar
from qrisbot.testing import config_for

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")


def reminders(telegram, chat_id: int) -> list[str]:
    return [m.body for m in telegram.messages(chat_id) if m.body.startswith("⏰")]


async def test_reminders_go_once_in_daytime_and_a_renewal_has_its_own(
    autojump_clock, start_shop, telegram, pakasir, buyer, tmp_path
):
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"), [server_entry()],
                     {"days_per_month": 2, "remind_days": [3, 1]})
    raw["telegram"]["poll_timeout"] = 50  # days pass here: fewer empty polls
    cfg = config.parse(raw, {})
    start = dt.datetime(2026, 12, 1, 7, 0, tzinfo=ZONE)
    begun = trio.current_time()
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", start))

    def at(day: int, hour: int, minute: int = 0) -> float:
        moment = dt.datetime(2026, 12, day, hour, minute, tzinfo=ZONE)
        return begun + (moment - start).total_seconds()

    _, order_id = await buyer.buys(months=1)  # two days: the last day is 03-12-2026
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    # Bought inside the 3-day window: that reminder is not needed. The 1-day one is due
    # from midnight, but goes out only from 08:00.
    await trio.sleep_until(at(2, 7, 59))
    assert reminders(telegram, buyer.chat_id) == []
    first = await buyer.sees("⏰", within=at(2, 8, 10) - trio.current_time())
    assert "aktif sampai 03-12-2026 (2 hari lagi)" in first.text
    account_id = Ledger.open(cfg.shop.database).accounts_of(buyer.chat_id)[0].id
    assert first.button_data() == [f"ren:{account_id}"]
    await trio.sleep_until(at(2, 20))
    assert len(reminders(telegram, buyer.chat_id)) == 1  # once, not at every look

    # Renewed from the reminder's button: two more days after the current last day.
    confirm, renewal = await buyer.renews(f"ren:{account_id}")
    assert "Setelah diperpanjang: <b>05-12-2026</b>" in confirm.text
    pakasir.pay(renewal)
    await buyer.sees("diperpanjang sampai 05-12-2026")
    # None for the old day any more; the new day has its own (its 3-day one passed at
    # the renewal), on the 4th from 08:00.
    await trio.sleep_until(at(4, 7, 59))
    assert len(reminders(telegram, buyer.chat_id)) == 1
    second = await buyer.sees("⏰", within=at(4, 8, 10) - trio.current_time())
    assert "aktif sampai 05-12-2026 (2 hari lagi)" in second.text


def test_a_reminder_missed_while_down_goes_once_and_only_the_nearest(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    order = new_order(ledger, "VPN1", chat_id=7, username="budi")
    for state in (L.AWAITING, L.PAID, L.PROVISIONING):
        order = ledger.transition(order.id, {order.state}, state)
    ledger.record_provisioned("VPN1", '{"kind": "ssh"}', dt.date(2026, 12, 10))
    (account,) = ledger.accounts_of(7)
    assert ledger.due_reminders(dt.date(2026, 12, 6), [3, 1]) == []  # 4 days before
    # Down on the 7th (3 days before); back on the 9th: only the 1-day one is due.
    due = ledger.due_reminders(dt.date(2026, 12, 9), [3, 1])
    assert [(a.id, days) for a, days in due] == [(account.id, 1)]
    assert ledger.record_reminder(account, 1, [3, 1])
    assert not ledger.record_reminder(account, 1, [3, 1])  # never twice
    assert ledger.due_reminders(dt.date(2026, 12, 9), [3, 1]) == []
    assert ledger.due_reminders(dt.date(2026, 12, 10), [3, 1]) == []  # the 3-day one passed
    assert ledger.due_reminders(dt.date(2026, 12, 11), [3, 1]) == []  # past its last day
