"""Free trials: one per Telegram user ever, made at once without payment, removed from the
server `trial.hours` after it was made (to the minute), within the day's limit; renewing a
trial makes it a paid account from today (hours pass on the MockClock)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import trio
from buyer import Buyer
from conftest import server_entry

from qrisbot import config
from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.shop.calendar import Calendar
from qrisbot.testing import config_for

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)


def trial_config(telegram, pakasir, tmp_path, **trial) -> config.Config:
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry(capacity=5),
                      server_entry("sg2", protocol="vless", name="Server VL")],
                     {"days_per_month": 30})
    raw["telegram"]["poll_timeout"] = 50
    raw["trial"] = {"hours": 2, "servers": ["sg1"], "daily_limit": 2, **trial}
    return config.parse(raw, {})


async def takes_trial(buyer: Buyer, server: str = "sg1"):
    buyer.says("/start")
    menu = await buyer.sees("Pilih server")
    assert "trial" in menu.button_data()
    buyer.taps("trial")
    offer = await buyer.sees("Coba gratis 2 jam")
    buyer.taps(f"tsrv:{server}")
    return offer


async def test_a_trial_is_made_at_once_once_per_user_and_removed_to_the_minute(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path
):
    cfg = trial_config(telegram, pakasir, tmp_path)
    begun = trio.current_time()
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", START))

    def at(day: int, hour: int, minute: int = 0) -> float:
        moment = dt.datetime(2026, 12, day, hour, minute, tzinfo=ZONE)
        return begun + (moment - START).total_seconds()

    tina = Buyer(telegram, 7101)
    offer = await takes_trial(tina)
    # Only the servers that offer one (sg2 is not in trial.servers).
    assert [d for d in offer.button_data() if d.startswith("tsrv:")] == ["tsrv:sg1"]
    ready = await tina.sees("Akun trial SSH Anda siap")
    assert "berlaku sampai <b>11:00 01-12-2026</b>" in ready.text
    ((server_id, username),) = provisioner.accounts
    assert server_id == "sg1" and re.fullmatch(r"trial[a-z0-9]{5}", username)
    password = provisioner.accounts[("sg1", username)].secret
    assert f"<code>{password}</code>" in ready.text and len(password) == 12
    assert pakasir.transactions == {}  # no payment of any kind

    # One per user, ever: the button is gone and a forged one is refused.
    tina.says("/start")
    assert "trial" not in (await tina.sees("Pilih server")).button_data()
    tina.taps("trial")
    await tina.sees("sudah pernah memakai akun trial")
    tina.says("/akun")
    assert "trial, berakhir 11:00 01-12-2026" in (await tina.sees("Akun saya")).text

    # Still there a minute before its end; gone within a minute after it, the buyer told.
    await trio.sleep_until(at(1, 10, 59))
    assert ("sg1", username) in provisioner.accounts
    await tina.sees("Masa trial", within=at(1, 11, 1) - trio.current_time())
    assert ("sg1", username) not in provisioner.accounts
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(7101)
    assert account.state == L.REMOVED and account.is_trial
    # No reminder ever went out for it, and no "ran out" notice.
    assert [m.body[:12] for m in telegram.messages(7101)
            if "habis" in m.body or "Pengingat" in m.body] == []

    # Today's limit (2): a second user gets one, a third is told to come back tomorrow.
    await takes_trial(Buyer(telegram, 7102))
    await Buyer(telegram, 7102).sees("Akun trial SSH Anda siap")
    late = Buyer(telegram, 7103)
    late.says("/start")
    await late.sees("Pilih server")
    late.taps("trial")
    await late.sees("Kuota akun trial hari ini sudah habis")
    await trio.sleep_until(at(2, 9))
    await takes_trial(late)
    await late.sees("Akun trial SSH Anda siap")
    assert ledger.trials_on(dt.date(2026, 12, 1)) == 2
    assert ledger.trials_on(dt.date(2026, 12, 2)) == 1


async def test_renewing_a_trial_makes_it_a_paid_account_from_today(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path
):
    cfg = trial_config(telegram, pakasir, tmp_path, hours=2)
    begun = trio.current_time()
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", START))
    rudi = Buyer(telegram, 7201)
    await takes_trial(rudi)
    await rudi.sees("Akun trial SSH Anda siap")
    ((_, username),) = provisioner.accounts
    rudi.says("/akun")
    listing = await rudi.sees("Akun saya")
    renew = next(d for d in listing.button_data() if d.startswith("ren:"))
    confirm, order_id = await rudi.renews(renew, months=1)
    assert "Setelah diperpanjang: <b>31-12-2026</b>" in confirm.text
    assert "Rp10.000" in confirm.text
    pakasir.pay(order_id)
    await rudi.sees("diperpanjang sampai 31-12-2026")
    # Past the trial's hours it stays: a paid account now, with reminders like any other.
    await trio.sleep_until(begun + 5 * 3600)
    assert provisioner.accounts[("sg1", username)].expires == dt.date(2026, 12, 31)
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(7201)
    assert account.state == L.ACTIVE and not account.is_trial
    assert not any("Masa trial" in m.body for m in telegram.messages(7201))


def test_the_ledger_gives_one_trial_per_user_and_counts_it_against_capacity(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")

    def trial(order_id: str, user: int, name: str, *, limit: int = 0, capacity: int = 5):
        return ledger.create_trial(
            order_id=order_id, chat_id=user, user_id=user, server_id="sg1", protocol="ssh",
            username=name, secret="pw123456", language="id", day=dt.date(2026, 12, 1),
            ends_at=1.0, expires_on=dt.date(2026, 12, 1), capacity=capacity,
            daily_limit=limit)

    order = trial("T1", 1, "trialaaaaa")
    assert (order.state, order.kind, order.amount) == (L.PAID, L.TRIAL, 0)
    assert ledger.username_held("sg1", "trialaaaaa") and ledger.active_count("sg1") == 1
    for refused, call in [
        (L.TrialUsed, lambda: trial("T2", 1, "trialbbbbb")),
        (L.UsernameHeld, lambda: trial("T3", 2, "trialaaaaa")),
        (L.ServerFull, lambda: trial("T4", 3, "trialccccc", capacity=1)),
        (L.TrialsExhausted, lambda: trial("T5", 4, "trialddddd", limit=1)),
    ]:
        try:
            call()
        except refused:
            pass
        else:
            raise AssertionError(f"{refused.__name__} expected")
    assert [o.id for o in ledger.orders()] == ["T1"] and ledger.trials_on(
        dt.date(2026, 12, 1)) == 1
    assert ledger.sales(0).orders == 0  # a trial is not a sale
