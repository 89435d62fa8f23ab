"""The equivalent minimal bot on aiogram 3: long polling, answer every message."""

from __future__ import annotations

import asyncio
import sys

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def main(url: str, token: str) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(url))
    bot = Bot(token, session=session)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def answer(message: Message) -> None:
        await message.answer("pong")

    await dispatcher.start_polling(bot, polling_timeout=10, handle_signals=False)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
