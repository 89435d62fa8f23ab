"""Claiming an account made before the shop: Akun saya -> Tambah akun lama -> server ->
username -> proof (the UUID, typed or in a share link). Right proofs bind it to the
Telegram user; wrong ones say nothing about which part was wrong and are limited."""

from __future__ import annotations

import base64
import datetime as dt
import json

from buyer import Buyer
from conftest import server_entry

from qrisbot import operate_accounts
from qrisbot.ledger import Ledger
from qrisbot.shop.claims import MAX_FAILURES, secrets_in

OLD = "55555555-5555-5555-5555-555555555555"
OTHER = "66666666-6666-6666-6666-666666666666"


def seed(cfg) -> None:
    ledger = Ledger.open(cfg.shop.database)
    for name, secret in (("lama", OLD), ("punya", OTHER)):
        assert ledger.import_account(
            server_id="sg2", protocol="vless", username=name, secret=secret,
            expires_on=dt.date(2030, 1, 1), today=dt.date(2026, 12, 1), details=json.dumps({
                "protocol": "vless", "kind": "custom", "host": "sg2.example.com",
                "username": name, "secret": secret, "expires": "2030-01-01"}))
    ledger.close()


async def claim(buyer: Buyer, username: str, proof: str) -> None:
    buyer.says("/akun")
    listing = await buyer.sees("akun")
    assert "claim" in listing.button_data()
    buyer.taps("claim")
    await buyer.sees("Pilih servernya")
    buyer.taps("csrv:sg2")
    await buyer.sees("username")
    buyer.says(username)
    await buyer.sees("UUID")
    buyer.says(proof)


async def test_a_buyer_claims_their_old_account_with_its_link(
    autojump_clock, start_shop, make_config, telegram, pakasir, provisioner
):
    cfg = make_config([server_entry(), server_entry("sg2", protocol="vless")])
    seed(cfg)
    await start_shop(cfg)
    old_buyer = Buyer(telegram, 7301)
    link = f"vless://{OLD}@sg2.example.com:443?type=ws&security=tls#lama"
    await claim(old_buyer, "lama", link)
    await old_buyer.sees("sekarang tercatat milik Anda")
    detail = await old_buyer.sees("Akun VLESS Anda")
    assert "lama" in detail.text
    # The proof does not stay in the chat.
    assert any(method == "deleteMessage" for method, _ in telegram.calls)
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(7301)
    assert account.username == "lama" and account.owner_chat_id == 7301
    old_buyer.says("/akun")
    assert f"ren:{account.id}" in (await old_buyer.sees("Akun saya")).button_data()
    # Theirs to renew now: counted from its last day, the same UUID on the server.
    _, renewal = await old_buyer.renews(f"ren:{account.id}")
    pakasir.pay(renewal)
    await old_buyer.sees("diperpanjang sampai 31-01-2030")
    assert provisioner.accounts[("sg2", "lama")].secret == OLD

    # Someone else cannot take it any more, nor guess another: the same answer each time,
    # and after MAX_FAILURES an hour, no more tries.
    stranger = Buyer(telegram, 7302)
    for username, proof in [("lama", OLD), ("punya", OLD), ("nobody", OTHER),
                            ("punya", "not-a-uuid"), ("punya", OTHER.replace("6", "7"))]:
        await claim(stranger, username, proof)
        await stranger.sees("Data tidak cocok")
    stranger.says("/akun")
    await stranger.sees("akun")
    stranger.taps("claim")  # even with the right proof now, not this hour
    await stranger.sees("Terlalu banyak percobaan")
    assert ledger.accounts_of(7302) == []
    assert ledger.claim_failures(7302, 0) == MAX_FAILURES


async def test_a_trojan_password_with_capitals_is_claimed_exactly_as_it_is(
    autojump_clock, start_shop, make_config, telegram
):
    """A Trojan password is compared exactly (the protocol does): capitals are kept, and
    the same letters in another case are not the password."""
    cfg = make_config([server_entry(), server_entry("sg2", protocol="trojan")])
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.import_account(
        server_id="sg2", protocol="trojan", username="tro", secret="RahasiaBudi9",
        expires_on=dt.date(2030, 1, 1), today=dt.date(2026, 12, 1), details=json.dumps({
            "protocol": "trojan", "kind": "custom", "host": "sg2.example.com",
            "username": "tro", "secret": "RahasiaBudi9", "expires": "2030-01-01"}))
    await start_shop(cfg)
    guesser = Buyer(telegram, 7311)
    await claim(guesser, "tro", "rahasiabudi9")
    await guesser.sees("Data tidak cocok")
    owner = Buyer(telegram, 7312)
    await claim(owner, "tro", "trojan://RahasiaBudi9@sg2.example.com:443?type=ws#tro")
    await owner.sees("sekarang tercatat milik Anda")
    assert [a.username for a in ledger.accounts_of(7312)] == ["tro"]
    assert ledger.accounts_of(7311) == []


async def test_a_menu_made_name_is_claimed_and_renewed_as_it_is_spelled(
    autojump_clock, start_shop, make_config, telegram, pakasir, provisioner
):
    """The families' menus make names like `Budi2779` (capitals) or `20245161x`: claimed
    with the name exactly as the server has it, then renewed under it."""
    cfg = make_config([server_entry(), server_entry("sg2", protocol="vless")])
    ledger = Ledger.open(cfg.shop.database)
    for name, secret in (("Budi2779", OLD), ("20245161x", OTHER)):
        assert ledger.import_account(
            server_id="sg2", protocol="vless", username=name, secret=secret,
            expires_on=dt.date(2030, 1, 1), today=dt.date(2026, 12, 1), details=json.dumps({
                "protocol": "vless", "kind": "custom", "host": "sg2.example.com",
                "username": name, "secret": secret, "expires": "2030-01-01"}))
    await start_shop(cfg)
    owner = Buyer(telegram, 7321)
    await claim(owner, "budi2779", OLD)  # another spelling is another name
    await owner.sees("Data tidak cocok")
    await claim(owner, "Budi2779", OLD)
    await owner.sees("sekarang tercatat milik Anda")
    other = Buyer(telegram, 7322)
    await claim(other, "20245161x", OTHER)
    await other.sees("sekarang tercatat milik Anda")
    assert [a.username for a in ledger.accounts_of(7322)] == ["20245161x"]
    accounts = {a.username: a for a in ledger.accounts_of(7321)}
    assert set(accounts) == {"Budi2779"}
    owner.says("/akun")
    await owner.sees("Akun saya")
    _, renewal = await owner.renews(f"ren:{accounts['Budi2779'].id}")
    pakasir.pay(renewal)
    await owner.sees("diperpanjang sampai 31-01-2030")
    assert provisioner.accounts[("sg2", "Budi2779")].expires == dt.date(2030, 1, 31)


def test_the_proof_may_be_the_uuid_or_any_share_link_holding_it():
    vmess = base64.b64encode(json.dumps({"v": "2", "id": OLD.upper(), "add": "x"}).encode())
    assert OLD in secrets_in(f"vmess://{vmess.decode()}")
    assert OLD in secrets_in(f"  {OLD.upper()}  ")
    assert "s3cret-pw" in secrets_in("trojan://s3cret-pw@host:443?type=ws#x")
    assert secrets_in("vmess://!!!notbase64") == {"vmess://!!!notbase64"}


async def test_the_operator_assigns_an_account_nobody_owns(make_config, capsys):
    cfg = make_config([server_entry(), server_entry("sg2", protocol="vless")])
    seed(cfg)
    assert operate_accounts.accounts_assign(cfg, "sg2", "lama", 7401) == 0
    ledger = Ledger.open(cfg.shop.database)
    assert [a.username for a in ledger.accounts_of(7401)] == ["lama"]
    # Once owned, it is not given away again.
    assert operate_accounts.accounts_assign(cfg, "sg2", "lama", 7402) == 1
    assert operate_accounts.accounts_assign(cfg, "sg2", "lama", -5) == 1
    assert "only accounts nobody owns" in capsys.readouterr().err
