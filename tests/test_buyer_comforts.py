"""The buyer is never lost (issue 17, item 4): the whole shop against the fakes, in
Indonesian and English, the way a buyer would notice."""

from __future__ import annotations

import attrs
import trio
from buyer import TYPED_PASSWORDS, Buyer

from qrisbot.ledger import Ledger


def english(cfg):
    return attrs.evolve(cfg, shop=attrs.evolve(cfg.shop, language="en"))


# --- Batal under a "coba lagi" message -----------------------------------------------------

async def test_batal_under_a_try_again_message_cancels_the_purchase(
    autojump_clock, start_shop, buyer, provisioner
):
    cfg = await start_shop()
    provisioner.take("sg1", "andi")
    ledger = Ledger.open(cfg.shop.database)
    retries = [("ab", "Username tidak valid"), ("andi", "sudah dipakai")]
    for typed, answer in retries:
        await buyer.picks_server()
        buyer.says(typed)
        await buyer.sees(answer)
        buyer.taps("Batal")  # the one under the retry message
        await buyer.sees("Pembelian dibatalkan")
        assert ledger.draft(buyer.chat_id) is None
    # A wrong password: the same.
    await buyer.picks_server()
    buyer.says("budi")
    await buyer.sees("password")
    TYPED_PASSWORDS.add("short")
    buyer.says("short")
    await buyer.sees("Password tidak valid")
    buyer.taps("Batal")
    await buyer.sees("Pembelian dibatalkan")
    assert ledger.draft(buyer.chat_id) is None
    buyer.says("budi")  # the dialogue is over: a name now is just text
    await buyer.sees("/start")


async def test_cancel_under_a_try_again_message_in_english(
    autojump_clock, start_shop, make_config, telegram
):
    await start_shop(english(make_config()))
    buyer = Buyer(telegram, 5002)
    buyer.says("/start")
    await buyer.sees("Pick a server")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("1budi")
    await buyer.sees("not valid")
    buyer.taps("Cancel")
    await buyer.sees("Purchase cancelled")


# --- the total the buyer will pay, at the confirmation --------------------------------------

async def test_confirmation_shows_the_total_with_the_qris_fee(
    autojump_clock, start_shop, buyer, pakasir
):
    await start_shop()
    confirm = await buyer.orders(months=3)
    assert "Harga: Rp30.000\nBiaya QRIS: Rp520\nTotal bayar: <b>Rp30.520</b>" in confirm.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    assert "Rp30.520" in qr.caption  # what the QR asks is what the confirmation said


async def test_without_the_fee_table_the_confirmation_says_plus_the_fee_at_once(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    from qrisbot.testing.fake_pakasir import Fault

    await start_shop(english(make_config()))
    buyer = Buyer(telegram, 5003)
    pakasir.fail("fee", Fault(delay=60))  # Pakasir's fee table hangs
    buyer.says("/start")
    await buyer.sees("Pick a server")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("budi")
    await buyer.sees("password")
    TYPED_PASSWORDS.add("rahasia123")
    buyer.says("rahasia123")
    await buyer.sees("duration")
    asked = trio.current_time()
    buyer.taps("dur:1")
    confirm = await buyer.sees("Check your order")
    assert trio.current_time() - asked < 5  # the table hangs for 60 s
    assert "Price: Rp10.000\nTotal to pay: <b>Rp10.000 + the QRIS fee</b>" in confirm.text
    # The table answers again later: the next confirmation shows the fee.
    buyer.taps("Cancel")
    await buyer.sees("cancelled")
    await trio.sleep(120)
    buyer.says("/start")
    await buyer.sees("Pick a server")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("budi")
    await buyer.sees("password")
    buyer.says("rahasia123")
    await buyer.sees("duration")
    buyer.taps("dur:2")
    confirm = await buyer.sees("Check your order")
    assert "QRIS fee: Rp450\nTotal to pay: <b>Rp20.450</b>" in confirm.text
