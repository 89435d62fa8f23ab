"""The equivalent minimal bot on python-telegram-bot 22: long polling, answer every message."""

from __future__ import annotations

import sys

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, "pong")


def main(url: str, token: str) -> None:
    application = (
        Application.builder().token(token).base_url(f"{url}/bot")
        .concurrent_updates(True).build()
    )
    application.add_handler(MessageHandler(filters.ALL, answer))
    application.run_polling(timeout=10, stop_signals=None)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
