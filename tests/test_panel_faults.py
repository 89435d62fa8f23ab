"""The fault suite on panel servers, in process on trio's MockClock: the panel is down while
a buyer pays, its session or token ends in the middle of a batch of purchases, it answers a
create or an extension with something that is not its answer. The payment is never lost,
the buyer hears once that it is safe, the account (or its renewal) comes once when the
panel is back, and no panel password or buyer's secret reaches the log."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

import pytest
import trio
from buyer import Buyer, eventually
from tcp_proxy import Proxy
from test_panel_shop import PANELS, Panel

from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.provision.panels.terms import GB
from qrisbot.testing.fake_xui import LOGIN_HTML
from qrisbot.testing.panel_faults import BAD_GATEWAY, HANG, TRUNCATED, Fault

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
SAFE = "Pembayaran Anda <b>aman</b>"
READY = "Akun VLESS Anda siap"
PASSWORDS = ("s3cret-pw", "Adm1n-Pa55word")


def create_call(panel: Panel) -> str:
    return {"3x-ui 2.8.5": "inbounds/addClient", "3x-ui 3.0.2": "inbounds/addClient"}.get(
        panel.kind, "clients/add" if panel.kind.startswith("3x-ui") else "create")


def extend_call(panel: Panel) -> str:
    return {"3x-ui 2.8.5": "inbounds/updateClient", "3x-ui 3.0.2": "inbounds/updateClient"
            }.get(panel.kind, "clients/update" if panel.kind.startswith("3x-ui") else "modify")


@pytest.fixture(params=PANELS)
async def panel(request: pytest.FixtureRequest, nursery: trio.Nursery) -> Panel:
    made = Panel(request.param)
    await nursery.start(made.fake.serve)
    return made


def said(buyer: Buyer, text: str) -> int:
    return sum(text in m.body for m in buyer.telegram.messages(buyer.chat_id))


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    leaked = [s for s in (*PASSWORDS, *secrets) if s in text]
    assert not leaked, leaked


# --- the panel is down while the buyer pays --------------------------------------------------

@pytest.mark.parametrize("outage", ["connection refused", "502 from its proxy"])
async def test_a_panel_down_during_a_purchase_delays_it_and_the_buyer_is_told_once(
    autojump_clock, make_config, start_shop, buyer, pakasir, panel, nursery, caplog, outage
):
    proxy = Proxy(panel.fake.port)
    await nursery.start(proxy.serve)
    entry = panel.entry()
    entry["panel"]["url"] = panel.fake.url.replace(f":{panel.fake.port}", f":{proxy.port}")
    cfg = make_config([entry])
    await start_shop(cfg, backends=None)
    _, order_id = await buyer.buys(server="nl1", password=None, months=1)
    if outage == "connection refused":
        proxy.mode = "refuse"
        proxy.cut()  # the open connection goes down with the panel
    else:
        panel.fake.fail(create_call(panel), BAD_GATEWAY, times=4)  # then it is back
    pakasir.pay(order_id)
    safe = await buyer.sees(SAFE, within=120)
    assert order_id in safe.text
    ledger = Ledger.open(cfg.shop.database)
    # It keeps trying for a while (the backoff), the buyer hears nothing more meanwhile.
    await eventually(lambda: ledger.get(order_id).attempts >= 4, within=600)
    assert ledger.get(order_id).state in (L.FAILED, L.PROVISIONING)
    assert not ledger.get(order_id).needs_attention
    proxy.mode = "pass"
    account = await buyer.sees(READY, within=900)
    await eventually(lambda: ledger.get(order_id).state == L.DELIVERED)
    (made,) = ledger.accounts("nl1")
    assert made.secret in account.text
    assert said(buyer, SAFE) == 1 and said(buyer, READY) == 1
    assert panel.limit("budi_99") == 100 * GB
    assert_no_secret_logged(caplog, made.secret)


# --- a session or token that ends in the middle of a batch ------------------------------------

async def test_a_session_that_ends_mid_batch_costs_one_login_and_loses_no_buyer(
    autojump_clock, make_config, start_shop, telegram, pakasir, panel, caplog
):
    cfg = make_config([panel.entry(capacity=100)])
    await start_shop(cfg, backends=None)
    buyers = [Buyer(telegram, 7100 + n) for n in range(6)]
    orders = {}

    async def buy(n: int) -> None:
        _, orders[n] = await buyers[n].buys(username=f"batch_{n}", server="nl1",
                                            password=None, months=1)

    async def paid_and_delivered(ns: range) -> None:
        async with trio.open_nursery() as nursery:
            for n in ns:
                nursery.start_soon(buy, n)
        for n in ns:
            pakasir.pay(orders[n])
        async with trio.open_nursery() as nursery:
            for n in ns:
                nursery.start_soon(buyers[n].sees, READY, 120)

    await paid_and_delivered(range(2))
    logins = panel.fake.logins
    if panel.kind.startswith("3x-ui"):
        panel.fake.expire_sessions()
    else:
        panel.fake.expire_tokens()
    await paid_and_delivered(range(2, 6))  # paid together: they meet the expiry together
    assert panel.fake.logins == logins + 1
    ledger = Ledger.open(cfg.shop.database)
    await eventually(lambda: all(ledger.get(o).state == L.DELIVERED for o in orders.values()))
    for n, b in enumerate(buyers):
        assert said(b, READY) == 1 and said(b, SAFE) == 0, n
    assert sorted(a.username for a in ledger.accounts("nl1")) == [f"batch_{n}" for n in
                                                                  range(6)]
    assert_no_secret_logged(caplog, *(a.secret for a in ledger.accounts("nl1")))


# --- hostile answers to a create and to an extension ------------------------------------------

HUGE = b'{"success": true, "msg": "", "obj": "' + b"x" * (9 * 1024 * 1024) + b'"}'
HOSTILE = {
    "HTML login page": Fault(200, LOGIN_HTML, "text/html; charset=utf-8"),
    "truncated": TRUNCATED,
    "huge body (after acting)": Fault(200, HUGE, "application/json", performed=True),
    "wrong JSON types (after acting)": Fault(
        200, b'{"success": "yes", "msg": 5, "obj": [], "username": 7, "expire": "soon",'
             b' "data_limit": {}, "proxy_settings": 3}', "application/json", performed=True),
    "502": BAD_GATEWAY,
    "no answer": HANG,
    "no answer (after acting)": Fault(hang=True, performed=True),
}


@pytest.mark.parametrize("answer", list(HOSTILE))
async def test_a_hostile_answer_to_a_create_or_an_extension_makes_the_order_wait_not_crash(
    autojump_clock, make_config, start_shop, buyer, pakasir, panel, caplog, answer
):
    cfg = make_config([panel.entry()])
    await start_shop(cfg, backends=None)
    ledger = Ledger.open(cfg.shop.database)
    today = dt.datetime.now(ZONE).date()
    _, order_id = await buyer.buys(server="nl1", password=None, months=1)
    panel.fake.fail(create_call(panel), HOSTILE[answer], times=2)
    pakasir.pay(order_id)
    account = await buyer.sees(READY, within=600)
    await eventually(lambda: ledger.get(order_id).state == L.DELIVERED)
    waited = [ledger.get(order_id).attempts > 0]
    (made,) = ledger.accounts("nl1")
    assert made.secret in account.text
    assert panel.limit("budi_99") == 100 * GB

    buyer.says("/akun")
    listing = await buyer.sees("Akun saya")
    (renew,) = [b for b in listing.button_data() if b.startswith("ren:")]
    _, renewal_id = await buyer.renews(renew, months=2)
    panel.fake.fail(extend_call(panel), HOSTILE[answer], times=2)
    pakasir.pay(renewal_id)
    await buyer.sees("diperpanjang sampai", within=600)
    await eventually(lambda: ledger.get(renewal_id).state == L.DELIVERED)
    waited.append(ledger.get(renewal_id).attempts > 0)
    if not HOSTILE[answer].performed:  # nothing happened on the panel: both had to wait
        assert waited == [True, True]
    # The days and the quota of two months, once, whatever the panel did before answering.
    assert panel.limit("budi_99") == 300 * GB
    assert panel.last_day("budi_99") == today + dt.timedelta(days=90)
    # Told once that the payment is safe for each order that waited; never otherwise
    # (a 200 after acting may be taken at its word: the account is read back).
    assert said(buyer, SAFE) == sum(waited) and said(buyer, READY) == 1
    assert said(buyer, "diperpanjang sampai") == 1
    assert_no_secret_logged(caplog, made.secret)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
