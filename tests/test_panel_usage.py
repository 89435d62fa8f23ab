"""A panel account's traffic, the way its buyer sees it: Akun saya → Detail reads the
panel's usage and current links when asked (the stored details and a short note when the
panel fails or is slow), and the 90 % reminder goes once per paid period with Perpanjang.
The whole shop in process against the loopback 3x-ui 3.4, Marzban and PasarGuard fakes."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import partial
from typing import Any

import attrs
import pytest
import trio
from buyer import Buyer, eventually
from test_panel_shop import Panel

from qrisbot import app
from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.provision.panels.terms import GB
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.traffic import DETAIL_WITHIN, READ_EVERY
from qrisbot.testing.fake_telegram import FakeTelegram
from qrisbot.testing.panel_faults import BAD_GATEWAY, HANG

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
PANELS = ["3x-ui 3.4.0", "marzban", "pasarguard"]
MORNING = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)  # reminders go out in daytime


@pytest.fixture(params=PANELS)
async def panel(request: pytest.FixtureRequest, nursery: trio.Nursery) -> Panel:
    made = Panel(request.param)
    await nursery.start(made.fake.serve)
    return made


def uses(panel: Panel, username: str, used: int) -> None:
    """The account has used `used` bytes, as the panel counts it."""
    if panel.kind.startswith("3x-ui"):
        panel.fake.set_usage(username, up=used // 4, down=used - used // 4)
    else:
        panel.fake.set_usage(username, used)


def list_call(panel: Panel) -> str:
    """The call a panel's usage is read with."""
    return "inbounds/list" if panel.kind.startswith("3x-ui") else "list"


def traffic_notes(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [m.body for m in telegram.messages(chat_id) if m.body.startswith("📶")]


async def bought(buyer: Buyer, pakasir: Any, months: int = 1) -> None:
    _, order_id = await buyer.buys(server="nl1", password=None, months=months)
    pakasir.pay(order_id)
    await buyer.sees("Akun VLESS Anda siap")


async def detail(buyer: Buyer, mine: str = "Akun saya", within: float = 60) -> Any:
    buyer.says("/akun")
    listing = await buyer.sees(mine)
    (button,) = [b for b in listing.button_data() if b.startswith("acd:")]
    buyer.taps(button)
    return await buyer.sees(lambda m: "acd:" not in "".join(m.button_data())
                            and "<code>budi_99</code>" in m.text, within)


async def test_detail_shows_the_traffic_used_and_the_current_subscription(
        autojump_clock, make_config, start_shop, buyer, pakasir, panel):
    cfg = make_config([panel.entry()])
    await start_shop(cfg, backends=None)
    await bought(buyer, pakasir)
    uses(panel, "budi_99", int(12.3 * GB))
    shown = await detail(buyer)
    assert "Kuota: 12,3 GB dari 100 GB terpakai (12%)" in shown.text
    assert "Link langganan" in shown.text and "vless://" in shown.text
    (account,) = Ledger.open(cfg.shop.database).accounts("nl1")
    assert account.secret in shown.text
    assert "tidak bisa dibaca" not in shown.text


async def test_detail_of_an_unlimited_account_says_so_with_what_was_used(
        autojump_clock, make_config, start_shop, buyer, pakasir, panel):
    cfg = make_config([panel.entry(quota_gb=0)])
    await start_shop(cfg, backends=None)
    await bought(buyer, pakasir)
    uses(panel, "budi_99", 5 * GB)
    shown = await detail(buyer)
    assert "Kuota: tanpa batas (5 GB terpakai)" in shown.text


async def test_a_failing_or_slow_panel_shows_the_stored_details_and_a_short_note(
        autojump_clock, make_config, start_shop, buyer, pakasir, panel):
    cfg = make_config([panel.entry()])
    await start_shop(cfg, backends=None)
    await bought(buyer, pakasir)
    (account,) = Ledger.open(cfg.shop.database).accounts("nl1")
    stored = account.account_details()

    panel.fake.fail(list_call(panel), BAD_GATEWAY)
    shown = await detail(buyer)
    assert "Pemakaian kuota tidak bisa dibaca saat ini" in shown.text
    assert "Kuota:" not in shown.text
    assert account.secret in shown.text and stored["subscription"] in shown.text

    panel.fake.fail(list_call(panel), HANG)
    asked = trio.current_time()
    shown = await detail(buyer)
    assert trio.current_time() - asked <= DETAIL_WITHIN + 1  # not kept waiting
    assert "Pemakaian kuota tidak bisa dibaca saat ini" in shown.text
    assert account.secret in shown.text and stored["subscription"] in shown.text

    shown = await detail(buyer)  # the panel answers again: so does Detail
    assert "Kuota: 0 GB dari 100 GB terpakai (0%)" in shown.text


async def test_the_90_percent_reminder_goes_once_per_paid_period(
        autojump_clock, make_config, start_shop, buyer, pakasir, telegram, panel):
    cfg = make_config([panel.entry()])
    await start_shop(cfg, backends=None, calendar=Calendar("Asia/Jakarta", MORNING))
    await bought(buyer, pakasir)
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts("nl1")

    uses(panel, "budi_99", 89 * GB)
    await trio.sleep(2 * READ_EVERY)
    assert traffic_notes(telegram, buyer.chat_id) == []  # 89 %: not yet

    uses(panel, "budi_99", 95 * GB)
    note = await buyer.sees("📶", within=READ_EVERY + 60)
    assert "sudah memakai 95 GB dari 100 GB kuotanya (95%)" in note.text
    assert "tiap bulan menambah 100 GB kuota" in note.text
    assert note.button_data() == [f"ren:{account.id}"]
    await trio.sleep(3 * READ_EVERY)
    assert len(traffic_notes(telegram, buyer.chat_id)) == 1  # once, not at every read

    # Renewed from the reminder: the limit is 200 GB, 95 GB of it used (47 %).
    _, renewal = await buyer.renews(f"ren:{account.id}")
    pakasir.pay(renewal)
    await buyer.sees("diperpanjang")
    await eventually(lambda: ledger.get(renewal).state == L.DELIVERED)
    assert panel.limit("budi_99") == 200 * GB
    await trio.sleep(2 * READ_EVERY)
    assert len(traffic_notes(telegram, buyer.chat_id)) == 1
    uses(panel, "budi_99", 181 * GB)
    note = await buyer.sees("📶", within=READ_EVERY + 60)
    assert "sudah memakai 181 GB dari 200 GB kuotanya (90%)" in note.text
    await trio.sleep(2 * READ_EVERY)
    assert len(traffic_notes(telegram, buyer.chat_id)) == 2


async def test_a_restart_does_not_send_the_reminder_again(
        autojump_clock, make_config, buyer, pakasir, telegram, nursery):
    fake = Panel("pasarguard")
    await nursery.start(fake.fake.serve)
    cfg = make_config([fake.entry()])
    calendar = Calendar("Asia/Jakarta", MORNING)
    for run in range(2):
        stop = trio.Event()
        async with trio.open_nursery() as shop:
            await shop.start(partial(app.run, cfg, stop=stop, calendar=calendar))
            if run == 0:
                await bought(buyer, pakasir)
                uses(fake, "budi_99", 99 * GB)
                await buyer.sees("📶", within=READ_EVERY + 60)
            else:
                await trio.sleep(2 * READ_EVERY)
            stop.set()
    assert len(traffic_notes(telegram, buyer.chat_id)) == 1


async def test_english_detail_and_reminder(
        autojump_clock, make_config, start_shop, telegram, pakasir, nursery):
    panel = Panel("marzban")  # one panel is enough for the English texts
    await nursery.start(panel.fake.serve)
    cfg = make_config([panel.entry()])
    cfg = attrs.evolve(cfg, shop=attrs.evolve(cfg.shop, language="en"))
    await start_shop(cfg, backends=None, calendar=Calendar("Asia/Jakarta", MORNING))
    buyer = Buyer(telegram, 5007)
    buyer.says("/start")
    await buyer.sees("Pick a server")
    buyer.taps("srv:nl1")
    await buyer.sees("username")
    buyer.says("budi_99")
    await buyer.sees("duration")
    buyer.taps("dur:1")
    await buyer.sees("Check your order")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    pakasir.pay(qr.caption.split("<code>")[1].split("</code>")[0])
    await buyer.sees("Your VLESS account is ready")

    uses(panel, "budi_99", int(12.3 * GB))
    shown = await detail(buyer, mine="My accounts")
    assert "Traffic: 12.3 GB of 100 GB used (12%)" in shown.text

    uses(panel, "budi_99", 92 * GB)
    note = await buyer.sees("📶", within=READ_EVERY + 60)
    assert "has used 92 GB of its 100 GB traffic (92%)" in note.text
    assert "each month adds 100 GB of traffic" in note.text
    assert note.button_labels() == ["🔄 Renew"]
