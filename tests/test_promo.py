"""Promo codes (issue 19 §2) and the price breakdown (§1): the buyer's side through the
fakes in Indonesian and English, hostile codes, and the operator's `promo` commands."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

import attrs
import pytest
from buyer import Buyer, eventually, order_id_of
from conftest import server_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from qrisbot import ledger as L
from qrisbot.cli import main
from qrisbot.ledger import Ledger, Promo
from qrisbot.ledger.promos import normalise

ADMIN = 9001
EXAMPLE = Path(__file__).parent.parent / "config.toml.example"


def shop_today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo("Asia/Jakarta")).date()


def with_codes(cfg, *promos: Promo):
    ledger = Ledger.open(cfg.shop.database)
    for promo in promos:
        assert ledger.add_promo(promo)
    ledger.close()
    return cfg


async def types_code(buyer: Buyer, code: str) -> None:
    buyer.taps("promo")
    await buyer.sees("Ketik kode promo")
    buyer.says(code)


# --- the buyer --------------------------------------------------------------------------------

async def test_a_code_takes_its_discount_off_and_the_order_keeps_the_breakdown(
    autojump_clock, start_shop, make_config, buyer, pakasir
):
    cfg = make_config(shop={"admins": [ADMIN]})
    await start_shop(with_codes(cfg, Promo("HEMAT10", percent=10)))
    confirm = await buyer.orders(months=3)
    assert confirm.button_data() == ["pay", "cancel", "promo"]
    assert "Punya kode promo?" in " ".join(confirm.button_labels())
    await types_code(buyer, "  hemat10 ")  # any case, spaces around
    shown = await buyer.sees("Periksa pesanan")
    assert "Harga: Rp30.000" in shown.text and "Diskon (HEMAT10): −Rp3.000" in shown.text
    assert "Biaya QRIS: Rp" in shown.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    order_id = order_id_of(qr.caption)
    assert "Rp27.000" in qr.caption
    assert pakasir.transactions[order_id].amount == 27000
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    ledger = Ledger.open(cfg.shop.database)
    order = ledger.get(order_id)
    assert order.breakdown == L.Breakdown(30000, 3000, L.DiscountSource.PROMO, "HEMAT10")
    assert order.amount == 27000 and ledger.promos()[0].uses == 1
    # The seller sees gross, discounts and net.
    admin = Buyer(_telegram(buyer), ADMIN)
    admin.says("/admin")
    menu = await admin.sees("Admin · Toko Test")
    assert "Hari ini: 1 order · kotor Rp30.000 · diskon Rp3.000 · bersih Rp27.000" in menu.text
    admin.taps("adm:promos")
    await eventually(lambda: "<code>HEMAT10</code> · 10 % · dipakai 1" in menu.text)
    assert "sisa tak terbatas" in menu.text


def _telegram(buyer: Buyer):
    return buyer.telegram


async def test_without_a_usable_code_the_question_is_not_asked(
    autojump_clock, start_shop, make_config, telegram, buyer
):
    cfg = make_config()
    yesterday = shop_today() - dt.timedelta(days=1)
    await start_shop(with_codes(cfg, Promo("LAMA", amount=1000, until=yesterday)))
    confirm = await buyer.orders()
    assert confirm.button_data() == ["pay", "cancel"]
    # A forged tap of the button is a stale one.
    telegram.user_taps(buyer.chat_id, confirm.message_id, "promo")
    await buyer.sees("tidak berlaku")


async def test_each_refusal_is_said_and_the_order_stays_as_it_was(
    autojump_clock, start_shop, make_config, telegram, buyer, pakasir
):
    today = shop_today()
    cfg = make_config([server_entry("sg1"), server_entry("sg2")])
    ledger = Ledger.open(cfg.shop.database)
    # A buyer who paid before (5001) is no new buyer.
    ledger.create_order(order_id="VPN1", chat_id=5001, user_id=5001, server_id="sg1",
                        protocol="ssh", username="lama", secret="s", months=1, amount=10000,
                        language="id", deadline=0, capacity=50)
    ledger.transition("VPN1", {L.NEW}, L.AWAITING)
    ledger.transition("VPN1", {L.AWAITING}, L.PAID, paid_at=1.0)
    ledger.close()
    await start_shop(with_codes(
        cfg, Promo("SATU", amount=2000, max_uses=1), Promo("SG2", percent=50, servers=("sg2",)),
        Promo("PERPANJANG", percent=20, kind="renewal"), Promo("BARU", percent=30,
                                                                new_buyers_only=True),
        Promo("HARIINI", amount=1000, until=today),
        Promo("KEMARIN", amount=1000, until=today - dt.timedelta(days=1)),
        Promo("MATI", amount=1000)))
    assert Ledger.open(cfg.shop.database).disable_promo("MATI")
    # SATU is used up by another buyer's open order.
    other = Buyer(telegram, 5002)
    await other.orders(username="siti_1")
    await types_code(other, "satu")
    await other.sees("Diskon (SATU)")
    other.taps("pay")
    await other.sees(lambda m: m.photo is not None)

    await buyer.orders(months=1)
    for code, answer in [("SATU", "sudah habis dipakai"), ("SG2", "tidak berlaku untuk server"),
                         ("PERPANJANG", "hanya untuk perpanjangan"),
                         ("BARU", "tidak bisa Anda pakai"), ("KEMARIN", "sudah tidak berlaku"),
                         ("MATI", "sudah tidak berlaku"), ("NGAWUR", "tidak dikenal")]:
        await types_code(buyer, code)
        await buyer.sees(answer)
        again = await buyer.sees("Periksa pesanan")
        assert "Diskon" not in again.text and "Total bayar: <b>Rp10." in again.text
    # Valid through its last day; then Bayar charges what it showed.
    await types_code(buyer, "hariini")
    await buyer.sees("Diskon (HARIINI): −Rp1.000")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    assert pakasir.transactions[order_id_of(qr.caption)].amount == 9000


async def test_no_discount_goes_below_the_qris_minimum(
    autojump_clock, start_shop, make_config, buyer, pakasir
):
    await start_shop(with_codes(make_config(), Promo("GRATIS", percent=100),
                                Promo("BESAR", amount=1_000_000)))
    await buyer.orders(months=1)
    for code in ("GRATIS", "BESAR"):
        await types_code(buyer, code)
        await buyer.sees(f"Diskon ({code}): −Rp9.500")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    assert pakasir.transactions[order_id_of(qr.caption)].amount == 500


async def test_a_code_used_up_after_it_was_shown_is_never_charged_silently(
    autojump_clock, start_shop, make_config, telegram, buyer, pakasir
):
    cfg = await start_shop(with_codes(make_config(), Promo("SATU", amount=2000, max_uses=1)))
    first, second = buyer, Buyer(telegram, 5002)
    for person, name in ((first, "budi_99"), (second, "siti_1")):
        await person.orders(username=name, months=1)
        await types_code(person, "SATU")
        await person.sees("Diskon (SATU)")
    second.taps("pay")
    await second.sees(lambda m: m.photo is not None)
    # The first buyer confirmed Rp8.000; the code is gone: they hear so and see the price
    # without it, and no order is written until they press Bayar on that.
    first.taps("pay")
    await first.sees("sudah habis dipakai")
    again = await first.sees("Periksa pesanan")
    assert "Diskon" not in again.text
    ledger = Ledger.open(cfg.shop.database)
    assert [o.username for o in ledger.orders()] == ["siti_1"]
    first.taps("pay")
    qr = await first.sees(lambda m: m.photo is not None)
    assert pakasir.transactions[order_id_of(qr.caption)].amount == 10000


async def test_an_order_that_runs_out_or_is_cancelled_gives_its_use_back(
    autojump_clock, start_shop, make_config, telegram, buyer, pakasir
):
    cfg = await start_shop(with_codes(make_config(), Promo("SATU", amount=2000, max_uses=1)))
    ledger = Ledger.open(cfg.shop.database)
    await buyer.orders(username="budi_99", months=1)
    await types_code(buyer, "SATU")
    await buyer.sees("Diskon (SATU)")
    buyer.taps("pay")
    await buyer.sees(lambda m: m.photo is not None)
    assert ledger.promos()[0].uses == 1
    await buyer.sees("Waktu pembayaran habis", within=400)
    assert ledger.promos()[0].uses == 0
    second = Buyer(telegram, 5002)
    await second.orders(username="siti_1", months=1)
    await types_code(second, "SATU")
    await second.sees("Diskon (SATU)")
    second.taps("pay")
    await second.sees(lambda m: m.photo is not None)
    assert ledger.promos()[0].uses == 1
    second.says("/cancel")
    await eventually(lambda: ledger.promos()[0].uses == 0)
    assert ledger.promos()[0].left == 1


async def test_an_english_renewal_takes_a_renewal_code(
    autojump_clock, start_shop, make_config, buyer, pakasir
):
    cfg = make_config(shop={"language": "en"})
    cfg = await start_shop(with_codes(cfg, Promo("LOYAL", percent=25, kind="renewal",
                                                 per_user=1)))
    buyer.says("/start")
    await buyer.sees("Welcome")
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("budi_99")
    await buyer.sees("password")
    buyer.says("rahasia123")
    await buyer.sees("duration")
    buyer.taps("dur:1")
    await buyer.sees("Check your order")
    buyer.taps("promo")
    await buyer.sees("Type your promo code")
    buyer.says("loyal")
    await buyer.sees("That promo code is for renewals only.")
    await buyer.sees("Check your order")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    pakasir.pay(order_id_of(qr.caption))
    await buyer.sees("is ready")
    account = Ledger.open(cfg.shop.database).accounts_of(buyer.chat_id)[0]

    buyer.says("/akun")
    await buyer.sees(lambda m: f"ren:{account.id}" in m.button_data())
    buyer.taps(f"ren:{account.id}")
    await buyer.sees("months")
    buyer.taps("dur:2")
    confirm = await buyer.sees("Check your renewal")
    assert "promo" in confirm.button_data()
    buyer.taps("promo")
    await buyer.sees("Type your promo code")
    buyer.taps("back")  # changed their mind: the renewal as it was
    again = await buyer.sees("Check your renewal")
    assert "Discount" not in again.text
    buyer.taps("promo")
    await buyer.sees("Type your promo code")
    buyer.says("LOYAL")
    shown = await buyer.sees("Discount (LOYAL): −Rp5.000")
    assert "Price: Rp20.000" in shown.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    renewal = order_id_of(qr.caption)
    assert Ledger.open(cfg.shop.database).get(renewal).amount == 15000
    pakasir.pay(renewal)
    await buyer.sees("extended until")
    # One use per buyer: the next renewal hears so.
    buyer.says("/akun")
    await buyer.sees(lambda m: f"ren:{account.id}" in m.button_data())
    buyer.taps(f"ren:{account.id}")
    await buyer.sees("months")
    buyer.taps("dur:1")
    await buyer.sees("Check your renewal")
    buyer.taps("promo")
    await buyer.sees("Type your promo code")
    buyer.says("LOYAL")
    await buyer.sees("You cannot use that promo code")


HOSTILE = ["HEMAT10\u200b", "\u200bHEMAT10", "HEMAT\u041e10",  # zero width, Cyrillic O
           "ＨＥＭＡＴ１０", "HEMAT10\x00", "HEM\nAT10", "H" * 10_000, "HEMAT10" * 600,
           "hemat\u0131" "0", "\u202eHEMAT10"]


async def test_hostile_codes_are_unknown_and_change_nothing(
    autojump_clock, start_shop, make_config, buyer, pakasir
):
    cfg = await start_shop(with_codes(make_config(), Promo("HEMAT10", percent=10)))
    await buyer.orders(months=1)
    for raw in HOSTILE:
        await types_code(buyer, raw)
        await buyer.sees("tidak dikenal")
        again = await buyer.sees("Periksa pesanan")
        assert "Diskon" not in again.text
    assert Ledger.open(cfg.shop.database).promos()[0].uses == 0
    assert pakasir.count("create") == 0


_CONFUSABLES = st.sampled_from(list("\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421"
                                    "\u0422\u0425\u0131\u0130\uff21\u2160\u200b\u200d\u2060"
                                    "\ufeff\u00a0\x00\x07\x1b\x7f"))


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"), min_size=2,
               max_size=31), _CONFUSABLES, st.integers(min_value=0, max_value=31))
def test_a_look_alike_or_invisible_character_is_never_a_code(base, odd, at):
    raw = base[:at] + odd + base[at:]
    code = normalise(raw)
    assert code is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_whatever_is_typed_is_a_code_of_the_rule_or_none(raw):
    code = normalise(raw)
    if code is not None:
        assert re.fullmatch(r"[A-Z0-9_-]{3,32}", code) and code == raw.strip(" \t\r\n").upper()


def test_a_code_is_used_in_the_write_that_fixes_the_amount(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    today = dt.date(2026, 12, 8)
    ledger.add_promo(Promo("SATU", amount=1000, max_uses=1))
    quote = L.Breakdown(10000, 1000, L.DiscountSource.PROMO, "SATU")

    def order(n: int) -> L.Order:
        return ledger.create_order(
            order_id=f"VPN{n}", chat_id=n, user_id=n, server_id="sg1", protocol="ssh",
            username=f"u{n}", secret="s", months=1, breakdown=quote, language="id",
            deadline=0, capacity=50, today=today)

    assert order(1).amount == 9000
    with pytest.raises(L.PromoRefused) as refused:
        order(2)
    assert refused.value.refusal == L.Refusal.USED_UP
    assert ledger.get("VPN2") is None and not ledger.username_held("sg1", "u2")
    # Closed unpaid: the use is back, exactly once (a second close changes nothing).
    ledger.transition("VPN1", {L.NEW}, L.CANCELLED)
    assert ledger.transition("VPN1", {L.NEW}, L.CANCELLED) is None
    assert ledger.promos()[0].uses == 0
    assert order(3).promo_code == "SATU"
    with pytest.raises(L.LedgerError):  # a code needs the shop's day to be checked
        ledger.create_order(order_id="VPN4", chat_id=4, user_id=4, server_id="sg1",
                            protocol="ssh", username="u4", secret="s", months=1,
                            breakdown=quote, language="id", deadline=0, capacity=50)


# --- the operator -----------------------------------------------------------------------------

def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(EXAMPLE.read_text().replace(
        'database = "qrisbot.sqlite3"', f'database = "{tmp_path / "ledger.sqlite3"}"'))
    return path


def test_promo_add_list_and_disable(tmp_path, capsys):
    path = str(config_file(tmp_path))
    today = shop_today()
    assert main(["promo", "add", "--config", path, "hemat10", "--percent", "10",
                 "--max-uses", "100", "--per-user", "1", "--until", today.isoformat(),
                 "--new-buyers-only", "--purchases"]) == 0
    assert "promo code HEMAT10 added: 10% off through" in capsys.readouterr().out
    assert main(["promo", "add", "--config", path, "LOYAL", "--amount", "5000",
                 "--renewals", "--servers", "sg1"]) == 0
    capsys.readouterr()
    assert main(["promo", "list", "--config", path]) == 0
    out = capsys.readouterr().out
    assert re.search(r"HEMAT10 +10% +0 +100 +" + today.isoformat() + r" active +100 uses, "
                     r"1 per buyer, new buyers only, purchases only", out)
    assert re.search(r"LOYAL +Rp5.000 +0 +unlimited +- +active +servers sg1, renewals only",
                     out)
    assert main(["promo", "disable", "--config", path, "hemat10"]) == 0
    assert "HEMAT10 disabled" in capsys.readouterr().out
    main(["promo", "list", "--config", path])
    assert re.search(r"HEMAT10 .* disabled", capsys.readouterr().out)
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    assert ledger.promo("LOYAL") == attrs.evolve(
        ledger.promo("LOYAL"), amount=5000, kind="renewal", servers=("sg1",), percent=None)


@pytest.mark.parametrize(("args", "error"), [
    (["HEMAT", "--percent", "0"], "--percent must be 1-100"),
    (["HEMAT", "--percent", "101"], "--percent must be 1-100"),
    (["HEMAT", "--amount", "-5"], "--amount must be at least 1"),
    (["HE", "--amount", "5"], "3-32 letters"),
    (["HEMAT\u041e", "--amount", "5"], "3-32 letters"),
    (["H" * 33, "--amount", "5"], "3-32 letters"),
    (["HEMAT", "--amount", "5", "--until", "2020-01-01"], "is in the past"),
    (["HEMAT", "--amount", "5", "--until", "besok"], "must be a date"),
    (["HEMAT", "--amount", "5", "--servers", "sg1,nope"], "no server nope"),
    (["HEMAT", "--amount", "5", "--max-uses", "0"], "--max-uses must be at least 1"),
])
def test_promo_add_refuses_what_cannot_be_a_code(tmp_path, capsys, args, error):
    path = str(config_file(tmp_path))
    assert main(["promo", "add", "--config", path, *args]) == 1
    assert error in capsys.readouterr().err


def test_promo_add_refuses_a_code_twice_and_both_kinds_of_discount(tmp_path, capsys):
    path = str(config_file(tmp_path))
    assert main(["promo", "add", "--config", path, "HEMAT", "--amount", "5"]) == 0
    assert main(["promo", "add", "--config", path, "hemat", "--percent", "5"]) == 1
    assert "exists already" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["promo", "add", "--config", path, "X1X", "--percent", "5", "--amount", "5"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit):
        main(["promo", "add", "--config", path, "X1X", "--percent", "5", "--renewals",
              "--purchases"])
    assert main(["promo", "disable", "--config", path, "NOPE"]) == 1
