"""The buyer is never lost (issue 17, item 4): the whole shop against the fakes, in
Indonesian and English, the way a buyer would notice."""

from __future__ import annotations

import attrs
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
