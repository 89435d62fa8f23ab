"""Personal offers under the crash suite: buyers holding win-back and referral offers order
(the offer applies by itself; sometimes they also type a smaller promo code, which loses
to it) and pay, leave or cancel while the real `qrisbot run` is SIGKILLed at random
moments. Afterwards no offer is carried by more than one order that counts (an order
closed unpaid gave it back), no order carries both an offer and a code, and every payment
is exactly the amount the confirmation the buyer pressed Bayar on showed.

Quick form (in the test command): 8 kills. Long form, for RELIABILITY.md:
    QRISBOT_CRASH_KILLS=200 .venv/bin/pytest tests/test_offers_crash.py -s
"""

from __future__ import annotations

import os
import random
import re
import time

import trio
from buyer import Buyer
from crash_shoppers import after_quiet_bot, kill_at_random, settle
from daemon import Daemon
from sshd import free_port
from test_crash import ledger_rows, states
from test_panel_crash import notify, panel_config
from test_promo_crash import PRICE, PanelHere

from qrisbot.ledger import Ledger, Promo

KILLS = int(os.environ.get("QRISBOT_CRASH_KILLS", "6"))
BUYERS = 4
GAP = (1.0, 4.0)  # seconds the daemon runs between kills
TERMINAL = {"delivered", "expired", "cancelled", "refunded"}
COUNTED = "state NOT IN ('expired', 'cancelled', 'refunded')"
CODE = Promo("BEBAS", percent=10)  # smaller than every offer: loses to one
# Each buyer's offers: (source, percent); the best is used first.
OFFERS = (("winback", 20), ("referral", 30))


def rupiah(text: str) -> int:
    return int(text.replace(".", ""))


def shown_net(confirmation: str) -> int:
    """What a confirmation says will be charged before the QRIS fee."""
    price = rupiah(re.search(r"Harga: Rp([\d.]+)", confirmation).group(1))
    off = re.search(r"Diskon[^:\n]*: −Rp([\d.]+)", confirmation)
    return price - (rupiah(off.group(1)) if off else 0)


class Shoppers:
    def __init__(self, telegram, pakasir, webhook: str) -> None:
        self.telegram = telegram
        self.pakasir = pakasir
        self.webhook = webhook
        self.attempts = 0
        self.refused_at_pay = 0

    async def shop(self, index: int, stop: trio.Event) -> None:
        buyer = Buyer(self.telegram, 9800 + index)
        rng = random.Random(index)
        n = 0
        while not stop.is_set():
            n += 1
            with trio.move_on_after(15):
                await self.buy(buyer, rng, f"qbt_o{index}x{n}")
                continue
            # The bot went quiet (it was killed).
            await after_quiet_bot(self.telegram, self.pakasir, self.webhook, buyer, rng)

    async def buy(self, buyer: Buyer, rng: random.Random, username: str) -> None:
        self.attempts += 1
        buyer.says("/start")
        await buyer.sees("Pilih server", 15)
        buyer.taps("srv:nl1")
        await buyer.sees("username", 15)
        buyer.says(username)
        await buyer.sees("durasi", 15)
        buyer.taps(f"dur:{rng.choice([1, 2])}")
        await buyer.sees("Periksa pesanan", 15)
        if rng.random() < 0.4:
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
            self.refused_at_pay += 1  # the offer was taken meanwhile: new figures, then Bayar
        order_id = re.search(r"VPN\d+", answer.caption).group(0)
        if rng.random() < 0.6:
            await notify(self.pakasir, self.webhook, order_id)
            await buyer.sees("Akun VLESS Anda siap", 15)
        else:  # cancelled: its offer given back
            buyer.says("/cancel")
            await buyer.sees("dibatalkan", 15)


def charged_as_shown(telegram, chat_id: int) -> dict[str, int]:
    """Order id -> the amount the confirmation before its QR showed."""
    shown: dict[str, int] = {}
    last = None
    for message in sorted(telegram.messages(chat_id), key=lambda m: m.message_id):
        if "Periksa pesanan" in (message.text or ""):
            last = shown_net(message.text)
        elif message.photo is not None and last is not None:
            shown[re.search(r"VPN\d+", message.caption).group(0)] = last
    return shown


async def test_offers_under_sigkill_are_never_used_twice_or_charged_otherwise(
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
    percents: dict[int, int] = {}
    for index in range(BUYERS):
        for k, (source, percent) in enumerate(OFFERS):
            assert ledger.grant_offer(user_id=9800 + index, source=source, percent=percent,
                                      valid_until=time.time() + 3600,
                                      earned_by=f"{source}:seed{index}:{k}")
    for offer_id, percent in ledger_rows(db, "SELECT id, percent FROM offers"):
        percents[offer_id] = percent
    ledger.close()
    daemon = Daemon(config, tmp_path / "daemon.log")
    shoppers = Shoppers(telegram, pakasir, f"http://127.0.0.1:{port}/pakasir/webhook")
    rng = random.Random(20261208)
    stop = trio.Event()
    try:
        async with trio.open_nursery() as shopping:
            await daemon.start()
            for index in range(BUYERS):
                shopping.start_soon(shoppers.shop, index, stop)
            moments = await kill_at_random(daemon, db, rng, KILLS, GAP)
            stop.set()
        await settle(db)
    finally:
        status = await daemon.stop()
    assert status == 0

    uses = ledger_rows(db, f"SELECT offer_id, COUNT(*) FROM orders WHERE offer_id IS NOT NULL"
                           f" AND {COUNTED} GROUP BY offer_id")
    orders = {o: (amount, list_amount, discount, code, offer, source) for
              o, amount, list_amount, discount, code, offer, source in ledger_rows(
                  db, "SELECT id, amount, list_amount, discount, promo_code, offer_id,"
                      " discount_source FROM orders")}
    completed = {t.order_id: t.amount for t in pakasir.transactions.values()
                 if t.status == "completed"}
    shown: dict[str, int] = {}
    for index in range(BUYERS):
        shown |= charged_as_shown(telegram, 9800 + index)
    charged_otherwise = [(o, amount, shown.get(o), orders[o]) for o, amount in completed.items()
                         if amount != shown.get(o) or amount != orders[o][0]
                         or orders[o][1] - orders[o][2] != amount]

    def discount(list_amount: int, code: str | None, offer: int | None) -> int:
        if offer is not None:
            return list_amount * percents[offer] // 100
        return CODE.off(list_amount) if code else 0

    breakdown_wrong = [(o, row) for o, row in orders.items() if row[1] is not None and (
        row[0] < 500 or row[1] != PRICE * round(row[1] / PRICE)
        or (row[3] is not None and row[4] is not None)
        or row[2] != discount(row[1], row[3], row[4]))]
    paid_with_offer = sum(1 for o in completed if orders[o][4] is not None)
    figures = {
        "kills": KILLS, "purchase attempts": shoppers.attempts, "orders": len(orders),
        "orders with an offer": sum(1 for row in orders.values() if row[4] is not None),
        "orders with the code": sum(1 for row in orders.values() if row[3]),
        "orders paid": len(completed), "paid with an offer": paid_with_offer,
        "offers refused at Bayar (taken after shown)": shoppers.refused_at_pay,
        "offers used twice": [(offer, n) for offer, n in uses if n > 1],
        "payments not the amount shown": charged_otherwise,
        "breakdowns wrong": breakdown_wrong,
        "unfinished": {s: n for s, n in states(db).items() if s not in TERMINAL},
        "kills landed with orders in": dict(moments),
    }
    print("\noffers crash suite:", figures)
    assert figures["orders paid"] >= max(KILLS // 4, 2), figures
    assert paid_with_offer >= 1, figures
    for key in ("offers used twice", "payments not the amount shown", "breakdowns wrong",
                "unfinished"):
        assert not figures[key], (key, figures)
