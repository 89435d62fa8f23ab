"""Setup's Telegram steps: the bot token (checked with getMe) and the seller's own id (read
from the /start they send the bot: nobody types a number)."""

from __future__ import annotations

import re
from collections.abc import Callable

import trio

from qrisbot import http
from qrisbot.setup.prompts import Terminal, printable
from qrisbot.setup.secrets_file import TOKEN, allowed
from qrisbot.setup.session import Session
from qrisbot.shop.texts import text
from qrisbot.telegram import polling
from qrisbot.telegram.api import Bot, BotApi, Conflict, TelegramError, Unauthorized
from qrisbot.telegram.types import parse_update

TOKEN_SHAPE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{10,}")  # as config.py checks it
WAIT = 20  # seconds of one long poll while waiting for /start


def token(s: Session) -> None:
    t = s.terminal
    t.say("token_where")
    current = s.token()
    while True:
        typed = t.secret("token", _shape(t), keep=current is not None)
        candidate = typed or current
        assert candidate is not None
        bot = _checked(t, s.telegram_url, candidate)
        if bot is not None:
            break
        if typed is None:
            current = None  # the kept token was refused: Enter no longer keeps it
    s.secrets.set(TOKEN, candidate)
    s.doc.drop("telegram", "token")  # it lives in secrets.env now
    s.bot_username = bot.username
    t.say("token_ok", bot=printable(bot.username), name=printable(bot.first_name))


def _shape(t: Terminal) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if not TOKEN_SHAPE.fullmatch(answer) or not allowed(answer):
            raise t.wrong("token_shape")
        return answer

    return check


def _checked(t: Terminal, url: str, candidate: str) -> Bot | None:
    """The bot, or None when Telegram refused the token (said why)."""
    while True:
        try:
            return trio.run(_get_me, url, candidate)
        except Unauthorized:
            t.say("token_refused")
            return None
        except TelegramError as exc:
            t.say("telegram_unreachable", url=url, why=printable(exc.description, 200))
            t.pause("enter_retry")


async def _get_me(url: str, candidate: str) -> Bot:
    async with http.client(20.0) as client:
        return await BotApi(client, candidate, url).get_me(attempts=2)


def admins(s: Session) -> None:
    """Add the seller (who sends /start now) to [shop] admins."""
    t = s.terminal
    found = s.doc.get("shop", "admins")
    current = [a for a in found if isinstance(a, int)] if isinstance(found, list) else []
    if current:
        t.say("admins_now", ids=", ".join(map(str, current)))
        if not t.yes("admin_add", default=False):
            return
    else:
        t.say("admin_why")
    candidate = s.token()
    assert candidate is not None
    while True:
        user_id, name = trio.run(_wait_for_start, t, s.telegram_url, candidate,
                                 s.bot_username)
        if t.yes("admin_is_you", default=True, name=printable(name), id=user_id):
            break
        t.say("admin_again", bot=s.bot_username)
    if user_id not in current:
        current.append(user_id)
    s.doc.set("shop", "admins", current)
    shop = s.doc.get("shop", "name") or "qrisbot"
    trio.run(_welcome, s.telegram_url, candidate, user_id, str(shop), t.lang)
    t.say("admin_ok", id=user_id)


async def _wait_for_start(t: Terminal, url: str, candidate: str, bot: str
                          ) -> tuple[int, str]:
    """The sender of the first /start in a private chat sent after this call began."""
    async with http.client(WAIT + 15.0) as client:
        api = BotApi(client, candidate, url, attempts=2)
        offset = await _after_the_last(t, api)
        t.say("admin_send_start", bot=printable(bot))
        while True:
            try:
                raw_updates = await api.get_updates(offset, WAIT)
            except TelegramError as exc:
                await _trouble(t, api, exc)
                continue
            for raw in raw_updates:
                update = parse_update(raw)
                if update is None:
                    continue
                offset = update.update_id + 1
                message = update.message
                sender = message.sender if message else (
                    update.callback.sender if update.callback else None)
                if message is not None and message.sender is not None and (
                        message.chat_type == "private") and _is_start(message.text):
                    await polling.confirm(api, offset)  # the shop never answers this one
                    return message.sender.id, message.sender.first_name
                if sender is not None:
                    t.say("admin_not_start", name=printable(sender.first_name))


async def _after_the_last(t: Terminal, api: BotApi) -> int | None:
    """The offset past every update already waiting: only a /start sent now counts."""
    while True:
        try:
            waiting = await api.get_updates(None, 0)
        except TelegramError as exc:
            await _trouble(t, api, exc)
            continue
        ids = [u["update_id"] for u in waiting
               if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        return max(ids) + 1 if ids else None


async def _trouble(t: Terminal, api: BotApi, exc: TelegramError) -> None:
    if isinstance(exc, Conflict) and "webhook" in exc.description:
        await api.call("deleteWebhook", {"drop_pending_updates": False})
        return
    if isinstance(exc, Conflict):
        t.say("admin_conflict")
    else:
        t.say("telegram_unreachable", url="Telegram", why=printable(exc.description, 200))
    await trio.sleep(5)


def _is_start(message: str | None) -> bool:
    return bool(message) and re.fullmatch(r"/start(@\w+)?( .*)?", message or "") is not None


async def _welcome(url: str, candidate: str, user_id: int, shop: str, lang: str) -> None:
    """A word in the seller's chat that setup heard them (nothing depends on it)."""
    try:
        async with http.client(20.0) as client:
            await BotApi(client, candidate, url, attempts=2).send_message(
                user_id, text("setup_admin_welcome", lang, shop=shop))
    except TelegramError:
        pass
