"""The sales chart: the figures behind it (per day in the shop's zone), the picture, and
how the admins get it (/admin -> Grafik, the daily summary with shop.summary_chart)."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
import time
import zoneinfo

import pytest
from PIL import Image
from test_admin import ADMIN, admin, shop_with_admin  # noqa: F401 (fixtures)

from qrisbot import config
from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.ledger.daily import Day
from qrisbot.shop import chart

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")  # UTC+7: its midnight is 17:00 UTC
SIDE = int(chart.INCHES * chart.DPI)


def wib(day: str, clock: str) -> float:
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=JAKARTA).timestamp()


def paid_purchase(ledger: Ledger, order_id: str, amount: int, paid_at: float,
                  expires_on: str, chat_id: int) -> L.Order:
    order = ledger.create_order(
        order_id=order_id, chat_id=chat_id, user_id=chat_id, server_id="sg1", protocol="ssh",
        username=f"u{chat_id}", secret="password1", months=1, amount=amount, language="id",
        deadline=time.time() + 300, capacity=100)
    ledger.transition(order.id, {L.NEW}, L.AWAITING)
    ledger.transition(order.id, {L.AWAITING}, L.PAID, paid_at=paid_at)
    ledger.transition(order.id, {L.PAID}, L.PROVISIONING)
    made = ledger.record_provisioned(order.id, "{}", dt.date.fromisoformat(expires_on))
    assert made is not None
    return made


def test_figures_per_day_follow_the_shops_midnight(tmp_path):
    path = tmp_path / "l.sqlite3"
    ledger = Ledger.open(path)
    # One second either side of midnight in Jakarta: the same day in UTC, two days here.
    a = paid_purchase(ledger, "A", 10_000, wib("2026-03-13", "23:59:30"), "2026-04-13", 1)
    paid_purchase(ledger, "B", 20_000, wib("2026-03-14", "00:00:10"), "2026-04-14", 2)
    account_a = ledger.account(a.account_id)
    renewal = ledger.create_renewal(order_id="C", chat_id=1, user_id=1, account=account_a,
                                    months=1, days=30, language="id", amount=15_000,
                                    deadline=time.time() + 300)
    ledger.transition(renewal.id, {L.NEW}, L.AWAITING)
    ledger.transition(renewal.id, {L.AWAITING}, L.PAID, paid_at=wib("2026-03-14", "12:00"))
    # The day before the window, and an order never paid: neither counts.
    paid_purchase(ledger, "D", 5_000, wib("2026-02-13", "23:00"), "2026-02-20", 3)
    unpaid = ledger.create_order(
        order_id="E", chat_id=4, user_id=4, server_id="sg1", protocol="ssh", username="u4",
        secret="password1", months=1, amount=99_000, language="id",
        deadline=time.time() + 300, capacity=100)
    ledger.transition(unpaid.id, {L.NEW}, L.AWAITING)
    assert ledger.import_account(server_id="sg1", protocol="ssh", username="lama",
                                 secret="x", expires_on=dt.date(2026, 3, 31), details="{}",
                                 today=dt.date(2026, 3, 1))
    # The accounts' history, as it would stand after these weeks.
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE accounts SET created_at=? WHERE made_by='A'",
                   (wib("2026-03-13", "23:59:40"),))
        db.execute("UPDATE accounts SET created_at=?, state='removed', updated_at=?"
                   " WHERE made_by='B'", (wib("2026-03-14", "00:00:20"),
                                          wib("2026-03-15", "09:00")))
        # D's account ran from long before the window to 20 February.
        db.execute("UPDATE accounts SET created_at=? WHERE made_by='D'",
                   (wib("2026-01-01", "08:00"),))
        db.execute("UPDATE accounts SET created_at=? WHERE username='lama'",
                   (wib("2026-03-01", "12:00"),))
    db.close()

    now = wib("2026-03-15", "10:00")
    days = chart.window(JAKARTA, now)
    assert days[0] == dt.date(2026, 2, 14) and days[-1] == dt.date(2026, 3, 15)
    figures = {day.day: day for day in ledger.daily(days, JAKARTA, now)}
    assert len(figures) == 30
    on = figures.__getitem__
    assert on(dt.date(2026, 3, 13)) == Day(dt.date(2026, 3, 13), 10_000, 0, 1, 0, 2)
    assert on(dt.date(2026, 3, 14)) == Day(dt.date(2026, 3, 14), 20_000, 15_000, 1, 1, 3)
    # B's account was removed at 09:00 today: gone at "now".
    assert on(dt.date(2026, 3, 15)) == Day(dt.date(2026, 3, 15), 0, 0, 0, 0, 2)
    assert sum(day.revenue for day in figures.values()) == 45_000
    active = [figures[day].active for day in days]
    assert active[:7] == [1] * 7  # D's account, 14-20 February
    assert active[7:15] == [0] * 8  # 21-28 February
    assert active[15:27] == [1] * 12  # the imported one, 1-12 March

    caption = chart.SalesChart(ledger, "Toko Test", "id", JAKARTA).caption(list(
        figures.values()))
    assert "14 Feb 2026 – 15 Mar 2026" in caption
    assert "Baru: 2 order · Rp30.000" in caption and "Perpanjangan: 1 order · Rp15.000" in caption
    assert "Total: Rp45.000" in caption and "Akun aktif sekarang: 2" in caption
    english = chart.SalesChart(ledger, "Toko Test", "en", JAKARTA).caption(list(
        figures.values()))
    assert "14 Feb 2026 – 15 Mar 2026" in english and "New: 2 order(s) · Rp30.000" in english


def column_tops(png: bytes, color: str) -> list[int]:
    """The top row of each run of columns painted `color` (one run per bar), left to right,
    below the title and the legend (whose keys share the bars' colours)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    want = tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    width, height = image.size
    pixels = image.load()
    tops: list[int] = []
    previous = False
    for x in range(width):
        rows = [y for y in range(height // 5, height) if pixels[x, y] == want]
        if rows and not previous:
            tops.append(min(rows))
        previous = bool(rows)
    return tops


def test_the_bars_are_as_tall_as_their_figures():
    today = dt.date(2026, 12, 8)
    # No accounts: their line runs along the bottom, clear of the bars' tops.
    days = [Day(today - dt.timedelta(days=29 - i), 10_000 * (i + 1), 100_000, i + 1, 1, 0)
            for i in range(30)]
    png = chart.render(days, "id", "Toko Test", "WIB")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (SIDE, SIDE)
    assert len(png) < 300_000  # well under what Telegram compresses
    new = column_tops(png, chart.NEW_COLOR)
    assert len(new) == 30
    # The tops fall in a straight line: each bar's height is its figure, to a pixel or two.
    step = (new[0] - new[29]) / 29
    assert step > 10
    assert all(abs(new[0] - step * i - top) <= 2 for i, top in enumerate(new))
    # Renewals stack on them: every total bar is 100 000 taller than its new part.
    total = column_tops(png, chart.RENEWAL_COLOR)
    assert len(total) == 30
    assert all(abs((n - t) - 10 * step) <= 2 for n, t in zip(new, total, strict=True))


def test_rupiah_on_the_axis_is_written_the_indonesian_way():
    from qrisbot.shop.texts import rupiah_short

    assert [rupiah_short(v, "id") for v in (0, 150_000, 1_200_000, 999_999, 2_500_000_000)
            ] == ["Rp0", "Rp150 rb", "Rp1,2 jt", "Rp1 jt", "Rp2,5 M"]
    assert rupiah_short(1_200_000, "en") == "Rp1.2M" and rupiah_short(150_000, "en") == "Rp150k"


async def test_summary_chart_is_a_strict_boolean(make_config):
    with pytest.raises(config.ConfigError) as caught:
        make_config(shop={"summary_chart": "true"})
    assert any("$.shop.summary_chart" in p for p in caught.value.problems)
    assert make_config().shop.summary_chart is False


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


async def test_the_admin_taps_grafik_and_gets_the_chart(
    autojump_clock, shop_with_admin, telegram, buyer, admin, pakasir  # noqa: F811
):
    await shop_with_admin()
    _, order_id = await buyer.buys(months=3)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    admin.says("/admin")
    menu = await admin.sees("Admin · Toko Test")
    assert "adm:chart" in menu.button_data() and "📈 Grafik" in menu.button_labels()
    # The chart is drawn in a real thread. While the loop waits for it, a clock that jumps
    # the instant the loop is idle would race from deadline to deadline (hours of shop
    # time per second of drawing): from here on it waits 0.1 s of real idleness first.
    autojump_clock.autojump_threshold = 0.1
    admin.taps("adm:chart")
    photo = await admin.sees(lambda m: m.photo is not None, within=600)
    assert decoded(photo.photo).size == (SIDE, SIDE)
    assert "Penjualan 30 hari · Toko Test" in photo.caption
    assert "Baru: 1 order · Rp30.000" in photo.caption
    assert "Perpanjangan: 0 order · Rp0" in photo.caption
    assert "Akun aktif sekarang: 1" in photo.caption

    # A buyer's forged tap is a stale button, and draws nothing.
    telegram.user_taps(buyer.chat_id, 1, "adm:chart")
    await buyer.sees("tidak berlaku")
    assert not any(m.photo is not None and "Penjualan" in (m.caption or "")
                   for m in telegram.messages(buyer.chat_id))


async def test_the_daily_summary_carries_the_chart_when_asked(
    autojump_clock, shop_with_admin, telegram, admin, buyer, pakasir  # noqa: F811
):
    soon = dt.datetime.now(JAKARTA) + dt.timedelta(minutes=2)
    await shop_with_admin(daily_summary=soon.strftime("%H:%M"), summary_chart=True)
    _, order_id = await buyer.buys(months=2)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    autojump_clock.autojump_threshold = 0.1  # the chart is drawn in a real thread (above)
    summary = await admin.sees("Ringkasan 24 jam", within=2 * 86400)
    assert summary.photo is not None and decoded(summary.photo).size == (SIDE, SIDE)
    assert "Dibayar: 1 order · Rp20.000" in summary.caption
    assert not any(m.text and "Ringkasan 24 jam" in m.text for m in telegram.messages(ADMIN))
