"""The channel gate (shop.join_channel), in process against the loopback fakes: /start,
paying and taking a trial are for people in the seller's channel; the others get its link
and Sudah join. Telegram failing lets buyers through and tells the admins once;
`check-config --online` says whether the bot can see the channel's members."""

from __future__ import annotations

from functools import partial

import pytest
import trio
from buyer import Buyer, order_id_of
from conftest import server_entry

from qrisbot import config
from qrisbot.online import check_online
from qrisbot.shop.channel_gate import CHECK_DEADLINE, MEMBER_CACHE
from qrisbot.testing import config_for

CHANNEL = "@sellerchannel"
ADMIN = 9001
LINK = '<a href="https://t.me/sellerchannel">@sellerchannel</a>'
SAYS = {
    "id": {"join": f"Untuk memakai Toko Test, join dulu channel {LINK}, lalu tekan "
                   "<b>Sudah join</b>.",
           "not_yet": f"Anda belum terlihat di channel {LINK}.",
           "button": "✅ Sudah join", "menu": "Selamat datang", "confirm": "Periksa pesanan",
           "ready": "Akun SSH Anda siap", "trial": "Coba gratis 2 jam",
           "trial_ready": "Akun trial SSH Anda siap",
           "stale": "Tombol ini sudah tidak berlaku"},
    "en": {"join": f"To use Toko Test, first join the channel {LINK}, then press "
                   "<b>Joined</b>.",
           "not_yet": f"You are not in the channel {LINK} yet.",
           "button": "✅ Joined", "menu": "Welcome to", "confirm": "Check your order",
           "ready": "Your SSH account is ready", "trial": "Free 2-hour trial",
           "trial_ready": "Your SSH trial account is ready",
           "stale": "This button is no longer valid"},
}


def shop_config(telegram, pakasir, tmp_path, lang: str = "id", *, trial: bool = False,
                **shop) -> config.Config:
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"), [server_entry()],
                     {"join_channel": CHANNEL, "admins": [ADMIN], "language": lang,
                      "daily_summary": "", **shop})
    if trial:
        raw["trial"] = {"hours": 2, "servers": ["sg1"]}
    return config.parse(raw, {})


def is_gate(message) -> bool:
    return message.button_data() == ["joined"]


def notices(telegram) -> list[str]:
    return [m.text for m in telegram.messages(ADMIN) if CHANNEL in (m.text or "")]


def since(telegram, buyer: Buyer, after: int):
    return [m for m in telegram.messages(buyer.chat_id) if m.message_id > after]


async def to_confirm(buyer: Buyer, username: str):
    """From the menu to the order's confirmation (taps by button data: any language)."""
    buyer.taps("srv:sg1")
    await buyer.sees("<b>username</b>")
    buyer.says(username)
    await buyer.sees("<b>password</b>")
    buyer.says("rahasia123")
    await buyer.sees(lambda m: "dur:1" in m.button_data())
    buyer.taps("dur:1")
    return await buyer.sees(lambda m: "pay" in m.button_data())


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_buyer_joins_first_and_again_after_leaving(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path, lang
):
    says = SAYS[lang]
    channel = telegram.add_channel(CHANNEL)
    await start_shop(shop_config(telegram, pakasir, tmp_path, lang))
    ana = Buyer(telegram, 5001)

    # Not in the channel: the link and Sudah join, no menu.
    ana.says("/start")
    gate = await ana.sees(is_gate)
    assert gate.text == says["join"] and gate.button_labels() == [says["button"]]
    assert since(telegram, ana, 0) == [gate]
    ana.taps("joined")  # pressed without joining
    again = await ana.sees(is_gate)
    assert again.text.startswith(says["not_yet"])
    telegram.joins(channel, ana.chat_id)
    ana.taps("joined")
    menu = await ana.sees(says["menu"])
    assert menu.button_data()[0] == "srv:sg1"

    # In: buying goes as ever.
    await to_confirm(ana, "ana_1")
    ana.taps("pay")
    qr = await ana.sees(lambda m: m.photo is not None)
    pakasir.pay(order_id_of(qr.caption))
    await ana.sees(says["ready"])

    # Left after buying: asked again before the next purchase.
    telegram.leaves(channel, ana.chat_id)
    ana.says("/start")
    await ana.sees(is_gate)
    telegram.joins(channel, ana.chat_id)
    ana.taps("joined")
    await ana.sees(says["menu"])
    await to_confirm(ana, "ana_2")
    # Left in the middle of the dialogue, and the kept answer is old: paying asks again,
    # no QRIS is made, and Sudah join brings the same order back to confirm.
    telegram.leaves(channel, ana.chat_id)
    await trio.sleep(MEMBER_CACHE + 1)
    ana.taps("pay")
    mark = ana.seen
    await ana.sees(is_gate)
    assert len(pakasir.transactions) == 1
    assert all(m.photo is None for m in since(telegram, ana, mark))
    telegram.joins(channel, ana.chat_id, "restricted", is_member=True)  # still counts
    ana.taps("joined")
    confirm = await ana.sees(says["confirm"])
    assert "<code>ana_2</code>" in confirm.text
    ana.taps("pay")
    await ana.sees(lambda m: m.photo is not None)
    assert len(pakasir.transactions) == 2
    assert notices(telegram) == []  # nothing went wrong


async def test_a_renewal_is_a_purchase_too(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path
):
    channel = telegram.add_channel(CHANNEL)
    await start_shop(shop_config(telegram, pakasir, tmp_path))
    rudi = Buyer(telegram, 5008)
    telegram.joins(channel, rudi.chat_id, "creator")
    rudi.says("/start")
    await rudi.sees(SAYS["id"]["menu"])
    await to_confirm(rudi, "rudi_1")
    rudi.taps("pay")
    qr = await rudi.sees(lambda m: m.photo is not None)
    pakasir.pay(order_id_of(qr.caption))
    await rudi.sees(SAYS["id"]["ready"])
    telegram.leaves(channel, rudi.chat_id)
    await trio.sleep(MEMBER_CACHE + 1)
    rudi.says("/akun")  # their accounts stay theirs to see
    await rudi.sees("Akun saya")
    rudi.taps(r"ren:\d+")
    await rudi.sees("Pilih berapa bulan")
    rudi.taps("dur:1")
    await rudi.sees("Periksa perpanjangan")
    rudi.taps("pay")
    await rudi.sees(is_gate)
    assert len(pakasir.transactions) == 1
    telegram.joins(channel, rudi.chat_id)
    rudi.taps("joined")
    await rudi.sees("Periksa perpanjangan")
    rudi.taps("pay")
    await rudi.sees(lambda m: m.photo is not None)
    assert len(pakasir.transactions) == 2


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_trial_is_for_members_too(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path, lang
):
    says = SAYS[lang]
    channel = telegram.add_channel(CHANNEL)
    await start_shop(shop_config(telegram, pakasir, tmp_path, lang, trial=True))
    tia = Buyer(telegram, 5002)
    telegram.joins(channel, tia.chat_id)
    tia.says("/start")
    await tia.sees(says["menu"])
    tia.taps("trial")
    await tia.sees(says["trial"])
    telegram.leaves(channel, tia.chat_id)
    await trio.sleep(MEMBER_CACHE + 1)
    tia.taps("tsrv:sg1")
    await tia.sees(is_gate)
    assert provisioner.accounts == {}
    telegram.joins(channel, tia.chat_id, "administrator")
    tia.taps("joined")
    await tia.sees(says["trial"])  # the servers again
    tia.taps("tsrv:sg1")
    await tia.sees(says["trial_ready"])
    assert len(provisioner.accounts) == 1


async def test_forged_buttons_and_every_standing_in_the_channel(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path
):
    says = SAYS["id"]
    channel = telegram.add_channel(CHANNEL)
    await start_shop(shop_config(telegram, pakasir, tmp_path, trial=True))
    eve = Buyer(telegram, 5003)
    eve.says("/start")
    gate = await eve.sees(is_gate)
    # Buttons of steps she never reached: stale; the trial's server choice is shown, but
    # taking one is gated; Sudah join on any message checks her, not the message.
    for data in ("srv:sg1", "pay", "tsrv:sg1"):
        telegram.user_taps(eve.chat_id, gate.message_id, data)
        await eve.sees(says["stale"])
    telegram.user_taps(eve.chat_id, gate.message_id, "trial")
    offer = await eve.sees(says["trial"])
    telegram.user_taps(eve.chat_id, offer.message_id, "tsrv:sg1")
    await eve.sees(is_gate)
    telegram.user_taps(eve.chat_id, 424242, "joined")
    await eve.sees(says["not_yet"])
    mark = eve.seen
    for data in ("joined:1", "joined:", "JOINED", "joined" + "x" * 70):
        telegram.user_taps(eve.chat_id, gate.message_id, data)
    await trio.sleep(5)
    assert since(telegram, eve, mark) == [] and provisioner.accounts == {}
    assert not pakasir.transactions

    # Who counts as joined: Telegram's own standings.
    standings = [("creator", {}, True), ("administrator", {}, True), ("member", {}, True),
                 ("restricted", {"is_member": True}, True),
                 ("restricted", {"is_member": False}, False), ("left", {}, False),
                 ("kicked", {"until_date": 0}, False)]
    for n, (status, fields, admitted) in enumerate(standings):
        person = Buyer(telegram, 6000 + n)
        telegram.joins(channel, person.chat_id, status, **fields)
        person.says("/start")
        seen = await person.sees(lambda m: is_gate(m) or "srv:sg1" in m.button_data())
        assert is_gate(seen) is not admitted, status


async def test_telegram_failing_lets_buyers_through_and_tells_the_admins_once(
    autojump_clock, start_shop, telegram, pakasir, provisioner, tmp_path
):
    says = SAYS["id"]
    channel = telegram.add_channel(CHANNEL, bot_is_admin=False)
    await start_shop(shop_config(telegram, pakasir, tmp_path))
    first, second = Buyer(telegram, 5004), Buyer(telegram, 5005)
    first.says("/start")
    await first.sees(says["menu"])
    second.says("/start")
    await second.sees(says["menu"])
    await to_confirm(second, "budi_1")
    second.taps("pay")
    await second.sees(lambda m: m.photo is not None)
    await trio.sleep(1)
    (notice,) = notices(telegram)
    assert "member list is inaccessible" in notice and "join_channel" in notice

    # Fixed (the bot made an admin): the gate works again; broken again: told again.
    channel.bot_is_admin = True
    third = Buyer(telegram, 5006)
    third.says("/start")
    await third.sees(is_gate)
    channel.bot_is_admin = False
    third.taps("joined")
    await third.sees(says["menu"])
    await trio.sleep(1)
    assert len(notices(telegram)) == 2

    # Telegram not answering: through after CHECK_DEADLINE; not told (it could not be).
    channel.bot_is_admin = True
    telegram.fail("getChatMember", 0, "", hang=True, times=5)
    fourth = Buyer(telegram, 5007)
    asked = trio.current_time()
    fourth.says("/start")
    await fourth.sees(says["menu"])
    assert trio.current_time() - asked <= CHECK_DEADLINE + 2
    await trio.sleep(1)
    assert len(notices(telegram)) == 2


async def test_without_a_channel_nothing_is_asked(
    autojump_clock, start_shop, make_config, telegram, buyer
):
    await start_shop(make_config(shop={"language": "en"}))
    buyer.says("/start")
    menu = await buyer.sees("Welcome to")
    telegram.user_taps(buyer.chat_id, menu.message_id, "joined")
    await buyer.sees(SAYS["en"]["stale"])
    await to_confirm(buyer, "budi_99")
    buyer.taps("pay")
    await buyer.sees(lambda m: m.photo is not None)
    assert not any(method == "getChatMember" for method, _ in telegram.calls)


async def test_check_config_online_says_whether_the_bot_sees_the_channel(
    telegram, pakasir, tmp_path
):
    def channel_line(join_channel: str) -> str:
        raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                         pakasir.api_key, str(tmp_path / "ledger.sqlite3"), [server_entry()],
                         {"join_channel": join_channel})
        lines: list[str] = []
        check_online(config.parse(raw, {}), out=lines.append)
        found = [line for line in lines if line[2:].startswith("channel")]
        return found[0] if found else ""

    async def line(join_channel: str) -> str:
        return await trio.to_thread.run_sync(partial(channel_line, join_channel))

    assert await line("") == ""  # no gate, no line
    assert await line(CHANNEL) == (
        "✗ channel: Telegram knows no channel @sellerchannel (Bad Request: chat not found): "
        "put the channel's public @username in [shop] join_channel (t.me/ and that name "
        "opens it)")
    channel = telegram.add_channel(CHANNEL, bot_is_admin=False)
    assert await line(CHANNEL) == (
        "✗ channel: @shop_bot is not an admin of @sellerchannel, so it cannot see who has "
        "joined and lets everyone through: add it as an administrator of the channel (no "
        "rights needed)")
    channel.bot_is_admin = True
    assert await line("@SellerChannel") == (
        "✓ channel: @shop_bot is an admin of @SellerChannel: it sees who has joined")
    telegram.fail("getChatMember", 400, "Bad Request: member list is inaccessible")
    assert (await line(CHANNEL)).startswith("✗ channel: @shop_bot is not an admin")


def offline_config(join_channel: object) -> config.Config:
    raw = config_for("http://127.0.0.1:9", "123456:TEST-token-for-the-fake", "http://127.0.0.1:9",
                     "toko", "pk-test", "l.db", [server_entry()],
                     {"join_channel": join_channel})
    return config.parse(raw, {})


@pytest.mark.parametrize("value", [
    "sellerchannel", "@abc", "@" + "a" * 33, "@1channel", "@seller__channel",
    "@sellerchannel_", "https://t.me/sellerchannel", "@sellerсhannel",  # a Cyrillic с
    "@seller channel", "-1001234567890", "@sellerchannel\n",
])
def test_join_channel_must_be_a_public_username(value):
    with pytest.raises(config.ConfigError) as refused:
        offline_config(value)
    assert refused.value.problems == [
        "$.shop.join_channel: a public channel's @username (5-32 letters, digits or _, "
        'starting with a letter), or "" for none']


def test_join_channel_takes_good_names_and_no_other_type():
    for good in ("", "@sellerchannel", "@Toko_VPN_1", "@abcde", "@" + "a" * 32):
        assert offline_config(good).shop.join_channel == good
    with pytest.raises(config.ConfigError) as refused:
        offline_config(["@sellerchannel"])
    assert refused.value.problems[0].endswith("@ $.shop.join_channel")
