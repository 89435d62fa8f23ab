"""Reseller prices under the crash suite: resellers (a percent off, their own price, a promo
code on top) and an ordinary buyer buy one account after another (Beli lagi when it is
offered) while the operator keeps changing one reseller's terms and the real `qrisbot run`
is SIGKILLed at random moments. Afterwards every payment is exactly the amount of the
confirmation the buyer pressed Bayar on, that amount is the order's fixed breakdown, and
each order's price is one its buyer's terms gave.

Quick form (in the test command): 8 kills. Long form, for RELIABILITY.md:
    QRISBOT_CRASH_KILLS=200 .venv/bin/pytest tests/test_resellers_crash.py -s
"""

from __future__ import annotations

import collections
import os
import random
import re

import trio
from buyer import Buyer
from crash_shoppers import after_quiet_bot, kill_at_random, settle
from daemon import Daemon
from sshd import free_port
from test_crash import ledger_rows, states
from test_panel_crash import notify, panel_config
from test_promo_crash import PRICE, PanelHere, charged_as_shown

from qrisbot.ledger import Ledger, Promo, Reseller

KILLS = int(os.environ.get("QRISBOT_CRASH_KILLS", "6"))
GAP = (1.0, 4.0)  # seconds the daemon runs between kills
TERMINAL = {"delivered", "expired", "cancelled", "refunded"}
CODE = Promo("BEBAS", percent=10)
# The changing reseller's terms, in turn (None: not a reseller for a while).
CHANGING = 9700
TERMS = [Reseller(CHANGING, 20), Reseller(CHANGING, 0, {"nl1": 9000}), None]
# Buyer -> the fixed terms (None: an ordinary buyer); the third types a code as well.
FIXED = {9701: Reseller(9701, 0, {"nl1": 12000}), 9702: Reseller(9702, 10), 9703: None}
CODE_TYPER = 9702


def per_month(terms: Reseller | None) -> int:
    return PRICE if terms is None else max(terms.per_month("nl1", PRICE), 500)


class Shoppers:
    def __init__(self, telegram, pakasir, webhook: str) -> None:
        self.telegram = telegram
        self.pakasir = pakasir
        self.webhook = webhook
        self.attempts = 0
        self.again = 0
        self.changed_at_pay = 0

    async def shop(self, chat_id: int, stop: trio.Event) -> None:
        buyer = Buyer(self.telegram, chat_id)
        rng = random.Random(chat_id)
        n = 0
        while not stop.is_set():
            n += 1
            with trio.move_on_after(15):
                await self.buy(buyer, rng, f"qbt_r{chat_id % 100}x{n}")
                continue
            # The bot went quiet (it was killed).
            await after_quiet_bot(self.telegram, self.pakasir, self.webhook, buyer, rng)

    async def buy(self, buyer: Buyer, rng: random.Random, username: str) -> None:
        self.attempts += 1
        last = max(self.telegram.messages(buyer.chat_id), key=lambda m: m.message_id,
                   default=None)
        if last is not None and "again:nl1" in last.button_data():
            self.again += 1
            buyer.taps("again:nl1")  # Beli lagi under the account just delivered
        else:
            buyer.says("/start")
            await buyer.sees("Pilih server", 15)
            buyer.taps("srv:nl1")
        await buyer.sees("username", 15)
        buyer.says(username)
        await buyer.sees("durasi", 15)
        buyer.taps(f"dur:{rng.choice([1, 2])}")
        await buyer.sees("Periksa pesanan", 15)
        if buyer.chat_id == CODE_TYPER and rng.random() < 0.5:
            buyer.taps("promo")
            await buyer.sees("Ketik kode promo", 15)
            buyer.says(CODE.code.lower())
            await buyer.sees("Periksa pesanan", 15)
        while True:
            buyer.taps("pay")
            answer = await buyer.sees(
                lambda m: m.photo is not None or "Periksa pesanan" in (m.text or ""), 15)
            if answer.photo is not None:
                break
            self.changed_at_pay += 1  # the terms changed since: the new figures, then Bayar
        order_id = re.search(r"VPN\d+", answer.caption).group(0)
        if rng.random() < 0.7:
            await notify(self.pakasir, self.webhook, order_id)
            await buyer.sees("Akun VLESS Anda siap", 15)
        else:
            buyer.says("/cancel")
            await buyer.sees("dibatalkan", 15)


async def change_terms(db, stop: trio.Event) -> None:
    """The operator, as `qrisbot resellers add/remove` does, every second or two."""
    rng = random.Random(7)
    n = 0
    while not stop.is_set():
        await trio.sleep(rng.uniform(1.0, 2.5))
        n += 1
        terms = TERMS[n % len(TERMS)]
        ledger = Ledger.open(db)
        if terms is None:
            ledger.remove_reseller(CHANGING)
        else:
            ledger.put_reseller(terms)
        ledger.close()


async def test_reseller_orders_under_sigkill_are_charged_exactly_the_price_shown(
    tmp_path, telegram, pakasir, nursery
):
    panel = PanelHere()
    await nursery.start(panel.fake.serve)
    port = free_port()
    config = panel_config(tmp_path, telegram, pakasir, [panel], port)  # type: ignore[list-item]
    config.write_text(config.read_text().replace("payment_timeout = 45",
                                                 "payment_timeout = 30"))
    db = tmp_path / "ledger.sqlite3"
    ledger = Ledger.open(db)
    ledger.add_promo(CODE)
    for terms in (TERMS[0], *FIXED.values()):
        if terms is not None:
            ledger.put_reseller(terms)
    ledger.close()
    daemon = Daemon(config, tmp_path / "daemon.log")
    shoppers = Shoppers(telegram, pakasir, f"http://127.0.0.1:{port}/pakasir/webhook")
    rng = random.Random(20261208)
    stop = trio.Event()
    try:
        async with trio.open_nursery() as shopping:
            await daemon.start()
            for chat_id in (CHANGING, *FIXED):
                shopping.start_soon(shoppers.shop, chat_id, stop)
            shopping.start_soon(change_terms, db, stop)
            moments = await kill_at_random(daemon, db, rng, KILLS, GAP)
            stop.set()
        await settle(db)
    finally:
        status = await daemon.stop()
    assert status == 0

    orders = {o: (user, months, amount, list_amount, discount, code) for
              o, user, months, amount, list_amount, discount, code in ledger_rows(
                  db, "SELECT id, user_id, months, amount, list_amount, discount, promo_code"
                      " FROM orders")}
    completed = {t.order_id: t.amount for t in pakasir.transactions.values()
                 if t.status == "completed"}
    shown: dict[str, int] = {}
    for chat_id in (CHANGING, *FIXED):
        shown |= charged_as_shown(telegram, chat_id)
    charged_otherwise = [(o, amount, shown.get(o), orders[o]) for o, amount in completed.items()
                         if amount != shown.get(o) or amount != orders[o][2]
                         or orders[o][3] - orders[o][4] != amount]
    prices = {CHANGING: {per_month(t) for t in TERMS},
              **{user: {per_month(t)} for user, t in FIXED.items()}}
    not_their_price = [(o, row) for o, row in orders.items()
                       if row[3] not in {months * p for months in (row[1],)
                                         for p in prices[row[0]]}
                       or row[4] != (0 if row[5] is None else CODE.off(row[3]))]
    per_buyer = collections.Counter(row[0] for o, row in orders.items() if o in completed)
    figures = {
        "kills": KILLS, "purchase attempts": shoppers.attempts, "orders": len(orders),
        "Beli lagi taps": shoppers.again,
        "terms changed before Bayar (shown again)": shoppers.changed_at_pay,
        "orders paid": len(completed), "paid per buyer": dict(per_buyer),
        "orders with a code": sum(1 for row in orders.values() if row[5]),
        "payments not the amount shown": charged_otherwise,
        "prices not their terms'": not_their_price,
        "unfinished": {s: n for s, n in states(db).items() if s not in TERMINAL},
        "kills landed with orders in": dict(moments),
    }
    print("\nreseller crash suite:", figures)
    assert figures["orders paid"] >= max(KILLS // 4, 2), figures
    for key in ("payments not the amount shown", "prices not their terms'", "unfinished"):
        assert not figures[key], (key, figures)
