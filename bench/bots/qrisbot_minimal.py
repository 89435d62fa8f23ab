"""qrisbot's own polling + dispatch answering every message (pacing off: the fake has none)."""

from __future__ import annotations

import sys

import trio

from qrisbot import http
from qrisbot.pacing import TelegramPacer
from qrisbot.telegram import polling
from qrisbot.telegram.api import BotApi
from qrisbot.telegram.types import Update

UNPACED = TelegramPacer(overall=1e9, overall_burst=1e9, per_chat=1e9, chat_burst=1e9)


async def main(url: str, token: str) -> None:
    async with http.client(20) as bot_http, http.client(30) as poll_http:
        bot = BotApi(bot_http, token, url, pacer=UNPACED)
        poller = BotApi(poll_http, token, url)
        async with trio.open_nursery() as nursery:

            async def reply(update: Update) -> None:
                if update.message is not None:
                    await bot.send_message(update.message.chat_id, "pong")

            def handle(update: Update) -> None:
                nursery.start_soon(reply, update)

            await polling.poll(poller, handle, offset=None, wait=10,
                               keep=lambda batch, offset: None)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
