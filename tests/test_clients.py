"""The Bot API and Pakasir clients against their loopback fakes: errors become our errors."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio
from buyer import eventually

from qrisbot import log as qlog
from qrisbot.pakasir import CANCELED, COMPLETED, PENDING, Pakasir, PakasirError, Refused
from qrisbot.telegram import polling
from qrisbot.telegram.api import Bot, BotApi, Forbidden, Unauthorized, Unavailable
from qrisbot.testing.fake_pakasir import Fault


@pytest.fixture
async def bot(telegram):
    async with httpx.AsyncClient() as client:
        yield BotApi(client, telegram.token, telegram.url)


def pakasir_client(client, fake, version=2, key=None):
    return Pakasir(client, project=fake.project, api_key=key or fake.api_key,
                   base_url=fake.url, version=version)


async def test_retry_after_is_obeyed_then_the_message_is_sent(autojump_clock, bot, telegram):
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    start = trio.current_time()
    await bot.send_message(1, "halo")
    assert trio.current_time() - start >= 7
    assert [m.text for m in telegram.messages(1)] == ["halo"]


async def test_server_errors_and_dropped_connections_are_retried(autojump_clock, bot, telegram):
    telegram.fail("sendMessage", 502, "Bad Gateway", times=2)
    telegram.fail("sendPhoto", 0, "", drop=True)
    await bot.send_message(1, "halo")
    from qrisbot import qr

    await bot.send_photo(1, qr.png("payload"), "caption")
    assert len(telegram.messages(1)) == 2
    telegram.fail("sendMessage", 500, "Internal", times=10)
    with pytest.raises(Unavailable):
        await bot.send_message(1, "never")


async def test_not_modified_is_success_blocked_is_forbidden_bad_token_is_fatal(
    bot, telegram
):
    message_id = await bot.send_message(2, "sama")
    await bot.edit_text(2, message_id, "sama")  # "message is not modified": fine
    telegram.block(3)
    with pytest.raises(Forbidden):
        await bot.send_message(3, "halo")
    async with httpx.AsyncClient() as client:
        wrong = BotApi(client, "1:wrong-token-value", telegram.url)
        with pytest.raises(Unauthorized):
            await wrong.send_message(2, "x")


async def test_polling_survives_errors_and_confirms_updates(autojump_clock, bot, telegram):
    seen = []
    saved = []
    telegram.fail("getUpdates", 409, "Conflict: can't use getUpdates method while webhook is "
                                     "active; use deleteWebhook to delete the webhook first")
    telegram.fail("getUpdates", 502, "Bad Gateway")
    telegram.fail("getUpdates", 0, "", drop=True)
    telegram.user_sends(10, "satu")
    telegram.user_sends(10, "dua")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: polling.poll(
            bot, seen.append, offset=None, wait=5,
            keep=lambda batch, offset: saved.append((len(seen), len(batch), offset))))
        await eventually(lambda: len(seen) >= 2, 60)
        nursery.cancel_scope.cancel()
    assert [u.message.text for u in seen] == ["satu", "dua"]
    # Each batch is kept, with the offset after it, before any of it is handed over.
    assert saved[0][0] == 0 and sum(n for _, n, _ in saved) == 2
    assert saved[-1][2] == seen[-1].update_id + 1
    assert any(method == "deleteWebhook" for method, _ in telegram.calls)


async def test_malformed_updates_are_skipped(autojump_clock, bot, telegram):
    telegram._updates.append({"update_id": 1, "message": {"message_id": "x", "chat": 5}})
    telegram._updates.append({"update_id": 2, "callback_query": {"id": 5}})
    telegram._updates.append({"update_id": 3, "message": "just a string"})
    telegram._update_ids = iter(range(4, 100))
    telegram.user_sends(10, "ok")
    seen = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: polling.poll(
            bot, seen.append, offset=None, wait=5, keep=lambda batch, offset: None))
        await trio.sleep(3)
        nursery.cancel_scope.cancel()
    texts = [u.message.text for u in seen if u.message]
    assert texts == ["ok"]


@pytest.mark.logs_secrets_on_purpose
async def test_token_never_reaches_the_logs(autojump_clock, telegram, capfd):
    qlog.setup([telegram.token])
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # even if someone turns it up
    qlog.setup([telegram.token])
    async with httpx.AsyncClient() as client:
        bot = BotApi(client, telegram.token, "http://127.0.0.1:9")  # nothing listens there
        with pytest.raises(Unavailable) as caught:
            await bot.send_message(1, "x")
        logging.getLogger("qrisbot").exception("failed: %s", caught.value)
        logging.getLogger("qrisbot").info("url was %s", f"/bot{telegram.token}/sendMessage")
    err = capfd.readouterr().err
    assert "failed" in err and "url was /bot***/sendMessage" in err
    assert telegram.token not in err and telegram.token.split(":")[1] not in err
    assert telegram.token not in str(caught.value)
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize("version", [1, 2])
async def test_pakasir_create_status_cancel(pakasir, version):
    async with httpx.AsyncClient() as client:
        api = pakasir_client(client, pakasir, version)
        txn = await api.create("VPN1", 99000)
        assert (txn.amount, txn.fee, txn.total) == (99000, 1003, 100003)
        assert txn.qr_string.startswith("000201") and txn.expired_at is not None
        again = await api.create("VPN1", 99000)  # find-or-create
        assert again.txn_id == txn.txn_id
        status = await api.status("VPN1", txn.txn_id, 99000)
        assert (status.state, status.order_id, status.amount) == (PENDING, "VPN1", 99000)
        pakasir.pay("VPN1")
        status = await api.status("VPN1", txn.txn_id, 99000)
        assert status.state == COMPLETED and status.completed_at is not None
        txn2 = await api.create("VPN2", 12000)
        assert txn2.fee == 394
        await api.cancel("VPN2", txn2.txn_id, 12000)
        assert (await api.status("VPN2", txn2.txn_id, 12000)).state == CANCELED


@pytest.mark.parametrize("version", [1, 2])
async def test_pakasir_errors_are_ours_and_never_show_the_key(autojump_clock, pakasir, version):
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        api = pakasir_client(client, pakasir, version)
        cases = [
            (Fault(500, b'{"message": "boom"}'), True),
            (Fault(429, b'{"message": "slow down"}'), True),
            (Fault(200, b'{"txn_id": "1", "order_id": "VPN9", "amount": '), True),  # truncated
            (Fault(200, b'[1, 2, 3]'), True),
            (Fault(200, b'{"payment": {"order_id": "OTHER", "amount": 5000}}'), True),
            (Fault(200, b'not json at all'), True),
            (Fault(delay=30), True),  # longer than the client's timeout
            (Fault(drop=True), True),
            (Fault(404, b'{"message": "project not found"}'), False),
        ]
        for fault, transient in cases:
            pakasir.fail("create", fault)
            with pytest.raises(PakasirError) as caught:
                await api.create("VPN9", 5000)
            assert caught.value.transient is transient, fault
            assert pakasir.api_key not in str(caught.value)
        wrong = pakasir_client(client, pakasir, version, key="wrong-key")
        with pytest.raises(PakasirError) as caught:
            await wrong.create("VPN9", 5000)
        assert caught.value.status == 401 and not caught.value.transient


async def test_get_me_names_the_bot_and_a_refused_token_is_unauthorized(bot, telegram):
    assert await bot.get_me() == Bot(id=1, username="shop_bot", first_name="Shop")
    async with httpx.AsyncClient() as client:
        with pytest.raises(Unauthorized) as caught:
            await BotApi(client, "1:wrong-token-value", telegram.url).get_me()
        assert "wrong-token-value" not in str(caught.value)
        nobody = BotApi(client, telegram.token, "http://127.0.0.1:9")  # nothing listens
        with pytest.raises(Unavailable):
            await nobody.get_me(attempts=1)


@pytest.mark.parametrize("version", [1, 2])
async def test_pakasir_credentials_are_checked_without_making_a_transaction(
    autojump_clock, pakasir, version
):
    """A wrong key and a wrong slug are told apart where Pakasir's answers allow it (v2:
    401 for the key, 404 'project not found' for the slug); v1 does not say which."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        accepted = await pakasir_client(client, pakasir, version).check_credentials()
        assert accepted.project_known and "transaction not found" in accepted.answer
        with pytest.raises(Refused) as caught:
            await pakasir_client(client, pakasir, version, key="wrong-key").check_credentials()
        assert caught.value.settings == (("api_key",) if version == 2 else ("project", "api_key"))
        wrong_slug = Pakasir(client, project="toko-lain", api_key=pakasir.api_key,
                             base_url=pakasir.url, version=version)
        with pytest.raises(Refused) as caught:
            await wrong_slug.check_credentials()
        assert caught.value.settings == (("project",) if version == 2 else ("project", "api_key"))
        assert pakasir.api_key not in str(caught.value)
        assert pakasir.transactions == {}  # nothing was made

        api = pakasir_client(client, pakasir, version)
        # A "not found" that names neither: the key was not refused, the slug not confirmed.
        pakasir.fail("status", Fault(404, b'{"message": "not found"}'))
        accepted = await api.check_credentials()
        assert not accepted.project_known
        pakasir.fail("status", Fault(503, b'{"message": "maintenance"}'))
        with pytest.raises(PakasirError) as caught:
            await api.check_credentials()
        assert caught.value.transient and not isinstance(caught.value, Refused)
