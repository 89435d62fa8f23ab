"""The buyer is never lost (issue 17, item 4): the whole shop against the fakes, in
Indonesian and English, the way a buyer would notice."""

from __future__ import annotations

import attrs
import trio
from buyer import TYPED_PASSWORDS, Buyer, eventually

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


# --- Cek pembayaran, and an order awaiting payment is said first ------------------------------

async def test_cek_pembayaran_checks_now_and_completes_the_order(
    autojump_clock, start_shop, make_config, buyer, pakasir
):
    cfg = await start_shop(make_config(check_interval=60))  # the checker looks rarely
    pakasir.status_every = 4  # Pakasir: one status call per 4 s per transaction, else 429
    qr, order_id = await buyer.buys()
    assert qr.button_data() == [f"qcheck:{order_id}", f"qcancel:{order_id}"]
    assert "Cek pembayaran" in qr.button_labels()[0]
    started, checks = trio.current_time(), pakasir.count("status")
    for _ in range(4):  # an impatient buyer taps again and again
        buyer.taps(f"qcheck:{order_id}")
    for _ in range(4):
        await buyer.sees("belum masuk")
    took = trio.current_time() - started
    assert pakasir.limited == 0  # never more often than Pakasir allows
    assert pakasir.count("status") - checks == 4 and took <= 4 * 4 + 2
    pakasir.pay(order_id)
    paid = trio.current_time()
    buyer.taps(f"qcheck:{order_id}")
    await buyer.sees("sudah masuk. Akun sedang dibuat")
    await buyer.sees("Akun SSH Anda siap")
    assert trio.current_time() - paid < 10  # the tap, not the checker (60 s), found it
    assert "diterima" in qr.caption and qr.buttons == []
    assert Ledger.open(cfg.shop.database).get(order_id).paid_at is not None
    assert pakasir.limited == 0
    # Later taps on the old QR tell the order's state; Pakasir is not asked again.
    checks = pakasir.count("status")
    buyer.telegram.user_taps(buyer.chat_id, qr.message_id, f"qcheck:{order_id}")
    await buyer.sees("sudah selesai")
    assert pakasir.count("status") == checks


async def test_start_akun_and_any_text_while_awaiting_payment_say_so_first(
    autojump_clock, start_shop, make_config, buyer, telegram, pakasir
):
    await start_shop(make_config(check_interval=60))  # what the buyer says finds the payment
    qr, order_id = await buyer.buys(months=2)
    buyer.says("/start")
    note = await buyer.sees("masih punya pesanan")
    menu = await buyer.sees("Pilih server")
    assert note.message_id < menu.message_id and order_id in note.text
    assert "menunggu pembayaran <b>Rp20.450</b>" in note.text and "2 bulan" in note.text
    assert note.button_data() == [f"qshow:{order_id}", f"qcheck:{order_id}",
                                  f"qcancel:{order_id}"]
    buyer.says("/akun")
    await buyer.sees("masih punya pesanan")
    await buyer.sees("belum punya akun")
    buyer.says("halo kak")
    note = await buyer.sees("masih punya pesanan")
    # The QR again: a new message, and the old one goes (one live QR).
    buyer.taps(f"qshow:{order_id}")
    again = await buyer.sees(lambda m: m.photo is not None)
    await eventually(lambda: qr.deleted)
    assert again.caption == qr.caption
    assert again.button_data() == qr.button_data()
    # "sudah bayar" before paying: the real state, from a fresh status check.
    checks = pakasir.count("status")
    buyer.says("sudah bayar kak")
    await buyer.sees("belum masuk")
    assert pakasir.count("status") == checks + 1
    pakasir.pay(order_id)
    buyer.says("udah tf ya")
    await buyer.sees("sudah masuk")
    await buyer.sees("Akun SSH Anda siap")
    assert "diterima" in again.caption
    # Nothing awaits payment now: /start is the menu alone.
    buyer.says("/start")
    menu = await buyer.sees("Pilih server")
    assert not any("masih punya pesanan" in m.body for m in telegram.messages(buyer.chat_id)
                   if m.message_id > note.message_id)


async def test_batal_on_the_note_cancels_the_order(autojump_clock, start_shop, buyer, pakasir):
    cfg = await start_shop()
    qr, order_id = await buyer.buys()
    buyer.says("apa kabar")
    await buyer.sees("masih punya pesanan")
    buyer.taps(f"qcancel:{order_id}")
    await buyer.sees("dibatalkan")
    assert qr.deleted and pakasir.transactions[order_id].status == "canceled"
    assert Ledger.open(cfg.shop.database).get(order_id).state == "cancelled"


async def test_i_paid_after_the_qr_ran_out_finds_a_late_payment_in_english(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    await start_shop(english(make_config()))
    buyer = Buyer(telegram, 5004)
    buyer.says("/start")
    await buyer.sees("Pick a server")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("budi")
    await buyer.sees("password")
    TYPED_PASSWORDS.add("rahasia123")
    buyer.says("rahasia123")
    await buyer.sees("duration")
    buyer.taps("dur:1")
    await buyer.sees("Check your order")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    assert "Check payment" in qr.button_labels()[0]
    order_id = qr.caption.split("<code>")[1].split("</code>")[0]
    buyer.says("/start")
    note = await buyer.sees("You still have order")
    assert "awaiting a payment of <b>Rp10.380</b>" in note.text
    await buyer.sees("Pick a server")
    await buyer.sees("payment time ran out", within=400)
    buyer.says("I already paid")  # nothing was paid
    await buyer.sees("Pakasir has no payment for it")
    # The bank settles the buyer's scan after the QR was cancelled.
    assert pakasir.pay(order_id, settled_late=True)
    buyer.says("i paid!!")
    await buyer.sees("has landed. Your account is being created")
    await buyer.sees("Your SSH account is ready")


async def test_pakasir_silent_when_the_buyer_asks(autojump_clock, start_shop, buyer, pakasir):
    from qrisbot.testing.fake_pakasir import Fault

    await start_shop()
    qr, order_id = await buyer.buys()
    pakasir.fail("status", Fault(503, b"{}"), times=3)
    buyer.taps(f"qcheck:{order_id}")
    await buyer.sees("belum bisa dicek")


# --- a renewal is told as one, and plurals ----------------------------------------------------

async def test_a_renewal_is_told_as_a_renewal_on_the_qr_while_paying_and_after(
    autojump_clock, start_shop, make_config, buyer, telegram, pakasir
):
    await start_shop(make_config(check_interval=60))
    _, order_id = await buyer.buys(months=1)
    pakasir.pay(order_id)
    buyer.taps(f"qcheck:{order_id}")
    await buyer.sees("Akun SSH Anda siap")
    first = buyer.seen
    buyer.says("/akun")
    listing = await buyer.sees("Akun saya")
    ren = next(d for d in listing.button_data() if d.startswith("ren:"))
    confirm, renewal = await buyer.renews(ren, months=1)
    assert "Durasi: 1 bulan" in confirm.text
    qr = telegram.messages(buyer.chat_id)[-1]
    assert "memperpanjang budi_99</b> (1 bulan)" in qr.caption
    assert "Akun diperpanjang otomatis" in qr.caption
    buyer.taps(f"qcheck:{renewal}")
    await buyer.sees("belum masuk")
    pakasir.pay(renewal)
    buyer.taps(f"qcheck:{renewal}")
    await buyer.sees("Akun sedang diperpanjang")
    await buyer.sees("diperpanjang sampai")
    assert "Akun sedang diperpanjang" in qr.caption
    said = [m.body for m in telegram.messages(buyer.chat_id, include_deleted=True)
            if m.message_id > first]
    assert not any("sedang dibuat" in body or "dikirim otomatis" in body for body in said)


async def test_english_renewal_texts_and_plurals(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    cfg = await start_shop(english(make_config()))
    buyer = Buyer(telegram, 5005)
    buyer.says("/start")
    await buyer.sees("Pick a server")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("budi")
    await buyer.sees("password")
    TYPED_PASSWORDS.add("rahasia123")
    buyer.says("rahasia123")
    durations = await buyer.sees("duration")
    assert durations.button_labels()[:3] == [
        "1 month · Rp10.000", "2 months · Rp20.000", "3 months · Rp30.000"]
    buyer.taps("dur:1")
    confirm = await buyer.sees("Check your order")
    assert "Duration: 1 month\n" in confirm.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    order_id = qr.caption.split("<code>")[1].split("</code>")[0]
    pakasir.pay(order_id)
    await buyer.sees("Your SSH account is ready")
    account = Ledger.open(cfg.shop.database).accounts_of(buyer.chat_id)[0]
    buyer.says("/akun")
    await buyer.sees("My accounts")
    buyer.taps(f"ren:{account.id}")
    await buyer.sees("Pick how many months")
    buyer.taps("dur:2")
    confirm = await buyer.sees("Check your renewal")
    assert "Duration: 2 months\n" in confirm.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    assert "Scan this QRIS to renew budi</b> (2 months)" in qr.caption
    assert "renewed automatically" in qr.caption
    renewal = qr.caption.split("<code>")[1].split("</code>")[0]
    buyer.taps(f"qcancel:{renewal}")
    await buyer.sees("Renewal cancelled; the account keeps its date")


# --- the receipt ---------------------------------------------------------------------------

def paid_time(cfg, order_id):
    import datetime as dt
    import zoneinfo

    order = Ledger.open(cfg.shop.database).get(order_id)
    return dt.datetime.fromtimestamp(order.paid_at, zoneinfo.ZoneInfo("Asia/Jakarta")
                                     ).strftime("%d-%m-%Y %H:%M WIB")


async def test_the_account_comes_with_a_receipt_once(
    autojump_clock, start_shop, buyer, telegram, pakasir
):
    cfg = await start_shop()
    _, order_id = await buyer.buys(months=3)
    pakasir.pay(order_id)
    account = await buyer.sees("Akun SSH Anda siap")
    receipt = account.text[account.text.index("🧾"):]
    assert receipt == (
        f"🧾 <b>Bukti pembayaran</b>\nOrder: <code>{order_id}</code>\n"
        "Akun SSH <code>budi_99</code> di Server SG1: 3 bulan (90 hari)\n"
        "Dibayar: <b>Rp30.520</b> (harga Rp30.000 + biaya QRIS Rp520)\n"
        f"Waktu: {paid_time(cfg, order_id)}")
    buyer.says("/akun")  # talking to the bot again resends only what never arrived
    await buyer.sees("Akun saya")
    await trio.sleep(30)
    assert sum("Bukti pembayaran" in m.body for m in telegram.messages(buyer.chat_id)) == 1


async def test_a_renewal_receipt_in_english(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    cfg = await start_shop(english(make_config()))
    buyer = Buyer(telegram, 5006)
    buyer.says("/start")
    await buyer.sees("Pick a server")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("budi")
    await buyer.sees("password")
    TYPED_PASSWORDS.add("rahasia123")
    buyer.says("rahasia123")
    await buyer.sees("duration")
    buyer.taps("dur:1")
    await buyer.sees("Check your order")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    pakasir.pay(qr.caption.split("<code>")[1].split("</code>")[0])
    bought = await buyer.sees("Your SSH account is ready")
    assert "1 month (30 days)" in bought.text
    account = Ledger.open(cfg.shop.database).accounts_of(buyer.chat_id)[0]
    buyer.says("/akun")
    await buyer.sees("My accounts")
    buyer.taps(f"ren:{account.id}")
    await buyer.sees("Pick how many months")
    buyer.taps("dur:2")
    await buyer.sees("Check your renewal")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    renewal = qr.caption.split("<code>")[1].split("</code>")[0]
    pakasir.pay(renewal)
    done = await buyer.sees("extended until")
    assert done.text.endswith(
        f"🧾 <b>Receipt</b>\nOrder: <code>{renewal}</code>\n"
        "Renewal of SSH <code>budi</code> on Server SG1: +2 months (60 days)\n"
        "Paid: <b>Rp20.450</b> (price Rp20.000 + QRIS fee Rp450)\n"
        f"Time: {paid_time(cfg, renewal)}")


# --- reserved names ------------------------------------------------------------------------

async def test_a_reserved_name_gets_its_own_message_not_the_rules(
    autojump_clock, start_shop, make_config, buyer, telegram, provisioner
):
    await start_shop()
    await buyer.picks_server()
    for name in ("root", "Admin", "systemd_x", "qrisbot1"):
        buyer.says(name)
        said = await buyer.sees("tidak bisa dipakai")
        assert f"<b>{name.lower()}</b>" in said.text and "Aturan" not in said.text
        assert "3-16" not in said.text
    buyer.says("1root")  # malformed: the rules
    await buyer.sees("Username tidak valid")
    buyer.taps("Batal")
    await buyer.sees("Pembelian dibatalkan")


async def test_a_reserved_name_in_english(autojump_clock, start_shop, make_config, telegram):
    await start_shop(english(make_config()))
    buyer = Buyer(telegram, 5007)
    buyer.says("/start")
    await buyer.sees("Pick a server")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("nobody")
    await buyer.sees("This name cannot be used: <b>nobody</b>")


# --- contact and help --------------------------------------------------------------------

async def test_help_lists_every_feature_with_the_sellers_words_and_contact(
    autojump_clock, start_shop, make_config, buyer, telegram
):
    import datetime as dt

    cfg = make_config(shop={"contact": "@toko_budi",
                            "help": "Garansi 30 hari <b>penuh</b> & ramah."})
    cfg = attrs.evolve(cfg, trial=attrs.evolve(cfg.trial, hours=3))
    Ledger.open(cfg.shop.database).import_account(
        server_id="sg1", protocol="ssh", username="lama1", secret="x" * 8,
        expires_on=dt.date(2099, 1, 1), details="{}", today=dt.date(2026, 1, 1))
    await start_shop(cfg)
    buyer.says("/help")
    help_ = await buyer.sees("Cara membeli")
    for feature in ("/start", "Bayar", "Cek pembayaran", "bukti pembayaran", "/akun",
                    "Perpanjang", "Coba gratis", "akun trial 3 jam", "Tambah akun lama",
                    "/cancel"):
        assert feature in help_.text, feature
    # The seller's words, as plain text (never their HTML).
    assert help_.text.endswith(
        "<b>Dari penjual</b>\nGaransi 30 hari &lt;b&gt;penuh&lt;/b&gt; &amp; ramah.")
    assert help_.button_data() == ["contact"]
    buyer.taps("contact")
    contact = await buyer.sees("Hubungi penjual")
    assert '<a href="https://t.me/toko_budi">@toko_budi</a>' in contact.text
    buyer.says("/start")
    menu = await buyer.sees("Pilih server")
    assert menu.button_data()[-2:] == ["contact", "cancel"]


async def test_without_a_contact_there_is_no_button_and_help_says_only_what_exists(
    autojump_clock, start_shop, make_config, telegram
):
    await start_shop(english(make_config()))
    buyer = Buyer(telegram, 5008)
    buyer.says("/help")
    help_ = await buyer.sees("How to buy")
    assert help_.buttons == [] and "Free trial" not in help_.text
    assert "Add an existing account" not in help_.text and "From the seller" not in help_.text
    assert "/akun (My accounts)" in help_.text and "Check payment" in help_.text
    telegram.user_taps(buyer.chat_id, help_.message_id, "contact")  # forged
    await buyer.sees("no longer valid")


async def test_an_english_contact_url(autojump_clock, start_shop, make_config, telegram):
    await start_shop(english(make_config(shop={"contact": "https://wa.me/628123456789"})))
    buyer = Buyer(telegram, 5009)
    buyer.says("/start")
    menu = await buyer.sees("Pick a server")
    assert "💬 Contact the seller" in menu.button_labels()
    buyer.taps("contact")
    said = await buyer.sees("Contact the seller")
    assert '<a href="https://wa.me/628123456789">https://wa.me/628123456789</a>' in said.text


def test_contact_and_help_are_checked_with_their_key_paths():
    import tomllib
    from pathlib import Path

    import pytest

    from qrisbot import config

    example = Path(__file__).parent.parent / "config.toml.example"
    raw = tomllib.loads(example.read_text())
    assert config.parse(raw, {}).shop.contact == ""  # the example documents both, empty
    for contact in ("toko_budi", "@abc", "@1abcdef", "http://t.me/x", "https://a b",
                    "@toko budi", "javascript:alert(1)"):
        raw["shop"]["contact"] = contact
        with pytest.raises(config.ConfigError) as caught:
            config.parse(raw, {})
        assert any(p.startswith("$.shop.contact: a Telegram @username")
                   for p in caught.value.problems), contact
    raw["shop"]["contact"] = ["@toko_budi"]
    raw["shop"]["help"] = 42
    with pytest.raises(config.ConfigError) as caught:
        config.parse(raw, {})
    found = caught.value.problems
    assert any(p.endswith("@ $.shop.contact") for p in found), found  # wrong types, named
    assert any(p.endswith("@ $.shop.help") for p in found), found
    raw["shop"]["contact"], raw["shop"]["help"] = "@toko_budi", "x" * 1501
    with pytest.raises(config.ConfigError) as caught:
        config.parse(raw, {})
    assert caught.value.problems == [
        "$.shop.help: at most 1500 characters (it ends the /help message)"]
    raw["shop"]["help"] = "Garansi 30 hari."
    shop = config.parse(raw, {}).shop
    assert (shop.contact, shop.help) == ("@toko_budi", "Garansi 30 hari.")
