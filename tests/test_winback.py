"""Win-back offers (issue 19 §6) and personal offers in the price: after the shop removes an
account, its owner gets a personal discount on the configured days (in daytime, once each,
one a day at most, through restarts), applied by itself to their next order within its
hours and shown in the breakdown; stopped by a purchase or a blocked bot. The whole shop
through the fakes, days passing on the MockClock through the shop's calendar."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import partial

import pytest
import trio
from buyer import Buyer, order_id_of
from conftest import server_entry

from qrisbot import app, config
from qrisbot import ledger as L
from qrisbot.ledger import Ledger, Promo
from qrisbot.shop.calendar import Calendar
from qrisbot.testing import config_for

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)


def shop_config(telegram, pakasir, tmp_path, language: str = "id", days=(1, 3)):
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"), [server_entry()],
                     {"days_per_month": 2, "remind_days": [], "grace_days": 1,
                      "language": language})
    raw["telegram"]["poll_timeout"] = 50
    raw["winback"] = {"days": list(days), "percent": 20, "valid_hours": 24}
    return config.parse(raw, {})


def at(begun: float, day: int, hour: int, minute: int = 0) -> float:
    return begun + (dt.datetime(2026, 12, day, hour, minute, tzinfo=ZONE) - START
                    ).total_seconds()


def at_shop(begun: float) -> float:
    """The shop's clock now (epoch seconds), as the calendar gives it."""
    return (START + dt.timedelta(seconds=trio.current_time() - begun)).timestamp()


def offers_to(telegram, chat_id: int) -> list:
    return [m for m in telegram.messages(chat_id)
            if "rindu" in m.body or "miss you" in m.body]


async def bought_and_removed(buyer: Buyer, pakasir, begun: float, username: str = "lupa"
                             ) -> None:
    """One month (two days: last day 03-12) bought on 01-12; removed early on 05-12."""
    _, order_id = await buyer.buys(username=username, months=1)
    pakasir.pay(order_id)
    await buyer.sees(lambda m: "siap" in m.body or "ready" in m.body)
    await trio.sleep_until(at(begun, 5, 2))


async def test_offers_on_their_days_apply_by_themselves_and_stop_after_a_purchase(
    autojump_clock, start_shop, telegram, pakasir, tmp_path
):
    cfg = shop_config(telegram, pakasir, tmp_path, days=(1, 3, 4))
    begun = trio.current_time()
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", START))
    buyer = Buyer(telegram, 6201)
    await bought_and_removed(buyer, pakasir, begun)
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.accounts_of(6201)[0].state == "removed"

    # Day 1 after the removal (06-12), not at night: in daytime, from 08:00.
    await trio.sleep_until(at(begun, 6, 7, 59))
    assert offers_to(telegram, 6201) == []
    offer = await buyer.sees("Diskon khusus untuk Anda -20%", within=600)
    assert "Berlaku sampai 08:0" in offer.text and "07-12-2026" in offer.text
    assert offer.button_data() == ["shop"]

    # Its button is the menu; the discount is taken off by itself and shown.
    buyer.taps("shop")
    await buyer.sees("Pilih server")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("kembali")
    await buyer.sees("password")
    buyer.says("rahasia123")
    await buyer.sees("durasi")
    buyer.taps("dur:3")
    confirm = await buyer.sees("Periksa pesanan")
    assert "Harga: Rp30.000" in confirm.text
    assert "Diskon khusus untuk Anda -20%: −Rp6.000" in confirm.text
    assert "Total bayar: <b>Rp24." in confirm.text
    buyer.taps("cancel")
    await buyer.sees("dibatalkan")

    # One a day, and the day's offer once: nothing more on 06-12.
    await trio.sleep_until(at(begun, 6, 23))
    assert len(offers_to(telegram, 6201)) == 1
    # Past its 24 hours the price is the list price again.
    await trio.sleep_until(at(begun, 7, 9))
    confirm = await buyer.orders(username="kembali", months=3)
    assert "Diskon" not in confirm.text and "Total bayar" in confirm.text
    buyer.taps("cancel")
    await buyer.sees("dibatalkan")
    await trio.sleep_until(at(begun, 7, 23))
    assert len(offers_to(telegram, 6201)) == 1  # nothing on day 2

    # Day 3 (08-12): the second offer; this time the buyer pays what it showed.
    await buyer.sees("Diskon khusus untuk Anda -20%", within=at(begun, 8, 9) - trio.current_time())
    confirm = await buyer.orders(username="kembali", months=1)
    assert "Diskon khusus untuk Anda -20%: −Rp2.000" in confirm.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    order_id = order_id_of(qr.caption)
    assert pakasir.transactions[order_id].amount == 8000
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    order = ledger.get(order_id)
    assert order.breakdown == L.Breakdown(10000, 2000, L.DiscountSource.WINBACK,
                                          offer_id=order.offer_id)
    assert order.offer_id is not None and ledger.usable_offer(6201, at_shop(begun)) is None
    # Bought: no offer on day 4 (09-12), though the first account's day 4 has come.
    await trio.sleep_until(at(begun, 9, 20))
    assert len(offers_to(telegram, 6201)) == 2


async def orders_in_english(buyer: Buyer, username: str, months: int):
    buyer.says("/start")
    await buyer.sees("Welcome")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says(username)
    await buyer.sees("password")
    buyer.says("rahasia123")
    await buyer.sees("duration")
    buyer.taps(f"dur:{months}")
    return await buyer.sees("Check your order")


async def test_an_english_buyer_offer_beats_a_smaller_code_and_a_bigger_code_wins(
    autojump_clock, start_shop, telegram, pakasir, tmp_path
):
    cfg = shop_config(telegram, pakasir, tmp_path, "en")
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.add_promo(Promo("TEN", percent=10)) and ledger.add_promo(Promo("HALF",
                                                                                 percent=50))
    begun = trio.current_time()
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", START))
    buyer = Buyer(telegram, 6301)
    await orders_in_english(buyer, "lupa", 1)
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    pakasir.pay(order_id_of(qr.caption))
    await buyer.sees("is ready")
    offer = await buyer.sees("Your personal discount -20%",
                             within=at(begun, 6, 9) - trio.current_time())
    assert "on your next purchase or renewal" in offer.text and "Valid until" in offer.text

    async def confirmation_with(code: str):
        buyer.taps("promo")
        await buyer.sees("Type your promo code")
        buyer.says(code)
        return await buyer.sees("Check your order")

    await orders_in_english(buyer, "again", 2)
    shown = await confirmation_with("ten")
    assert "Your personal discount -20%: −Rp4.000" in shown.text
    assert "the promo code TEN is not used (one discount per order)" in shown.text
    assert "Total to pay: <b>Rp16." in shown.text
    shown = await confirmation_with("half")
    assert "Discount (HALF): −Rp10.000" in shown.text
    assert "your personal discount is not used and stays yours" in shown.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    paid_with_code = order_id_of(qr.caption)
    assert pakasir.transactions[paid_with_code].amount == 10000
    # The code's order does not use the offer: it is still there for the next order.
    assert ledger.get(paid_with_code).offer_id is None
    assert ledger.usable_offer(6301, at_shop(begun)) is not None


async def test_an_order_that_expires_unpaid_gives_the_offer_back_and_a_renewal_takes_it(
    autojump_clock, start_shop, telegram, pakasir, tmp_path
):
    cfg = shop_config(telegram, pakasir, tmp_path)
    begun = trio.current_time()
    await start_shop(cfg, calendar=Calendar("Asia/Jakarta", START))
    buyer = Buyer(telegram, 6401)
    _, order_id = await buyer.buys(username="tetap", months=3)
    pakasir.pay(order_id)
    await buyer.sees("siap")
    # An offer as a win-back grants it (the days before it: the first test's).
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.grant_offer(user_id=6401, source="winback", percent=20,
                              valid_until=at_shop(begun) + 24 * 3600, earned_by="winback:9:1")
    _, unpaid = await buyer.buys(username="kembali", months=1)
    assert pakasir.transactions[unpaid].amount == 8000
    assert ledger.usable_offer(6401, at_shop(begun)) is None  # in use by that order
    await buyer.sees("Waktu pembayaran habis", within=400)  # payment_timeout 300 s
    assert ledger.get(unpaid).state == L.EXPIRED
    # Given back: the next order takes it again, at the same price.
    confirm = await buyer.orders(username="kembali", months=1)
    assert "Diskon khusus untuk Anda -20%: −Rp2.000" in confirm.text
    buyer.taps("cancel")
    await buyer.sees("dibatalkan")
    # A renewal is an order too: the offer comes off it by itself.
    kept = next(a for a in ledger.accounts_of(6401) if a.username == "tetap")
    buyer.says("/akun")
    await buyer.sees(lambda m: f"ren:{kept.id}" in m.button_data())
    confirm, renewal = await buyer.renews(f"ren:{kept.id}", months=2)
    assert "Periksa perpanjangan" in confirm.text
    assert "Diskon khusus untuk Anda -20%: −Rp4.000" in confirm.text
    assert pakasir.transactions[renewal].amount == 16000
    assert ledger.get(renewal).offer_id is not None
    assert ledger.usable_offer(6401, at_shop(begun)) is None


async def run_shop(cfg, calendar, until: float, backends) -> None:
    """The daemon from now until `until` (trio time), then stopped as SIGTERM stops it."""
    stop = trio.Event()
    async with trio.open_nursery() as shop:
        await shop.start(partial(app.run, cfg, stop=stop, calendar=calendar,
                                 backends=backends))
        await trio.sleep_until(until)
        stop.set()


async def test_once_through_restarts_one_a_day_and_none_once_blocked(
    autojump_clock, telegram, pakasir, provisioner, tmp_path
):
    cfg = shop_config(telegram, pakasir, tmp_path, days=(1, 2, 3))
    calendar = Calendar("Asia/Jakarta", START)
    begun = trio.current_time()
    two, blocker = Buyer(telegram, 6501), Buyer(telegram, 6502)

    async def buy(buyer: Buyer, name: str) -> None:
        _, order_id = await buyer.buys(username=name, months=1)
        pakasir.pay(order_id)
        await buyer.sees("siap")

    stop = trio.Event()
    async with trio.open_nursery() as shop:
        await shop.start(partial(app.run, cfg, stop=stop, calendar=calendar,
                                 backends=provisioner))
        # Two accounts of one person run out together; a third person's too.
        await buy(two, "satu")
        two.taps("cancel")  # a fresh start for the second purchase
        await buy(two, "dua")
        await buy(blocker, "tiga")
        await trio.sleep_until(at(begun, 6, 8, 30))
        stop.set()
    assert len(offers_to(telegram, 6501)) == 1  # two accounts removed, one offer a day
    assert len(offers_to(telegram, 6502)) == 1
    telegram.block(6502)
    # Restarted the same day, and again: the day's offer is not sent again.
    await run_shop(cfg, calendar, at(begun, 6, 12), provisioner)
    await run_shop(cfg, calendar, at(begun, 6, 20), provisioner)
    assert len(offers_to(telegram, 6501)) == 1
    # Day 2: the next offer; the person who blocked the bot is tried once, then no more.
    await run_shop(cfg, calendar, at(begun, 8, 20), provisioner)
    assert len(offers_to(telegram, 6501)) == 3  # days 2 and 3
    ledger = Ledger.open(cfg.shop.database)
    blocked = [o.earned_by.rsplit(":", 1)[1] for o in ledger.offers_of(6502)]
    assert blocked == ["1", "2"]  # refused on day 2 (403); day 3 never tried
    telegram.unblock(6502)
    assert len(offers_to(telegram, 6502)) == 1
    # Each offer of the person with two accounts was earned by one of them, once.
    assert len({o.earned_by for o in ledger.offers_of(6501)}) == 3


def test_winback_config_is_off_by_default_and_wrong_values_name_their_key(tmp_path):
    raw = config_for("http://127.0.0.1:1", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
                     "http://127.0.0.1:2", "proj", "key", str(tmp_path / "ledger.sqlite3"),
                     [server_entry()])
    assert config.parse(raw, {}).winback == config.Winback()  # no [winback]: off
    raw["winback"] = {"days": [1, "3"], "percent": 20.5, "valid_hours": 24, "hours": 1}
    with pytest.raises(config.ConfigError) as typed:
        config.parse(raw, {})
    for path in ("@ $.winback.days[1]", "@ $.winback.percent", "hours @ $.winback"):
        assert path in str(typed.value), typed.value
    raw["winback"] = {"days": [3, 3, 0], "percent": 100, "valid_hours": 0}
    with pytest.raises(config.ConfigError) as checked:
        config.parse(raw, {})
    for path in ("$.winback.days:", "$.winback.percent:", "$.winback.valid_hours:"):
        assert path in str(checked.value), checked.value
