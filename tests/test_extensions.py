"""An account's extensions (paid renewals, days the operator gives, repairs) are applied one
at a time, in the order they were paid, each from the day the one before it produced: two
paid renewals give the days of two, whatever order the bank and the server answer in, and
nothing moves an account's last day backwards."""

from __future__ import annotations

import datetime as dt

import trio
from buyer import Buyer, eventually
from sshd import free_port
from test_my_accounts import shop_today
from test_webhook import SECRET

from qrisbot import ledger as L
from qrisbot.ledger import Ledger


async def _shop_with_an_account(start_shop, make_config, buyer, pakasir):
    port = free_port()
    cfg = make_config(webhook_listen=f"127.0.0.1:{port}", webhook_secret=SECRET,
                      payment_timeout=60)
    await start_shop(cfg)
    _, order_id = await buyer.buys(username="dua_kali", password="rahasia123", months=1)
    pakasir.pay(order_id)
    await buyer.sees("Akun SSH Anda siap")
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(buyer.chat_id)
    assert account.expires_on == shop_today() + dt.timedelta(days=30)
    return cfg, f"http://127.0.0.1:{port}/pakasir/webhook", ledger, account


async def _renews(buyer: Buyer, account: L.Account) -> str:
    buyer.says("/akun")
    await buyer.sees("Akun saya")
    _, renewal = await buyer.renews(f"ren:{account.id}")
    return renewal


async def _a_renewal_left_unpaid(buyer: Buyer, account: L.Account) -> str:
    renewal = await _renews(buyer, account)
    await buyer.sees("Waktu pembayaran habis", within=120)
    return renewal


async def test_a_late_payment_while_another_renewal_is_being_made_adds_its_own_month(
    autojump_clock, start_shop, make_config, buyer, pakasir, provisioner
):
    cfg, webhook, ledger, account = await _shop_with_an_account(
        start_shop, make_config, buyer, pakasir)
    first_day = account.expires_on
    # The buyer's first renewal runs out unpaid (they scanned it; the bank is slow).
    late = await _a_renewal_left_unpaid(buyer, account)
    assert ledger.get(late).state == L.EXPIRED
    # The server stops answering; the buyer renews again and pays: the shop keeps trying.
    provisioner.unreachable = True
    second = await _renews(buyer, account)
    pakasir.pay(second)
    await eventually(lambda: ledger.get(second).state == L.FAILED)
    # Now the bank settles the first one, while the second is still being made.
    pakasir.pay(late, settled_late=True)
    assert await pakasir.notify(webhook, late, secret=SECRET) == 200
    await eventually(lambda: ledger.get(late).paid_at is not None)
    await trio.sleep(20)  # the shop keeps trying the server meanwhile
    provisioner.unreachable = False
    await eventually(lambda: all(ledger.get(o).state == L.DELIVERED for o in (late, second)),
                     within=300)
    # Two months paid, two months given: on the server and in the ledger.
    two_months = first_day + dt.timedelta(days=60)
    assert ledger.account(account.id).expires_on == two_months
    assert provisioner.accounts[("sg1", "dua_kali")].expires == two_months
    # Each told its own day, in the order they were applied.
    applied = sorted((ledger.get(o) for o in (late, second)), key=lambda o: o.expires_on)
    assert [o.id for o in applied] == [second, late]
    assert [o.expires_on for o in applied] == [
        first_day + dt.timedelta(days=30), two_months]
    await buyer.sees(f"diperpanjang sampai {two_months:%d-%m-%Y}")


async def test_days_given_while_a_late_renewal_lands_are_added_not_overwritten(
    autojump_clock, start_shop, make_config, buyer, pakasir, provisioner
):
    cfg, webhook, ledger, account = await _shop_with_an_account(
        start_shop, make_config, buyer, pakasir)
    first_day = account.expires_on
    late = await _a_renewal_left_unpaid(buyer, account)
    # The server is down; the operator gives a week (`accounts extend --days 7`), which
    # waits for it.
    provisioner.unreachable = True
    gift = ledger.grant_days(order_id="OPS1", account=ledger.account(account.id), days=7,
                             language="id")
    await eventually(lambda: ledger.get(gift.id).state == L.FAILED)
    # Meanwhile the bank settles the month the buyer paid.
    pakasir.pay(late, settled_late=True)
    assert await pakasir.notify(webhook, late, secret=SECRET) == 200
    await eventually(lambda: ledger.get(late).paid_at is not None)
    provisioner.unreachable = False
    await eventually(lambda: all(ledger.get(o).state == L.DELIVERED for o in (late, gift.id)),
                     within=300)
    # The week and the paid month, both: neither overwrote the other.
    total = first_day + dt.timedelta(days=37)
    assert ledger.account(account.id).expires_on == total
    assert provisioner.accounts[("sg1", "dua_kali")].expires == total


def test_extensions_are_claimed_in_the_order_they_were_paid_each_from_the_last(tmp_path):
    from test_ledger import new_order

    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    order = new_order(ledger, "VPN1", chat_id=7, username="budi")
    for state in (L.AWAITING, L.PAID, L.PROVISIONING):
        order = ledger.transition(order.id, {order.state}, state)
    day = dt.date(2027, 1, 10)
    made = ledger.record_provisioned("VPN1", '{"kind": "ssh"}', day)
    account = ledger.account(made.account_id)
    today = dt.date(2026, 12, 10)

    def renewal(order_id: str) -> L.Order:
        ledger.create_renewal(order_id=order_id, chat_id=7, user_id=7, account=account,
                              months=1, days=30, amount=10000, language="id", deadline=0)
        ledger.transition(order_id, {L.NEW}, L.AWAITING)
        return ledger.transition(order_id, {L.AWAITING}, L.EXPIRED)

    first, second = renewal("VPN2"), renewal("VPN3")
    # Paid the other way round: VPN3 first.
    ledger.transition(second.id, {L.EXPIRED}, L.PAID, paid_at=100.0)
    ledger.transition(first.id, {L.EXPIRED}, L.PAID, paid_at=200.0)
    try:
        ledger.claim_extension(first.id, today)
        raise AssertionError("the renewal paid second went first")
    except L.ExtensionQueued as queued:
        assert str(queued) == second.id
    assert ledger.next_extension(account.id).id == second.id
    claimed = ledger.claim_extension(second.id, today)
    assert claimed.state == L.PROVISIONING and claimed.expires_on == dt.date(2027, 2, 9)
    assert ledger.next_extension(account.id) is None  # one at a time
    assert ledger.claim_extension(second.id, today) is None  # and once
    ledger.record_extended(second.id, "{}", dt.date(2027, 2, 9))
    assert ledger.claim_extension(first.id, today).expires_on == dt.date(2027, 3, 11)
    # A repair (0 days) puts back the day the ledger has; the ledger never goes back.
    ledger.record_extended(first.id, "{}", dt.date(2027, 3, 11))
    repair = ledger.grant_days(order_id="OPS1", account=ledger.account(account.id), days=0,
                               language="id", silent=True)
    assert ledger.claim_extension(repair.id, today).expires_on == dt.date(2027, 3, 11)
    ledger.record_extended(repair.id, "{}", dt.date(2027, 1, 1))
    assert ledger.account(account.id).expires_on == dt.date(2027, 3, 11)
