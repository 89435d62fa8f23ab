"""Outgoing pacing: a notice to thousands of chats never trips Telegram's flood limits."""

from __future__ import annotations

import httpx
import trio

from qrisbot.pacing import Bucket, TelegramPacer
from qrisbot.telegram.api import BotApi
from qrisbot.testing.fake_telegram import FakeTelegram


async def broadcast(bot: BotApi, chats: range, extra_to_one: int) -> None:
    async with trio.open_nursery() as nursery:
        for chat in chats:
            nursery.start_soon(bot.send_message, chat, "Pengumuman")
        for n in range(extra_to_one):
            nursery.start_soon(bot.send_message, chats[0], f"lagi {n}")


async def test_a_broadcast_to_thousands_gets_no_429(autojump_clock, nursery):
    telegram = FakeTelegram(limits=True)
    await nursery.start(telegram.serve)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:
        bot = BotApi(client, telegram.token, telegram.url)
        start = trio.current_time()
        await broadcast(bot, range(1, 3001), extra_to_one=10)
        elapsed = trio.current_time() - start
    assert telegram.rate_limited == 0
    assert len(telegram.sent) == 3010
    # Close to the allowed rate, not far below it: 3010 messages at 25/s.
    assert 3010 / 26 < elapsed < 3010 / 22


async def test_without_pacing_the_fake_does_limit_and_retry_after_still_delivers(
    autojump_clock, nursery
):
    telegram = FakeTelegram(limits=True)
    await nursery.start(telegram.serve)
    unpaced = TelegramPacer(overall=1e9, overall_burst=1e9, per_chat=1e9, chat_burst=1e9)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:
        bot = BotApi(client, telegram.token, telegram.url, pacer=unpaced, attempts=50)
        await broadcast(bot, range(1, 201), extra_to_one=10)
    assert telegram.rate_limited > 0  # the fake really enforces the limits
    assert len(telegram.sent) == 210  # and every message still went out


async def test_bucket_serves_in_arrival_order(autojump_clock):
    bucket = Bucket(rate=2.0, burst=1.0)
    done = []

    async def one(n: int) -> None:
        await bucket.take()
        done.append((n, trio.current_time()))

    async with trio.open_nursery() as nursery:
        for n in range(5):
            nursery.start_soon(one, n)
            await trio.lowlevel.checkpoint()
    assert [n for n, _ in done] == [0, 1, 2, 3, 4]
    assert done[-1][1] - done[0][1] == 2.0
