"""The ledger to the admins as an age-encrypted Telegram document: each day at `backup.at`
(shop time) from the daemon, or now (`qrisbot backup --telegram`).

The copy is made and encrypted in memory: no plaintext copy is written, and only the
encrypted one leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys

import trio

from qrisbot import http
from qrisbot.backups import sealed, snapshot
from qrisbot.config import Config
from qrisbot.ledger import Ledger
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.texts import text
from qrisbot.telegram.api import BotApi, TelegramError

log = logging.getLogger("qrisbot.backup")

SENT_KEY = "backup_sent"  # meta: the shop date of the last daily backup the admins got
RETRY = 3600  # seconds until a backup no admin received is tried again
UPLOAD_LIMIT = 50 * 1024 * 1024  # the most a bot may upload to the Bot API


class TooBig(Exception):
    """The encrypted ledger is larger than Telegram takes from a bot; `size` in bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the encrypted ledger is {_size(size)}, more than the "
                         f"{_size(UPLOAD_LIMIT)} Telegram takes from a bot")
        self.size = size


def file_name(config: Config, moment: dt.datetime) -> str:
    shop = re.sub(r"[^a-z0-9]+", "-", config.shop.name.lower()).strip("-") or "qrisbot"
    return f"{shop}-{moment:%Y-%m-%d-%H%M}.sqlite3.age"


def encrypted_copy(config: Config) -> bytes:
    """The ledger as of now, encrypted to `backup.age_recipient`."""
    return sealed.seal(snapshot.ledger_bytes(config.shop.database),
                       config.backup.age_recipient)


async def send(config: Config, bot: BotApi, moment: dt.datetime) -> int:
    """One backup to every admin; how many got it. Uploaded once, then sent again by its
    file_id. TooBig when Telegram would refuse it."""
    data = await trio.to_thread.run_sync(encrypted_copy, config)
    if len(data) > UPLOAD_LIMIT:
        raise TooBig(len(data))
    name = file_name(config, moment)
    caption = text("backup_caption", config.shop.language, shop=config.shop.name,
                   when=f"{moment:%Y-%m-%d %H:%M}", size=_size(len(data)), file=name)
    upload: bytes | str = data
    delivered = 0
    for admin in config.shop.admins:
        try:
            file_id = await bot.send_document(admin, upload, name, caption)
        except TelegramError as exc:
            log.warning("could not send the backup to admin %d: %s", admin, exc.description)
            continue
        delivered += 1
        upload = file_id or upload
    if delivered:
        log.info("backup %s (%s) sent to %d admin(s)", name, _size(len(data)), delivered)
    return delivered


async def daily(config: Config, ledger: Ledger, bot: BotApi, calendar: Calendar) -> None:
    """Forever, with `backup.telegram`: once a day at `backup.at` (or as soon as the daemon
    is up, if it was down then), a backup to the admins. The day is recorded in the ledger
    once an admin has it, so a restart sends no second one."""
    if not config.backup.telegram or not config.shop.admins:
        return
    hour, minute = (int(part) for part in config.backup.at.split(":"))
    while True:
        now = calendar.now()
        due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if ledger.meta(SENT_KEY) == now.date().isoformat() or now < due:
            if now >= due:
                due += dt.timedelta(days=1)
            await trio.sleep((due - now).total_seconds())
            continue
        try:
            delivered = await send(config, bot, now)
        except TooBig as exc:
            # Said once a day, as the backup would have come; `qrisbot backup FILE` works.
            log.warning("daily backup not sent: %s", exc)
            await _tell_admins(config, bot, text("backup_too_big", config.shop.language,
                                                 size=_size(exc.size)))
            delivered = len(config.shop.admins)
        if delivered:
            ledger.set_meta(SENT_KEY, now.date().isoformat())
        else:
            log.warning("no admin received today's backup; trying again in %d s", RETRY)
            await trio.sleep(RETRY)


async def _tell_admins(config: Config, bot: BotApi, message: str) -> None:
    for admin in config.shop.admins:
        try:
            await bot.send_message(admin, message)
        except TelegramError as exc:
            log.warning("could not tell admin %d: %s", admin, exc.description)


def send_now(config: Config) -> int:
    """`qrisbot backup --telegram`: a backup to the admins now (the daily one still goes
    at its time). Exit status 0 when at least one admin got it."""
    problem = ("set backup.age_recipient (the ledger leaves the machine only encrypted)"
               if not config.backup.age_recipient else
               "no shop.admins to send it to" if not config.shop.admins else
               "no bot token (telegram.token or QRISBOT_TELEGRAM_TOKEN)"
               if not config.telegram.token else None)
    if problem is not None:
        print(f"not sent: {problem}", file=sys.stderr)
        return 1
    calendar = Calendar(config.shop.timezone)

    async def go() -> int:
        async with http.client(120.0) as client:
            bot = BotApi(client, config.telegram.token, config.telegram.api_url)
            return await send(config, bot, calendar.now())

    try:
        delivered = trio.run(go)
    except TooBig as exc:
        print(f"not sent: {exc}; copy it with `qrisbot backup FILE` instead", file=sys.stderr)
        return 1
    if not delivered:
        print("not sent: Telegram took it for no admin (see the warnings above)",
              file=sys.stderr)
        return 1
    print(f"backup sent to {delivered} of {len(config.shop.admins)} admin(s)")
    return 0


def _size(count: int) -> str:
    return f"{count / 1024:.0f} KiB" if count < 1024 * 1024 else f"{count / 1048576:.1f} MiB"
