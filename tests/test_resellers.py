"""Reseller prices (issue 19 §4): a reseller sees and pays their own prices (a percent off,
or a price per server), sees servers sold only to resellers, buys again on the same server
with one tap, renews at their price, a promo code on top; everyone else sees none of it;
/admin shows each reseller's sales; the operator's `resellers` commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from buyer import Buyer, eventually, order_id_of
from conftest import server_entry

from qrisbot.cli import main
from qrisbot.ledger import Ledger, Promo, Reseller

ADMIN = 9001
RESELLER = 5001
EXAMPLE = Path(__file__).parent.parent / "config.toml.example"


def with_resellers(cfg, *resellers: Reseller, promos: tuple[Promo, ...] = ()):
    ledger = Ledger.open(cfg.shop.database)
    for reseller in resellers:
        ledger.put_reseller(reseller)
    for promo in promos:
        ledger.add_promo(promo)
    ledger.close()
    return cfg


def servers() -> list[dict]:
    return [server_entry("sg1"), server_entry("vip", price_per_month=20000, reseller_only=True)]


def prices_in(message) -> list[str]:
    return [label for label in message.button_labels() if "Rp" in label]


async def test_a_reseller_sees_and_pays_their_prices_and_buys_again_on_the_same_server(
    autojump_clock, start_shop, make_config, telegram, buyer, pakasir
):
    cfg = make_config(servers(), shop={"admins": [ADMIN]})
    await start_shop(with_resellers(cfg, Reseller(RESELLER, 20, {"vip": 15000}),
                                    Reseller(5009, 10)))
    # The reseller's menu: 20 % off sg1, their own price on the reseller-only server.
    buyer.says("/start")
    menu = await buyer.sees("Pilih server")
    assert prices_in(menu) == ["Server SG1 · SSH · Rp8.000/bln", "Server VIP · SSH · Rp15.000/bln"]
    buyer.taps("srv:sg1")
    await buyer.sees("username")
    buyer.says("budi_1")
    await buyer.sees("password")
    buyer.says("rahasia123")
    months = await buyer.sees("durasi")
    assert "3 bulan · Rp24.000" in months.button_labels()
    buyer.taps("dur:3")
    confirm = await buyer.sees("Periksa pesanan")
    assert "Harga: Rp24.000" in confirm.text and "Diskon" not in confirm.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    first = order_id_of(qr.caption)
    assert pakasir.transactions[first].amount == 24000
    pakasir.pay(first)
    ready = await buyer.sees("Akun SSH Anda siap")
    assert ready.button_labels() == ["🛒 Beli lagi di Server SG1"]
    # Beli lagi: straight to the next username on sg1, its own QRIS.
    buyer.taps("again:sg1")
    await buyer.sees("username")
    buyer.says("budi_2")
    await buyer.sees("password")
    buyer.says("rahasia123")
    await buyer.sees("durasi")
    buyer.taps("dur:1")
    await buyer.sees("Harga: Rp8.000")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    second = order_id_of(qr.caption)
    assert second != first and pakasir.transactions[second].amount == 8000
    pakasir.pay(second)
    await buyer.sees("Akun SSH Anda siap")
    ledger = Ledger.open(cfg.shop.database)
    assert [(o.username, o.list_amount, o.amount) for o in ledger.orders()] == [
        ("budi_1", 24000, 24000), ("budi_2", 8000, 8000)]

    # Anyone else: everyone's prices, no reseller-only server, no Beli lagi.
    other = Buyer(telegram, 5002)
    other.says("/start")
    menu = await other.sees("Pilih server")
    assert prices_in(menu) == ["Server SG1 · SSH · Rp10.000/bln"]
    assert "srv:vip" not in menu.button_data()
    telegram.user_taps(other.chat_id, menu.message_id, "srv:vip")  # forged
    await other.sees("Tombol ini sudah tidak berlaku")
    telegram.user_taps(other.chat_id, menu.message_id, "again:sg1")  # forged
    await other.sees("Tombol ini sudah tidak berlaku")
    _, order_id = await other.buys(username="siti_1", months=3)
    assert pakasir.transactions[order_id].amount == 30000
    pakasir.pay(order_id)
    ready = await other.sees("Akun SSH Anda siap")
    assert ready.button_labels() == []

    # The seller: each reseller's sales over 30 days, most paid first.
    admin = Buyer(telegram, ADMIN)
    admin.says("/admin")
    view = await admin.sees("Admin · Toko Test")
    assert "Hari ini: 3 order" in view.text
    admin.taps("adm:resel")
    await eventually(lambda: "Penjualan reseller" in view.text)
    assert view.text.index(f"<code>{RESELLER}</code> · 2 order · Rp32.000 · harga sendiri: "
                           "vip Rp15.000 · diskon 20 %") < view.text.index(
        "<code>5009</code> · 0 order · Rp0 · diskon 10 %")


async def test_an_english_reseller_renews_at_their_price_with_a_promo_code_on_top(
    autojump_clock, start_shop, make_config, buyer, pakasir
):
    cfg = make_config(servers(), shop={"language": "en"})
    await start_shop(with_resellers(cfg, Reseller(RESELLER, 0, {"vip": 15000}),
                                    promos=(Promo("LOYAL", percent=10),)))
    buyer.says("/start")
    menu = await buyer.sees("Welcome")
    assert prices_in(menu) == ["Server SG1 · SSH · Rp10.000/mo", "Server VIP · SSH · Rp15.000/mo"]
    buyer.taps("srv:vip")
    await buyer.sees("username")
    buyer.says("budi_99")
    await buyer.sees("password")
    buyer.says("rahasia123")
    await buyer.sees("duration")
    buyer.taps("dur:1")
    await buyer.sees("Price: Rp15.000")
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    pakasir.pay(order_id_of(qr.caption))
    ready = await buyer.sees("is ready")
    assert ready.button_labels() == ["🛒 Buy again on Server VIP"]
    account = Ledger.open(cfg.shop.database).accounts_of(RESELLER)[0]
    buyer.says("/akun")
    await buyer.sees(lambda m: f"ren:{account.id}" in m.button_data())
    buyer.taps(f"ren:{account.id}")
    months = await buyer.sees("months")
    assert "2 months · Rp30.000" in months.button_labels()
    buyer.taps("dur:2")
    await buyer.sees("Check your renewal")
    buyer.taps("promo")
    await buyer.sees("Type your promo code")
    buyer.says("loyal")
    confirm = await buyer.sees("Check your renewal")
    assert "Price: Rp30.000" in confirm.text and "Discount (LOYAL): −Rp3.000" in confirm.text
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    renewal = order_id_of(qr.caption)
    assert pakasir.transactions[renewal].amount == 27000
    order = Ledger.open(cfg.shop.database).get(renewal)
    assert (order.list_amount, order.discount, order.promo_code) == (30000, 3000, "LOYAL")


async def test_terms_that_change_after_the_confirmation_are_shown_before_any_payment(
    autojump_clock, start_shop, make_config, buyer, pakasir
):
    cfg = make_config(servers())
    await start_shop(with_resellers(cfg, Reseller(RESELLER, 50)))
    confirm = await buyer.orders(months=1)
    assert "Harga: Rp5.000" in confirm.text
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.remove_reseller(RESELLER)
    buyer.taps("pay")
    await buyer.sees("Harga berubah")
    again = await buyer.sees("Periksa pesanan")
    assert "Harga: Rp10.000" in again.text and ledger.orders() == []
    buyer.taps("pay")
    qr = await buyer.sees(lambda m: m.photo is not None)
    assert pakasir.transactions[order_id_of(qr.caption)].amount == 10000
    # No longer a reseller: the reseller-only server is neither shown nor sold.
    buyer.says("/cancel")
    buyer.says("/start")
    menu = await buyer.sees("Pilih server")
    assert "srv:vip" not in menu.button_data()
    buyer.telegram.user_taps(buyer.chat_id, menu.message_id, "srv:vip")  # forged
    await buyer.sees("Tombol ini sudah tidak berlaku")
    assert len(Ledger.open(cfg.shop.database).orders()) == 1


async def test_no_reseller_price_goes_below_the_qris_minimum(
    autojump_clock, start_shop, make_config, buyer, pakasir
):
    cfg = make_config([server_entry("sg1", price_per_month=600)])
    await start_shop(with_resellers(cfg, Reseller(RESELLER, 90)))
    confirm = await buyer.orders(months=1)
    assert "Harga: Rp500" in confirm.text


# --- the operator -----------------------------------------------------------------------------

def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(EXAMPLE.read_text().replace(
        'database = "qrisbot.sqlite3"', f'database = "{tmp_path / "ledger.sqlite3"}"'))
    return path


def test_resellers_add_update_list_and_remove(tmp_path, capsys):
    path = str(config_file(tmp_path))
    assert main(["resellers", "list", "--config", path]) == 1  # no ledger yet
    capsys.readouterr()
    assert main(["resellers", "add", "--config", path, "123456789", "--discount", "20%",
                 "--price", "sg2=9000"]) == 0
    out = capsys.readouterr().out
    assert "reseller 123456789 added: sg2 Rp9.000/month, 20% off every other server" in out
    assert re.search(r"sg1 +Rp8.000/month \(everyone: Rp10.000\)", out)
    assert re.search(r"sg2 +Rp9.000/month \(everyone: Rp12.000\)", out)
    assert main(["resellers", "add", "--config", path, "777", "--discount", "5"]) == 0
    # Adding again replaces the terms.
    assert main(["resellers", "add", "--config", path, "123456789", "--price", "sg1=7000"]) == 0
    assert "reseller 123456789 updated (terms replaced): sg1 Rp7.000/month" in (
        capsys.readouterr().out)
    assert main(["resellers", "list", "--config", path]) == 0
    out = capsys.readouterr().out
    assert re.search(r"123456789 +\S+ \S+ +sg1 Rp7.000/month\n", out)
    assert re.search(r"777 +\S+ \S+ +5% off every server\n", out)
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    assert ledger.reseller(123456789).prices == {"sg1": 7000}
    assert ledger.reseller(123456789).discount_percent == 0
    assert main(["resellers", "remove", "--config", path, "123456789"]) == 0
    assert "reseller 123456789 removed" in capsys.readouterr().out
    assert main(["resellers", "remove", "--config", path, "123456789"]) == 1
    assert "no reseller '123456789'" in capsys.readouterr().err
    assert [r.user_id for r in ledger.resellers()] == [777]


@pytest.mark.parametrize("args,error", [
    (["abc"], "is no Telegram user id"),
    (["-5"], "is no Telegram user id"),
    (["0"], "is no Telegram user id"),
    (["١٢٣"], "is no Telegram user id"),  # Arabic-Indic digits
    (["5", "--discount", "0"], "--discount must be 1-90 %"),
    (["5", "--discount", "91%"], "--discount must be 1-90 %"),
    (["5", "--discount", "x"], "--discount must be 1-90 %"),
    (["5", "--price", "nope=9000"], "no server 'nope'"),
    (["5", "--price", "sg1=499"], "at least Rp500 a month"),
    (["5", "--price", "sg1=9.000"], "--price must be SERVER=RP"),
    (["5", "--price", "sg1"], "--price must be SERVER=RP"),
    (["5", "--price", "sg1=5000", "--price", "sg1=6000"], "server sg1 given twice"),
    (["5", "--price", "sg1=900000"], "exceeds the QRIS limit"),
])
def test_resellers_add_refuses_bad_values(tmp_path, capsys, args, error):
    path = str(config_file(tmp_path))
    assert main(["resellers", "add", "--config", path, *args]) == 1
    assert error in capsys.readouterr().err
    assert not (tmp_path / "ledger.sqlite3").exists() or Ledger.open(
        tmp_path / "ledger.sqlite3").resellers() == []


def test_reseller_only_is_a_strict_flag_and_never_a_trial_server():
    import tomllib

    from qrisbot import config

    raw = tomllib.loads(EXAMPLE.read_text())
    assert not config.parse(raw, {}).server("sg1").reseller_only
    raw["servers"][1]["reseller_only"] = True
    raw["trial"] = {"hours": 1}
    parsed = config.parse(raw, {})
    assert parsed.server("sg2").reseller_only
    assert [s.id for s in parsed.servers if parsed.offers_trial(s)] == ["sg1"]
    raw["trial"]["servers"] = ["sg2"]
    raw["servers"][0]["reseller_only"] = "yes"
    with pytest.raises(config.ConfigError) as caught:
        config.parse(raw, {})
    problems = "\n".join(caught.value.problems)
    assert "servers[0].reseller_only" in problems
    assert "$.trial.servers[0]: server 'sg2' is reseller_only" in problems
