"""Referrals (issue 19 §3): Ajak teman's link, a friend who starts through it and pays,
and the referrer's reward (days or a percent), once; hostile start parameters; a reward
caught up after a crash between the delivery and the claim, and days claimed but not yet
on an account."""

from __future__ import annotations

import datetime as dt
import re
from functools import partial

import attrs
import pytest
import trio
from buyer import Buyer, eventually, order_id_of
from conftest import server_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from qrisbot import app, config
from qrisbot import ledger as L
from qrisbot.config import Referral
from qrisbot.ledger import Ledger, referrals
from qrisbot.testing import config_for

ADMIN = 9001
LINK = re.compile(r"https://t\.me/shop_bot\?start=ref_([A-Za-z0-9]{10})")


def with_referral(cfg, **reward):
    return attrs.evolve(cfg, referral=Referral(**reward))


async def link_of(buyer: Buyer, lang: str = "id") -> str:
    """Akun saya -> Ajak teman: the buyer's link code."""
    buyer.says("/akun")
    await buyer.sees(lambda m: "invite" in m.button_data())
    buyer.taps("invite")
    shown = await buyer.sees("Ajak teman" if lang == "id" else "Invite friends")
    match = LINK.search(shown.text)
    assert match, shown.text
    return match.group(1)


async def pays(buyer: Buyer, pakasir, **order) -> str:
    _, order_id = await buyer.buys(**order)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    return order_id


async def test_a_friend_through_the_link_pays_and_the_referrer_gets_days_once(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    cfg = await start_shop(with_referral(make_config(shop={"admins": [ADMIN]}), days=7))
    ledger = Ledger.open(cfg.shop.database)
    ani = Buyer(telegram, 5001)
    await pays(ani, pakasir, username="ani_1")
    account = ledger.accounts_of(ani.chat_id)[0]
    before = account.expires_on
    code = await link_of(ani)
    assert code == await link_of(ani)  # one code per person, made once

    budi = Buyer(telegram, 5002)
    budi.says(f"/start ref_{code}")
    await budi.sees("Pilih server")
    await pays(budi, pakasir, username="budi_1")
    await ani.sees("Hadiah ajak teman: akun <b>ani_1</b> Anda bertambah 7 hari")
    await eventually(lambda: ledger.account(account.id).expires_on
                     == before + dt.timedelta(days=7))
    # Budi's second purchase earns nothing more.
    await pays(budi, pakasir, username="budi_2")
    assert ledger.referral_standing(ani.chat_id) == L.Standing(joined=1, rewarded=1)
    assert [o.id for o in ledger.orders() if o.id.startswith("REF")] == [
        referrals.reward_order_id(ledger.orders_of(ledger.accounts_of(5002)[0])[0].id)]
    assert ledger.account(account.id).expires_on == before + dt.timedelta(days=7)
    shown = await link_of(ani)
    assert shown == code
    invite = telegram.messages(ani.chat_id)[-1].text
    assert "lewat link Anda: 1" in invite and "Hadiah yang Anda dapat: 1" in invite
    assert "menambah 7 hari" in invite
    admin = Buyer(telegram, ADMIN)
    admin.says("/admin")
    menu = await admin.sees("Pengajak teratas")
    assert "5001: 1 bergabung, 1 hadiah" in menu.text


async def test_an_english_referrer_gets_a_one_time_percent_off(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    cfg = await start_shop(with_referral(make_config(shop={"language": "en"}), percent=20))
    ledger = Ledger.open(cfg.shop.database)
    ani = Buyer(telegram, 5001)  # no account needed for a percent reward
    code = await link_of(ani, "en")
    assert "20% off one next order" in telegram.messages(ani.chat_id)[-1].text
    budi = Buyer(telegram, 5002)
    budi.says(f"/start ref_{code}")
    await budi.sees("Welcome")
    budi.taps("srv:sg1")
    await budi.sees("username")
    budi.says("budi_99")
    await budi.sees("password")
    budi.says("rahasia123")
    await budi.sees("duration")
    budi.taps("dur:1")
    await budi.sees("Check your order")
    budi.taps("pay")
    qr = await budi.sees(lambda m: m.photo is not None)
    pakasir.pay(order_id_of(qr.caption))
    await budi.sees("is ready")
    await ani.sees("A friend you invited has bought. Your reward: 20% off your next order.")
    offers = ledger._db.execute("SELECT user_id, source, percent FROM offers").fetchall()
    assert [tuple(o) for o in offers] == [(5001, "referral", 20)]


async def test_self_loops_second_referrers_old_buyers_and_unpaid_orders_earn_nothing(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    cfg = await start_shop(with_referral(make_config(), days=7))
    ledger = Ledger.open(cfg.shop.database)
    ani, budi, cici, dodi = (Buyer(telegram, n) for n in (5001, 5002, 5003, 5004))
    await pays(dodi, pakasir, username="dodi_1")
    ani_code, budi_code, cici_code = [await link_of(b) for b in (ani, budi, cici)]
    for person, code in ((ani, ani_code), (budi, ani_code), (ani, budi_code),
                         (budi, cici_code), (dodi, ani_code)):
        person.says(f"/start ref_{code}")
        await person.sees("Pilih server")
    # Ani's own link: nothing; Budi came through Ani's; Ani through Budi's would be a
    # loop; Cici's link does not take Budi over; Dodi had bought already.
    rows = ledger._db.execute("SELECT user_id, referrer_id FROM referrals").fetchall()
    assert [tuple(r) for r in rows] == [(5002, 5001)]
    # Budi orders and never pays: no reward (the order expires).
    _, unpaid = await budi.buys(username="budi_1")
    await eventually(lambda: ledger.get(unpaid).state == L.EXPIRED, within=900)
    assert ledger.referral_standing(5001) == L.Standing(joined=1, rewarded=0)
    assert not ani.telegram.messages(ani.chat_id)[-1].text.startswith("🎉")


def test_a_trial_or_a_free_order_earns_no_reward(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    code = ledger.referral_code(5001)
    assert ledger.record_referral(5002, code) == 5001
    today = dt.date(2026, 12, 8)
    ledger.create_trial(order_id="T1", chat_id=5002, user_id=5002, server_id="sg1",
                        protocol="ssh", username="trialx", secret="s", language="id",
                        day=today, ends_at=1.0, expires_on=today, capacity=9, daily_limit=9)
    ledger._db.execute("UPDATE orders SET state='delivered', paid_at=1 WHERE id='T1'")
    assert ledger.reward_referral("T1", percent=10) is None
    assert ledger.unclaimed_referral_orders() == []
    assert ledger.referral_standing(5001).rewarded == 0


async def test_several_accounts_ask_which_and_none_keeps_the_days(
    autojump_clock, start_shop, make_config, telegram, pakasir
):
    cfg = await start_shop(with_referral(make_config(), days=7))
    ledger = Ledger.open(cfg.shop.database)
    ani, budi, cici = (Buyer(telegram, n) for n in (5001, 5002, 5003))
    await pays(ani, pakasir, username="ani_1")
    await pays(ani, pakasir, username="ani_2")
    first, second = sorted(ledger.accounts_of(ani.chat_id), key=lambda a: a.id)
    budi.says(f"/start ref_{await link_of(ani)}")
    await budi.sees("Pilih server")
    await pays(budi, pakasir, username="budi_1")
    asked = await ani.sees("Pilih akun yang diperpanjang")
    assert asked.button_data() == [f"refday:{first.id}", f"refday:{second.id}"]
    ani.taps(f"refday:{second.id}")
    await ani.sees("akun <b>ani_2</b> Anda bertambah 7 hari")
    await eventually(lambda: ledger.account(second.id).expires_on
                     == second.expires_on + dt.timedelta(days=7))
    # The same button again (or a forged one) gives nothing more.
    telegram.user_taps(ani.chat_id, asked.message_id, f"refday:{first.id}")
    await ani.sees("tidak berlaku")
    assert ledger.account(first.id).expires_on == first.expires_on

    # Cici has no account: the days wait, and go on the first one she buys.
    budi_code = await link_of(budi)
    dodi = Buyer(telegram, 5004)
    cici_link = await link_of(cici)
    dodi.says(f"/start ref_{cici_link}")
    await dodi.sees("Pilih server")
    await pays(dodi, pakasir, username="dodi_1")
    await cici.sees("disimpan sampai Anda punya akun")
    await pays(cici, pakasir, username="cici_1")
    await cici.sees("akun <b>cici_1</b> Anda bertambah 7 hari")
    mine = ledger.accounts_of(cici.chat_id)[0]
    await eventually(lambda: ledger.account(mine.id).expires_on
                     == ledger.orders_of(mine)[0].expires_on + dt.timedelta(days=7))
    assert budi_code  # Budi has a link of his own too


HOSTILE = ["ref_", "ref_abc", "ref_" + "A" * 11, "ref_" + "A" * 10_000, "REF_AAAAAAAAAA",
           "ref_ÀAAAAAAAAA", "ref_AAAAA\u200bAAAAA", "ref_АААААААААА",  # Cyrillic А
           "ref_AAAAAAAAAA extra", "ref_../../etc", "ref_AAAAAAAAA\n"]


async def test_forged_start_parameters_are_ignored_without_a_word(
    autojump_clock, start_shop, make_config, telegram
):
    cfg = await start_shop(with_referral(make_config(), days=7))
    ledger = Ledger.open(cfg.shop.database)
    buyer = Buyer(telegram, 5002)
    for n, parameter in enumerate([*HOSTILE, "ref_AAAAAAAAAA"]):  # the last: nobody's code
        person = Buyer(telegram, 6000 + n)
        person.says(f"/start {parameter}"[:4096])
        await person.sees("Pilih server")
    assert buyer.telegram.messages(buyer.chat_id) == []
    assert ledger._db.execute("SELECT COUNT(*) FROM referrals").fetchone()[0] == 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_only_ref_and_ten_letters_or_digits_is_a_code(parameter):
    code = referrals.code_of(parameter)
    assert code is None or (parameter == f"ref_{code}" and code.isascii()
                            and code.isalnum() and len(code) == 10)


def test_reward_caught_up_after_a_crash_between_delivery_and_claim_only_once(tmp_path):
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    assert ledger.record_referral(5002, ledger.referral_code(5001)) == 5001
    for order_id, paid_at in (("VPN1", 10.0), ("VPN2", 20.0)):
        ledger.create_order(order_id=order_id, chat_id=5002, user_id=5002, server_id="sg1",
                            protocol="ssh", username=order_id.lower(), secret="s", months=1,
                            amount=10000, language="id", deadline=0, capacity=50)
        ledger._db.execute("UPDATE orders SET state='delivered', paid_at=? WHERE id=?",
                           (paid_at, order_id))
    # The crash came after both were delivered: only the first paid one earns it.
    assert ledger.unclaimed_referral_orders() == ["VPN1", "VPN2"]
    assert ledger.reward_referral("VPN2", percent=10) is None
    assert ledger.reward_referral("VPN1", percent=10) == L.Reward(5001, "VPN1")
    assert ledger.reward_referral("VPN1", percent=10) is None
    assert ledger.unclaimed_referral_orders() == []
    assert ledger._db.execute("SELECT COUNT(*) FROM offers").fetchone()[0] == 1


async def test_a_restart_gives_a_reward_the_crash_left_unclaimed(
    autojump_clock, start_shop, make_config, telegram, pakasir, nursery
):
    cfg = with_referral(make_config(), days=7)
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.record_referral(5002, ledger.referral_code(5001)) == 5001
    ledger.create_order(order_id="VPN1", chat_id=5002, user_id=5002, server_id="sg1",
                        protocol="ssh", username="budi_1", secret="s", months=1,
                        amount=10000, language="id", deadline=0, capacity=50)
    ledger._db.execute("UPDATE orders SET state='delivered', paid_at=1 WHERE id='VPN1'")
    await start_shop(cfg)
    await Buyer(telegram, 5001).sees("disimpan sampai Anda punya akun")
    assert ledger.referral_standing(5001) == L.Standing(joined=1, rewarded=1)


async def test_a_restart_puts_on_the_account_days_claimed_just_before_a_crash(
    autojump_clock, start_shop, make_config, telegram, pakasir, provisioner
):
    cfg = with_referral(make_config(), days=7)
    ledger = Ledger.open(cfg.shop.database)
    ani = Buyer(telegram, 5001)
    async with trio.open_nursery() as before:
        await before.start(partial(app.run, cfg, backends=provisioner))
        bought = await pays(ani, pakasir, username="ani_1")
        await eventually(lambda: ledger.get(bought).state == L.DELIVERED)
        before.cancel_scope.cancel()
    account = ledger.accounts_of(ani.chat_id)[0]
    # The crash came after Budi's order earned Ani's reward, before its renewal order.
    assert ledger.record_referral(5002, ledger.referral_code(5001)) == 5001
    ledger.create_order(order_id="VPN1", chat_id=5002, user_id=5002, server_id="sg1",
                        protocol="ssh", username="budi_1", secret="s", months=1,
                        amount=10000, language="id", deadline=0, capacity=50)
    ledger._db.execute("UPDATE orders SET state='delivered', paid_at=1 WHERE id='VPN1'")
    assert ledger.reward_referral("VPN1", percent=0) == L.Reward(5001, "VPN1")
    await start_shop(cfg)
    await ani.sees("akun <b>ani_1</b> Anda bertambah 7 hari")
    last_day = account.expires_on + dt.timedelta(days=7)
    await eventually(lambda: ledger.account(account.id).expires_on == last_day)
    assert provisioner.accounts[("sg1", "ani_1")].expires == last_day
    assert [o.id for o in ledger.orders() if o.id.startswith("REF")] == ["REFVPN1"]


@pytest.mark.parametrize(("reward", "problem"), [
    ({"days": 7, "percent": 10}, "$.referral: days or percent, not both"),
    ({"days": -1}, "$.referral.days: must be 0"),
    ({"percent": 95}, "$.referral.percent: must be 0"),
    ({"percent": "10"}, "$.referral.percent"),
    ({"bonus": 1}, "bonus"),
])
def test_a_wrong_referral_setting_names_its_key(tmp_path, reward, problem):
    raw = config_for("http://t", "123456:secret-token", "http://p", "p", "k", str(tmp_path / "l"),
                     [server_entry()], None)
    raw["referral"] = reward
    with pytest.raises(config.ConfigError) as caught:
        config.parse(raw, {})
    assert any(problem in p for p in caught.value.problems), caught.value.problems
